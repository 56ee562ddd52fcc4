"""The `evaluate_column` stage: metrics, intervals, paired contrasts, sweep points and curves of
every cell of one column, all from one shared bootstrap.

Every cell of a column is scored on the same test answers (the source's), so one set of
resamples of those answers serves them all: a difference between two cells is computed resample
by resample (paired), and its interval is the interval of that difference. A trained cell has one
replicate per training seed; within each resample its seeds are resampled too, so its interval
includes seed variance, and its value is the mean over seeds (with their SD beside it). Each
resample also refits every replicate's temperature on a resample of the column's calibration
answers (shared too), so the intervals of the metrics of P(correct) (ECE, Brier, the reliability
bins) carry the error of that fit; AUROC and AURC rank the log-odds, which it does not reorder.
Every interval holds the training answers fixed: it is conditional on their one split.
"""

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crossprobe.contract.headlines import CONTRASTED
from crossprobe.contract.paths import ALL
from crossprobe.contract.splits import CALIBRATION, TEST
from crossprobe.evaluation.family import adjust
from crossprobe.evaluation.metrics import (
    bin_sums,
    class_counts,
    kept_answers,
    metric_draws,
    risk_coverage,
)
from crossprobe.logodds import sigmoid
from crossprobe.scores.calibration import fit_temperatures

SPLITS = (TEST, CALIBRATION)  # a replicate's rows, as `aligned` returns them
CELL = ["method", "model", "trained_on"]
ESTIMATE = ["metric", "value", "seed_sd", "ci_low", "ci_high", "n", "seeds", "draws_dropped"]
GRID_COLUMNS = CELL + ESTIMATE
SWEEP_COLUMNS = CELL + ["n_train"] + ESTIMATE
CONTRAST_COLUMNS = ["comparison", "method", "model", "column", "a", "b"]
CONTRAST_COLUMNS += ["metric", "difference", "ci_low", "ci_high", "n"]
CONTRAST_COLUMNS += ["family", "family_size", "p_value", "p_holm", "p_adjusted"]
CONTRAST_COLUMNS += ["sim_low", "sim_high", "constant", "draws_dropped", "separated"]
CURVE_COLUMNS = CELL + ["curve", "kind", "x", "y", "n", "y_low", "y_high"]


def question_draws(n: int, draws: int, rng) -> np.ndarray:
    """(draws + 1) x n counts: row 0 the sample itself, then resamples with replacement."""
    counts = np.zeros((draws + 1, n))
    counts[0] = 1
    picks = rng.integers(0, n, size=(draws, n))
    np.add.at(counts, (np.repeat(np.arange(1, draws + 1), n), picks.ravel()), 1)
    return counts


def stratified_draws(strata, draws: int, rng) -> np.ndarray:
    """(draws + 1) x n counts resampling within each stratum (row 0: the sample itself): every
    resample keeps each stratum's number of answers. The column's strata are its subjects
    crossed with correctness, so a subject keeps its number of right and wrong answers, and a
    per-subject mean is taken over the same subjects (those with both classes) in every
    draw."""
    strata = np.asarray(strata)
    counts = np.zeros((draws + 1, len(strata)))
    counts[0] = 1
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        picks = members[rng.integers(0, len(members), size=(draws, len(members)))]
        np.add.at(counts, (np.repeat(np.arange(1, draws + 1), len(members)), picks.ravel()), 1)
    return counts


def seed_draws(replicates: int, draws: int, rng) -> np.ndarray:
    """(draws + 1) x replicates picks of replicates (row 0: each replicate once)."""
    picks = rng.integers(0, replicates, size=(draws + 1, replicates))
    picks[0] = np.arange(replicates)
    return picks


@dataclass
class Resamples:
    """A column's shared draws, row 0 of each the sample itself: counts of the test answers
    (`test`; `within_subjects`: within each subject's right and wrong answers) and of the
    calibration answers, and uniforms (draws x test answers) that draw the labels of a
    perfectly calibrated scorer."""

    test: np.ndarray
    within_subjects: np.ndarray
    calibration: np.ndarray
    uniforms: np.ndarray


