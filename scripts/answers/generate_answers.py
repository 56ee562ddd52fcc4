"""Snakemake adapter: one model's answers to one split's questions."""

import logging

import pandas as pd

from crossprobe.answers.answering import generate_answers
from crossprobe.contract.formats import answer_format
from crossprobe.job import finish, start, write_table
from crossprobe.models.lm import job_budget, load_job_model

started = start(snakemake)
params = snakemake.params.settings
model, tokenizer, device, provenance = load_job_model(snakemake)
budget, provenance["batches"] = job_budget(snakemake, model, device, params["answer_format"])
questions = pd.read_parquet(snakemake.input.questions)
logging.info("answering %d questions of %s", len(questions), snakemake.input.questions)
answers = generate_answers(model, tokenizer, device, questions, params, budget)
write_table(answers, snakemake.output[0])
if answer_format(params["answer_format"]).picks_option:
    right = answers["answer_index"].to_numpy() == questions["gold_index"].to_numpy()
    logging.info("accuracy %.3f over %d questions", right.mean(), len(questions))
finish(snakemake, params, started, **provenance)
