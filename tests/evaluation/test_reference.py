"""The authors' own numbers beside ours: the shipped table against the reference's result files,
the runs each of our cells is matched with, and the comparison recomputed by hand."""

import numpy as np
import pandas as pd
import pytest

from helpers import REPO

TABLE = REPO / "configs/reference/kapoor2024-mmlu-oe-auroc.tsv"
NAMES = {"mistral": "mistral-7b", "llama2": "llama2-7b"}


@pytest.fixture(scope="module")
def shipped():
    from crossprobe.evaluation.graders import read_reference

    return read_reference(TABLE)


def test_shipped_rows_are_the_reference_files_values(shipped):
    """Rows copied by hand from notebooks/results/ of github.com/activatedgeek/calibration-tuning
    at 2b7a70bb223524db0b4a1f1567ddab6cb8157714 (columns N, acc, unc_auroc, dataset, split)."""
    rows = shipped.set_index(["run", "model", "answers", "subject"])
    expected = {
        # eval-mmlu_oe-ct/mistral-7b.csv: 135,0.5629629492759705,...,0.7912578055307761,...,
        # mmlu:anatomy,test
        ("ct", "mistral-7b", "mistral-7b", "anatomy"): (
            135,
            0.5629629492759705,
            0.7912578055307761,
        ),
        # eval-mmlu_oe-ct_probe-ts-cross/llama2-7b.csv: 166,0.34939759969711304,...,
        # 0.6801564495530013,...,mmlu_offline:mistral-7b:virology,test
        ("ct_probe-ts-cross", "llama2-7b", "mistral-7b", "virology"): (
            166,
            0.34939759969711304,
            0.6801564495530013,
        ),
        # eval-mmlu_oe-ct-ts-cross/mistral-7b.csv: 171,0.5847952961921692,...,0.8319014084507041,
        # ...,mmlu_offline:llama2-7b:world_religions,test
        ("ct-ts-cross", "mistral-7b", "llama2-7b", "world_religions"): (
            171,
            0.5847952961921692,
            0.8319014084507041,
        ),
        # eval-mmlu_oe-base-cross/mistral-7b.csv: 173,0.36994218826293945,...,0.5088159403669725,
        # ...,mmlu:college_medicine,test (LLaMA-2's answers: base/llama2-7b.csv has the same acc)
        ("base-cross", "mistral-7b", "llama2-7b", "college_medicine"): (
            173,
            0.36994218826293945,
            0.5088159403669725,
        ),
        # eval-mmlu_oe-ct-cross_train/llama2-7b.csv: 135,0.4148148000240326,...,
        # 0.6670433996383364,...,mmlu:anatomy,test (its columns fuzzy_gpt-3.5-turbo-1106_*)
        ("ct-cross_train", "llama2-7b", "llama2-7b", "anatomy"): (
            135,
            0.4148148000240326,
            0.6670433996383364,
        ),
    }
    for key, (n, accuracy, auroc) in expected.items():
        row = rows.loc[key]
        assert (row["n"], row["accuracy"], row["auroc"]) == (n, accuracy, auroc), key


def test_shipped_per_subject_means_are_the_reference_runs(shipped):
    """Every run: 57 subjects, 14,042 test questions for each estimator; its mean over subjects
    as the issue quotes it from the reference's files (Mistral, LLaMA-2 estimator)."""
    quoted = {
        "ct": (0.732, 0.694),
        "ct-ts": (0.670, 0.512),
        "ct-ts-cross": (0.748, 0.685),
        "ct_probe": (0.657, 0.635),
        "ct_probe-ts": (0.658, 0.638),
        "ct_probe-ts-cross": (0.687, 0.650),
        "ct_probe-cross_train": (0.500, 0.500),
        "base": (0.553, 0.506),
        "base-cross": (0.538, 0.520),
    }
    runs = shipped.groupby(["run", "model"])
    assert (runs.size() == 57).all() and (runs["n"].sum() == 14042).all()
    means = runs["auroc"].mean()
    for run, (mistral, llama2) in quoted.items():
        assert round(means[(run, "mistral-7b")], 3) == mistral, run
        assert round(means[(run, "llama2-7b")], 3) == llama2, run


