"""Log-odds, the currency of every method: float64 from logits on, so that large margins keep
their order; probabilities only where a metric needs them."""

import numpy as np
from scipy.special import expit

EPS = 1e-12  # what a probability of exactly 0 or 1 (a 0/1 baseline) becomes before its logit


def logit(p):
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def sigmoid(z):
    return expit(np.asarray(z, dtype=np.float64))


def nll(z, y) -> float:
    """Mean negative log-likelihood of 0/1 labels `y` under log-odds `z` (stable for any z)."""
    z = np.asarray(z, dtype=np.float64)
    sign = 2 * np.asarray(y, dtype=np.float64) - 1
    return float(np.mean(np.logaddexp(0.0, -sign * z)))
