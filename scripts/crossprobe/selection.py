"""Lining up cached features with correctness labels by question id."""

import numpy as np
import pandas as pd


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
