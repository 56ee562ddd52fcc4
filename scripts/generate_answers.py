"""Snakemake adapter: one model's answers to every split (the model is loaded once)."""

import json
import logging

import pandas as pd

from crossprobe.answering import generate_answers
from crossprobe.job import start, write_provenance, write_table
from crossprobe.lm import load_model

started = start(snakemake.log[0], snakemake.threads)
runtime = snakemake.params.runtime
params = {**snakemake.params.answers, "answer_format": snakemake.params.answer_format}
record = json.loads(open(snakemake.input.model).read())
model, tokenizer, device = load_model(record, runtime["device"], runtime["dtype"])
for questions_path, out in zip(snakemake.input.questions, snakemake.output, strict=True):
    questions = pd.read_parquet(questions_path)
    logging.info("answering %d questions of %s", len(questions), questions_path)
    answers = generate_answers(model, tokenizer, device, questions, params)
    write_table(answers, out)
    if params["answer_format"] != "open":
        accuracy = (answers["answer_index"].to_numpy() == questions["gold_index"].to_numpy()).mean()
        logging.info("%s: accuracy %.3f over %d questions", out, accuracy, len(questions))
write_provenance(
    snakemake.output,
    snakemake.rule,
    {**params, **runtime},
    started,
    model=record,
    device=str(device),
)
