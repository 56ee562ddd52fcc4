"""Snakemake adapter: the authors' per-subject test AUROC beside ours, per cell and matching
reference run."""

import pandas as pd

from crossprobe.evaluation.graders import read_reference
from crossprobe.evaluation.reference import compare_cells, per_subject_auroc, reference_markdown
from crossprobe.job import atomic, finish, start, write_tsv

started = start(snakemake)
comparison = snakemake.params.comparison
ours = pd.concat(
    [per_subject_auroc(pd.read_parquet(path)) for path in snakemake.input.scores],
    ignore_index=True,
)
table = read_reference(snakemake.input.reference)
subjects, cells = compare_cells(ours, table, comparison["models"])
write_tsv(cells, snakemake.output.cells)
write_tsv(subjects, snakemake.output.subjects)
with atomic(snakemake.output.markdown) as tmp:
    tmp.write_text(reference_markdown(cells, comparison["names"], snakemake.input.reference))
finish(snakemake, comparison, started)
