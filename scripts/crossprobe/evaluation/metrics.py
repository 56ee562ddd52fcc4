"""Metrics of P(correct) against correctness, for a whole bootstrap at once.

A bootstrap resample of n test answers is a row of counts (how often each answer is drawn), so
every metric here takes a (draws x n) weight matrix and returns one value per draw; a row of ones
is the sample itself. AUROC ranks the log-odds (never saturated probabilities).

- `auroc`: rank-based, ties count half; NaN for a single class (never 0.5). Equals scikit-learn's.
- `auroc_subject_mean`: the AUROC of each subject, averaged over subjects (the paper's
  aggregation); subjects with fewer right or fewer wrong answers than a minimum are left out
  (and counted).
- `ece`: the paper's definition: 10 equal-width bins on P(correct), |mean P - accuracy|
  weighted by bin size. `ece_toplabel`: the authors' code's variant, confidence max(p, 1-p)
  binned against whether the thresholded prediction (p >= 0.5) is right (their code drops
  confidence exactly 1.0; here it falls in the last bin). Both read high at finite n:
  `ece_if_calibrated` is what a perfectly calibrated scorer with the same P(correct) reads
  (labels drawn as Bernoulli(P(correct)), the consistency resampling of Broecker and Smith,
  2007, Weather and Forecasting 22: 651-661): its mean and the range it falls in.
  P(correct) may differ per draw (a temperature refitted on each resample of the calibration
  answers).
- `brier`: mean (p - correct)^2. `aurc`: area under the risk-coverage curve (keep answers from
  the most to the least confident; the mean over coverages of the error rate among those kept),
  its expectation over the orders of answers with equal scores.

Scores must be finite: a NaN or infinite score is an error, never a silent rank.
"""

import numpy as np
import pandas as pd
from scipy.special import digamma


def _ones(n: int) -> np.ndarray:
    return np.ones((1, n))


def finite_scores(z) -> np.ndarray:
    """`z` as float64, refusing NaN and infinite scores: they would rank silently."""
    z = np.asarray(z, dtype=np.float64)
    if not np.isfinite(z).all():
        raise ValueError(f"{int((~np.isfinite(z)).sum())} of {len(z)} scores are not finite")
    return z


