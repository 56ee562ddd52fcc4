"""Snakemake adapter: P(correct) from a free baseline (no training, no model run)."""

import pandas as pd

from crossprobe.baselines import agreement, agreement_prob, source_confidence
from crossprobe.calibration import raw_scores, scores_table
from crossprobe.job import finish, start, write_table

started = start(snakemake.log[0])
method = snakemake.wildcards.method
graded, p_correct = {}, {}
for split in ("calibration", "test"):
    graded[split] = pd.read_parquet(snakemake.input[split])
    if method == "source_confidence":
        p_correct[split] = source_confidence(graded[split])
    else:
        own = pd.read_parquet(snakemake.input[f"own_{split}"])
        score = agreement if method == "agreement" else agreement_prob
        p_correct[split] = score(own, graded[split])
scores = scores_table(raw_scores(graded, p_correct))
write_table(scores, snakemake.output[0])
finish(snakemake, {"method": method}, started)
