"""Snakemake adapter: correctness labels for one model's answers to one split."""

import json
import logging

import pandas as pd

from crossprobe.grading import grade_answers, judge_prompts
from crossprobe.job import finish, start, write_table

started = start(snakemake)
answers = pd.read_parquet(snakemake.input.answers)
questions = pd.read_parquet(snakemake.input.questions)
graded = grade_answers(answers, questions, snakemake.params.answer_format)
judge = snakemake.params.judge
extra = {}
if judge:
    from crossprobe.judge import judge_verdicts
    from crossprobe.lm import load_model

    record = json.loads(open(snakemake.input.judge).read())
    model, tokenizer, device = load_model(record, judge["device"], judge["dtype"])
    verdicts = judge_verdicts(
        model, tokenizer, device, judge_prompts(graded, questions), judge["batch_size"], None
    )
    changed = int((graded["correct"].astype(bool) != pd.Series(verdicts)).sum())
    logging.info("judge overruled substring matching on %d of %d answers", changed, len(graded))
    graded["correct"] = pd.Series(verdicts, index=graded.index).astype("int64")
    extra["judge_model"] = record
write_table(graded, snakemake.output[0])
logging.info("accuracy %.3f over %d answers", graded["correct"].mean(), len(graded))
finish(
    snakemake,
    {"answer_format": snakemake.params.answer_format, "judge": judge},
    started,
    **extra,
)
