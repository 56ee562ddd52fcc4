"""Snakemake adapter: a judge model's verdicts on one column's open answers (every split its
model answered, and the answer set's split graded to measure the graders), the judge loaded
once."""

import logging
from pathlib import Path

import pandas as pd

from crossprobe.answers.grading import judged_table
from crossprobe.answers.judge import judge_answers, verdict_store
from crossprobe.job import finish, start, write_table
from crossprobe.models.lm import job_budget, load_job_model
from crossprobe.models.store import FeatureStore

started = start(snakemake)
grading, splits = snakemake.params.settings, snakemake.params.splits
model, tokenizer, device, provenance = load_job_model(snakemake)
record = provenance["model"]
budget, provenance["batches"] = job_budget(snakemake, model, device)
store = FeatureStore(Path(snakemake.params.store) / verdict_store(record, grading))
tables = [
    judged_table(pd.read_parquet(a), split, grading, snakemake.params.seed, pd.read_parquet(q))
    for split, a, q in zip(
        splits["generated"], snakemake.input.answers, snakemake.input.questions, strict=True
    )
]
tables += [
    judged_table(pd.read_parquet(path), split, grading, snakemake.params.seed)
    for split, path in zip(splits["imported"], snakemake.input.imported, strict=True)
]
frames = []
for table in tables:
    table["verdict"] = judge_answers(model, tokenizer, device, store, table, grading, budget)
    logging.info(
        "%s split %s (%s): %.3f of %d judged correct",
        snakemake.wildcards.source,
        table["split"].iloc[0],
        table["origin"].iloc[0],
        table["verdict"].mean(),
        len(table),
    )
    frames.append(table[["split", "origin", "question_id", "answer", "label", "verdict"]])
write_table(pd.concat(frames, ignore_index=True), snakemake.output[0])
finish(
    snakemake,
    {**grading, "splits": splits},
    started,
    judge_model=record,
    **{k: v for k, v in provenance.items() if k != "model"},
)
