"""Snakemake adapter: an estimator's frozen read (features, zero-shot query logits) of one
source's answered prompts of one split."""

import logging

import pandas as pd

from crossprobe.job import finish, start
from crossprobe.models.lm import job_budget, load_job_model
from crossprobe.models.store import FeatureStore
from crossprobe.reads.activations import cache_activations, store_fingerprint
from crossprobe.reads.features import save_reads

started = start(snakemake)
params = snakemake.params.settings
model, tokenizer, device, provenance = load_job_model(snakemake)
budget, provenance["batches"] = job_budget(snakemake, model, device)
precision = provenance["precision"]["dtype"]
store = FeatureStore(
    f"{snakemake.params.store}/{store_fingerprint(provenance['model'], params, precision)}"
)
graded = pd.read_parquet(snakemake.input.graded)
arrays, stats = cache_activations(model, tokenizer, device, store, graded, params, budget)
save_reads(snakemake.output[0], arrays, graded["question_id"], params["layers"])
logging.info("reads %s", {k: list(v.shape) for k, v in arrays.items()})
finish(snakemake, params, started, **provenance, store=str(store.root), texts=stats)
