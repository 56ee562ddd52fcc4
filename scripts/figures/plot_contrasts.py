"""Snakemake adapter: the paired within-column contrasts as a figure."""

import pandas as pd

from crossprobe.figures.plotting import contrasts_figure, save_figure
from crossprobe.job import finish, start

started = start(snakemake)
layout = snakemake.params.layout
figure = contrasts_figure(pd.read_csv(snakemake.input.contrasts, sep="\t"), layout)
save_figure(figure, snakemake.output[0])
finish(snakemake, layout, started)
