"""Snakemake adapter: a judge model's verdicts on one model's open answers, every split it
answered, with the judge loaded once."""

import json
import logging
from pathlib import Path

import pandas as pd

from crossprobe.activations import FeatureStore
from crossprobe.job import finish, start, write_table
from crossprobe.judge import judge_answers, verdict_store
from crossprobe.lm import load_model

started = start(snakemake)
grading, runtime = snakemake.params.grading, snakemake.params.runtime
record = json.loads(Path(snakemake.input.judge[0]).read_text())
model, tokenizer, device = load_model(record, runtime["device"], runtime["dtype"])
store = FeatureStore(Path(snakemake.params.store) / verdict_store(record, grading))
frames = []
for answers, questions in zip(snakemake.input.answers, snakemake.input.questions, strict=True):
    table = pd.read_parquet(answers).merge(
        pd.read_parquet(questions)[["question_id", "question", "gold", "split"]], on="question_id"
    )
    table["verdict"] = judge_answers(model, tokenizer, device, store, table, grading)
    logging.info("%s: %.3f judged correct", answers, table["verdict"].mean())
    frames.append(table[["split", "question_id", "answer", "verdict"]])
write_table(pd.concat(frames, ignore_index=True), snakemake.output[0])
finish(snakemake, grading, started, judge_model=record, device=str(device))
