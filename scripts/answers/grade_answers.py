"""Snakemake adapter: correctness labels for one model's answers to one split (a normalised
match, or a judge's verdicts where one is configured)."""

import logging

import pandas as pd

from crossprobe.answers.grading import apply_verdicts, grade_answers
from crossprobe.job import finish, start, write_table

started = start(snakemake)
answers = pd.read_parquet(snakemake.input.answers)
questions = pd.read_parquet(snakemake.input.questions)
params = snakemake.params
graded = grade_answers(answers, questions, params.answer_format, params.estimator_shots)
if "judged" in snakemake.input.keys():
    verdicts = pd.read_parquet(snakemake.input.judged)
    on_split = verdicts[(verdicts["split"] == snakemake.wildcards.split)]
    graded, changed = apply_verdicts(graded, on_split[on_split["origin"] == "generated"])
    logging.info(
        "the judge overruled the normalised match on %d of %d answers", changed, len(graded)
    )
write_table(graded, snakemake.output[0])
logging.info("accuracy %.3f over %d answers", graded["correct"].mean(), len(graded))
finish(
    snakemake,
    {
        "answer_format": params.answer_format,
        "estimator_shots": params.estimator_shots,
        "judge": params.judge,
    },
    started,
)
