"""The authors' own numbers beside ours: for each of our cells, the per-subject test AUROC of the
reference run that matches it (Kapoor et al. 2024's, shipped in configs/reference/, named by
`evaluation.reference`) against ours, per subject, and over the subjects both have: the mean
each way, their Pearson correlation and mean absolute difference. Torch-free.

Our per-subject AUROC of a trained cell is the mean over its training seeds of each seed's
AUROC in that subject (the full training set, the test split): a reference run is one trained
estimator, and the seeds' mean estimates what one estimator scores; the AUROC of the seeds'
mean log-odds would be an ensemble's, which no reference run is.
"""

import numpy as np
import pandas as pd

from crossprobe.contract.methods import title
from crossprobe.evaluation.metrics import auroc
from crossprobe.scores.calibration import grid_rows

# The reference runs (notebooks/results/eval-mmlu_oe-<run>/<model>.csv at the shipped commit)
# that match each of our (method, diagonal) cells, the plainest first. What decides it there:
# - ct is LoRA + Prompt (experiments/calibration_tune.py, evaluated --mode=query), ct_probe the
#   Probe (experiments/classifier_tune.py: a head on the last hidden state of prompt + answer,
#   llm/eval/classifier.py, evaluated --mode=class), both trained on the estimator's own
#   labelled answers; base the untrained query (README: Usage). Without a suffix they score the
#   estimator's own MMLU answers (dataset mmlu:<subject>).
# - -cross: the estimator scores the other model's cached answers and GPT-3.5 labels (dataset
#   mmlu_offline:<other>:<subject>, llm/datasets/offline/mmlu_offline.py; base-cross's N and
#   accuracy are the other's); notebooks/all_plots.ipynb draws eval-mmlu_oe-{base-cross,
#   ct_probe-ts-cross,ct-ts-cross}/llama2-7b.csv under Mistral 7B as Query-Cross,
#   CT-Probe-Cross, CT-Query-Cross beside Query and CT-Query (base, ct): the off-diagonal of an
#   estimator trained on its own answers (probe_own, lora_own), or of the untrained query.
# - -ts: the same estimator scored through a temperature fitted on the validation split
#   (--scale-temp, experiments/evaluate.py). A temperature keeps the scores' order, and our
#   AUROC with it, yet their -ts AUROC is not their plain run's (per-subject means ct 0.732 /
#   0.694, ct-ts 0.670 / 0.512): the plain run first, its -ts twin beside it. The -cross runs
#   exist only with -ts.
# - -cross_train scores the estimator's own answers (its N and accuracy are its base run's),
#   trained on the other model's: the authors first committed it as -cross (70cd4bb, "add cross
#   results") and renamed it when they added the -ts-cross runs (729d55b, "update cross
#   eval"). No cell of ours scores an estimator's own answers after training it on another's.
MATCHES = {
    ("zero_shot", True): ("base", "base-ts"),
    ("zero_shot", False): ("base-cross",),
    ("probe", True): ("ct_probe", "ct_probe-ts"),
    ("probe_own", True): ("ct_probe", "ct_probe-ts"),
    ("probe_own", False): ("ct_probe-ts-cross",),
    ("lora", True): ("ct", "ct-ts"),
    ("lora_own", True): ("ct", "ct-ts"),
    ("lora_own", False): ("ct-ts-cross",),
}
UNMATCHED = {
    ("probe", False): (
        "the reference trains no probe on another model's answers and scores it on them: "
        "ct_probe-cross_train scores the estimator's own answers (and its AUROC is 0.5 throughout)"
    ),
    ("lora", False): (
        "the reference trains no LoRA + Prompt on another model's answers and scores it on them: "
        "ct-cross_train scores the estimator's own answers"
    ),
}
SUBJECT_COLUMNS = ["method", "model", "trained_on", "run", "subject", "n", "auroc"]
SUBJECT_COLUMNS += ["n_reference", "reference_auroc"]
CELL_COLUMNS = ["method", "model", "trained_on", "run", "seeds", "subjects", "auroc_mean"]
CELL_COLUMNS += ["reference_mean", "correlation", "mean_absolute_difference", "note"]


def matching_runs(method: str, model: str, trained_on: str) -> tuple[tuple[str, ...], str]:
    """The reference runs that match our cell (method, model, trained_on), or none and why."""
    key = (method, model == trained_on)
    if key in MATCHES:
        return MATCHES[key], ""
    if key in UNMATCHED:
        return (), UNMATCHED[key]
    return (), f"the reference has no run of {title(method)}"


def per_subject_auroc(scores: pd.DataFrame) -> pd.DataFrame:
    """Per cell of a score table and test subject: the test answers, the training seeds and the
    mean over them of each seed's AUROC of the log-odds (NaN where the subject's answers are of
    one class), estimators trained on all their training answers."""
    test = grid_rows(scores)
    test = test[test["split"] == "test"]
    cell = ["method", "model", "trained_on", "subject"]
    per_seed = pd.DataFrame(
        [
            (*key, len(rows), auroc(rows["correct"], rows["logodds"]))
            for key, rows in test.groupby(cell + ["seed"], sort=True)
        ],
        columns=cell + ["seed", "n", "auroc"],
    )
    return (
        per_seed.groupby(cell, sort=False)
        .agg(n=("n", "first"), seeds=("seed", "size"), auroc=("auroc", "mean"))
        .reset_index()
    )


