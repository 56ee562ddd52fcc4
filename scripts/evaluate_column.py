"""Snakemake adapter: metrics with bootstrap intervals for every cell of one column."""

import logging

import pandas as pd

from crossprobe.job import atomic, finish, start
from crossprobe.metrics import evaluate_column

started = start(snakemake)
params = {**snakemake.params.evaluation, "seed": snakemake.params.seed}
tables = {
    name: pd.read_parquet(path)
    for name, path in zip(snakemake.params.methods, snakemake.input.scores, strict=True)
}
metrics = evaluate_column(tables, params)
with atomic(snakemake.output[0]) as tmp:
    metrics.to_csv(tmp, sep="\t", index=False)
for row in metrics[metrics["metric"] == "auroc"].itertuples():
    logging.info(
        "%s %s on %s: AUROC %.4f [%.4f, %.4f] (n=%d)",
        row.method,
        row.model,
        row.trained_on,
        row.value,
        row.ci_low,
        row.ci_high,
        row.n,
    )
finish(snakemake, params, started)
