"""Two graders measured against each other: agreement, kappa and confusion counts."""

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
    row = agreement(judged_rows, "m")
    assert row["n"] == 200 and row["agreement"] == pytest.approx(np.mean(label == verdict))
    counts = [row[k] for k in ("both_correct", "set_only", "judge_only", "both_wrong")]
    assert sum(counts) == 200 and row["both_correct"] == int(((label == 1) & (verdict == 1)).sum())
    assert row["set_only"] == int(((label == 1) & (verdict == 0)).sum())
