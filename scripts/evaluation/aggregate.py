"""Snakemake adapter: the tidy tables of every column (grid, contrasts, sweep, recipes, curves,
the split by agreement) and the markdown summaries."""

import logging

import pandas as pd

from crossprobe.evaluation.findings import findings_markdown
from crossprobe.evaluation.markdown import (
    auroc_markdown,
    consensus_markdown,
    contrasts_markdown,
    subject_support,
    thin_headlines,
    winners_markdown,
)
from crossprobe.job import atomic, finish, start, write_tsv

started = start(snakemake)
layout = snakemake.params.layout
tables = {}
for name in ("metrics", "contrasts", "sweep", "recipes", "curves", "consensus"):
    parts = [pd.read_csv(p, sep="\t") for p in snakemake.input[name]]
    tables[name] = pd.concat([p for p in parts if len(p)] or parts, ignore_index=True)
for name, table in tables.items():
    # the column tables' metrics, stacked, are the grid
    write_tsv(table, snakemake.output["grid" if name == "metrics" else name])
grid, contrasts = tables["metrics"], tables["contrasts"]
with atomic(snakemake.output.markdown) as tmp:
    tmp.write_text(
        auroc_markdown(grid, layout)
        + "\n"
        + contrasts_markdown(contrasts, layout)
        + "\n"
        + winners_markdown(grid, contrasts, layout)
    )
with atomic(snakemake.output.consensus_markdown) as tmp:
    tmp.write_text(consensus_markdown(tables["consensus"], layout))
with atomic(snakemake.output.findings) as tmp:
    tmp.write_text(findings_markdown(grid, contrasts, layout))
if any(k < layout["min_subjects"] for k, _ in thin_headlines(grid, layout).values()):
    logging.warning(subject_support(grid, layout))
finish(snakemake, layout, started)
