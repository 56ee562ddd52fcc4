"""Snakemake adapter: LoRA + Prompt training of one estimator on one source's answers."""

import json
import logging
from pathlib import Path

import pandas as pd

from crossprobe.job import start, write_provenance
from crossprobe.lm import load_model
from crossprobe.lora import QUERY_SUFFIX, query_sequences, train_lora

started = start(snakemake.log[0], snakemake.threads)
runtime, params, seed = snakemake.params.runtime, snakemake.params.lora, snakemake.params.seed
record = json.loads(open(snakemake.input.model).read())
model, tokenizer, device = load_model(record, runtime["device"], runtime["dtype"])
train = pd.read_parquet(snakemake.input.train)
seqs, answer_lengths = query_sequences(
    tokenizer, train["prompt"], train["answer"], params["max_length"]
)
logging.info("training on %d answers (%.1f%% correct)", len(train), 100 * train["correct"].mean())
peft_model, history = train_lora(
    model,
    tokenizer,
    device,
    seqs,
    train["correct"].tolist(),
    params,
    seed,
    answer_lengths=answer_lengths,
    suffix_length=len(tokenizer(QUERY_SUFFIX, add_special_tokens=False)["input_ids"]),
)
out_dir = Path(snakemake.output.adapter).parent
tmp_dir = out_dir.with_name(f".{out_dir.name}.tmp")
peft_model.save_pretrained(tmp_dir)
out_dir.mkdir(parents=True, exist_ok=True)
for name in ("adapter_model.safetensors", "adapter_config.json"):
    (tmp_dir / name).rename(out_dir / name)
for leftover in tmp_dir.iterdir():
    leftover.unlink()
tmp_dir.rmdir()
write_provenance(
    [out_dir],
    snakemake.rule,
    {**params, **runtime, "seed": seed},
    started,
    model=record,
    device=str(device),
    loss_per_step=[round(x, 5) for x in history],
)
