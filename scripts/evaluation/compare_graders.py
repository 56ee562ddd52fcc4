"""Snakemake adapter: the judge against the answer sets' own labels, the learned estimators'
AUROC under either grader, and the judge's accuracy per subject against a reference grader's."""

import pandas as pd

from crossprobe.contract.methods import title
from crossprobe.evaluation.graders import (
    AGREEMENT_COLUMNS,
    AUROC_COLUMNS,
    REFERENCE_COLUMNS,
    agreement,
    graders_markdown,
    method_aurocs,
    read_reference,
    reference_accuracy,
)
from crossprobe.job import atomic, finish, start, write_tsv

started = start(snakemake)
comparison = snakemake.params.comparison
columns = comparison["columns"]
judged = {c: pd.read_parquet(p) for c, p in zip(columns, snakemake.input.judged, strict=True)}
bootstrap = snakemake.params.bootstrap
agreements = pd.DataFrame(
    [agreement(judged[c], c, bootstrap) for c in columns], columns=AGREEMENT_COLUMNS
)
rows = []
for (method, source), path in zip(comparison["scores"], snakemake.input.scores, strict=True):
    rows += method_aurocs(pd.read_parquet(path), judged[source], method, source)
aurocs = pd.DataFrame(rows, columns=AUROC_COLUMNS)
rows = []
if comparison["reference"]:
    table = read_reference(snakemake.input.reference)
    for (source, name), path in zip(
        comparison["reference"].items(), snakemake.input.graded, strict=True
    ):
        rows += reference_accuracy(pd.read_parquet(path), table[table["model"] == name], source)
reference = pd.DataFrame(rows, columns=REFERENCE_COLUMNS)
write_tsv(agreements, snakemake.output.agreement)
write_tsv(aurocs, snakemake.output.auroc)
write_tsv(reference, snakemake.output.reference)
with atomic(snakemake.output.markdown) as tmp:
    tmp.write_text(graders_markdown(agreements, aurocs, reference, comparison["names"], title))
finish(snakemake, comparison | bootstrap, started)