def test_every_matched_run_is_shipped_for_the_cells_answers(shipped):
    """On the diagonal a matched run scores the estimator's own answers, off it the other's."""
    from crossprobe.evaluation.reference import MATCHES, UNMATCHED

    assert not set(MATCHES) & set(UNMATCHED)
    present = set(shipped[["run", "model", "answers"]].itertuples(index=False, name=None))
    for (_, diagonal), runs in MATCHES.items():
        for run in runs:
            for model, other in (("mistral-7b", "llama2-7b"), ("llama2-7b", "mistral-7b")):
                assert (run, model, model if diagonal else other) in present, run


def synthetic_scores(rng, method, model, source, seeds, subjects) -> pd.DataFrame:
    """A score table of one cell: calibration and test rows per seed, a sweep replicate and a
    replicate fitted on a training resample (neither is the grid's estimator)."""
    frames = []
    for n_train, seed, resample in [("all", s, 0) for s in seeds] + [("50", 0, 0), ("all", 0, 1)]:
        for split in ("calibration", "test"):
            for subject, size in subjects.items():
                correct = rng.integers(0, 2, size) if subject != "one_class" else np.ones(size)
                frames.append(
                    pd.DataFrame(
                        {
                            "method": method,
                            "model": model,
                            "trained_on": source,
                            "n_train": n_train,
                            "recipe": "grid",
                            "seed": seed,
                            "resample": resample,
                            "split": split,
                            "subject": subject,
                            "correct": correct.astype(int),
                            "logodds": rng.normal(size=size) + correct,
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)


def test_per_subject_auroc_is_the_mean_over_seeds_of_each_seeds_auroc():
    from sklearn.metrics import roc_auc_score

    from crossprobe.evaluation.reference import per_subject_auroc

    rng = np.random.default_rng(0)
    subjects = {"a": 30, "b": 20, "one_class": 8}
    scores = synthetic_scores(rng, "lora", "mistral", "mistral", [0, 1, 2], subjects)
    ours = per_subject_auroc(scores).set_index("subject")
    test = scores[
        (scores["split"] == "test") & (scores["n_train"] == "all") & (scores["resample"] == 0)
    ]
    for subject in ("a", "b"):
        rows = test[test["subject"] == subject]
        expected = np.mean(
            [roc_auc_score(r["correct"], r["logodds"]) for _, r in rows.groupby("seed")]
        )
        assert ours.loc[subject, "auroc"] == pytest.approx(expected)
        assert ours.loc[subject, "n"] == subjects[subject] and ours.loc[subject, "seeds"] == 3
    assert np.isnan(ours.loc["one_class", "auroc"])


def reference_rows(run, model, answers, aurocs: dict) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run": run,
            "model": model,
            "answers": answers,
            "subject": list(aurocs),
            "n": 100,
            "accuracy": 0.5,
            "auroc": list(aurocs.values()),
        }
    )


