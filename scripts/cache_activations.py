"""Snakemake adapter: an estimator's frozen features of one source's answered prompts."""

import json
import logging

import pandas as pd

from crossprobe.activations import (
    FeatureStore,
    cache_activations,
    save_activations,
    store_fingerprint,
)
from crossprobe.job import start, write_provenance
from crossprobe.lm import load_model, pick_dtype

started = start(snakemake.log[0], snakemake.threads)
runtime, params = snakemake.params.runtime, snakemake.params.activations
record = json.loads(open(snakemake.input.model).read())
model, tokenizer, device = load_model(record, runtime["device"], runtime["dtype"])
fingerprint = store_fingerprint(record, params, pick_dtype(runtime["dtype"], device))
store = FeatureStore(f"{snakemake.params.store}/{fingerprint}")
splits = {s: pd.read_parquet(snakemake.input[s]) for s in ("train", "calibration", "test")}
arrays, ids, stats = cache_activations(model, tokenizer, device, store, splits, params)
save_activations(snakemake.output[0], arrays, ids, params["layers"])
logging.info("features %s", {k: list(v.shape) for k, v in arrays.items()})
write_provenance(
    snakemake.output,
    snakemake.rule,
    {**params, **runtime},
    started,
    model=record,
    device=str(device),
    store=str(store.root),
    sequences=stats,
)
