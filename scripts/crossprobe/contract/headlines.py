"""The headline metrics (`evaluation.headline`): which metric of grid.tsv heads the figure and
the tables, and how they name it; both are also the metrics compared in pairs and swept.
Torch-free: the DAG reads the display name."""

POOLED = "auroc"
PER_SUBJECT = "auroc_subject_mean"
HEADLINES = {  # evaluation.headline -> (metric in grid.tsv, how tables and figures name it)
    "pooled": (POOLED, "AUROC, pooled"),
    "per_subject_mean": (PER_SUBJECT, "AUROC, mean over subjects"),
}
CONTRASTED = tuple(metric for metric, _ in HEADLINES.values())  # compared in pairs and swept
