"""Cached read files (one per estimator, source and split): writing and reading them, and lining
features up with correctness labels by question id. Torch-free, so the probe and scoring rules do
not depend on the model code."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors import safe_open
from safetensors.numpy import save_file

from crossprobe.job import atomic


def save_reads(path: Path, arrays: dict, question_ids: list, layers) -> None:
    metadata = {"question_ids": json.dumps(list(question_ids)), "layers": json.dumps(list(layers))}
    with atomic(path) as tmp:
        save_file(arrays, str(tmp), metadata=metadata)


def load_reads(path: Path) -> tuple[dict, list]:
    """({name: array}, question ids); features ("answer_features", "question_features") come
    flattened to float32 (n, layers * d)."""
    with safe_open(str(path), framework="numpy") as handle:
        ids = json.loads(handle.metadata()["question_ids"])
        arrays = {k: handle.get_tensor(k) for k in handle.keys()}
    for name in ("answer_features", "question_features"):
        features = arrays[name].astype(np.float32)
        arrays[name] = features.reshape(len(features), -1)
    return arrays, ids


def aligned(array: np.ndarray, ids: list, graded: pd.DataFrame, what: str) -> np.ndarray:
    """Rows of `array` (in `ids` order) in the row order of the graded table; fails on ids it
    lacks (a stale cache)."""
    row_of = {qid: i for i, qid in enumerate(ids)}
    missing = [q for q in graded["question_id"] if q not in row_of]
    if missing:
        raise ValueError(
            f"{len(missing)} questions of {what} have no cached read (e.g. {missing[:3]}): "
            "the activation cache is stale"
        )
    return array[[row_of[q] for q in graded["question_id"]]]


def labelled_features(
    path: Path, graded: pd.DataFrame, features: str = "answer"
) -> tuple[np.ndarray, np.ndarray]:
    """(features read at the answer or at the question, 0/1 labels) of one split, in the graded
    table's order."""
    arrays, ids = load_reads(path)
    x = aligned(arrays[f"{features}_features"], ids, graded, str(path))
    return x, graded["correct"].to_numpy().astype(np.int64)
