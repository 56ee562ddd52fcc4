"""Temperature scaling and the common shape of every method's scores table.

Every method (probes, LoRA + Prompt, the zero-shot query, the free baselines) hands over raw
P(correct) for the calibration and test splits; one scalar temperature, fitted on the calibration
split, rescales the logit. AUROC is unchanged (the map is monotone); ECE and NLL move.
"""

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

EPS = 1e-12  # clip only what float64 cannot tell from 0 or 1, so rankings survive


def logit(p):
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def apply_temperature(p, temperature: float):
    return 1.0 / (1.0 + np.exp(-logit(p) / temperature))


def nll(p, y) -> float:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    y = np.asarray(y, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def fit_temperature(p, y) -> float:
    """The T > 0 minimising calibration NLL of sigmoid(logit(p) / T) (searched over log T)."""
    if len(p) == 0:
        return 1.0
    result = minimize_scalar(
        lambda log_t: nll(apply_temperature(p, np.exp(log_t)), y),
        bounds=(np.log(0.01), np.log(100.0)),
        method="bounded",
    )
    return float(np.exp(result.x))


SCORE_COLUMNS = ["split", "question_id", "subject", "correct", "p_correct_raw", "p_correct"]


def scores_table(raw: pd.DataFrame) -> pd.DataFrame:
    """Raw scores (split, question_id, subject, correct, p_correct_raw) plus `p_correct` scaled
    with the temperature fitted on the calibration rows, and that `temperature`."""
    cal = raw[raw["split"] == "calibration"]
    temperature = fit_temperature(cal["p_correct_raw"].to_numpy(), cal["correct"].to_numpy())
    out = raw.assign(
        p_correct=apply_temperature(raw["p_correct_raw"].to_numpy(), temperature),
        temperature=temperature,
    )
    return out[SCORE_COLUMNS + ["temperature"]].reset_index(drop=True)


def raw_scores(graded: dict, p_correct: dict) -> pd.DataFrame:
    """Stack {split: graded answers} with {split: P(correct)} into the raw scores shape."""
    frames = []
    for split, frame in graded.items():
        frames.append(
            pd.DataFrame(
                {
                    "split": split,
                    "question_id": frame["question_id"].to_numpy(),
                    "subject": frame["subject"].to_numpy(),
                    "correct": frame["correct"].to_numpy().astype(np.int64),
                    "p_correct_raw": np.asarray(p_correct[split], dtype=np.float64),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
