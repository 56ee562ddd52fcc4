"""Snakemake adapter: one method's reliability diagrams and risk-coverage curves, per cell."""

import pandas as pd

from crossprobe.figures.plotting import reliability_figure, risk_coverage_figure, save_figure
from crossprobe.job import finish, start

started = start(snakemake)
layout, method = snakemake.params.layout, snakemake.wildcards.method
curves = pd.read_csv(snakemake.input.curves, sep="\t")
grid = pd.read_csv(snakemake.input.grid, sep="\t")
save_figure(reliability_figure(curves, grid, method, layout), snakemake.output.reliability)
save_figure(risk_coverage_figure(curves, grid, method, layout), snakemake.output.risk_coverage)
finish(snakemake, {**layout, "method": method}, started)
