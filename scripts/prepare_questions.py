"""Snakemake adapter: the seeded train / calibration / test question tables with prompts."""

import logging

from crossprobe.job import finish, start, write_table
from crossprobe.questions import SPLITS, prepare_questions

started = start(snakemake.log[0])
params = {**snakemake.params.data, "seed": snakemake.params.seed}
splits = prepare_questions(params)
for split, path in zip(SPLITS, snakemake.output, strict=True):
    frame = splits[split]
    write_table(frame, path)
    logging.info(
        "%s: %d questions (%s)", split, len(frame), frame["dataset"].value_counts().to_dict()
    )
finish(snakemake, params, started, seed=params["seed"])
