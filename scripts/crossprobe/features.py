"""Cached feature files: writing and reading them, and lining features up with correctness
labels by question id. Torch-free, so the probe rules do not depend on the model code."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.numpy import save_file

from crossprobe.job import atomic


def labelled_features(features: dict, ids: dict, graded: pd.DataFrame, split: str):
    """(features, labels) of `split` in the order of the graded table; fails on mismatched ids."""
    row_of = {qid: i for i, qid in enumerate(ids[split])}
    missing = [q for q in graded["question_id"] if q not in row_of]
    if missing:
        raise ValueError(
            f"{len(missing)} {split} questions have no cached features (e.g. {missing[:3]}): "
            "the activation cache is stale"
        )
    rows = [row_of[q] for q in graded["question_id"]]
    return features[split][rows], graded["correct"].to_numpy().astype(np.int64)


def save_activations(path: Path, arrays: dict, ids: dict, layers) -> None:
    metadata = {"question_ids": json.dumps(ids), "layers": json.dumps(list(layers))}
    with atomic(path) as tmp:
        save_file(arrays, str(tmp), metadata=metadata)


def load_activations(path: Path):
    """({split: float32 array (n, layers*d)}, {split: question ids})."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        ids = json.loads(handle.metadata()["question_ids"])
        arrays = {k: handle.get_tensor(k).astype(np.float32) for k in handle.keys()}
    return {k: v.reshape(len(v), -1) for k, v in arrays.items()}, ids
