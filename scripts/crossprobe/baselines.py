"""Free baselines: estimators that need no training, so the grid shows what learning adds.

- source confidence (one per Trained On column): the source model's probability of its own answer:
  softmax over its option scores (mc_cloze: length-normalised log-likelihoods; mc_letter: letter
  log-probabilities) at the chosen option, or exp(mean token log-probability) for open answers and
  for letter answers that are not a letter.
- agreement (per Model x Trained On cell): does the estimator's own answer equal the source's?
- agreement_prob (multiple choice): the estimator's probability of the option the source chose.
"""

import numpy as np
import pandas as pd

from crossprobe.grading import normalise


def softmax(scores) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    e = np.exp(scores - scores.max())
    return e / e.sum()


def source_confidence(graded: pd.DataFrame) -> np.ndarray:
    out = []
    for scores, index, logprob in zip(
        graded["option_scores"], graded["answer_index"], graded["answer_logprob"], strict=True
    ):
        if index >= 0 and len(scores):
            out.append(softmax(scores)[index])
        else:
            out.append(0.0 if np.isnan(logprob) else float(np.exp(logprob)))
    return np.asarray(out)


def _aligned(estimator: pd.DataFrame, source: pd.DataFrame) -> pd.DataFrame:
    """The estimator's answers in the row order of the source's."""
    indexed = estimator.set_index("question_id")
    missing = set(source["question_id"]) - set(indexed.index)
    if missing:
        raise ValueError(f"the estimator did not answer {len(missing)} of the source's questions")
    return indexed.loc[source["question_id"]].reset_index()


def agreement(estimator: pd.DataFrame, source: pd.DataFrame) -> np.ndarray:
    own = _aligned(estimator, source)
    if (source["answer_index"] >= 0).any() or (own["answer_index"] >= 0).any():
        same = (own["answer_index"].to_numpy() == source["answer_index"].to_numpy()) & (
            source["answer_index"].to_numpy() >= 0
        )
    else:
        same = np.array(
            [
                normalise(a) == normalise(b) and normalise(a) != ""
                for a, b in zip(own["answer"], source["answer"], strict=True)
            ]
        )
    return same.astype(np.float64)


def agreement_prob(estimator: pd.DataFrame, source: pd.DataFrame) -> np.ndarray:
    own = _aligned(estimator, source)
    return np.asarray(
        [
            softmax(scores)[index] if index >= 0 and len(scores) else 0.0
            for scores, index in zip(own["option_scores"], source["answer_index"], strict=True)
        ]
    )
