"""Snakemake adapter: one split's question table with its prompts."""

import logging

from crossprobe.intake.questions import prepare_questions
from crossprobe.job import finish, start, write_table

started = start(snakemake)
params, split = snakemake.params.data, snakemake.wildcards.split
questions = prepare_questions(params, split)
write_table(questions, snakemake.output[0])
logging.info(
    "%s: %d questions (%s)", split, len(questions), questions["dataset"].value_counts().to_dict()
)
finish(snakemake, params, started)
