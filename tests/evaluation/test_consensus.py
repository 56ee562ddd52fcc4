"""Where the estimator and the source disagree: the column's test answers split by whether the
estimator gave the source's answer, each cell's AUROC on each subset (as scikit-learn computes
it on the subset, for the sample), the source judging itself on the same subset, and their
paired difference with its interval, from the column's shared resamples."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from crossprobe.contract.methods import METHODS, ON_OWN, Method, diagonal_method
from crossprobe.evaluation.column import (
    Resamples,
    evaluate_column,
    question_draws,
    stratified_draws,
)
from crossprobe.evaluation.consensus import agreed_answers, consensus_table, split_rows
from crossprobe.evaluation.markdown import consensus_markdown
from helpers import EVALUATION_PARAMS, column_tables

N = 400


@pytest.fixture
def column():
    """400 test answers, a quarter where the estimator answered otherwise; the source's own
    scores know the correct answers everywhere, the estimator's only where they agree."""
    rng = np.random.default_rng(0)
    correct = rng.integers(0, 2, N)
    agreed = rng.random(N) > 0.25
    subjects = np.where(np.arange(N) % 2, "a", "b")

    def rows(signal):
        return pd.DataFrame(
            {
                "correct": correct,
                "subject": subjects,
                "logodds": signal * (2 * correct - 1) + rng.normal(size=N),
            }
        )

    mine = [rows(np.where(agreed, 1.5, 0.0)) for _ in range(2)]  # two training seeds
    itself = [rows(np.full(N, 1.5)) for _ in range(2)]
    strata = pd.Series(subjects) + "/" + pd.Series(correct).astype(str)
    resamples = Resamples(
        test=question_draws(N, 999, np.random.default_rng(1)),
        within_subjects=stratified_draws(strata.to_numpy(), 999, np.random.default_rng(2)),
        calibration=np.ones((1000, 1)),
        uniforms=np.zeros((1000, N)),
        training=np.zeros(1000),
    )
    return mine, itself, agreed, resamples


def test_each_subset_gets_each_cells_auroc_the_source_itself_and_their_difference(column):
    mine, itself, agreed, resamples = column
    rows = split_rows(
        {("probe", "x"): mine, ("agreement", "x"): mine},
        {"probe": itself},  # agreement has no diagonal: no row
        {"x": agreed},
        resamples,
        {"ci": 0.95, "min_class_answers": 5},
    )
    table = consensus_table(rows, "y").set_index(["method", "subset", "metric"])
    assert set(table.index.get_level_values("method")) == {"probe"}
    assert table.loc[("probe", "agree", "auroc"), "n"] == agreed.sum()
    assert table.loc[("probe", "disagree", "auroc"), "n"] == (~agreed).sum()
    for subset, inside in (("agree", agreed), ("disagree", ~agreed)):
        row = table.loc[("probe", subset, "auroc")]
        expected = np.mean(
            [roc_auc_score(t["correct"][inside], t["logodds"][inside]) for t in mine]
        )
        assert row["value"] == pytest.approx(expected)
        assert row["ci_low"] < row["value"] < row["ci_high"]
        assert row["difference"] == pytest.approx(row["itself"] - row["value"])
    # where they disagree the estimator knows nothing: the source judging itself is separated
    disagree = table.loc[("probe", "disagree", "auroc")]
    assert disagree["difference_low"] > 0 and abs(disagree["value"] - 0.5) < 0.1
    agree = table.loc[("probe", "agree", "auroc")]
    assert agree["difference_low"] < 0 < agree["difference_high"]  # alike where they agree
    assert (table["trained_on"] == "y").all()


def test_agreement_is_the_agreement_baselines_comparison():
    source = pd.DataFrame(
        {"question_id": ["q1", "q2", "q3"], "answer_index": [0, 1, 2], "answer": ["a", "b", "c"]}
    )
    estimator = source.assign(answer_index=[0, 2, 2]).iloc[::-1]
    agreed = agreed_answers(source, {"x": estimator}, ["q1", "q2", "q3"])
    assert agreed["x"].tolist() == [True, False, True]


def test_an_own_reading_is_set_against_the_diagonal_of_the_method_it_reuses():
    assert diagonal_method("probe_own") == "probe"
    assert diagonal_method("lora_own") == "lora"
    assert diagonal_method("probe_question") == "probe_question"


def test_evaluate_column_splits_every_off_diagonal_cell_by_agreement():
    """Column a: b's Probe and b's own reading beside a's Probe judging itself, on the answers
    where b answered as a did and where not; the training resamples are left out (the
    intervals hold the training answers fixed), so the split is the same with or without them."""
    tables = column_tables(resamples=2, training_sd=0.3)
    tables["probe_own"] = tables["probe"][tables["probe"]["model"] == "b"]
    test_ids = [f"q{i}" for i in range(200, 400)]
    mine = pd.DataFrame({"question_id": test_ids, "answer_index": 0, "answer": "x"})
    differs = np.arange(200) % 3 == 0
    theirs = mine.assign(answer_index=np.where(differs, 1, 0))
    answers = {"a": mine, "b": theirs}
    split = evaluate_column(tables, "a", EVALUATION_PARAMS, 100, answers)["consensus"]
    assert set(zip(split["method"], split["model"], strict=True)) == {
        ("probe", "b"),
        ("probe_own", "b"),
    }
    table = split.set_index(["method", "subset", "metric"])
    assert table.loc[("probe", "disagree", "auroc"), "n"] == differs.sum()
    assert table.loc[("probe", "agree", "auroc"), "n"] == (~differs).sum()
    for subset in ("agree", "disagree"):
        # the own reading's source judging itself is the Probe's diagonal
        own, probe = (table.loc[(m, subset, "auroc")] for m in ("probe_own", "probe"))
        assert own["itself"] == probe["itself"]
        assert own["itself_low"] == probe["itself_low"]
    at_split = {m: t[t["resample"] == 0] for m, t in tables.items()}
    fixed = evaluate_column(at_split, "a", EVALUATION_PARAMS, 100, answers)["consensus"]
    pd.testing.assert_frame_equal(split, fixed)
    # without the estimators' answers there is nothing to split by
    assert evaluate_column(tables, "a", EVALUATION_PARAMS, 100)["consensus"].empty


def test_the_split_reads_as_a_table_or_says_why_there_is_none(column, monkeypatch):
    mine, itself, agreed, resamples = column
    params = {"ci": 0.95, "min_class_answers": 5}
    rows = split_rows({("probe", "x"): mine}, {"probe": itself}, {"x": agreed}, resamples, params)
    layout = {"names": {"x": "X", "y": "Y"}, "headline": "auroc", "headline_label": "AUROC"}
    text = consensus_markdown(consensus_table(rows, "y"), layout)
    assert "| Probe | Y | X | differed | " + str((~agreed).sum()) + " |" in text
    assert "No off-diagonal cell" in consensus_markdown(consensus_table([], "y"), layout)
    # an own reading whose estimator no column-trained method has cannot be set against one
    orphan = Method("orphan_own", "Orphan", scorer="oracle", trained=True, learns_from=ON_OWN)
    monkeypatch.setitem(METHODS, "orphan_own", orphan)
    with pytest.raises(ValueError, match="orphan_own: no method trained on the column"):
        diagonal_method("orphan_own")
