"""Snakemake adapter: make a model loadable by path (GGUF -> safetensors checkpoint)."""

import json
from pathlib import Path

from crossprobe.job import atomic, finish, start
from crossprobe.lm import prepare_model
from crossprobe.sources import model_fingerprint

started = start(snakemake.log[0], snakemake.threads)
source = snakemake.params.source
out = Path(snakemake.output[0])
record = prepare_model(source, out.parent)
record["fingerprint"] = model_fingerprint(source, record["path"])
with atomic(out) as tmp:
    tmp.write_text(json.dumps(record, indent=2) + "\n")
finish(snakemake, {"source": source}, started, model=record)