def calibrated(test: pd.DataFrame, calibration: pd.DataFrame, counts: np.ndarray) -> np.ndarray:
    """(draws + 1) x test answers P(correct) of one replicate: row 0 its own (the temperature
    of its scores table), then with the temperature refitted on each resample of the
    calibration answers (`counts`, rows 1 on)."""
    temperatures = fit_temperatures(
        calibration["logodds_raw"].to_numpy(), calibration["correct"].to_numpy(), counts[1:]
    )
    refitted = sigmoid(test["logodds_raw"].to_numpy()[None, :] / temperatures[:, None])
    return np.vstack([test["p_correct"].to_numpy()[None, :], refitted])


def interval(values: np.ndarray, ci: float) -> tuple[float, float]:
    """Percentile interval of the resampled values (row 0, the sample itself, left out)."""
    draws = values[1:][~np.isnan(values[1:])]
    if not len(draws) or np.isnan(values[0]):
        return float("nan"), float("nan")
    alpha = (1 - ci) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha])
    return float(low), float(high)


class Entry:
    """One estimator's scores in the column, for one training size: its replicates' metrics on
    every resample, and each metric's statistic per resample (mean over the resampled seeds)."""

    def __init__(self, replicates: list, resamples: Resamples, picks, params: dict, support):
        """`replicates`: (test rows, calibration rows) per training seed, in the column's
        order of answers."""
        self.seeds, self.support = len(replicates), support
        per = [
            metric_draws(
                test["correct"].to_numpy(),
                test["logodds"].to_numpy(),
                calibrated(test, calibration, resamples.calibration),
                sigmoid(test["logodds_raw"].to_numpy()),
                test["subject"].to_numpy(),
                resamples.test,
                params["ece_bins"],
                params["min_class_answers"],
                resamples.within_subjects,
                resamples.uniforms,
            )
            for test, calibration in replicates
        ]
        self.values = {m: np.stack([p[m] for p in per]) for m in per[0]}  # seeds x draws
        draws = np.arange(resamples.test.shape[0])
        self.stat = {
            m: np.nanmean(v[picks, draws[:, None]], axis=1) for m, v in self.values.items()
        }

    def rows(self, ci: float, n: int) -> list[dict]:
        """One row per metric: value (mean over seeds), seed SD, interval; and the per-subject
        mean's support: the column's subjects, those with a single class and those with both
        but too few of one (both left out)."""
        out = []
        for metric, stat in self.stat.items():
            low, high = interval(stat, ci)
            sample = self.values[metric][:, 0]
            sd = float(np.std(sample, ddof=1)) if self.seeds > 1 else np.nan
            out.append(
                {
                    "metric": metric,
                    "value": float(stat[0]),
                    "seed_sd": sd,
                    "ci_low": low,
                    "ci_high": high,
                    "n": n,
                    "seeds": self.seeds,
                    # resamples where the metric is undefined (one class drawn), left out
                    "draws_dropped": int(np.isnan(stat[1:]).sum()),
                }
            )
        for metric, count in self.support.items():
            out.append(
                {
                    "metric": metric,
                    "value": float(count),
                    "seed_sd": np.nan,
                    "ci_low": np.nan,
                    "ci_high": np.nan,
                    "n": n,
                    "seeds": self.seeds,
                    "draws_dropped": 0,
                }
            )
        return out


def contrast(a: Entry, b: Entry, metric: str, ci: float) -> dict:
    """The paired difference a - b of `metric`, its own interval, and its resampled values (the
    family's adjustments, `evaluation.family`, read them)."""
    difference = a.stat[metric] - b.stat[metric]
    low, high = interval(difference, ci)
    return {
        "metric": metric,
        "difference": float(difference[0]),
        "ci_low": low,
        "ci_high": high,
        "draws": difference,
    }


