"""Snakemake adapter: the Probe's recipe variants beside the grid's recipe, as a figure."""

import pandas as pd

from crossprobe.figures.plotting import recipes_figure, save_figure
from crossprobe.job import finish, start

started = start(snakemake)
layout = snakemake.params.layout
recipes = pd.read_csv(snakemake.input.recipes, sep="\t")
save_figure(recipes_figure(recipes, layout), snakemake.output[0])
finish(snakemake, layout, started)
