"""Snakemake adapter: fit one Probe (one estimator, training set, size and seed) on cached
features of the training answers; a seeded hold-out of them selects the stopping point."""

import logging

import numpy as np
import pandas as pd

from crossprobe.contract.splits import training_split
from crossprobe.job import finish, start
from crossprobe.reads.features import labelled_features
from crossprobe.reads.probes import fit_probe, save_probe

started = start(snakemake)
params, wc = snakemake.params.probe, snakemake.wildcards
training = snakemake.params.training
sources = training["sources"]
tables = {s: pd.read_parquet(p) for s, p in zip(sources, snakemake.input.answers, strict=True)}
features = {
    s: labelled_features(reads, tables[s], wc.features)[0]
    for s, reads in zip(sources, snakemake.input.reads, strict=True)
}
train, held = training_split(tables, training, wc.n_train)


def stacked(answers: pd.DataFrame) -> np.ndarray:
    rows = [features[s][r] for s, r in zip(answers["source"], answers["row"], strict=True)]
    if rows:
        return np.stack(rows)
    width = next(iter(features.values())).shape[1:]  # no hold-out (selection.fraction 0)
    return np.zeros((0, *width), np.float32)


x, y = stacked(train), train["correct"].to_numpy().astype(np.int64)
logging.info(
    "fitting a %s probe on %s features of %d answers (%.1f%% correct; %s), %d held out",
    params["kind"],
    wc.features,
    len(y),
    100 * y.mean(),
    train["source"].value_counts().to_dict(),
    len(held),
)
probe = fit_probe(x, y, stacked(held), held["correct"].to_numpy(), params, int(wc.seed))
save_probe(probe, snakemake.output[0], params)
finish(
    snakemake,
    {**params, "training": training, "seed": int(wc.seed)},
    started,
    training_answers=train["source"].value_counts().to_dict(),
)
