"""Snakemake adapter: metrics, paired contrasts, sweep points, recipe variants, curves and the
split by agreement of every cell of one column, from one shared bootstrap."""

import logging

import pandas as pd

from crossprobe.contract.headlines import CONTRASTED
from crossprobe.contract.splits import selection_split
from crossprobe.evaluation.column import evaluate_column
from crossprobe.job import finish, start, write_tsv

started = start(snakemake)
params, training = snakemake.params.evaluation, snakemake.params.training
source = snakemake.wildcards.source
tables = {
    name: pd.read_parquet(path)
    for name, path in zip(snakemake.params.methods, snakemake.input.scores, strict=True)
}
train = pd.read_parquet(snakemake.input.train)
full_size = len(selection_split(train["question_id"], training["fraction"], training["seed"])[0])
answers = {
    model: pd.read_parquet(path)
    for model, path in zip(snakemake.params.answers, snakemake.input.answers, strict=True)
}
results = evaluate_column(tables, source, params, full_size, answers)
for name, table in results.items():
    write_tsv(table, snakemake.output[name])
metrics = results["metrics"].set_index(["method", "model", "metric"])
for method, model in metrics.index.droplevel("metric").unique():
    pooled, subjects = (metrics.loc[(method, model, m)] for m in CONTRASTED)
    logging.info(
        "%s %s on %s: AUROC pooled %.3f [%.3f, %.3f], mean over %d subjects %.3f [%.3f, %.3f]; "
        "n=%d, %d seed(s)",
        method,
        model,
        source,
        pooled["value"],
        pooled["ci_low"],
        pooled["ci_high"],
        metrics.loc[(method, model, "subjects_used"), "value"],
        subjects["value"],
        subjects["ci_low"],
        subjects["ci_high"],
        pooled["n"],
        pooled["seeds"],
    )
finish(snakemake, params, started, training_answers_per_estimator=full_size)
