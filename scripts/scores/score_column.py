"""Snakemake adapter: one method's temperature-scaled scores for every cell of one column."""

import logging

from crossprobe.job import finish, start, write_table
from crossprobe.scores.scoring import score_column

started = start(snakemake)
scoring = snakemake.params.scoring
scores = score_column(scoring)
write_table(scores, snakemake.output[0])
for model, cell in scores.groupby("model", sort=False):
    logging.info(
        "%s on %s: temperature %.3f", model, scoring["source"], cell["temperature"].iloc[0]
    )
finish(snakemake, scoring, started)
