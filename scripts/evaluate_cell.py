"""Snakemake adapter: metrics with bootstrap intervals for one (method, estimator, source) cell."""

import logging

import pandas as pd

from crossprobe.job import finish, start
from crossprobe.metrics import evaluate

started = start(snakemake.log[0])
params = {**snakemake.params.evaluation, "seed": snakemake.params.seed}
metrics = evaluate(pd.read_parquet(snakemake.input.scores), params)
wc = snakemake.wildcards
metrics.insert(0, "trained_on", wc.source)
metrics.insert(0, "model", wc.model)
metrics.insert(0, "method", wc.method)
metrics.to_csv(snakemake.output[0], sep="\t", index=False)
for row in metrics.itertuples():
    logging.info(
        "%s = %.4f [%.4f, %.4f] (n=%d)", row.metric, row.value, row.ci_low, row.ci_high, row.n
    )
finish(snakemake, params, started)
