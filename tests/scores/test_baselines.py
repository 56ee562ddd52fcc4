"""Free baselines on hand-built answer tables: log-odds of correctness."""

import numpy as np
import pandas as pd
import pytest

from crossprobe.logodds import sigmoid
from crossprobe.scores.baselines import (
    NEVER,
    agreement,
    agreement_prob,
    option_logodds,
    source_confidence,
)


def table(indices, scores, answers=None, logprobs=None):
    n = len(indices)
    return pd.DataFrame(
        {
            "question_id": [f"q{i}" for i in range(n)],
            "answer": answers or [str(i) for i in indices],
            "answer_index": indices,
            "option_scores": scores,
            "answer_logprob": logprobs or [np.nan] * n,
        }
    )


def test_source_confidence_is_softmax_at_chosen_option_or_likelihood():
    graded = table([0, 1, -1], [[np.log(3.0), 0.0], [0.0, 0.0], []], logprobs=[0, 0, np.log(0.2)])
    assert sigmoid(source_confidence(graded)) == pytest.approx([0.75, 0.5, 0.2])


def test_confident_choices_keep_their_order():
    """Softmax probabilities of 1 - 1e-20 and 1 - 1e-30 are both 1.0 in floating point; their
    log-odds are not."""
    assert option_logodds([46.0, 0.0], 0) == pytest.approx(46.0)
    assert option_logodds([69.0, 0.0], 0) > option_logodds([46.0, 0.0], 0)


def test_agreement_and_probability_of_the_sources_option():
    source = table([0, 1, 2], [[0, 0, 0]] * 3)
    estimator = table(
        [0, 2, 2], [[np.log(2.0), 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, np.log(3.0), 0.0]]
    )
    assert (agreement(source, estimator) > 0).tolist() == [True, False, True]
    assert agreement(source, estimator)[1] == NEVER
    assert sigmoid(agreement_prob(source, estimator)) == pytest.approx([0.5, 1 / 3, 0.2])


def test_open_answers_agree_after_normalisation():
    source = table([-1, -1], [[], []], answers=["The Paris", "Rome"])
    estimator = table([-1, -1], [[], []], answers=["paris", "Milan"])
    assert (agreement(source, estimator) > 0).tolist() == [True, False]


def test_estimator_must_have_answered_the_sources_questions():
    with pytest.raises(ValueError, match="did not answer"):
        agreement(table([0, 1], [[0.0], [0.0]]), table([0], [[0.0]]))
