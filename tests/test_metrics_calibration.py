"""Metrics against hand-computed cases and scikit-learn; temperature scaling; bootstrap."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from crossprobe.calibration import fit_temperature, logit, nll, scores_table, sigmoid
from crossprobe.metrics import auroc, brier, ece, ece_toplabel, evaluate, macro_auroc


def test_auroc_hand_case_ties_and_single_class():
    assert auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert auroc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert np.isnan(auroc([1, 1, 1], [0.2, 0.3, 0.4]))


def test_auroc_matches_sklearn_on_random_data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.round(rng.random(300), 2)  # rounding makes ties
    assert auroc(y, p) == pytest.approx(roc_auc_score(y, p))


def test_ece_variants_on_constructed_inputs():
    # two bins: p=0.25 with 1/4 correct (gap 0) and p=0.75 with 1/4 correct (gap 0.5)
    y = np.array([1, 0, 0, 0, 1, 0, 0, 0])
    p = np.array([0.25] * 4 + [0.75] * 4)
    assert ece(y, p) == pytest.approx(0.5 * 0 + 0.5 * 0.5)
    # top-label: confidence 0.75 everywhere; thresholded prediction right for 3/4 of the first
    # half (predict wrong, 3 wrong) and 1/4 of the second (predict right, 1 right)
    assert ece_toplabel(y, p) == pytest.approx(abs(0.75 - 0.5))
    assert ece(np.array([1, 1]), np.array([1.0, 1.0])) == pytest.approx(0.0)  # p = 1 in last bin
    assert brier([1, 0], [0.8, 0.4]) == pytest.approx((0.04 + 0.16) / 2)


def test_macro_auroc_skips_single_class_subjects():
    y = [0, 1, 0, 1, 1, 1]
    p = [0.1, 0.9, 0.8, 0.2, 0.5, 0.6]
    s = ["a", "a", "b", "b", "c", "c"]
    assert macro_auroc(y, p, s) == pytest.approx((1.0 + 0.0) / 2)


def test_temperature_scaling_keeps_auroc_and_lowers_nll():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    true_logit = np.where(y == 1, 1.0, -1.0) + rng.normal(0, 1.5, 2000)
    overconfident = 4 * true_logit
    t = fit_temperature(overconfident[:1000], y[:1000])
    scaled = overconfident[1000:] / t
    assert t > 2
    assert auroc(y[1000:], scaled) == pytest.approx(auroc(y[1000:], overconfident[1000:]))
    assert nll(scaled, y[1000:]) < nll(overconfident[1000:], y[1000:]) - 0.1


def test_nll_is_stable_for_any_log_odds():
    assert nll([800.0, -800.0], [1, 0]) == pytest.approx(0.0)
    assert nll([800.0], [0]) == pytest.approx(800.0)
    assert logit(sigmoid(np.array([-3.0, 0.0, 5.0]))) == pytest.approx([-3.0, 0.0, 5.0])


def _scores(n=200, seed=0, single_class=False):
    rng = np.random.default_rng(seed)
    y = np.ones(n, dtype=int) if single_class else rng.integers(0, 2, n)
    z = logit(np.clip(0.3 * y + 0.7 * rng.random(n), 0.01, 0.99))
    raw = pd.DataFrame(
        {
            "split": ["calibration"] * (n // 2) + ["test"] * (n - n // 2),
            "question_id": [f"q{i}" for i in range(n)],
            "subject": ["s"] * n,
            "correct": y,
            "logodds_raw": z,
        }
    )
    return scores_table(raw)


PARAMS = {"bootstrap": 1000, "ci": 0.95, "ece_bins": 10, "seed": 0}


def test_bootstrap_interval_covers_point_and_is_deterministic():
    scores = _scores()
    first, again = evaluate(scores, PARAMS), evaluate(scores, PARAMS)
    pd.testing.assert_frame_equal(first, again)
    assert (first["ci_low"] <= first["value"]).all() and (first["value"] <= first["ci_high"]).all()
    other = evaluate(scores, {**PARAMS, "seed": 1})
    assert not np.allclose(first["ci_low"], other["ci_low"])
    assert set(first["metric"]) == {
        "auroc",
        "auroc_subject_mean",
        "ece",
        "ece_toplabel",
        "ece_uncalibrated",
        "brier",
        "accuracy",
    }


def test_single_class_test_split_gives_missing_auroc_with_warning(caplog):
    metrics = evaluate(_scores(single_class=True), PARAMS).set_index("metric")
    assert np.isnan(metrics.loc["auroc", "value"]) and np.isnan(metrics.loc["auroc", "ci_low"])
    assert "AUROC is undefined" in caplog.text
    assert metrics.loc["accuracy", "value"] == 1.0