def evaluate_column(tables: dict, source: str, params: dict, full_size: int) -> dict:
    """{"metrics", "contrasts", "sweep", "curves"} tables of column `source` from {method:
    scores table}; `full_size` is how many training answers an estimator of the full grid saw."""
    first = next(iter(tables.values()))
    # every cell scores these same answers
    order = {s: np.sort(first.loc[first["split"] == s, "question_id"].unique()) for s in SPLITS}
    test = first[first["split"] == TEST]
    answers = test.drop_duplicates("question_id").set_index("question_id").loc[order[TEST]]
    counts = class_counts(answers["correct"], answers["subject"]).min(axis=1)
    support = {
        "subjects_total": len(counts),
        "subjects_too_small": int(((counts > 0) & (counts < params["min_class_answers"])).sum()),
        "subjects_single_class": int((counts == 0).sum()),
    }
    n, draws = len(order[TEST]), params["bootstrap"]
    key = [params["seed"], zlib.crc32(source.encode())]
    rng = np.random.default_rng(key)
    # resamples of the test answers; within subjects and classes, of the calibration answers
    # and the uniforms, each from a stream of its own
    strata = answers["subject"].astype(str) + "/" + answers["correct"].astype(str)
    resamples = Resamples(
        test=question_draws(n, draws, rng),
        within_subjects=stratified_draws(
            strata.to_numpy(), draws, np.random.default_rng(key + [1])
        ),
        calibration=question_draws(
            len(order[CALIBRATION]), draws, np.random.default_rng(key + [2])
        ),
        uniforms=np.random.default_rng(key + [3]).random((draws, n)),
    )
    entries = {}
    for method, table in tables.items():
        scored = table[table["split"] == TEST]
        for (model, n_train), cell in scored.groupby(["model", "n_train"], sort=False):
            replicates = [
                aligned(tables[method], order, model, n_train, seed)
                for seed in np.sort(cell["seed"].unique())
            ]
            picks = seed_draws(len(replicates), draws, rng)
            entries[method, model, n_train] = Entry(replicates, resamples, picks, params, support)
    ci = params["ci"]
    metrics = [
        {"method": m, "model": e, "trained_on": source, **row}
        for (m, e, n_train), entry in entries.items()
        if n_train == ALL
        for row in entry.rows(ci, n)
    ]
    sweep = [
        {
            "method": m,
            "model": e,
            "trained_on": source,
            "n_train": full_size if n_train == ALL else int(n_train),
            **row,
        }
        for (m, e, n_train), entry in entries.items()
        if any(k[0] == m and k[2] != ALL for k in entries)
        for row in entry.rows(ci, n)
        if row["metric"] in CONTRASTED
    ]
    return {
        "metrics": pd.DataFrame(metrics, columns=GRID_COLUMNS),
        "contrasts": pd.DataFrame(
            adjust(contrasts(entries, source, list(tables), ci, n), ci), columns=CONTRAST_COLUMNS
        ),
        "sweep": pd.DataFrame(sweep, columns=SWEEP_COLUMNS),
        "curves": pd.DataFrame(
            curves(tables, source, order, resamples, params), columns=CURVE_COLUMNS
        ),
    }


def aligned(table: pd.DataFrame, order: dict, model: str, n_train, seed) -> tuple:
    """One replicate's (test rows, calibration rows) of a scores table, each in the column's
    order of answers (that of the shared resamples)."""
    rows = table[
        (table["model"] == model) & (table["n_train"] == n_train) & (table["seed"] == seed)
    ]
    return tuple(
        rows[rows["split"] == s].set_index("question_id").loc[order[s]].reset_index()
        for s in SPLITS
    )


