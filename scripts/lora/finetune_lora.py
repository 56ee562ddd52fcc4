"""Snakemake adapter: LoRA + Prompt training of one estimator (one training set, size and seed)
on training answers; a seeded hold-out of them selects the adapter kept."""

import logging
from pathlib import Path

import pandas as pd

from crossprobe.contract.splits import training_split
from crossprobe.job import finish, start
from crossprobe.lora.adapter import save_adapter
from crossprobe.lora.checkpoint import Checkpoint, slurm_end_time, training_identity
from crossprobe.lora.training import train_on_answers
from crossprobe.models.lm import job_budget, load_job_model

started = start(snakemake)
params, wc = snakemake.params.settings, snakemake.wildcards
training = snakemake.params.training
sources = training["sources"]
tables = {s: pd.read_parquet(p) for s, p in zip(sources, snakemake.input.answers, strict=True)}
train, held = training_split(tables, training, wc.n_train)
model, tokenizer, device, provenance = load_job_model(snakemake)
budget, provenance["batches"] = job_budget(snakemake, model, device)
logging.info(
    "training on %d answers (%.1f%% correct; %s), %d held out to select the adapter",
    len(train),
    100 * train["correct"].mean(),
    train["source"].value_counts().to_dict(),
    len(held),
)
identity = training_identity(
    params, wc.seed, train["question_id"], provenance["model"], provenance["precision"]["dtype"]
)
checkpoint = Checkpoint(
    snakemake.params.checkpoint, identity, params["checkpoint_every"], slurm_end_time()
)
trained = train_on_answers(
    model,
    tokenizer,
    device,
    train,
    params=params,
    seed=int(wc.seed),
    held_out=held,
    checkpoint=checkpoint,
    budget=budget,
)
save_adapter(trained.model, Path(snakemake.output.adapter).parent)
checkpoint.remove()
finish(
    snakemake,
    {**params, "training": training, "seed": int(wc.seed)},
    started,
    **provenance,
    **trained.record,
    training_answers=train["source"].value_counts().to_dict(),
    loss_per_step=[round(x, 5) for x in trained.loss_per_step],
)
