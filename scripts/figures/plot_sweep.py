"""Snakemake adapter: the training-size sweep as a figure."""

import pandas as pd

from crossprobe.figures.plotting import save_figure, sweep_figure
from crossprobe.job import finish, start

started = start(snakemake)
layout = snakemake.params.layout
sweep = pd.read_csv(snakemake.input.sweep, sep="\t")
figure = sweep_figure(sweep, pd.read_csv(snakemake.input.grid, sep="\t"), layout)
save_figure(figure, snakemake.output[0])
finish(snakemake, layout, started)
