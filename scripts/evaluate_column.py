"""Snakemake adapter: metrics, paired contrasts, sweep points and curves of every cell of one
column, from one shared bootstrap."""

import logging

import pandas as pd

from crossprobe.evaluation import evaluate_column
from crossprobe.job import finish, start, write_tsv
from crossprobe.splits import selection_split

started = start(snakemake)
params = {**snakemake.params.evaluation, "seed": snakemake.params.seed}
source = snakemake.wildcards.source
tables = {
    name: pd.read_parquet(path)
    for name, path in zip(snakemake.params.methods, snakemake.input.scores, strict=True)
}
train = pd.read_parquet(snakemake.input.train)
full_size = len(
    selection_split(train["question_id"], snakemake.params.selection["fraction"], params["seed"])[0]
)
results = evaluate_column(tables, source, params, full_size)
for name, table in results.items():
    write_tsv(table, snakemake.output[name])
metrics = results["metrics"]
for row in metrics[metrics["metric"] == params["headline_metric"]].itertuples():
    logging.info(
        "%s %s on %s: %s %.3f (seed SD %.3f) [%.3f, %.3f], n=%d, %d seed(s)",
        row.method,
        row.model,
        source,
        params["headline_metric"],
        row.value,
        row.seed_sd,
        row.ci_low,
        row.ci_high,
        row.n,
        row.seeds,
    )
if params["headline_metric"] == "auroc_subject_mean":
    counts = metrics.groupby("metric")["value"].max()
    if counts["subjects_used"] < params["min_subjects"]:
        logging.warning(
            "the per-subject headline of %s rests on %d of %d subjects (%d with fewer than %d "
            "test answers, %d with a single class), fewer than evaluation.min_subjects = %d",
            source,
            counts["subjects_used"],
            counts["subjects_total"],
            counts["subjects_too_small"],
            params["min_subject_answers"],
            counts["subjects_single_class"],
            params["min_subjects"],
        )
finish(snakemake, params, started, training_answers_per_estimator=full_size)