def agreement_over_subjects(ours, theirs) -> dict:
    """Over subjects both scored: the mean each way, the Pearson correlation (NaN under three
    subjects or where either side does not vary) and the mean absolute difference."""
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    varies = len(ours) > 2 and ours.std() > 0 and theirs.std() > 0
    return {
        "subjects": len(ours),
        "auroc_mean": ours.mean() if len(ours) else np.nan,
        "reference_mean": theirs.mean() if len(ours) else np.nan,
        "correlation": np.corrcoef(ours, theirs)[0, 1] if varies else np.nan,
        "mean_absolute_difference": np.abs(ours - theirs).mean() if len(ours) else np.nan,
    }


def compare_cells(
    ours: pd.DataFrame, reference: pd.DataFrame, models: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per subject, per cell and run): each cell of `ours` (`per_subject_auroc`) against every
    reference run that matches it, the reference's rows read for its estimator's and its answer
    model's names (`models`: our id -> the reference's); a cell without a match or a run the
    reference lacks has its row in the second table, with why."""
    subject_rows, cell_rows = [], []
    for (method, model, source), cell in ours.groupby(
        ["method", "model", "trained_on"], sort=False
    ):
        seeds = int(cell["seeds"].max())
        runs, why = matching_runs(method, model, source)
        unnamed = [m for m in (model, source) if m not in models]
        if unnamed:
            runs, why = (), f"the reference has no numbers for {' or '.join(unnamed)}"
        if not runs:
            cell_rows.append(
                {"method": method, "model": model, "trained_on": source, "run": None}
                | {"seeds": seeds, "note": f"no reference run: {why}"}
            )
        for run in runs:
            theirs = reference[
                (reference["run"] == run)
                & (reference["model"] == models[model])
                & (reference["answers"] == models[source])
            ]
            rows = cell[["subject", "n", "auroc"]].merge(
                theirs[["subject", "n", "auroc"]].rename(
                    columns={"n": "n_reference", "auroc": "reference_auroc"}
                ),
                on="subject",
                how="outer",
            )
            rows[["n", "n_reference"]] = rows[["n", "n_reference"]].fillna(0).astype(int)
            rows = rows.assign(method=method, model=model, trained_on=source, run=run)
            subject_rows.append(rows.sort_values("subject")[SUBJECT_COLUMNS])
            both = rows[rows["auroc"].notna() & rows["reference_auroc"].notna()]
            missing = (
                f"the reference has no rows of {run} for {models[model]} on "
                f"{models[source]}'s answers"
            )
            cell_rows.append(
                {"method": method, "model": model, "trained_on": source, "run": run}
                | {"seeds": seeds, "note": "" if len(theirs) else missing}
                | agreement_over_subjects(both["auroc"], both["reference_auroc"])
            )
    subjects = (
        pd.concat(subject_rows, ignore_index=True)
        if subject_rows
        else pd.DataFrame(columns=SUBJECT_COLUMNS)
    )
    return subjects, pd.DataFrame(cell_rows, columns=CELL_COLUMNS)


def shown(value: float) -> str:
    """A number for the table: "—" where there is none (no match, no subject in common)."""
    return "—" if pd.isna(value) else f"{value:.3f}"


def reference_markdown(cells: pd.DataFrame, names: dict, source) -> str:
    """The cells' summary (`compare_cells`): one row per cell and matching run, and below it,
    why a cell has no run or a run no numbers."""
    lines = [
        "**The authors' own numbers beside ours** (test AUROC per MMLU subject: ours the mean "
        "over a cell's training seeds of each seed's, theirs one run's, Kapoor et al. 2024, "
        f"shipped in {source}, whose header names the commit and files of their code; over the "
        "subjects both have: the mean of each, the Pearson correlation of the subjects' AUROC "
        "and their mean absolute difference)",
        "",
        "Their runs: base, the untrained query; ct_probe, the Probe; ct, LoRA + Prompt; each "
        "trained on the estimator's own answers. -cross: scoring the other model's answers; "
        "-ts: through a temperature head, which keeps the order of the scores but in their "
        "results moves the AUROC (ours does not move).",
        "",
        "| Method | Model | Trained On | their run | subjects | ours | theirs | correlation | "
        "mean abs. difference |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for r in cells.itertuples():
        lines.append(
            f"| {title(r.method)} | {names[r.model]} | {names[r.trained_on]} | "
            f"{r.run if isinstance(r.run, str) else 'none'} | "
            f"{0 if pd.isna(r.subjects) else int(r.subjects)} | {shown(r.auroc_mean)} | "
            f"{shown(r.reference_mean)} | {shown(r.correlation)} | "
            f"{shown(r.mean_absolute_difference)} |"
        )
        if isinstance(r.note, str) and r.note:
            notes.append(
                f"- {title(r.method)}, {names[r.model]} in column {names[r.trained_on]}: {r.note}."
            )
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"
