"""Snakemake adapter: one model's answers to every split (the model is loaded once)."""

import logging

import pandas as pd

from crossprobe.answering import generate_answers
from crossprobe.job import finish, start, write_table
from crossprobe.lm import load_job_model

started = start(snakemake.log[0], snakemake.threads)
params = {**snakemake.params.answers, "answer_format": snakemake.params.answer_format}
model, tokenizer, device, provenance = load_job_model(snakemake)
for questions_path, out in zip(snakemake.input.questions, snakemake.output, strict=True):
    questions = pd.read_parquet(questions_path)
    logging.info("answering %d questions of %s", len(questions), questions_path)
    answers = generate_answers(model, tokenizer, device, questions, params)
    write_table(answers, out)
    if params["answer_format"] != "open":
        right = answers["answer_index"].to_numpy() == questions["gold_index"].to_numpy()
        logging.info("%s: accuracy %.3f over %d questions", out, right.mean(), len(questions))
finish(snakemake, params, started, **provenance)
