"""Snakemake adapter: LoRA + Prompt training of one estimator on one source's answers."""

import logging
from pathlib import Path

import pandas as pd

from crossprobe.job import finish, start
from crossprobe.lm import load_job_model
from crossprobe.lora import save_adapter, train_on_answers

started = start(snakemake)
params, seed = snakemake.params.lora, snakemake.params.seed
model, tokenizer, device, provenance = load_job_model(snakemake)
train = pd.read_parquet(snakemake.input.train)
logging.info("training on %d answers (%.1f%% correct)", len(train), 100 * train["correct"].mean())
peft_model, history = train_on_answers(model, tokenizer, device, train, params, seed)
save_adapter(peft_model, Path(snakemake.output.adapter).parent)
finish(
    snakemake,
    {**params, "seed": seed},
    started,
    **provenance,
    loss_per_step=[round(x, 5) for x in history],
)
