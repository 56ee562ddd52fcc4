"""Snakemake adapter: log-odds of "correct" from the LoRA-tuned estimator's answer to the query,
for one split of one source's answers."""

import json
import logging
from pathlib import Path

import pandas as pd

from crossprobe.job import finish, provenance_path, start, write_table
from crossprobe.lora.adapter import load_adapter
from crossprobe.lora.query import query_logodds
from crossprobe.lora.texts import query_sequences
from crossprobe.models.lm import job_budget, load_job_model

started = start(snakemake)
params = snakemake.params.settings
model, tokenizer, device, provenance = load_job_model(snakemake)
model = load_adapter(model, Path(snakemake.input.adapter).parent)
budget, provenance["batches"] = job_budget(snakemake, model, device)
graded = pd.read_parquet(snakemake.input.graded)
seqs, _ = query_sequences(tokenizer, graded["prompt"], graded["answer"], params["max_length"])
logodds = query_logodds(model, tokenizer, device, seqs, params["score_batch_size"], budget)
write_table(
    pd.DataFrame({"question_id": graded["question_id"], "logodds": logodds}), snakemake.output[0]
)
adapter = json.loads(provenance_path(snakemake.input.adapter).read_text())
# trained here: its step kept of its steps; trained elsewhere: where it comes from, as checked
scored = {k: adapter[k] for k in ("kept_step", "steps", "released") if k in adapter}
logging.info("scored %d answers with the adapter %s", len(graded), scored)
finish(snakemake, params, started, **provenance, adapter=scored)
