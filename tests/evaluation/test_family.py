"""The family-wise tests of paired contrasts (`evaluation.family`): one integer count behind
each verdict, its p-value and its simultaneous interval, at any number of resamples; constant
contrasts; the resamples a contrast's test leaves out."""

import numpy as np
import pytest

from crossprobe.evaluation.column import evaluate_column
from crossprobe.evaluation.family import MaxT, adjust, alpha, holm
from helpers import EVALUATION_PARAMS, column_tables


def test_max_t_p_values_and_simultaneous_intervals_over_a_family():
    assert holm([0.01, 0.04, 0.03, np.nan]).tolist()[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert np.isnan(holm([0.01, np.nan])[1])
    # a family's intervals widen with its size: 1 contrast ~ +-1.96 SD, 10 ~ +-2.8 SD
    rng = np.random.default_rng(0)
    draws = np.c_[np.zeros(10), rng.normal(0, 1, (10, 4000))]
    alone = MaxT(draws[:1]).test(0.95)["high"][0]
    together = MaxT(draws).test(0.95)["high"][0]
    assert alone == pytest.approx(1.96, abs=0.1) and together == pytest.approx(2.8, abs=0.15)
    # a strong effect is separated in a family of 28 (Holm on bootstrap p-values could not: its
    # floor 2 / 1001 times 28 is 0.056), and the verdict and the interval agree by construction
    family = np.c_[np.r_[10.0, np.zeros(27)], rng.normal(0, 1, (28, 1000))]
    family[0, 1:] += 10.0
    tested = MaxT(family).test(0.95)
    p = tested["p_adjusted"]
    assert p[0] == pytest.approx(1 / 1001) and tested["low"][0] > 0
    assert 28 * 2 / 1001 > 0.05
    clear = (tested["low"] > 0) | (tested["high"] < 0)
    assert list(clear) == list(p <= 0.05) == list(tested["separated"])
    tables = column_tables(noise=(0.5, 2.0), seeds=(0,))
    contrasts = evaluate_column(tables, "a", EVALUATION_PARAMS, 100)["contrasts"]
    assert (contrasts["p_holm"] >= contrasts["p_value"] - 1e-12).all()
    clear = (contrasts["sim_low"] > 0) | (contrasts["sim_high"] < 0)
    assert (contrasts["separated"] == clear).all()
    assert (contrasts["separated"] == (contrasts["p_adjusted"] <= 0.05)).all()
    families = {"within_column/auroc/on~a", "within_column/auroc_subject_mean/on~a"}
    assert set(contrasts["family"]) == families


def contrast_rows(draws) -> list[dict]:
    """One family's contrasts (rows of `draws`: the sample, then the resamples), adjusted."""
    rows = [
        {"comparison": "within_column", "metric": "auroc", "column": "x", "draws": d} for d in draws
    ]
    return adjust(rows, 0.95)


@pytest.mark.parametrize("resamples", [999, 1999])
def test_verdict_p_value_and_interval_are_one_count_at_b_999_and_1999(resamples):
    """p <= alpha, separated and "the simultaneous interval excludes 0" agree with the observed
    statistic just above and just below the (B + 1)(1 - alpha)-th order statistic (950th of
    999, 1900th of 1999) and on it. Just above, p is exactly 0.05 and the contrast is
    separated, its interval excluding 0 (the float rule p < 1 - 0.95 with the next order
    statistic called it separated while its interval held 0)."""
    rng = np.random.default_rng(resamples)
    # resampled deviations: distinct even integers, random signs (exact sums, no ties)
    magnitudes = 2 * rng.choice(np.arange(1, 50 * resamples), resamples, replace=False)
    deviations = magnitudes * rng.choice([-1, 1], resamples)
    rank = (resamples + 1) * 95 // 100
    on = np.sort(magnitudes)[rank - 1]
    for centre, reaching in (
        (on + 1, resamples - rank),  # between the rank-th and the next: p = 0.05
        (on - 1, resamples - rank + 1),  # between the one before and the rank-th
        (on, None),  # on it (reaching by rounding of |d| / SD * SD): one verdict all the same
    ):
        row = contrast_rows([np.r_[centre, centre + deviations]])[0]
        excludes = row["sim_low"] > 0 or row["sim_high"] < 0
        assert row["separated"] == excludes == (row["p_adjusted"] <= alpha(0.95))
        if reaching is not None:
            assert row["p_adjusted"] == (1 + reaching) / (resamples + 1)
            assert row["separated"] == (reaching == resamples - rank)
        assert row["draws_dropped"] == 0
    assert (1 + resamples - rank) / (resamples + 1) == alpha(0.95) == 0.05


def test_every_verdict_is_its_interval_on_random_families_with_dropped_resamples():
    """Over random families of 1 to 8 contrasts at B = 999 and 1999, with undefined resamples
    (then B' is whatever is left), separated <=> p_adjusted <= 0.05 <=> the simultaneous
    interval excludes 0, on every row; a row's dropped resamples are counted once."""
    rng = np.random.default_rng(7)
    rows_seen = 0
    for trial in range(300):
        resamples = (999, 1999)[trial % 2]
        size = rng.integers(1, 9)
        sd = rng.uniform(0.005, 0.05, size)
        centre = rng.normal(0, 1, size) * sd * rng.uniform(1.5, 3.5)
        draws = np.c_[centre, centre[:, None] + rng.normal(0, 1, (size, resamples)) * sd[:, None]]
        undefined = rng.random(resamples) < rng.choice([0, 0.02])
        draws[0, 1:][undefined] = np.nan
        for row in contrast_rows(draws):
            excludes = row["sim_low"] > 0 or row["sim_high"] < 0
            assert row["separated"] == excludes == (row["p_adjusted"] <= alpha(0.95))
            assert row["draws_dropped"] == undefined.sum()
            rows_seen += 1
    assert rows_seen > 1000


def test_a_difference_without_variation_is_constant_and_untested():
    """Identical cells (difference 0 on every resample) and a constant nonzero difference
    (rounding-level SD) are `constant`: no p-value, no interval, never separated; the other
    contrasts of the family are tested without them."""
    rng = np.random.default_rng(0)
    varying = np.r_[0.05, 0.05 + rng.normal(0, 0.01, 999)]
    rows = contrast_rows([np.zeros(1000), 0.003 + rng.normal(0, 1e-18, 1000), varying])
    for row in rows[:2]:
        assert row["constant"] and not row["separated"]
        assert np.isnan(row["p_adjusted"]) and np.isnan(row["sim_low"]) and np.isnan(row["p_value"])
    alone = contrast_rows([varying])[0]
    assert not rows[2]["constant"] and rows[2]["separated"]
    assert (rows[2]["sim_low"], rows[2]["sim_high"]) == (alone["sim_low"], alone["sim_high"])
