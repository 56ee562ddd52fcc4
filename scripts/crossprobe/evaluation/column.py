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

A probe is also fitted on bootstrap resamples of its training answers (`probe.resamples`): each
resample of the test answers takes one of them (the same for every cell of the column with as
many, so contrasts stay paired) and resamples the seeds fitted on it, so the interval carries
training-set variability. The resampled fits sit lower than the fits on the answers themselves (a
bootstrap resample repeats answers and leaves about a third out); their mean distance from them,
on the sample of test answers, is taken off, so they give the spread and not the centre. Where an
estimator has no training resamples (LoRA + Prompt, a recipe variant) its interval holds the
training answers fixed: it is conditional on their one split.
"""

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crossprobe.contract.headlines import CONTRASTED
from crossprobe.contract.paths import ALL, GRID_RECIPE
from crossprobe.contract.splits import CALIBRATION, TEST
from crossprobe.evaluation.consensus import consensus_rows, consensus_table
from crossprobe.evaluation.family import adjust
from crossprobe.evaluation.metrics import (
    bin_sums,
    class_counts,
    kept_answers,
    metric_draws,
    ranking_draws,
    risk_coverage,
)
from crossprobe.logodds import sigmoid
from crossprobe.scores.calibration import fit_temperatures, grid_rows

SPLITS = (TEST, CALIBRATION)  # a replicate's rows, as `aligned` returns them
CELL = ["method", "model", "trained_on"]
ESTIMATE = ["metric", "value", "seed_sd", "training_sd", "ci_low", "ci_high", "n", "seeds"]
ESTIMATE += ["resamples", "draws_dropped"]
GRID_COLUMNS = CELL + ESTIMATE
SWEEP_COLUMNS = CELL + ["n_train"] + ESTIMATE
RECIPE_COLUMNS = CELL + ["recipe"] + ESTIMATE + ["difference", "difference_low", "difference_high"]
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


def training_picks(uniforms: np.ndarray, resamples: int) -> np.ndarray:
    """(draws + 1,) the training resample each draw takes of an estimator fitted on
    `resamples` of them: row 0 the training answers themselves (0), then one of 1..resamples
    per draw, read off the column's shared `uniforms` (so estimators with as many take the same
    one: their contrasts stay paired); 0 throughout where there are none."""
    if not resamples:
        return np.zeros(len(uniforms) + 1, dtype=np.int64)
    return np.r_[0, 1 + np.minimum((uniforms * resamples).astype(np.int64), resamples - 1)]


@dataclass
class Resamples:
    """A column's shared draws, row 0 of each the sample itself: counts of the test answers
    (`test`; `within_subjects`: within each subject's right and wrong answers) and of the
    calibration answers, uniforms (draws x test answers) that draw the labels of a perfectly
    calibrated scorer, and uniforms (draws) that pick each draw's training resample."""

    test: np.ndarray
    within_subjects: np.ndarray
    calibration: np.ndarray
    uniforms: np.ndarray
    training: np.ndarray


def calibrated(
    test: pd.DataFrame, calibration: pd.DataFrame, counts: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """(rows) x test answers P(correct) of one replicate at the draws `rows` (sorted): row 0 its
    own (the temperature of its scores table), a later row with the temperature refitted on
    that resample of the calibration answers (`counts`)."""
    refit = rows[rows > 0]
    temperatures = fit_temperatures(
        calibration["logodds_raw"].to_numpy(), calibration["correct"].to_numpy(), counts[refit]
    )
    refitted = sigmoid(test["logodds_raw"].to_numpy()[None, :] / temperatures[:, None])
    if len(refit) == len(rows):
        return refitted
    return np.vstack([test["p_correct"].to_numpy()[None, :], refitted])


def replicate_draws(
    test, calibration, resamples: Resamples, rows, params: dict, ranking: bool = False
) -> dict:
    """Every metric of one replicate at the draws `rows` (sorted, from 0: the sample itself),
    or with `ranking` those of how it ranks the answers only (AUROC). The labels of a perfectly
    calibrated scorer (`ece_if_calibrated`) are each later row's own; the sample's value is
    their mean over those rows, or over every draw where only the sample is asked."""
    if ranking:
        return ranking_draws(
            test["correct"].to_numpy(),
            test["logodds"].to_numpy(),
            test["subject"].to_numpy(),
            resamples.test[rows],
            params["min_class_answers"],
            resamples.within_subjects[rows],
        )
    taken = rows[rows > 0]
    labels = taken if len(taken) else np.arange(1, len(resamples.test))
    values = metric_draws(
        test["correct"].to_numpy(),
        test["logodds"].to_numpy(),
        calibrated(test, calibration, resamples.calibration, rows),
        sigmoid(test["logodds_raw"].to_numpy()),
        test["subject"].to_numpy(),
        resamples.test[rows],
        params["ece_bins"],
        params["min_class_answers"],
        resamples.within_subjects[rows],
        resamples.uniforms[labels - 1],
    )
    values["ece_if_calibrated"] = values["ece_if_calibrated"][: len(rows)]
    return values


def centre_shift(values: np.ndarray) -> float:
    """How far an estimator's fits on training resamples sit from its fits on the training
    answers themselves, on the sample of test answers: `values` (resamples + 1) x seeds x draws
    (resample 0 the answers themselves), each resample's mean over seeds, then their mean over
    resamples less resample 0's; 0 without resamples."""
    if len(values) == 1:
        return 0.0
    sample = np.nanmean(values[:, :, 0], axis=1)
    return float(np.nanmean(sample[1:]) - sample[0])


def interval(values: np.ndarray, ci: float) -> tuple[float, float]:
    """Percentile interval of the resampled values (row 0, the sample itself, left out)."""
    draws = values[1:][~np.isnan(values[1:])]
    if not len(draws) or np.isnan(values[0]):
        return float("nan"), float("nan")
    alpha = (1 - ci) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha])
    return float(low), float(high)


