"""Free baselines: estimators that need no training, so the grid shows what learning adds. Each
is a function named as its method in `crossprobe.contract.methods`, returning log-odds of
correctness.

- source confidence (the source judging itself, one per column): the source model's probability of
  its own answer:
  softmax over its option scores (mc_cloze: length-normalised log-likelihoods; mc_letter: letter
  log-probabilities) at the chosen option, or exp(mean token log-probability) for open answers and
  for letter answers that are not a letter.
- agreement (per Model x Trained On cell): does the estimator's own answer equal the source's?
- agreement_prob (multiple choice): the estimator's probability of the option the source chose.
"""

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from crossprobe.contract.formats import normalise
from crossprobe.logodds import logit

NEVER = float(logit(0.0))  # the log-odds of a probability of exactly 0


def option_logodds(scores, index: int) -> float:
    """Log-odds of option `index` under a softmax over `scores`, computed without forming the
    probability (so a confident choice does not saturate to 1)."""
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) < 2:
        return -NEVER
    return float(scores[index] - logsumexp(np.delete(scores, index)))


def likelihood_logodds(logprob: float) -> float:
    """Log-odds of p = exp(logprob): logprob - log(1 - exp(logprob))."""
    if np.isnan(logprob):
        return NEVER
    return float(logprob - np.log(-np.expm1(logprob))) if logprob < 0 else -NEVER


def source_confidence(source: pd.DataFrame, estimator: pd.DataFrame | None = None) -> np.ndarray:
    return np.asarray(
        [
            option_logodds(scores, index) if index >= 0 and len(scores) else likelihood_logodds(lp)
            for scores, index, lp in zip(
                source["option_scores"],
                source["answer_index"],
                source["answer_logprob"],
                strict=True,
            )
        ]
    )


def _aligned(estimator: pd.DataFrame, source: pd.DataFrame) -> pd.DataFrame:
    """The estimator's answers in the row order of the source's."""
    indexed = estimator.set_index("question_id")
    missing = set(source["question_id"]) - set(indexed.index)
    if missing:
        raise ValueError(f"the estimator did not answer {len(missing)} of the source's questions")
    return indexed.loc[source["question_id"]].reset_index()


def same_answers(source: pd.DataFrame, estimator: pd.DataFrame) -> np.ndarray:
    """Per answer of `source`, whether the estimator gave the same answer to its question: the
    same option where answers pick options, else the same normalised text."""
    own = _aligned(estimator, source)
    if (source["answer_index"] >= 0).any() or (own["answer_index"] >= 0).any():
        return (own["answer_index"].to_numpy() == source["answer_index"].to_numpy()) & (
            source["answer_index"].to_numpy() >= 0
        )
    return np.array(
        [
            normalise(a) == normalise(b) and normalise(a) != ""
            for a, b in zip(own["answer"], source["answer"], strict=True)
        ]
    )


def agreement(source: pd.DataFrame, estimator: pd.DataFrame) -> np.ndarray:
    return logit(same_answers(source, estimator).astype(np.float64))


def agreement_prob(source: pd.DataFrame, estimator: pd.DataFrame) -> np.ndarray:
    own = _aligned(estimator, source)
    return np.asarray(
        [
            option_logodds(scores, index) if index >= 0 and len(scores) else NEVER
            for scores, index in zip(own["option_scores"], source["answer_index"], strict=True)
        ]
    )