def weighted_auroc(y, z, weights) -> np.ndarray:
    """AUROC of scores `z` for 0/1 labels `y` under each row of `weights`."""
    y = np.asarray(y, dtype=bool)
    z = finite_scores(z)
    order = np.argsort(z, kind="stable")
    sorted_z = z[order]
    starts = np.flatnonzero(np.r_[True, sorted_z[1:] != sorted_z[:-1]]) if len(z) else []
    w = np.atleast_2d(weights)[:, order]
    if not len(z):
        return np.full(len(w), np.nan)
    pos = np.add.reduceat(w * y[order], starts, axis=1)
    neg = np.add.reduceat(w * ~y[order], starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    wins = (pos * (below + 0.5 * neg)).sum(axis=1)
    total = pos.sum(axis=1) * neg.sum(axis=1)
    return np.where(total > 0, wins / np.where(total > 0, total, 1), np.nan)


def class_counts(y, subjects) -> pd.DataFrame:
    """Per subject (sorted): its right and wrong answers."""
    answers = pd.DataFrame({"subject": np.asarray(subjects), "right": np.asarray(y) == 1})
    counts = answers.groupby("subject")["right"].agg(right="sum", total="size")
    return counts.assign(wrong=counts["total"] - counts["right"])[["right", "wrong"]]


def weighted_subject_auroc(
    y, z, subjects, weights, min_class_answers: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """(mean over subjects of the per-subject AUROC, subjects used) per draw. Only subjects with
    at least `min_class_answers` right and as many wrong answers in the sample count; one left
    with a single class in a draw is left out of that draw's mean."""
    y, z, subjects = np.asarray(y), np.asarray(z), np.asarray(subjects)
    w = np.atleast_2d(weights)
    counts = class_counts(y, subjects)
    eligible = counts.index[counts.min(axis=1) >= max(min_class_answers, 1)].to_numpy()
    if not len(eligible):
        return np.full(len(w), np.nan), np.zeros(len(w), dtype=np.int64)
    per_subject = np.stack(
        [weighted_auroc(y[subjects == s], z[subjects == s], w[:, subjects == s]) for s in eligible]
    )
    used = np.sum(~np.isnan(per_subject), axis=0)
    total = np.nansum(per_subject, axis=0)
    return np.where(used > 0, total / np.maximum(used, 1), np.nan), used


def weighted_mean(values, weights) -> np.ndarray:
    """Per draw, the weighted mean of `values` (per answer, or per draw and answer)."""
    w = np.atleast_2d(weights)
    values = np.asarray(values, dtype=np.float64)
    total = w @ values if values.ndim == 1 else np.einsum("da,da->d", w, values)
    return total / w.sum(axis=1)


def bin_sums(confidence, values, weights, bins: int) -> np.ndarray:
    """(draws x bins) weighted sums of `values` over the answers whose confidence falls in each
    of `bins` equal-width bins (confidence and values per answer, or per draw and answer)."""
    w = np.atleast_2d(weights).astype(np.float64)
    which = np.minimum((np.asarray(confidence, dtype=np.float64) * bins).astype(int), bins - 1)
    which = np.broadcast_to(which, w.shape) + bins * np.arange(len(w))[:, None]
    summed = w * np.broadcast_to(np.asarray(values, dtype=np.float64), w.shape)
    return np.bincount(which.ravel(), summed.ravel(), minlength=bins * len(w)).reshape(-1, bins)


def weighted_calibration_error(confidence, hit, weights, bins: int) -> np.ndarray:
    """Expected calibration error with `bins` equal-width bins, per draw: the bins' |sum of
    confidence - hits| over the answers (confidence and hits per answer, or per draw and
    answer)."""
    gap = np.asarray(confidence, dtype=np.float64) - np.asarray(hit, dtype=np.float64)
    w = np.atleast_2d(weights)
    return np.abs(bin_sums(confidence, gap, w, bins)).sum(axis=1) / w.sum(axis=1)


def calibrated_ece(p, uniforms, bins: int) -> np.ndarray:
    """The ECE of a perfectly calibrated scorer with P(correct) `p` on these answers: its mean,
    then its value on each row of labels drawn as `uniforms` < p."""
    drawn = weighted_calibration_error(p, uniforms < p, np.ones(uniforms.shape), bins)
    return np.r_[drawn.mean(), drawn]


def tie_groups(z) -> tuple[np.ndarray, np.ndarray]:
    """(order from the highest score down, start of each run of equal scores in that order)."""
    z = finite_scores(z)
    order = np.argsort(-z, kind="stable")
    ranked = z[order]
    return order, np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]]) if len(z) else order


def _tie_runs(y, z, weights):
    """Per draw and tie group, from the highest score down: the weight before the group, its
    weight, the errors before it and its errors."""
    order, starts = tie_groups(z)
    errors = 1.0 - np.asarray(y, dtype=np.float64)[order]
    w = np.atleast_2d(weights)[:, order].astype(np.float64)
    size = np.add.reduceat(w, starts, axis=1)
    wrong = np.add.reduceat(w * errors, starts, axis=1)
    return np.cumsum(size, axis=1) - size, size, np.cumsum(wrong, axis=1) - wrong, wrong


def weighted_aurc(y, z, weights) -> np.ndarray:
    """Area under the risk-coverage curve: answers are kept from the highest score down and the
    error rate among those kept is averaged over every coverage k = 1..n. Answers with equal
    scores are kept in an order no score decides: the area is its expectation over their
    orders, in closed form per tie group (before: the s answers kept earlier, with e errors; the
    group: w answers with m errors): the k-th kept (s < k <= s + w) adds an expected
    (e + (k - s) m / w) / k, summed over the group as e D + (m / w)(w - s D), where
    D = sum over j = 1..w of 1 / (s + j) = digamma(s + w + 1) - digamma(s + 1).
    Keeping a tie group together at its last threshold instead is order-free but biased."""
    before, size, errors_before, errors = _tie_runs(y, z, weights)
    spread = digamma(before + size + 1) - digamma(before + 1)
    rate = np.where(size > 0, errors / np.where(size > 0, size, 1), 0.0)
    area = errors_before * spread + rate * (size - before * spread)
    total = size.sum(axis=1)
    return np.where(total > 0, area.sum(axis=1) / np.where(total > 0, total, 1), np.nan)


