"""Snakemake adapter: the AUROC heatmaps, one panel per method (PNG and PDF)."""

import pandas as pd

from crossprobe.job import finish, start
from crossprobe.plotting import heatmap, save_heatmap

started = start(snakemake)
grid = pd.read_csv(snakemake.input.grid, sep="\t")
figure = heatmap(grid, snakemake.params.methods, snakemake.params.names)
save_heatmap(figure, snakemake.output.png, snakemake.output.pdf)
finish(
    snakemake,
    {"methods": snakemake.params.methods, "names": snakemake.params.names},
    started,
)
