"""Snakemake adapter: fit every run of one Probe estimator (one estimator, training set, size and
recipe; each training seed on its training answers and on each bootstrap resample of them) on
cached features of the training answers; a seeded hold-out of them selects the stopping point."""

import logging

import numpy as np
import pandas as pd

from crossprobe.contract.splits import training_split
from crossprobe.job import finish, start
from crossprobe.reads.features import labelled_features
from crossprobe.reads.probes import fit_probes, save_probes

started = start(snakemake)
params, wc = snakemake.params.probe, snakemake.wildcards
training = snakemake.params.training
sources = training["sources"]
tables = {s: pd.read_parquet(p) for s, p in zip(sources, snakemake.input.answers, strict=True)}
features = [
    labelled_features(reads, tables[s], wc.features)
    for s, reads in zip(sources, snakemake.input.reads, strict=True)
]
# every column's training answers, stacked: a run names its rows in this one matrix
x = np.concatenate([f for f, _ in features])
y = np.concatenate([labels for _, labels in features])
offset = dict(zip(sources, np.cumsum([0] + [len(f) for f, _ in features[:-1]]), strict=True))


def rows_of(answers: pd.DataFrame) -> np.ndarray:
    return np.array(
        [offset[s] + r for s, r in zip(answers["source"], answers["row"], strict=True)],
        dtype=np.int64,
    )


runs = [tuple(run) for run in params["runs"]]
answers = {b: training_split(tables, training, wc.n_train, b)[0] for _, b in runs}
train, held = training_split(tables, training, wc.n_train)
logging.info(
    "fitting %d %s probe runs (seeds %s, %d training resamples) on %s features of %d answers "
    "(%.1f%% correct; %s), %d held out",
    len(runs),
    params["kind"],
    sorted({s for s, _ in runs}),
    max(b for _, b in runs),
    wc.features,
    len(train),
    100 * train["correct"].mean(),
    train["source"].value_counts().to_dict(),
    len(held),
)
held_rows = rows_of(held)
probes = fit_probes(
    x, y, x[held_rows], y[held_rows], params, [(s, rows_of(answers[b])) for s, b in runs]
)
save_probes(dict(zip(runs, probes, strict=True)), snakemake.output[0], params)
finish(
    snakemake,
    {**params, "training": training},
    started,
    training_answers=train["source"].value_counts().to_dict(),
    # per training resample, the distinct answers it drew (a bootstrap draws about 63%)
    distinct_answers={b: int(np.unique(rows_of(a)).size) for b, a in answers.items()},
)
