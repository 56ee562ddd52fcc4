"""The `score_column` stage: one method's raw log-odds for every cell of one column, for every
replicate behind a cell (training seeds and sweep sizes), on the scored splits, each replicate
temperature-scaled on its calibration rows. Torch-free: probes are applied to cached features in
numpy, the zero-shot query is read from the cached logits, LoRA scores come from `score_lora`,
and the free baselines are computed from graded answers."""

from functools import lru_cache

import numpy as np
import pandas as pd

from crossprobe import baselines
from crossprobe.calibration import raw_scores, scores_table
from crossprobe.features import aligned, load_reads
from crossprobe.methods import method
from crossprobe.probes import load_probe, probe_logodds
from crossprobe.splits import SCORED
from crossprobe.workflow import file_key

COLUMNS = ["method", "model", "trained_on", "n_train", "seed"]


def score_column(plan: dict) -> pd.DataFrame:
    """The scores table of one (method, column): every replicate's calibration and test rows
    (plan: method, source, each cell model's replicates, and the files that
    `workflow.score_inputs` lists)."""
    spec, source, files = method(plan["method"]), plan["source"], plan["files"]
    graded = {s: pd.read_parquet(files[file_key("answers", source, s)]) for s in SCORED}

    @lru_cache
    def reads(model: str, split: str) -> tuple:
        path = files[file_key("reads", model, split)]
        arrays, ids = load_reads(path)
        return {n: aligned(a, ids, graded[split], path) for n, a in arrays.items()}

    probe_at = lru_cache(load_probe)  # one load per replicate, for both scored splits

    def raw(model: str, split: str, n_train: str, seed) -> np.ndarray:
        if spec.scorer == "probe":
            probe = probe_at(files[file_key("probe", model, n_train, seed)])
            return probe_logodds(probe, reads(model, split)[f"{spec.features}_features"])
        if spec.scorer == "query":
            logits = reads(model, split)["query_logits"].astype(np.float64)
            return logits[:, 1] - logits[:, 0]
        if spec.scorer == "lora":
            path = files[file_key("lora", model, n_train, seed, split)]
            table = pd.read_parquet(path)
            return aligned(
                table["logodds"].to_numpy(), list(table["question_id"]), graded[split], path
            )
        own = files.get(file_key("own", model, split))
        return getattr(baselines, spec.name)(
            graded[split], None if own is None else pd.read_parquet(own)
        )

    frames = []
    for model, runs in plan["replicates"].items():
        for n_train, seed in runs:
            logodds = {s: raw(model, s, n_train, seed) for s in SCORED}
            table = scores_table(raw_scores(graded, logodds))
            frames.append(
                table.assign(
                    method=spec.name,
                    model=model,
                    trained_on=source,
                    n_train=n_train,
                    seed=-1 if seed is None else int(seed),
                )
            )
    out = pd.concat(frames, ignore_index=True)
    return out[COLUMNS + [c for c in out.columns if c not in COLUMNS]]
