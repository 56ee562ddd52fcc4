"""The `evaluate_column` stage: AUROC, ECE (two variants), Brier and accuracy of every cell of one
column, with bootstrap CIs. AUROC ranks the log-odds (never saturated probabilities).

- `ece`: the paper's definition: 10 equal-width bins on P(correct), |mean P - accuracy| weighted by
  bin size.
- `ece_toplabel`: the variant the authors' code computes: confidence max(p, 1-p) binned against
  whether the thresholded prediction (p >= 0.5) is right. Their code drops confidence exactly 1.0;
  here it falls in the last bin.
- `auroc_subject_mean`: AUROC per subject, averaged over subjects (the paper's aggregation);
  subjects with a single class are left out.
AUROC of a single-class sample is undefined: NaN, never 0.5.
"""

import logging

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from crossprobe.calibration import sigmoid

log = logging.getLogger(__name__)


def auroc(y, p) -> float:
    """Rank-based AUROC (ties count half), NaN for a single class; equals sklearn's."""
    y = np.asarray(y, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(p, dtype=np.float64))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def calibration_error(confidence, hit, bins: int) -> float:
    confidence = np.asarray(confidence, dtype=np.float64)
    hit = np.asarray(hit, dtype=np.float64)
    if len(confidence) == 0:
        return float("nan")
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            total += in_bin.mean() * abs(confidence[in_bin].mean() - hit[in_bin].mean())
    return float(total)


def ece(y, p, bins: int = 10) -> float:
    return calibration_error(p, y, bins)


def ece_toplabel(y, p, bins: int = 10) -> float:
    p = np.asarray(p, dtype=np.float64)
    predicted = p >= 0.5
    return calibration_error(np.maximum(p, 1 - p), predicted == np.asarray(y, dtype=bool), bins)


def brier(y, p) -> float:
    return float(np.mean((np.asarray(p, dtype=np.float64) - np.asarray(y)) ** 2))


def macro_auroc(y, p, subjects) -> float:
    y, p, subjects = np.asarray(y), np.asarray(p), np.asarray(subjects)
    per_subject = [auroc(y[subjects == s], p[subjects == s]) for s in np.unique(subjects)]
    per_subject = [a for a in per_subject if not np.isnan(a)]
    return float(np.mean(per_subject)) if per_subject else float("nan")


def point_metrics(y, z, p, p_raw, subjects, bins: int) -> dict:
    return {
        "auroc": auroc(y, z),
        "auroc_subject_mean": macro_auroc(y, z, subjects),
        "ece": ece(y, p, bins),
        "ece_toplabel": ece_toplabel(y, p, bins),
        "ece_uncalibrated": ece(y, p_raw, bins),
        "brier": brier(y, p),
        "accuracy": float(np.mean(y)) if len(y) else float("nan"),
    }


def evaluate(scores: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Tidy metrics (metric, value, ci_low, ci_high, n) on the test rows of a scores table."""
    test = scores[scores["split"] == "test"]
    y = test["correct"].to_numpy()
    z = test["logodds"].to_numpy()
    p = test["p_correct"].to_numpy()
    p_raw = sigmoid(test["logodds_raw"].to_numpy())
    subjects = test["subject"].to_numpy()
    bins = params["ece_bins"]
    point = point_metrics(y, z, p, p_raw, subjects, bins)
    if np.isnan(point["auroc"]):
        log.warning("the test split has a single class (%d examples): AUROC is undefined", len(y))
    rng = np.random.default_rng(params["seed"])
    draws = {name: [] for name in point}
    for _ in range(params["bootstrap"]):
        i = rng.integers(0, len(y), len(y))
        for name, value in point_metrics(y[i], z[i], p[i], p_raw[i], subjects[i], bins).items():
            draws[name].append(value)
    alpha = (1 - params["ci"]) / 2
    rows = []
    for name, value in point.items():
        values = np.asarray(draws[name])
        values = values[~np.isnan(values)]
        low, high = (
            np.quantile(values, [alpha, 1 - alpha])
            if len(values) and not np.isnan(value)
            else (np.nan, np.nan)
        )
        rows.append({"metric": name, "value": value, "ci_low": low, "ci_high": high, "n": len(y)})
    return pd.DataFrame(rows)


def evaluate_column(tables: dict, params: dict) -> pd.DataFrame:
    """Tidy metrics of every cell in {method: scores table} of one column."""
    frames = []
    for name, table in tables.items():
        for (model, source), cell in table.groupby(["model", "trained_on"], sort=False):
            metrics = evaluate(cell, params)
            metrics.insert(0, "trained_on", source)
            metrics.insert(0, "model", model)
            metrics.insert(0, "method", name)
            frames.append(metrics)
    return pd.concat(frames, ignore_index=True)
