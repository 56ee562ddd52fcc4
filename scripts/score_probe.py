"""Snakemake adapter: P(correct) of a fitted Probe on the calibration and test splits."""

import pandas as pd

from crossprobe.calibration import raw_scores, scores_table
from crossprobe.features import labelled_features, load_activations
from crossprobe.job import finish, start, write_table
from crossprobe.probes import load_probe, predict_probe

started = start(snakemake.log[0], snakemake.threads)
params = snakemake.params.probe
probe = load_probe(snakemake.input.probe)
features, ids = load_activations(snakemake.input.activations)
graded, p_correct = {}, {}
for split in ("calibration", "test"):
    graded[split] = pd.read_parquet(snakemake.input[split])
    x, _ = labelled_features(features, ids, graded[split], split)
    p_correct[split] = predict_probe(probe, x, params["kind"], params["mlp"]["hidden"])
scores = scores_table(raw_scores(graded, p_correct))
write_table(scores, snakemake.output[0])
finish(snakemake, params, started, temperature=scores["temperature"].iloc[0])
