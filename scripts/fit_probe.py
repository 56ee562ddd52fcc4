"""Snakemake adapter: fit the Probe of one (estimator, source) cell on cached features."""

import logging

import pandas as pd

from crossprobe.features import labelled_features
from crossprobe.job import finish, start
from crossprobe.probes import fit_probe, save_probe

started = start(snakemake)
params, seed = snakemake.params.probe, snakemake.params.seed
inputs = snakemake.input
x, y = labelled_features(inputs.train_reads, pd.read_parquet(inputs.train))
x_cal, y_cal = labelled_features(inputs.calibration_reads, pd.read_parquet(inputs.calibration))
logging.info(
    "fitting a %s probe on %s features (%.1f%% correct)", params["kind"], x.shape, 100 * y.mean()
)
probe = fit_probe(x, y, x_cal, y_cal, params, seed)
save_probe(probe, snakemake.output[0], params)
finish(snakemake, {**params, "seed": seed}, started)
