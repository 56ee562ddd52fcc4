"""Snakemake adapter: the tidy grid table and its markdown AUROC grids."""

import pandas as pd

from crossprobe.grid import auroc_markdown, winners_markdown
from crossprobe.job import atomic, finish, start

started = start(snakemake)
grid = pd.concat([pd.read_csv(p, sep="\t") for p in snakemake.input.metrics], ignore_index=True)
with atomic(snakemake.output.tsv) as tmp:
    grid.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
with atomic(snakemake.output.markdown) as tmp:
    names = snakemake.params.names
    tmp.write_text(
        auroc_markdown(grid, snakemake.params.methods, names) + "\n" + winners_markdown(grid, names)
    )
finish(
    snakemake,
    {"methods": snakemake.params.methods, "names": snakemake.params.names},
    started,
)
