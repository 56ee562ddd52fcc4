"""Where the two models disagree. A recent result ("Masked by Consensus", ACL 2026) reports that
probes on a model's own states beat probes on a peer's only on questions where the two models'
answers differ: where they agree, judging the source is judging the estimator's own answer.

For each off-diagonal cell (estimator X, column Y) of a column whose test answers X answered too,
the column's test answers are split by whether X gave Y's answer (`agreed`: the agreement
baseline's own comparison). On each subset: every method's AUROC of X judging Y's answers (pooled,
and the mean over subjects), the source judging itself (Y's diagonal cell of the method, or, for
an estimator's own reading, of the method whose estimator it reuses), and the paired difference
"the source judging itself - X judging it", each with its percentile interval from the column's
shared resamples (a resample's answers restricted to the subset, so the subset's size varies as
it would), training seeds averaged. Scores are reused: nothing is retrained. The intervals are
per cell, not adjusted over the cells of a family, and hold each estimator's training answers
fixed (its fits on them, not on their bootstrap resamples): they are conditional on the split.
"""

import numpy as np
import pandas as pd

from crossprobe.contract.methods import diagonal_method
from crossprobe.evaluation.metrics import weighted_auroc, weighted_subject_auroc

SUBSETS = ("agree", "disagree")
METRICS = ("auroc", "auroc_subject_mean")
COLUMNS = ["method", "model", "trained_on", "subset", "n", "metric", "value", "ci_low"]
COLUMNS += ["ci_high", "itself", "itself_low", "itself_high", "difference", "difference_low"]
COLUMNS += ["difference_high"]


def estimate(name: str, values: np.ndarray, ci: float) -> dict:
    """{name: the sample's value, name_low, name_high: its percentile interval over the
    resamples} (`value`, `ci_low`, `ci_high` where `name` is empty)."""
    draws = values[1:][~np.isnan(values[1:])]
    low = high = float("nan")
    if len(draws) and not np.isnan(values[0]):
        low, high = (float(q) for q in np.quantile(draws, [(1 - ci) / 2, (1 + ci) / 2]))
    if not name:
        return {"value": float(values[0]), "ci_low": low, "ci_high": high}
    return {name: float(values[0]), f"{name}_low": low, f"{name}_high": high}


def subset_draws(replicates: list, inside: np.ndarray, resamples, min_class: int) -> dict:
    """{metric: values per resample (row 0 the sample)} of a cell on the answers `inside`,
    the mean over its training seeds; `replicates` are its test rows per seed, in the column's
    order of answers."""
    per_seed = {m: [] for m in METRICS}
    for test in replicates:
        rows = test[inside]
        y, z = rows["correct"].to_numpy(), rows["logodds"].to_numpy()
        per_seed["auroc"].append(weighted_auroc(y, z, resamples.test[:, inside]))
        mean, _ = weighted_subject_auroc(
            y, z, rows["subject"].to_numpy(), resamples.within_subjects[:, inside], min_class
        )
        per_seed["auroc_subject_mean"].append(mean)
    with np.errstate(all="ignore"):
        return {m: np.nanmean(np.stack(v), axis=0) for m, v in per_seed.items()}


def split_rows(cells: dict, itself: dict, agreed: dict, resamples, params: dict) -> list[dict]:
    """The rows of a column's split. `cells`: {(method, X): test rows per seed} of its
    off-diagonal cells; `itself`: {method: the column's own cell of the same kind (its
    test rows per seed)}, for the methods that have one; `agreed`: {X: whether X gave the
    column's answer, per test answer in the column's order}."""
    rows = []
    for (method, model), replicates in cells.items():
        if model not in agreed or method not in itself:
            continue
        for subset, inside in zip(SUBSETS, (agreed[model], ~agreed[model]), strict=True):
            judged = subset_draws(replicates, inside, resamples, params["min_class_answers"])
            source = subset_draws(itself[method], inside, resamples, params["min_class_answers"])
            for metric in METRICS:
                rows.append(
                    {
                        "method": method,
                        "model": model,
                        "subset": subset,
                        "n": int(inside.sum()),
                        "metric": metric,
                        **estimate("", judged[metric], params["ci"]),
                        **estimate("itself", source[metric], params["ci"]),
                        **estimate("difference", source[metric] - judged[metric], params["ci"]),
                    }
                )
    return rows


def consensus_rows(
    judged: dict, source: str, answers: dict, order, resamples, params: dict
) -> list[dict]:
    """The split of column `source` from its cells' test rows per seed (`judged`: {(method,
    model): ...}, each estimator's fits on its training answers themselves) and the graded test
    answers of the column and of the estimators that answered its questions (`answers`)."""
    if source not in answers:
        return []
    own = {m: a for m, a in answers.items() if m != source}
    cells = {(m, x): rows for (m, x), rows in judged.items() if x != source}
    itself = {
        m: judged[diagonal_method(m), source]
        for m, _ in cells
        if (diagonal_method(m), source) in judged
    }
    return split_rows(cells, itself, agreed_answers(answers[source], own, order), resamples, params)


def agreed_answers(column: pd.DataFrame, own: dict, order) -> dict:
    """{X: whether X gave the column's answer, per test answer in `order`} for every estimator
    whose own graded test answers `own[X]` are here (the agreement baseline's comparison)."""
    from crossprobe.scores.baselines import same_answers

    source = column.set_index("question_id").loc[order].reset_index()
    return {model: same_answers(source, answers) for model, answers in own.items()}


def consensus_table(rows: list[dict], source: str) -> pd.DataFrame:
    return pd.DataFrame([{**r, "trained_on": source} for r in rows], columns=COLUMNS)