def test_a_cell_against_its_reference_runs_over_the_subjects_both_have():
    """Subjects in common (ours has one of a single class, one the reference lacks; the reference
    one we lack): means, Pearson correlation and mean absolute difference by numpy."""
    from crossprobe.evaluation.reference import compare_cells

    ours = pd.DataFrame(
        {
            "method": "lora",
            "model": "mistral",
            "trained_on": "mistral",
            "subject": ["a", "b", "c", "d", "one_class", "ours_only"],
            "n": [10, 20, 30, 40, 8, 5],
            "seeds": 3,
            "auroc": [0.6, 0.7, 0.55, 0.9, np.nan, 0.8],
        }
    )
    theirs = {"a": 0.65, "b": 0.72, "c": 0.5, "d": 0.8, "one_class": 0.6, "theirs_only": 0.7}
    reference = pd.concat(
        [
            reference_rows("ct", "mistral-7b", "mistral-7b", theirs),
            reference_rows("ct", "llama2-7b", "llama2-7b", {"a": 0.1}),  # another estimator's
        ]
    )
    subjects, cells = compare_cells(ours, reference, NAMES)
    ct = subjects[subjects["run"] == "ct"].set_index("subject")
    assert list(ct.index) == ["a", "b", "c", "d", "one_class", "ours_only", "theirs_only"]
    assert ct.loc["ours_only", "n_reference"] == 0 and ct.loc["theirs_only", "n"] == 0
    assert ct.loc["a", "reference_auroc"] == 0.65 and ct.loc["a", "n_reference"] == 100
    mine, their = np.array([0.6, 0.7, 0.55, 0.9]), np.array([0.65, 0.72, 0.5, 0.8])
    row = cells.set_index("run").loc["ct"]
    assert row["subjects"] == 4 and row["seeds"] == 3 and row["note"] == ""
    assert row["auroc_mean"] == pytest.approx(mine.mean())
    assert row["reference_mean"] == pytest.approx(their.mean())
    assert row["correlation"] == pytest.approx(np.corrcoef(mine, their)[0, 1])
    assert row["mean_absolute_difference"] == pytest.approx(np.abs(mine - their).mean())
    # ct-ts, the plain run's twin, is matched too but lacking here: its row says so
    twin = cells.set_index("run").loc["ct-ts"]
    assert twin["subjects"] == 0 and np.isnan(twin["auroc_mean"])
    assert twin["note"] == (
        "the reference has no rows of ct-ts for mistral-7b on mistral-7b's answers"
    )


def test_a_cell_without_a_reference_run_says_why():
    """LoRA + Prompt off the diagonal (trained on and scoring another model's answers) has no
    reference run; trained on its own answers it has ct-ts-cross, read for the other's answers."""
    from crossprobe.evaluation.reference import compare_cells, reference_markdown

    ours = pd.DataFrame(
        {
            "method": ["lora", "lora", "lora_own", "lora_own", "probe_question"],
            "model": ["mistral", "mistral", "mistral", "mistral", "mistral"],
            "trained_on": ["llama2", "llama2", "llama2", "llama2", "llama2"],
            "subject": ["a", "b", "a", "b", "a"],
            "n": 10,
            "seeds": 1,
            "auroc": [0.6, 0.7, 0.62, 0.71, 0.5],
        }
    )
    reference = reference_rows("ct-ts-cross", "mistral-7b", "llama2-7b", {"a": 0.7, "b": 0.6})
    subjects, cells = compare_cells(ours, reference, NAMES)
    unmatched = cells[cells["method"] == "lora"].iloc[0]
    assert pd.isna(unmatched["run"]) and np.isnan(unmatched["auroc_mean"])
    assert unmatched["note"].startswith("no reference run: ")
    assert "ct-cross_train" in unmatched["note"]
    own = cells[cells["method"] == "lora_own"].iloc[0]
    assert own["run"] == "ct-ts-cross" and own["subjects"] == 2
    assert own["mean_absolute_difference"] == pytest.approx((0.08 + 0.11) / 2)
    assert np.isnan(own["correlation"])  # two subjects
    assert cells[cells["method"] == "probe_question"].iloc[0]["note"] == (
        "no reference run: the reference has no run of Question-only probe"
    )
    assert set(subjects["method"]) == {"lora_own"}
    names = {"mistral": "Mistral", "llama2": "LLaMA-2"}
    markdown = reference_markdown(cells, names, "configs/reference/x.tsv")
    assert "| LoRA + Prompt | Mistral | LLaMA-2 | none | 0 | — | — | — | — |" in markdown
    assert "| Mistral | LLaMA-2 | ct-ts-cross | 2 | 0.665 | 0.650 | — | 0.095 |" in markdown
    assert "- LoRA + Prompt, Mistral in column LLaMA-2: no reference run: " in markdown
