"""Log-odds, temperature scaling and the common shape of every method's scores table.

Every method hands over raw log-odds of correctness (float64, straight from logits where there
are logits, so large margins keep their order); one scalar temperature per cell, fitted on the
calibration split, divides them. AUROC is unchanged (the map is monotone); ECE and NLL move.
"""

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from crossprobe.logodds import nll, sigmoid


def fit_temperature(z, y) -> float:
    """The T > 0 minimising calibration NLL of z / T (searched over log T)."""
    if len(z) == 0:
        return 1.0
    result = minimize_scalar(
        lambda log_t: nll(np.asarray(z) / np.exp(log_t), y),
        bounds=(np.log(0.01), np.log(100.0)),
        method="bounded",
    )
    return float(np.exp(result.x))


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
