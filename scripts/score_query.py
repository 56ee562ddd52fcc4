"""Snakemake adapter: P(correct) from the query "Is the proposed answer correct?", asked of the
LoRA-tuned estimator (method lora) or of the untuned one (method zero_shot)."""

from pathlib import Path

import pandas as pd

from crossprobe.calibration import raw_scores, scores_table
from crossprobe.job import finish, start, write_table
from crossprobe.lm import load_job_model
from crossprobe.lora import load_adapter, query_p_correct, query_sequences

started = start(snakemake.log[0], snakemake.threads)
params = snakemake.params.query
model, tokenizer, device, provenance = load_job_model(snakemake)
if "adapter" in snakemake.input.keys():
    model = load_adapter(model, Path(snakemake.input.adapter).parent)
graded, p_correct = {}, {}
for split in ("calibration", "test"):
    graded[split] = pd.read_parquet(snakemake.input[split])
    seqs, _ = query_sequences(
        tokenizer, graded[split]["prompt"], graded[split]["answer"], params["max_length"]
    )
    p_correct[split] = query_p_correct(model, tokenizer, device, seqs, params["score_batch_size"])
scores = scores_table(raw_scores(graded, p_correct))
write_table(scores, snakemake.output[0])
finish(snakemake, params, started, **provenance, temperature=scores["temperature"].iloc[0])
