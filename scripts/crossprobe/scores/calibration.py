"""Log-odds, temperature scaling and the common shape of every method's scores table.

Every method hands over raw log-odds of correctness (float64, straight from logits where there
are logits, so large margins keep their order); one scalar temperature per cell, fitted on the
calibration split, divides them. AUROC is unchanged (the map is monotone); ECE and NLL move.
"""

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from crossprobe.contract.paths import ALL, GRID_RECIPE
from crossprobe.logodds import nll, sigmoid

TEMPERATURES = (0.01, 100.0)  # the range a temperature is fitted in


def fit_temperature(z, y) -> float:
    """The T > 0 minimising calibration NLL of z / T (searched over log T)."""
    if len(z) == 0:
        return 1.0
    result = minimize_scalar(
        lambda log_t: nll(np.asarray(z) / np.exp(log_t), y),
        bounds=tuple(np.log(TEMPERATURES)),
        method="bounded",
    )
    return float(np.exp(result.x))


def fit_temperatures(z, y, weights, steps: int = 50) -> np.ndarray:
    """`fit_temperature` for every row of `weights` at once (counts of the calibration answers:
    bootstrap resamples of them), to about 1e-14 in log T. The weighted NLL of z / T is convex
    in 1 / T, so its slope there, sum of w z (sigmoid(z / T) - y), rises with 1 / T: its sign
    is bisected over log T in `TEMPERATURES` (an end where it does not change sign)."""
    z, y = np.asarray(z, dtype=np.float64), np.asarray(y, dtype=np.float64)
    w = np.atleast_2d(weights).astype(np.float64)
    low = np.full(len(w), -np.log(TEMPERATURES[1]))  # log(1 / T)
    high = np.full(len(w), -np.log(TEMPERATURES[0]))
    for _ in range(steps):
        middle = (low + high) / 2
        rising = (w * z * (sigmoid(np.exp(middle)[:, None] * z) - y)).sum(axis=1) > 0
        high, low = np.where(rising, middle, high), np.where(rising, low, middle)
    return np.exp(-(low + high) / 2)


# what names one fit behind a cell in a scores table (`crossprobe.dag.replicates`)
REPLICATE = ["n_train", "recipe", "seed", "resample"]
SCORE_COLUMNS = [
    "split",
    "question_id",
    "subject",
    "correct",
    "logodds_raw",
    "temperature",
    "logodds",
    "p_correct",
]


def scores_table(raw: pd.DataFrame) -> pd.DataFrame:
    """Raw scores (split, question_id, subject, correct, logodds_raw) plus the temperature fitted
    on the calibration rows, the scaled `logodds` and `p_correct`."""
    cal = raw[raw["split"] == "calibration"]
    temperature = fit_temperature(cal["logodds_raw"].to_numpy(), cal["correct"].to_numpy())
    scaled = raw["logodds_raw"].to_numpy() / temperature
    out = raw.assign(temperature=temperature, logodds=scaled, p_correct=sigmoid(scaled))
    return out[SCORE_COLUMNS].reset_index(drop=True)


def raw_scores(graded: dict, logodds: dict) -> pd.DataFrame:
    """Stack {split: graded answers} with {split: raw log-odds} into the raw scores shape."""
    frames = [
        pd.DataFrame(
            {
                "split": split,
                "question_id": frame["question_id"].to_numpy(),
                "subject": frame["subject"].to_numpy(),
                "correct": frame["correct"].to_numpy().astype(np.int64),
                "logodds_raw": np.asarray(logodds[split], dtype=np.float64),
            }
        )
        for split, frame in graded.items()
    ]
    return pd.concat(frames, ignore_index=True)


def grid_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """The rows of a scores table that the grid's estimators wrote: on all their training
    answers themselves (not a bootstrap resample of them), with the grid's recipe; one
    replicate per training seed."""
    return scores[
        (scores["n_train"].astype(str) == ALL)
        & (scores["recipe"] == GRID_RECIPE)
        & (scores["resample"] == 0)
    ]
