"""Snakemake adapter: make a model loadable by path (GGUF -> safetensors checkpoint)."""

import json
from pathlib import Path

from crossprobe.intake.weights import weights_fingerprint
from crossprobe.job import atomic, finish, start
from crossprobe.models.lm import prepare_model

started = start(snakemake)
weights = snakemake.params.weights
out = Path(snakemake.output[0])
record = prepare_model(weights, out.parent, f"models.{snakemake.wildcards.model}.weights")
record["fingerprint"] = weights_fingerprint(weights, record)
with atomic(out) as tmp:
    tmp.write_text(json.dumps(record, indent=2) + "\n")
finish(snakemake, {"weights": weights}, started, model=record)
