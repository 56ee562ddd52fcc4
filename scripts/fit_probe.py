"""Snakemake adapter: fit the Probe of one (estimator, source) cell on cached features of the
source's training answers (a seeded hold-out of them selects the stopping point)."""

import logging

import pandas as pd

from crossprobe.features import labelled_features
from crossprobe.job import finish, start
from crossprobe.probes import fit_probe, save_probe
from crossprobe.splits import selection_split

started = start(snakemake)
params, seed = snakemake.params.probe, snakemake.params.seed
train = pd.read_parquet(snakemake.input.train)
x, y = labelled_features(snakemake.input.reads, train)
fit, held = selection_split(train["question_id"], snakemake.params.selection["fraction"], seed)
logging.info(
    "fitting a %s probe on %d answers (%.1f%% correct), selecting on %d held out",
    params["kind"],
    len(fit),
    100 * y[fit].mean(),
    len(held),
)
probe = fit_probe(x[fit], y[fit], x[held], y[held], params, seed)
save_probe(probe, snakemake.output[0], params)
finish(snakemake, {**params, "selection": snakemake.params.selection, "seed": seed}, started)
