"""Two graders measured against each other: agreement, kappa and confusion counts on the same
answers; accuracy per subject against a reference grader's on the same test set."""

import numpy as np
import pandas as pd
import pytest


def test_graders_agreement_kappa_and_confusion():
    from sklearn.metrics import cohen_kappa_score

    from crossprobe.evaluation.graders import agreement, cohen_kappa

    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, 200)
    verdict = np.where(rng.random(200) < 0.8, label, 1 - label)
    assert cohen_kappa(label, verdict) == pytest.approx(cohen_kappa_score(label, verdict))
    judged_rows = pd.DataFrame(
        {
            "split": "calibration",
            "origin": ["imported"] * 200 + ["generated"] * 3,
            "question_id": [f"q{i}" for i in range(203)],
            "label": list(label) + [-1] * 3,
            "verdict": list(verdict) + [1] * 3,
        }
    )
    row = agreement(judged_rows, "m", {"bootstrap": 2000, "ci": 0.95, "seed": 0})
    share = np.mean(label == verdict)
    assert row["n"] == 200 and row["agreement"] == pytest.approx(share)
    # the agreement's bootstrap interval is the binomial one (+- 1.96 SE, to resampling error)
    spread = 1.96 * np.sqrt(share * (1 - share) / 200)
    assert row["agreement_low"] == pytest.approx(share - spread, abs=0.01)
    assert row["agreement_high"] == pytest.approx(share + spread, abs=0.01)
    assert row["kappa_low"] < row["kappa"] < row["kappa_high"]
    counts = [row[k] for k in ("both_correct", "set_only", "judge_only", "both_wrong")]
    assert sum(counts) == 200 and row["both_correct"] == int(((label == 1) & (verdict == 1)).sum())
    assert row["set_only"] == int(((label == 1) & (verdict == 0)).sum())


def test_agreement_and_kappa_on_resamples_are_those_of_the_resampled_answers():
    from sklearn.metrics import cohen_kappa_score

    from crossprobe.evaluation.column import question_draws
    from crossprobe.evaluation.graders import weighted_agreement

    rng = np.random.default_rng(1)
    label = rng.integers(0, 2, 150)
    verdict = np.where(rng.random(150) < 0.7, label, 1 - label)
    counts = question_draws(150, 20, rng)
    agreed, kappa = weighted_agreement(label, verdict, counts)
    for share, k, weights in zip(agreed, kappa, counts, strict=True):
        drawn = np.repeat(np.arange(150), weights.astype(int))
        assert share == pytest.approx(np.mean(label[drawn] == verdict[drawn]))
        assert k == pytest.approx(cohen_kappa_score(label[drawn], verdict[drawn]))
    assert np.isnan(weighted_agreement([1, 1], [1, 1], np.ones((1, 2)))[1][0])


def test_the_judge_against_a_reference_graders_accuracy_per_subject():
    """Per subject both graded: each grader's accuracy; overall each weighted by its own counts;
    the subjects' correlation and mean absolute difference, recomputed here by hand."""
    from crossprobe.evaluation.graders import reference_accuracy, reference_summary

    graded = pd.DataFrame(
        {
            "subject": ["a"] * 4 + ["b"] * 2 + ["c"] * 5 + ["d"] * 3,
            "correct": [1, 1, 0, 0] + [1, 1] + [0, 0, 0, 0, 1] + [1, 0, 0],
        }
    )
    reference = pd.DataFrame(
        {"subject": ["a", "b", "c", "e"], "n": [10, 20, 30, 7], "accuracy": [0.4, 0.9, 0.1, 0.5]}
    )
    rows = pd.DataFrame(reference_accuracy(graded, reference, "m"))
    assert rows["subject"].tolist() == ["a", "b", "c", "d", "e"]
    assert rows.set_index("subject").loc["d", "n_reference"] == 0  # ours only
    summary = reference_summary(rows)
    ours, theirs = np.array([0.5, 1.0, 0.2]), np.array([0.4, 0.9, 0.1])
    assert summary["subjects"] == 3
    assert summary["judge_accuracy"] == pytest.approx((2 + 2 + 1) / 11)
    assert summary["reference_accuracy"] == pytest.approx((4 + 18 + 3) / 60)
    assert summary["correlation"] == pytest.approx(np.corrcoef(ours, theirs)[0, 1])
    assert summary["mean_absolute_difference"] == pytest.approx(0.1)
