"""Snakemake adapter: LoRA + Prompt training of one estimator on one source's training answers
(a seeded hold-out of them selects the adapter kept)."""

import logging
from pathlib import Path

import pandas as pd

from crossprobe.job import finish, start
from crossprobe.lm import load_job_model
from crossprobe.lora import save_adapter, train_on_answers
from crossprobe.splits import selection_split

started = start(snakemake)
params, seed, selection = snakemake.params.lora, snakemake.params.seed, snakemake.params.selection
model, tokenizer, device, provenance = load_job_model(snakemake)
answers = pd.read_parquet(snakemake.input.train)
fit, held = selection_split(answers["question_id"], selection["fraction"], seed)
train, held_out = answers.iloc[fit], answers.iloc[held]
logging.info(
    "training on %d answers (%.1f%% correct), %d held out to select the adapter",
    len(train),
    100 * train["correct"].mean(),
    len(held_out),
)
peft_model, history, kept = train_on_answers(
    model, tokenizer, device, train, params, seed, held=held_out
)
save_adapter(peft_model, Path(snakemake.output.adapter).parent)
finish(
    snakemake,
    {**params, "selection": selection, "seed": seed},
    started,
    **provenance,
    **kept,
    loss_per_step=[round(x, 5) for x in history],
)
