"""Snakemake adapter: the AUROC heatmaps, one panel per method (PNG and PDF)."""

import pandas as pd

from crossprobe.job import start, write_provenance
from crossprobe.plotting import heatmap, save_heatmap

started = start(snakemake.log[0])
grid = pd.read_csv(snakemake.input.grid, sep="\t")
figure = heatmap(grid, snakemake.params.methods, snakemake.params.names)
save_heatmap(figure, snakemake.output.png, snakemake.output.pdf)
write_provenance(
    snakemake.output,
    snakemake.rule,
    {"methods": snakemake.params.methods, "names": snakemake.params.names},
    started,
)