class Entry:
    """One estimator's scores in the column (one training size and recipe): its replicates'
    metrics on the draws that take them, and each metric's statistic per draw: the mean over
    the resampled seeds fitted on the training resample the draw takes (less `centre_shift`)."""

    def __init__(
        self,
        replicates: dict,
        resamples: Resamples,
        picks,
        params: dict,
        support,
        ranking: bool = False,
    ):
        """`replicates`: {(seed, training resample): (test rows, calibration rows)}, in the
        column's order of answers; `picks`: the seeds each draw takes (`seed_draws`);
        `ranking`: the AUROC metrics only (all a sweep point or a recipe variant reports)."""
        seeds = sorted({seed for seed, _ in replicates})
        self.seeds, self.resamples = len(seeds), max(b for _, b in replicates)
        self.support = support
        draws = len(resamples.test)
        which = training_picks(resamples.training, self.resamples)
        self.values = {}  # metric: (resamples + 1) x seeds x draws, NaN where not taken
        for (seed, resample), (test, calibration) in replicates.items():
            rows = np.flatnonzero(which == resample)
            if resample:
                rows = np.r_[0, rows]  # on the sample of test answers too: `centre_shift`
            drawn = replicate_draws(test, calibration, resamples, rows, params, ranking)
            for metric, got in drawn.items():
                shape = (self.resamples + 1, self.seeds, draws)
                self.values.setdefault(metric, np.full(shape, np.nan))
                self.values[metric][resample, seeds.index(seed), rows] = got
        index = np.arange(draws)[:, None]
        self.stat = {}
        for metric, values in self.values.items():
            stat = np.nanmean(values[which[:, None], picks, index], axis=1)
            stat[1:] -= centre_shift(values)
            self.stat[metric] = stat

    def rows(self, ci: float, n: int) -> list[dict]:
        """One row per metric: value (mean over seeds), seed SD, the SD over training
        resamples (of the mean over seeds, on the sample of test answers), interval; and the
        per-subject mean's support: the column's subjects, those with a single class and those
        with both but too few of one (both left out)."""
        out = []
        for metric, stat in self.stat.items():
            low, high = interval(stat, ci)
            values = self.values[metric][:, :, 0]
            seed_sd = float(np.std(values[0], ddof=1)) if self.seeds > 1 else np.nan
            resampled = np.nanmean(values[1:], axis=1) if self.resamples > 1 else []
            out.append(
                {
                    "metric": metric,
                    "value": float(stat[0]),
                    "seed_sd": seed_sd,
                    "training_sd": float(np.std(resampled, ddof=1)) if len(resampled) else np.nan,
                    "ci_low": low,
                    "ci_high": high,
                    "n": n,
                    "seeds": self.seeds,
                    "resamples": self.resamples,
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
                    "training_sd": np.nan,
                    "ci_low": np.nan,
                    "ci_high": np.nan,
                    "n": n,
                    "seeds": self.seeds,
                    "resamples": self.resamples,
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


def evaluate_column(
    tables: dict, source: str, params: dict, full_size: int, answered: dict | None = None
) -> dict:
    """{"metrics", "contrasts", "sweep", "recipes", "curves", "consensus"} tables of column
    `source` from {method: scores table}; `full_size` is how many training answers an estimator
    of the full grid saw; `answered`: {model: graded test answers} of the column and of the
    estimators that answered its questions too (`dag.consensus_answers`), for the split by
    agreement (`evaluation.consensus`; none without them)."""
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
    # resamples of the test answers; within subjects and classes, of the calibration answers,
    # the uniforms and the training resamples, each from a stream of its own
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
        training=np.random.default_rng(key + [4]).random(draws),
    )
    entries, at_split, judged = {}, {}, {}  # judged: a cell's test rows per seed, as fitted
    for method, table in tables.items():
        varied = set(table.loc[table["recipe"] != GRID_RECIPE, "model"])
        fits = table.groupby(["model", "n_train", "recipe"], sort=False)
        for (model, n_train, recipe), estimator in fits:
            replicates = {
                (seed, resample): aligned(rows, order)
                for (seed, resample), rows in sorted(estimator.groupby(["seed", "resample"]))
            }
            picks = seed_draws(len({seed for seed, _ in replicates}), draws, rng)
            own = n_train == ALL and recipe == GRID_RECIPE
            entry = Entry(replicates, resamples, picks, params, support, ranking=not own)
            entries[method, model, n_train, recipe] = entry
            if own:
                judged[method, model] = [t for (_, b), (t, _) in replicates.items() if b == 0]
            if own and model in varied:
                # the recipe variants are fitted on the training answers themselves: compare
                # them with the grid's recipe there
                fixed = {r: v for r, v in replicates.items() if r[1] == 0}
                at_split[method, model] = (
                    entry
                    if len(fixed) == len(replicates)
                    else Entry(fixed, resamples, picks, params, support, ranking=True)
                )
    ci = params["ci"]
    grid = {(m, e): v for (m, e, t, r), v in entries.items() if t == ALL and r == GRID_RECIPE}
    metrics = [
        {"method": m, "model": e, "trained_on": source, **row}
        for (m, e), entry in grid.items()
        for row in entry.rows(ci, n)
    ]
    swept = {m for m, _, t, _ in entries if t != ALL}
    sweep = [
        {
            "method": m,
            "model": e,
            "trained_on": source,
            "n_train": full_size if n_train == ALL else int(n_train),
            **row,
        }
        for (m, e, n_train, recipe), entry in entries.items()
        if m in swept and recipe == GRID_RECIPE
        for row in entry.rows(ci, n)
        if row["metric"] in CONTRASTED
    ]
    return {
        "metrics": pd.DataFrame(metrics, columns=GRID_COLUMNS),
        "contrasts": pd.DataFrame(
            adjust(contrasts(grid, source, list(tables), ci, n), ci), columns=CONTRAST_COLUMNS
        ),
        "sweep": pd.DataFrame(sweep, columns=SWEEP_COLUMNS),
        "recipes": pd.DataFrame(
            recipe_rows(entries, at_split, source, ci, n), columns=RECIPE_COLUMNS
        ),
        "curves": pd.DataFrame(
            curves(tables, source, order, resamples, params), columns=CURVE_COLUMNS
        ),
        "consensus": consensus_table(
            consensus_rows(judged, source, answered or {}, order[TEST], resamples, params),
            source,
        ),
    }


def recipe_rows(entries: dict, at_split: dict, source: str, ci: float, n: int) -> list[dict]:
    """Per cell of a method with recipe variants: the grid's recipe and each variant, on the one
    split of training answers (no training resamples), with each variant's paired difference
    from the grid's recipe."""
    rows = []
    for (method, model), reference in at_split.items():
        for (m, e, n_train, recipe), entry in entries.items():
            if (m, e, n_train) != (method, model, ALL):
                continue
            own = recipe == GRID_RECIPE
            for row in (reference if own else entry).rows(ci, n):
                if row["metric"] not in CONTRASTED:
                    continue
                moved = {"difference": np.nan, "ci_low": np.nan, "ci_high": np.nan}
                if not own:
                    moved = contrast(entry, reference, row["metric"], ci)
                rows.append(
                    {
                        "method": method,
                        "model": model,
                        "trained_on": source,
                        "recipe": recipe,
                        **row,
                        "difference": moved["difference"],
                        "difference_low": moved["ci_low"],
                        "difference_high": moved["ci_high"],
                    }
                )
    return rows


def aligned(rows: pd.DataFrame, order: dict) -> tuple:
    """One replicate's rows of a scores table as (test rows, calibration rows), each in the
    column's order of answers (that of the shared resamples)."""
    return tuple(
        rows[rows["split"] == s].set_index("question_id").loc[order[s]].reset_index()
        for s in SPLITS
    )


def contrasts(grid: dict, source: str, methods: list, ci: float, n: int) -> list[dict]:
    """Paired differences of the grid's estimators ({(method, model): entry}): (a) within the
    column, each estimator against the source judging itself, per method (the paper's claim);
    (b) within each cell, each method against each other."""
    rows = []
    for (method, model), entry in grid.items():
        itself = grid.get((method, source))
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
        present = [m for m in methods if (m, model) in grid]
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
                            **contrast(grid[a, model], grid[b, model], metric, ci),
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
    everywhere = np.arange(len(resamples.calibration))
    for method, table in tables.items():
        grid = grid_rows(table)
        for model, cell in grid[grid["split"] == TEST].groupby("model", sort=False):
            seed = cell["seed"].min()
            first, calibration = aligned(
                grid[(grid["model"] == model) & (grid["seed"] == seed)], order
            )
            y = first["correct"].to_numpy()
            for kind, p in (
                ("before temperature scaling", sigmoid(first["logodds_raw"].to_numpy())),
                (
                    "after temperature scaling",
                    calibrated(first, calibration, resamples.calibration, everywhere),
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