def kept_answers(coverages, n: int) -> np.ndarray:
    """How many of n answers each coverage keeps: the first k with k / n at least it."""
    return np.clip(np.ceil(np.asarray(coverages) * n - 1e-9), 1, n).astype(np.int64)


def risk_coverage(y, z, coverages) -> np.ndarray:
    """The expected error rate among the answers kept at each coverage of `coverages` (fractions:
    the first k of n with k / n at least that), keeping answers from the highest score down,
    tied answers in an order no score decides (see `weighted_aurc`)."""
    before, size, errors_before, errors = (a[0] for a in _tie_runs(y, z, np.ones(len(y))))
    k = kept_answers(coverages, len(y))
    group = np.minimum(np.searchsorted(before + size, k), len(size) - 1)
    inside = k - before[group]
    return (errors_before[group] + inside * errors[group] / size[group]) / k


def ranking_draws(
    y, z, subjects, weights, min_class_answers: int = 1, subject_weights=None
) -> dict[str, np.ndarray]:
    """The metrics of how one scored replicate ranks the answers, one value per row of
    `weights` (the per-subject mean's per row of `subject_weights`, resamples within subjects,
    when given): AUROC pooled and its mean over subjects (with the subjects it used)."""
    y = np.asarray(y)
    by_subject = weights if subject_weights is None else subject_weights
    subject_mean, used = weighted_subject_auroc(y, z, subjects, by_subject, min_class_answers)
    return {
        "auroc": weighted_auroc(y, z, weights),
        "auroc_subject_mean": subject_mean,
        "subjects_used": used.astype(np.float64),
    }


def metric_draws(
    y,
    z,
    p,
    p_raw,
    subjects,
    weights,
    bins: int,
    min_class_answers: int = 1,
    subject_weights=None,
    uniforms=None,
) -> dict[str, np.ndarray]:
    """Every metric of one scored replicate, one value per row of `weights` (the per-subject
    mean's per row of `subject_weights`, resamples within subjects, when given): those of
    `ranking_draws`, and those of P(correct). `p` is P(correct) per answer, or per draw and
    answer; `uniforms` (draws x answers), when given, draw the labels of `ece_if_calibrated`
    against the sample's P(correct)."""
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64)
    calibrated = {}
    if uniforms is not None:
        calibrated["ece_if_calibrated"] = calibrated_ece(np.atleast_2d(p)[0], uniforms, bins)
    return (
        ranking_draws(y, z, subjects, weights, min_class_answers, subject_weights)
        | {
            "ece": weighted_calibration_error(p, y, weights, bins),
            "ece_toplabel": weighted_calibration_error(
                np.maximum(p, 1 - p), (p >= 0.5) == y, weights, bins
            ),
            "ece_uncalibrated": weighted_calibration_error(p_raw, y, weights, bins),
            "brier": weighted_mean((p - y) ** 2, weights),
            "aurc": weighted_aurc(y, z, weights),
            "accuracy": weighted_mean(y, weights),
        }
        | calibrated
    )


def auroc(y, z) -> float:
    return float(weighted_auroc(y, z, _ones(len(y)))[0])


def auroc_subject_mean(y, z, subjects, min_class_answers: int = 1) -> float:
    return float(weighted_subject_auroc(y, z, subjects, _ones(len(y)), min_class_answers)[0][0])


def ece(y, p, bins: int = 10) -> float:
    return float(weighted_calibration_error(p, y, _ones(len(y)), bins)[0])


def ece_toplabel(y, p, bins: int = 10) -> float:
    p = np.asarray(p, dtype=np.float64)
    hit = (p >= 0.5) == np.asarray(y, dtype=bool)
    return float(weighted_calibration_error(np.maximum(p, 1 - p), hit, _ones(len(p)), bins)[0])


def brier(y, p) -> float:
    squared = (np.asarray(p, dtype=np.float64) - np.asarray(y)) ** 2
    return float(weighted_mean(squared, _ones(len(squared)))[0])


def aurc(y, z) -> float:
    return float(weighted_aurc(y, z, _ones(len(y)))[0])
