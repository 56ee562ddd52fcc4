"""Snakemake adapter: the AUROC heatmaps, one panel per method (PNG and PDF)."""

import pandas as pd

from crossprobe.figures.plotting import heatmap, save_figure
from crossprobe.job import finish, start

started = start(snakemake)
layout = snakemake.params.layout
figure = heatmap(pd.read_csv(snakemake.input.grid, sep="\t"), layout)
save_figure(figure, snakemake.output.png, snakemake.output.pdf)
finish(snakemake, layout, started)