def contrasts(entries: dict, source: str, methods: list, ci: float, n: int) -> list[dict]:
    """Paired differences: (a) within the column, each estimator against the source judging
    itself, per method (the paper's claim); (b) within each cell, each method against each
    other."""
    rows = []
    grid = {k: v for k, v in entries.items() if k[2] == ALL}
    for (method, model, _), entry in grid.items():
        itself = grid.get((method, source, ALL))
        if itself is None or model == source:
            continue
        for metric in CONTRASTED:
            rows.append(
                {
                    "comparison": "within_column",
                    "method": method,
                    "model": model,
                    "column": source,
                    "a": model,
                    "b": source,
                    **contrast(entry, itself, metric, ci),
                    "n": n,
                }
            )
    models = list(dict.fromkeys(k[1] for k in grid))
    for model in models:
        present = [m for m in methods if (m, model, ALL) in grid]
        for i, a in enumerate(present):
            for b in present[i + 1 :]:
                for metric in CONTRASTED:
                    rows.append(
                        {
                            "comparison": "within_cell",
                            "method": "",
                            "model": model,
                            "column": source,
                            "a": a,
                            "b": b,
                            **contrast(grid[a, model, ALL], grid[b, model, ALL], metric, ci),
                            "n": n,
                        }
                    )
    return rows


def reliability_bins(y, p, weights, bins: int, ci: float) -> list[dict]:
    """Per bin with answers in the sample: mean P(correct) (`x`), accuracy (`y`), answers (`n`)
    and the accuracy's interval over the resamples (`p` per answer, or per draw and answer)."""
    mass = bin_sums(p, 1.0, weights, bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = bin_sums(p, y, weights, bins) / mass
        mean_p = bin_sums(p, p, weights, bins)[0] / mass[0]
    rows = []
    for b in np.flatnonzero(mass[0] > 0):
        low, high = interval(accuracy[:, b], ci)
        rows.append(
            {
                "x": mean_p[b],
                "y": accuracy[0, b],
                "n": int(mass[0, b]),
                "y_low": low,
                "y_high": high,
            }
        )
    return rows


def curves(tables: dict, source: str, order: dict, resamples: Resamples, params: dict) -> list:
    """Per cell: the reliability diagram before and after temperature scaling (mean P(correct)
    and accuracy per bin, the accuracy's interval over the resamples of the test answers and,
    after scaling, of the calibration answers; its first training seed) and the risk-coverage
    curve, the mean over its training seeds (as the AURC the figure prints is)."""
    rows = []
    points = 50
    coverages = np.linspace(0, 1, points + 1)[1:]
    for method, table in tables.items():
        test = table[(table["split"] == "test") & (table["n_train"] == ALL)]
        for model, cell in test.groupby("model", sort=False):
            first, calibration = aligned(table, order, model, ALL, cell["seed"].min())
            y = first["correct"].to_numpy()
            for kind, p in (
                ("before temperature scaling", sigmoid(first["logodds_raw"].to_numpy())),
                (
                    "after temperature scaling",
                    calibrated(first, calibration, resamples.calibration),
                ),
            ):
                for row in reliability_bins(y, p, resamples.test, params["ece_bins"], params["ci"]):
                    rows.append(
                        {
                            "method": method,
                            "model": model,
                            "trained_on": source,
                            "curve": "reliability",
                            "kind": kind,
                            **row,
                        }
                    )
            risk = np.mean(
                [
                    risk_coverage(r["correct"].to_numpy(), r["logodds"].to_numpy(), coverages)
                    for _, r in cell.groupby("seed")
                ],
                axis=0,
            )
            kept = kept_answers(coverages, len(y))
            for coverage, value, k in zip(coverages, risk, kept, strict=True):
                rows.append(
                    {
                        "method": method,
                        "model": model,
                        "trained_on": source,
                        "curve": "risk_coverage",
                        "kind": "after temperature scaling",
                        "x": coverage,
                        "y": value,
                        "n": int(k),
                        "y_low": np.nan,
                        "y_high": np.nan,
                    }
                )
    return rows
