"""The `score_column` stage: one method's raw log-odds for every cell of one column on the scored
splits, each cell temperature-scaled on its calibration rows. Torch-free: probes are applied to
cached features in numpy, the zero-shot query is read from the cached logits, LoRA scores come
from `score_lora`, and the free baselines are computed from graded answers."""

import numpy as np
import pandas as pd

from crossprobe import baselines
from crossprobe.calibration import raw_scores, scores_table
from crossprobe.features import aligned, load_reads
from crossprobe.methods import method
from crossprobe.probes import load_probe, probe_logodds
from crossprobe.splits import SCORED
from crossprobe.workflow import file_key


def raw_logodds(name: str, model: str, split: str, files: dict, graded: pd.DataFrame):
    """Raw log-odds of `name` for estimator `model` on one split of the column's answers."""
    scorer = method(name).scorer
    if scorer in ("probe", "query"):
        path = files[file_key("reads", model, split)]
        arrays, ids = load_reads(path)
        if scorer == "probe":
            x = aligned(arrays["features"], ids, graded, path)
            return probe_logodds(load_probe(files[file_key("probe", model)]), x)
        logits = aligned(arrays["query_logits"], ids, graded, path).astype(np.float64)
        return logits[:, 1] - logits[:, 0]
    if scorer == "lora":
        path = files[file_key("lora", model, split)]
        table = pd.read_parquet(path)
        return aligned(table["logodds"].to_numpy(), list(table["question_id"]), graded, path)
    own = files.get(file_key("own", model, split))
    return getattr(baselines, name)(graded, None if own is None else pd.read_parquet(own))


def score_column(plan: dict) -> pd.DataFrame:
    """The scores table of one (method, column): every cell's calibration and test rows
    (plan: method, source, the cells' models, and the files `workflow.score_inputs` lists)."""
    name, source, files = plan["method"], plan["source"], plan["files"]
    graded = {s: pd.read_parquet(files[file_key("answers", source, s)]) for s in SCORED}
    frames = []
    for model in plan["models"]:
        logodds = {s: raw_logodds(name, model, s, files, graded[s]) for s in SCORED}
        table = scores_table(raw_scores(graded, logodds))
        frames.append(table.assign(method=name, model=model, trained_on=source))
    columns = ["method", "model", "trained_on"]
    out = pd.concat(frames, ignore_index=True)
    return out[columns + [c for c in out.columns if c not in columns]]
