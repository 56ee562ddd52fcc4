"""Snakemake adapter: one split of labelled answers from an answer set, in the shape of graded
answers (they stand in for generating and grading)."""

import logging

from crossprobe.intake.answer_sets import answer_records
from crossprobe.intake.external import read_table
from crossprobe.job import finish, start, write_table

started = start(snakemake)
params, split = snakemake.params.answer_set, snakemake.wildcards.split
table = read_table(params["table"], params["key"], params["split"])
graded = answer_records(table, params["table"], snakemake.wildcards.source, split, params["key"])
write_table(graded, snakemake.output[0])
logging.info("%s: %d answers, %.3f correct", split, len(graded), graded["correct"].mean())
finish(snakemake, params, started)
