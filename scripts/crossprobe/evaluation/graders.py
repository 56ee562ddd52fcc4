"""How far two graders agree: the judge against the labels an answer set came with (the paper's
released answers were labelled by GPT-3.5), on the answers both graded, and what that does to
the learned estimators' AUROC; and the judge's accuracy per subject of a model's test answers
against another grader's on the same test set (GPT-3.5's of the paper's MMLU-OE answers,
`grading.reference`). Torch-free.

Per set: agreement and Cohen's kappa, each with a bootstrap interval over the answers both
graded, and the confusion counts (the set's label x the judge's verdict). Per learned method
and cell: the test AUROC (against the column's test labels, which the judge gives where it
grades them) and the calibration AUROC against either grader's labels on the same answers,
averaged over the method's training seeds.
"""

import zlib

import numpy as np
import pandas as pd

from crossprobe.evaluation.column import interval, question_draws
from crossprobe.evaluation.metrics import auroc
from crossprobe.scores.calibration import grid_rows

AGREEMENT_COLUMNS = ["trained_on", "split", "n", "agreement", "agreement_low", "agreement_high"]
AGREEMENT_COLUMNS += ["kappa", "kappa_low", "kappa_high"]
AGREEMENT_COLUMNS += ["both_correct", "set_only", "judge_only", "both_wrong"]
AGREEMENT_COLUMNS += ["set_accuracy", "judge_accuracy"]
AUROC_COLUMNS = ["method", "model", "trained_on", "seeds", "test_auroc", "n_test"]
AUROC_COLUMNS += ["agreement_split", "auroc_set_labels", "auroc_judge_labels", "n_judged"]
REFERENCE_COLUMNS = ["trained_on", "subject", "n", "judge_accuracy", "n_reference"]
REFERENCE_COLUMNS += ["reference_accuracy"]


def read_reference(path) -> pd.DataFrame:
    """A shipped table of facts (configs/reference/): tab-separated under a `#` header naming
    its source; here another grader's accuracy per model and subject (model, subject, n,
    accuracy), in `crossprobe.evaluation.reference` the authors' AUROC per run."""
    return pd.read_csv(path, sep="\t", comment="#")


def reference_accuracy(graded: pd.DataFrame, reference: pd.DataFrame, source: str) -> list:
    """Per subject of `graded` (a column's judged test answers) and of the reference table of
    the column's model: the judge's accuracy and the reference grader's, with their counts."""
    ours = graded.groupby("subject")["correct"].agg(["size", "mean"])
    theirs = reference.set_index("subject")
    return [
        {
            "trained_on": source,
            "subject": subject,
            "n": int(ours.loc[subject, "size"]) if subject in ours.index else 0,
            "judge_accuracy": ours.loc[subject, "mean"] if subject in ours.index else np.nan,
            "n_reference": int(theirs.loc[subject, "n"]) if subject in theirs.index else 0,
            "reference_accuracy": (
                theirs.loc[subject, "accuracy"] if subject in theirs.index else np.nan
            ),
        }
        for subject in sorted(set(ours.index) | set(theirs.index))
    ]


def reference_summary(rows: pd.DataFrame) -> dict:
    """Over the subjects both graded: the overall accuracy each way (weighted by its own counts),
    the Pearson correlation of the subjects' accuracies and their mean absolute difference."""
    both = rows[(rows["n"] > 0) & (rows["n_reference"] > 0)]
    ours, theirs = both["judge_accuracy"].to_numpy(), both["reference_accuracy"].to_numpy()
    return {
        "subjects": len(both),
        "judge_accuracy": float(np.average(ours, weights=both["n"])) if len(both) else np.nan,
        "reference_accuracy": (
            float(np.average(theirs, weights=both["n_reference"])) if len(both) else np.nan
        ),
        "correlation": float(np.corrcoef(ours, theirs)[0, 1]) if len(both) > 2 else np.nan,
        "mean_absolute_difference": float(np.mean(np.abs(ours - theirs))) if len(both) else np.nan,
    }


