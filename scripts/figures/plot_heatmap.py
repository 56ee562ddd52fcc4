"""Snakemake adapter: the AUROC heatmaps (PNG and PDF): the experiment's headline methods side
by side, and every method of the grid in one faceted figure."""

import pandas as pd

from crossprobe.figures.plotting import heatmap, save_figure
from crossprobe.job import finish, start

started = start(snakemake)
layout = snakemake.params.layout
grid = pd.read_csv(snakemake.input.grid, sep="\t")
headline = heatmap(grid, layout, layout["figure_methods"])
save_figure(headline, snakemake.output.png, snakemake.output.pdf)
save_figure(
    heatmap(grid, layout, layout["methods"]), snakemake.output.all_png, snakemake.output.all_pdf
)
finish(snakemake, layout, started)
