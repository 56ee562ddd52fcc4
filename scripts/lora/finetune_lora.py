"""Snakemake adapter: LoRA + Prompt training of one estimator (one training set, size and seed)
on training answers; a seeded hold-out of them selects the adapter kept."""

import hashlib
import logging
from pathlib import Path

import pandas as pd

from crossprobe.contract.splits import training_split
from crossprobe.job import finish, start
from crossprobe.lora.checkpoint import Checkpoint, slurm_end_time
from crossprobe.lora.tuning import save_adapter, train_on_answers
from crossprobe.models.lm import job_budget, load_job_model

started = start(snakemake)
params, wc = snakemake.params.lora, snakemake.wildcards
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
# what decides this training: a checkpoint of anything else is not resumed
identity = {
    "params": params,
    "seed": wc.seed,
    "answers": hashlib.sha256("".join(train["question_id"]).encode()).hexdigest(),
    "model": provenance["model"]["fingerprint"],
    "dtype": provenance["precision"]["dtype"],
}
checkpoint = Checkpoint(
    snakemake.params.checkpoint, identity, params["checkpoint_every"], slurm_end_time()
)
peft_model, history, kept = train_on_answers(
    model, tokenizer, device, train, params, int(wc.seed), held, checkpoint, budget
)
save_adapter(peft_model, Path(snakemake.output.adapter).parent)
checkpoint.remove()
finish(
    snakemake,
    {**params, "training": training, "seed": int(wc.seed)},
    started,
    **provenance,
    **kept,
    training_answers=train["source"].value_counts().to_dict(),
    loss_per_step=[round(x, 5) for x in history],
)
