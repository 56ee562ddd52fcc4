"""The `evaluate_column` stage: metrics, intervals, paired contrasts, sweep points and curves of
every cell of one column, all from one shared bootstrap.

Every cell of a column is scored on the same test answers (the source's), so one set of
resamples of those answers serves them all: a difference between two cells is computed resample
by resample (paired), and its interval is the interval of that difference. A trained cell has one
replicate per training seed; within each resample its seeds are resampled too, so its interval
includes seed variance, and its value is the mean over seeds (with their SD beside it).
"""

import zlib

import numpy as np
import pandas as pd

from crossprobe.contract.headlines import CONTRASTED
from crossprobe.contract.paths import ALL
from crossprobe.evaluation.family import adjust
from crossprobe.evaluation.metrics import metric_draws, risk_coverage
from crossprobe.logodds import sigmoid

CELL = ["method", "model", "trained_on"]
ESTIMATE = ["metric", "value", "seed_sd", "ci_low", "ci_high", "n", "seeds", "draws_dropped"]
GRID_COLUMNS = CELL + ESTIMATE
SWEEP_COLUMNS = CELL + ["n_train"] + ESTIMATE
CONTRAST_COLUMNS = ["comparison", "method", "model", "column", "a", "b"]
CONTRAST_COLUMNS += ["metric", "difference", "ci_low", "ci_high", "n"]
CONTRAST_COLUMNS += ["family", "family_size", "p_value", "p_holm", "p_adjusted"]
CONTRAST_COLUMNS += ["sim_low", "sim_high", "constant", "draws_dropped", "separated"]
CURVE_COLUMNS = CELL + ["curve", "kind", "x", "y", "n"]


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

    def __init__(self, replicates: list[pd.DataFrame], weights, picks, params: dict, support):
        """`weights`: (resamples of the test answers, resamples within subjects) for the
        pooled metrics and the per-subject mean."""
        self.seeds, self.support = len(replicates), support
        weights, subject_weights = weights
        per = [
            metric_draws(
                r["correct"].to_numpy(),
                r["logodds"].to_numpy(),
                r["p_correct"].to_numpy(),
                sigmoid(r["logodds_raw"].to_numpy()),
                r["subject"].to_numpy(),
                weights,
                params["ece_bins"],
                params["min_subject_answers"],
                subject_weights,
            )
            for r in replicates
        ]
        self.values = {m: np.stack([p[m] for p in per]) for m in per[0]}  # seeds x draws
        draws = np.arange(weights.shape[0])
        self.stat = {
            m: np.nanmean(v[picks, draws[:, None]], axis=1) for m, v in self.values.items()
        }

    def rows(self, ci: float, n: int) -> list[dict]:
        """One row per metric: value (mean over seeds), seed SD, interval; and the per-subject
        mean's support: the column's subjects, those with too few test answers and those with
        a single class (both left out)."""
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
        used = self.values["subjects_used"][0, 0]
        counts = {
            "subjects_total": self.support["total"],
            "subjects_too_small": self.support["too_small"],
            "subjects_single_class": self.support["total"] - self.support["too_small"] - used,
        }
        for metric, count in counts.items():
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
    test = {m: t[t["split"] == "test"] for m, t in tables.items()}
    first = next(iter(test.values()))
    order = np.sort(first["question_id"].unique())  # every cell scores these same answers
    counts = first.drop_duplicates("question_id")["subject"].value_counts()
    support = {
        "total": len(counts),
        "too_small": int((counts < params["min_subject_answers"]).sum()),
    }
    n = len(order)
    rng = np.random.default_rng([params["seed"], zlib.crc32(source.encode())])
    # resamples of the test answers; and within subjects and classes, from a stream of their own
    answers = first.drop_duplicates("question_id").set_index("question_id").loc[order]
    strata = answers["subject"].astype(str) + "/" + answers["correct"].astype(str)
    within = np.random.default_rng([params["seed"], zlib.crc32(source.encode()), 1])
    weights = (
        question_draws(n, params["bootstrap"], rng),
        stratified_draws(strata.to_numpy(), params["bootstrap"], within),
    )
    entries = {}
    for method, table in test.items():
        for (model, n_train), cell in table.groupby(["model", "n_train"], sort=False):
            replicates = [
                r.set_index("question_id").loc[order].reset_index()
                for _, r in cell.groupby("seed", sort=True)
            ]
            picks = seed_draws(len(replicates), params["bootstrap"], rng)
            entries[method, model, n_train] = Entry(replicates, weights, picks, params, support)
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
        "curves": pd.DataFrame(curves(tables, source, params["ece_bins"]), columns=CURVE_COLUMNS),
    }


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


def curves(tables: dict, source: str, bins: int, points: int = 50) -> list[dict]:
    """Per cell: the reliability diagram before and after temperature scaling (mean P(correct)
    and accuracy per bin; its first training seed) and the risk-coverage curve, the mean over
    its training seeds (as the AURC the figure prints is)."""
    rows = []
    coverages = np.linspace(0, 1, points + 1)[1:]
    for method, table in tables.items():
        test = table[(table["split"] == "test") & (table["n_train"] == ALL)]
        for model, cell in test.groupby("model", sort=False):
            first = cell[cell["seed"] == cell["seed"].min()]
            y = first["correct"].to_numpy()
            for kind, p in (
                ("before temperature scaling", sigmoid(first["logodds_raw"].to_numpy())),
                ("after temperature scaling", first["p_correct"].to_numpy()),
            ):
                which = np.minimum((p * bins).astype(int), bins - 1)
                for b in np.unique(which):
                    inside = which == b
                    rows.append(
                        {
                            "method": method,
                            "model": model,
                            "trained_on": source,
                            "curve": "reliability",
                            "kind": kind,
                            "x": p[inside].mean(),
                            "y": y[inside].mean(),
                            "n": int(inside.sum()),
                        }
                    )
            risk = np.mean(
                [
                    risk_coverage(r["correct"].to_numpy(), r["logodds"].to_numpy(), coverages)
                    for _, r in cell.groupby("seed")
                ],
                axis=0,
            )
            for coverage, value in zip(coverages, risk, strict=True):
                rows.append(
                    {
                        "method": method,
                        "model": model,
                        "trained_on": source,
                        "curve": "risk_coverage",
                        "kind": "after temperature scaling",
                        "x": coverage,
                        "y": value,
                        "n": int(round(coverage * len(y))),
                    }
                )
    return rows