def weighted_agreement(a, b, weights) -> tuple[np.ndarray, np.ndarray]:
    """(agreement, Cohen's kappa) of two 0/1 label vectors per row of `weights` (counts of the
    answers): kappa is agreement beyond what the two rates of 1 give by chance (NaN when both
    graders give one and the same label throughout)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    w = np.atleast_2d(weights)
    total = w.sum(axis=1)
    observed = (w @ (a == b)) / total
    rate_a, rate_b = (w @ a) / total, (w @ b) / total
    chance = rate_a * rate_b + (1 - rate_a) * (1 - rate_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = np.where(chance < 1, (observed - chance) / (1 - chance), np.nan)
    return observed, kappa


def cohen_kappa(a, b) -> float:
    return float(weighted_agreement(a, b, np.ones((1, len(a))))[1][0])


def agreement(judged: pd.DataFrame, source: str, params: dict) -> dict:
    """One row of the agreement table from the judge's verdicts on imported answers (their own
    `label` beside each `verdict`), with intervals over `params["bootstrap"]` resamples of
    those answers."""
    rows = judged[judged["origin"] == "imported"]
    label, verdict = rows["label"].to_numpy(), rows["verdict"].to_numpy()
    rng = np.random.default_rng([params["seed"], zlib.crc32(f"graders/{source}".encode())])
    agreed, kappa = weighted_agreement(
        label, verdict, question_draws(len(rows), params["bootstrap"], rng)
    )
    agreement_low, agreement_high = interval(agreed, params["ci"])
    kappa_low, kappa_high = interval(kappa, params["ci"])
    return {
        "trained_on": source,
        "split": rows["split"].iloc[0],
        "n": len(rows),
        "agreement": float(agreed[0]),
        "agreement_low": agreement_low,
        "agreement_high": agreement_high,
        "kappa": float(kappa[0]),
        "kappa_low": kappa_low,
        "kappa_high": kappa_high,
        "both_correct": int(((label == 1) & (verdict == 1)).sum()),
        "set_only": int(((label == 1) & (verdict == 0)).sum()),
        "judge_only": int(((label == 0) & (verdict == 1)).sum()),
        "both_wrong": int(((label == 0) & (verdict == 0)).sum()),
        "set_accuracy": float(label.mean()),
        "judge_accuracy": float(verdict.mean()),
    }


def method_aurocs(scores: pd.DataFrame, judged: pd.DataFrame, method: str, source: str):
    """Rows of the AUROC table for one method's score table in column `source`: per estimator,
    the mean over its training seeds of the test AUROC and of the AUROC on the judged answers
    of the agreement split against the set's labels and against the judge's."""
    rows = judged[judged["origin"] == "imported"]
    split = rows["split"].iloc[0]
    verdict = rows.set_index("question_id")["verdict"]
    out = []
    grid = grid_rows(scores)
    for model, cell in grid.groupby("model", sort=False):
        per_seed = []
        for _, replicate in cell.groupby("seed", sort=True):
            test = replicate[replicate["split"] == "test"]
            on = replicate[replicate["question_id"].isin(verdict.index)]
            on = on[on["split"] == split]
            per_seed.append(
                (
                    auroc(test["correct"], test["logodds"]),
                    auroc(on["correct"], on["logodds"]),
                    auroc(verdict.loc[on["question_id"]].to_numpy(), on["logodds"]),
                    len(test),
                    len(on),
                )
            )
        values = np.asarray(per_seed, dtype=float)
        out.append(
            {
                "method": method,
                "model": model,
                "trained_on": source,
                "seeds": len(per_seed),
                "test_auroc": values[:, 0].mean(),
                "n_test": int(values[0, 3]),
                "agreement_split": split,
                "auroc_set_labels": values[:, 1].mean(),
                "auroc_judge_labels": values[:, 2].mean(),
                "n_judged": int(values[0, 4]),
            }
        )
    return out


def estimate(value: float, low: float, high: float) -> str:
    """A value and its 95% interval ("—" for no value)."""
    return "—" if np.isnan(value) else f"{value:.3f} [{low:.3f}, {high:.3f}]"


def share(value: float) -> str:
    """An accuracy for a table: "—" where a grader graded none of the subject's answers."""
    return "—" if np.isnan(value) else f"{value:.3f}"


def graders_markdown(
    agreements: pd.DataFrame, aurocs: pd.DataFrame, reference: pd.DataFrame, names: dict, title
) -> str:
    lines = [
        "**The judge against the answer sets' own labels** (the same answers graded by both; "
        "set = the labels the answers came with; agreement and κ with bootstrap 95% intervals "
        "over those answers)",
        "",
        "| Trained On | split | n | agreement | Cohen's κ | both correct | set only | "
        "judge only | both wrong |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in agreements.itertuples():
        lines.append(
            f"| {names[r.trained_on]} | {r.split} | {r.n} | "
            f"{estimate(r.agreement, r.agreement_low, r.agreement_high)} | "
            f"{estimate(r.kappa, r.kappa_low, r.kappa_high)} | "
            f"{r.both_correct} | {r.set_only} | {r.judge_only} | {r.both_wrong} |"
        )
    lines += [
        "",
        "**Learned estimators under either grader** (pooled AUROC, mean over training seeds; "
        "test: the column's test labels; the agreement split: the set's labels and the judge's "
        "on the same answers)",
        "",
        "| Method | Model | Trained On | test | set labels | judge labels | n judged |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in aurocs.itertuples():
        lines.append(
            f"| {title(r.method)} | {names[r.model]} | {names[r.trained_on]} | "
            f"{r.test_auroc:.3f} | {r.auroc_set_labels:.3f} | {r.auroc_judge_labels:.3f} | "
            f"{r.n_judged} |"
        )
    for source, rows in reference.groupby("trained_on", sort=False):
        summary = reference_summary(rows)
        lines += [
            "",
            f"**The judge against the reference grader on {names[source]}'s test answers** "
            f"(accuracy per subject; over the {summary['subjects']} subjects both graded: "
            f"judge {summary['judge_accuracy']:.3f}, reference {summary['reference_accuracy']:.3f} "
            f"overall, each weighted by its own answers; correlation over subjects "
            f"{summary['correlation']:.3f}, mean absolute difference "
            f"{summary['mean_absolute_difference']:.3f})",
            "",
            "| subject | n | judge | n (reference) | reference |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r.subject} | {r.n} | {share(r.judge_accuracy)} | {r.n_reference} | "
            f"{share(r.reference_accuracy)} |"
            for r in rows.itertuples()
        ]
    return "\n".join(lines) + "\n"
