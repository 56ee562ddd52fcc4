"""Snakemake adapter: the tidy grid table and its markdown tables."""

import pandas as pd

from crossprobe.grid import auroc_markdown, winners_markdown
from crossprobe.job import atomic, finish, start

started = start(snakemake)
layout = snakemake.params.layout
grid = pd.concat([pd.read_csv(p, sep="\t") for p in snakemake.input.metrics], ignore_index=True)
with atomic(snakemake.output.tsv) as tmp:
    grid.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
with atomic(snakemake.output.markdown) as tmp:
    tmp.write_text(auroc_markdown(grid, layout) + "\n" + winners_markdown(grid, layout))
finish(snakemake, layout, started)
