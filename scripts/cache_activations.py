"""Snakemake adapter: an estimator's frozen features of one source's answered prompts."""

import logging

import pandas as pd

from crossprobe.activations import FeatureStore, cache_activations, store_fingerprint
from crossprobe.features import save_activations
from crossprobe.job import finish, start
from crossprobe.lm import load_job_model, pick_dtype

started = start(snakemake.log[0], snakemake.threads)
params = snakemake.params.activations
model, tokenizer, device, provenance = load_job_model(snakemake)
dtype = pick_dtype(snakemake.params.runtime["dtype"], device)
store = FeatureStore(
    f"{snakemake.params.store}/{store_fingerprint(provenance['model'], params, dtype)}"
)
splits = {s: pd.read_parquet(snakemake.input[s]) for s in ("train", "calibration", "test")}
arrays, ids, stats = cache_activations(model, tokenizer, device, store, splits, params)
save_activations(snakemake.output[0], arrays, ids, params["layers"])
logging.info("features %s", {k: list(v.shape) for k, v in arrays.items()})
finish(snakemake, params, started, **provenance, store=str(store.root), sequences=stats)
