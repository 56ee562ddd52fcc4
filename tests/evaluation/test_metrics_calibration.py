"""Metrics against hand-computed cases and scikit-learn, their bootstrap form, temperature
scaling, and the shared, paired, seed-resampling bootstrap of a column."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from crossprobe.evaluation.column import evaluate_column, question_draws
from crossprobe.evaluation.metrics import (
    aurc,
    auroc,
    auroc_subject_mean,
    brier,
    ece,
    ece_toplabel,
    metric_draws,
    weighted_auroc,
)
from crossprobe.logodds import logit, nll, sigmoid
from crossprobe.scores.calibration import fit_temperature, scores_table
from helpers import EVALUATION_PARAMS, column_tables


def test_auroc_hand_case_ties_and_single_class():
    assert auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert auroc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert np.isnan(auroc([1, 1, 1], [0.2, 0.3, 0.4]))


def test_auroc_matches_sklearn_on_random_data_and_on_resamples():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.round(rng.random(300), 2)  # rounding makes ties
    assert auroc(y, p) == pytest.approx(roc_auc_score(y, p))
    counts = question_draws(300, 5, rng)
    for row, weights in zip(weighted_auroc(y, p, counts)[1:], counts[1:], strict=True):
        drawn = np.repeat(np.arange(300), weights.astype(int))
        assert row == pytest.approx(roc_auc_score(y[drawn], p[drawn]))


def test_large_margins_rank_apart():
    """Log-odds keep margins of 20 and 30 apart; float32 softmax probabilities tie them at 1."""
    margins = np.array([20.0, 30.0, -1.0])
    y = np.array([0, 1, 0])
    probabilities = 1 / (1 + np.exp(-margins.astype(np.float32)))
    assert probabilities[0] == probabilities[1] == np.float32(1.0)
    assert auroc(y, probabilities) == pytest.approx(0.75)  # the tie costs half a pair
    assert auroc(y, margins) == pytest.approx(1.0)
    z = scores_table(
        pd.DataFrame(
            {
                "split": ["calibration"] * 3 + ["test"] * 3,
                "question_id": list("abcdef"),
                "subject": ["s"] * 6,
                "correct": [0, 1, 0, 0, 1, 0],
                "logodds_raw": [20.0, 30.0, -1.0] * 2,
            }
        )
    )
    test = z[z["split"] == "test"]
    assert auroc(test["correct"], test["logodds"]) == pytest.approx(1.0)


def test_ece_variants_brier_and_aurc_on_constructed_inputs():
    # two bins: p=0.25 with 1/4 correct (gap 0) and p=0.75 with 1/4 correct (gap 0.5)
    y = np.array([1, 0, 0, 0, 1, 0, 0, 0])
    p = np.array([0.25] * 4 + [0.75] * 4)
    assert ece(y, p) == pytest.approx(0.5 * 0 + 0.5 * 0.5)
    # top-label: confidence 0.75 everywhere; thresholded prediction right for 3/4 of the first
    # half (predict wrong, 3 wrong) and 1/4 of the second (predict right, 1 right)
    assert ece_toplabel(y, p) == pytest.approx(abs(0.75 - 0.5))
    assert ece(np.array([1, 1]), np.array([1.0, 1.0])) == pytest.approx(0.0)  # p = 1 in last bin
    assert brier([1, 0], [0.8, 0.4]) == pytest.approx(brier_score_loss([1, 0], [0.8, 0.4]))
    # most confident first: right, wrong -> risk 0 at 1/2 coverage, 1/2 at full: mean 1/4
    assert aurc([1, 0], [0.9, 0.1]) == pytest.approx(0.25)
    assert aurc([0, 1], [0.9, 0.1]) == pytest.approx(0.75)


def test_subject_mean_skips_single_class_subjects():
    y = [0, 1, 0, 1, 1, 1]
    z = [0.1, 0.9, 0.8, 0.2, 0.5, 0.6]
    s = ["a", "a", "b", "b", "c", "c"]
    assert auroc_subject_mean(y, z, s) == pytest.approx((1.0 + 0.0) / 2)
    draws = metric_draws(y, z, np.full(6, 0.5), np.full(6, 0.5), s, np.ones((1, 6)), 10)
    assert draws["subjects_used"][0] == 2


def test_temperature_scaling_keeps_auroc_and_lowers_nll():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    true_logit = np.where(y == 1, 1.0, -1.0) + rng.normal(0, 1.5, 2000)
    overconfident = 4 * true_logit
    t = fit_temperature(overconfident[:1000], y[:1000])
    scaled = overconfident[1000:] / t
    assert t > 2
    assert auroc(y[1000:], scaled) == pytest.approx(auroc(y[1000:], overconfident[1000:]))
    assert nll(scaled, y[1000:]) < nll(overconfident[1000:], y[1000:]) - 0.1


def test_nll_is_stable_for_any_log_odds():
    assert nll([800.0, -800.0], [1, 0]) == pytest.approx(0.0)
    assert nll([800.0], [0]) == pytest.approx(800.0)
    assert logit(sigmoid(np.array([-3.0, 0.0, 5.0]))) == pytest.approx([-3.0, 0.0, 5.0])


def test_a_column_is_evaluated_with_shared_paired_resamples():
    tables = column_tables(noise=(0.5, 2.0))
    result = evaluate_column(tables, "a", EVALUATION_PARAMS, full_size=100)
    metrics = result["metrics"].set_index(["model", "metric"])
    again = evaluate_column(tables, "a", EVALUATION_PARAMS, full_size=100)["metrics"]
    pd.testing.assert_frame_equal(result["metrics"], again)  # deterministic
    other = evaluate_column(tables, "a", {**EVALUATION_PARAMS, "seed": 1}, full_size=100)["metrics"]
    assert not np.allclose(result["metrics"]["ci_low"], other["ci_low"], equal_nan=True)
    for model in ("a", "b"):
        row = metrics.loc[(model, "auroc")]
        test = tables["probe"]
        test = test[(test["model"] == model) & (test["split"] == "test")]
        assert row["value"] == pytest.approx(roc_auc_score(test["correct"], test["logodds"]))
        assert row["ci_low"] < row["value"] < row["ci_high"] and row["seeds"] == 1
        assert np.isnan(row["seed_sd"])
    # b (noisier) judging a's answers against a judging itself: a paired difference whose
    # interval is narrower than what the two cells' own intervals would suggest
    within = result["contrasts"].set_index(["comparison", "metric"]).loc[("within_column", "auroc")]
    assert (within["a"], within["b"]) == ("b", "a")
    difference = metrics.loc[("b", "auroc"), "value"] - metrics.loc[("a", "auroc"), "value"]
    assert within["difference"] == pytest.approx(difference)
    assert within["ci_high"] < 0  # b is the worse judge here, and the paired interval says so
    unpaired = (metrics.loc[("a", "auroc"), "ci_high"] - metrics.loc[("a", "auroc"), "ci_low"]) + (
        metrics.loc[("b", "auroc"), "ci_high"] - metrics.loc[("b", "auroc"), "ci_low"]
    )
    assert within["ci_high"] - within["ci_low"] < unpaired


def test_identical_cells_differ_by_exactly_zero():
    tables = column_tables(noise=(1.0, 1.0))
    tables["probe"].loc[tables["probe"]["model"] == "b", ["logodds", "p_correct"]] = (
        tables["probe"].loc[tables["probe"]["model"] == "a", ["logodds", "p_correct"]].to_numpy()
    )
    within = evaluate_column(tables, "a", EVALUATION_PARAMS, full_size=100)["contrasts"]
    row = within[(within["comparison"] == "within_column") & (within["metric"] == "auroc")].iloc[0]
    assert row["difference"] == row["ci_low"] == row["ci_high"] == 0


def test_training_seeds_are_averaged_and_widen_the_interval():
    one = evaluate_column(column_tables(seeds=(0,)), "a", EVALUATION_PARAMS, 100)["metrics"]
    three = evaluate_column(column_tables(seeds=(0, 1, 2)), "a", EVALUATION_PARAMS, 100)["metrics"]
    row = three[(three["model"] == "a") & (three["metric"] == "auroc")].iloc[0]
    assert row["seeds"] == 3 and row["seed_sd"] > 0
    tables = column_tables(seeds=(0, 1, 2))["probe"]
    per_seed = [
        roc_auc_score(t["correct"], t["logodds"])
        for _, t in tables[(tables["model"] == "a") & (tables["split"] == "test")].groupby("seed")
    ]
    assert row["value"] == pytest.approx(np.mean(per_seed))
    assert row["seed_sd"] == pytest.approx(np.std(per_seed, ddof=1))
    assert one.loc[(one["model"] == "a") & (one["metric"] == "auroc"), "seeds"].item() == 1
    # resampling the seeds widens the interval over keeping each seed once in every draw
    import crossprobe.evaluation.column as evaluation

    def each_seed_once(replicates, draws, rng):
        rng.integers(0, replicates, size=(draws + 1, replicates))  # the same random stream
        return np.tile(np.arange(replicates), (draws + 1, 1))

    resampled = row["ci_high"] - row["ci_low"]
    original = evaluation.seed_draws
    try:
        evaluation.seed_draws = each_seed_once
        fixed = evaluate_column(column_tables(seeds=(0, 1, 2)), "a", EVALUATION_PARAMS, 100)[
            "metrics"
        ]
    finally:
        evaluation.seed_draws = original
    kept = fixed[(fixed["model"] == "a") & (fixed["metric"] == "auroc")].iloc[0]
    assert kept["value"] == row["value"] and resampled > kept["ci_high"] - kept["ci_low"]


def auroc_row(metrics: pd.DataFrame, model: str = "a") -> pd.Series:
    return metrics[(metrics["model"] == model) & (metrics["metric"] == "auroc")].iloc[0]


def test_training_resamples_are_drawn_like_seeds_and_widen_the_interval():
    """Fits on bootstrap resamples of the training answers: each draw of the test answers takes
    one training resample and resamples the seeds fitted on it, so where the training set
    matters the interval widens over the seeds alone; the value stays the mean over the seeds
    fitted on the answers themselves, and the SD over resamples is reported beside it."""
    tables = column_tables(seeds=(0, 1, 2), resamples=20, training_sd=0.4)
    at_split = {m: t[t["resample"] == 0] for m, t in tables.items()}
    seeds_only = auroc_row(evaluate_column(at_split, "a", EVALUATION_PARAMS, 100)["metrics"])
    row = auroc_row(evaluate_column(tables, "a", EVALUATION_PARAMS, 100)["metrics"])
    assert (row["resamples"], seeds_only["resamples"], row["seeds"]) == (20, 0, 3)
    assert row["value"] == seeds_only["value"] and row["seed_sd"] == seeds_only["seed_sd"]
    test = tables["probe"][(tables["probe"]["model"] == "a") & (tables["probe"]["split"] == "test")]
    per_resample = [
        np.mean([roc_auc_score(r["correct"], r["logodds"]) for _, r in fits.groupby("seed")])
        for resample, fits in test.groupby("resample")
        if resample > 0
    ]
    assert row["training_sd"] == pytest.approx(np.std(per_resample, ddof=1))
    assert np.isnan(seeds_only["training_sd"])
    width = row["ci_high"] - row["ci_low"]
    assert width > 1.5 * (seeds_only["ci_high"] - seeds_only["ci_low"])


def test_resampled_fits_give_the_spread_not_the_centre_and_stay_paired():
    """Fits on training resamples that all sit lower than those on the answers themselves (a
    bootstrap resample repeats answers) are shifted back: the interval still holds the value.
    Two cells with the same fits (one seed each) take the same training resample in every
    draw: their difference is 0 on every draw."""
    tables = column_tables(seeds=(0, 1), resamples=10, training_sd=0.05, training_shift=-0.6)
    row = auroc_row(evaluate_column(tables, "a", EVALUATION_PARAMS, 100)["metrics"])
    assert row["ci_low"] < row["value"] < row["ci_high"]
    middle = (row["ci_low"] + row["ci_high"]) / 2
    assert abs(middle - row["value"]) < 0.25 * (row["ci_high"] - row["ci_low"])
    probe = column_tables(seeds=(0,), resamples=10, training_sd=0.3)["probe"]
    same = pd.concat([probe[probe["model"] == "a"], probe[probe["model"] == "a"].assign(model="b")])
    contrasts = evaluate_column({"probe": same}, "a", EVALUATION_PARAMS, 100)["contrasts"]
    within = contrasts[
        (contrasts["comparison"] == "within_column") & (contrasts["metric"] == "auroc")
    ]
    assert (within[["difference", "ci_low", "ci_high"]] == 0).all().all()


def test_recipe_variants_are_reported_beside_the_grids_recipe_on_its_split():
    """A recipe variant (fitted on the training answers themselves) is in the recipes table
    beside the grid's recipe on the same answers (its fits on them alone, no training
    resamples), with their paired difference; the grid and the contrasts are the grid's
    recipe's alone."""
    probe = column_tables(seeds=(0, 1), resamples=5, training_sd=0.3)["probe"]
    rng = np.random.default_rng(9)
    weaker = []
    for (model, seed), fits in probe[probe["resample"] == 0].groupby(["model", "seed"]):
        raw = fits[["split", "question_id", "subject", "correct", "logodds_raw"]]
        raw = raw.assign(logodds_raw=raw["logodds_raw"] + rng.normal(0, 3, len(raw)))
        weaker.append(
            scores_table(raw).assign(
                method="probe",
                model=model,
                trained_on="a",
                n_train="all",
                recipe="weaker",
                seed=seed,
                resample=0,
            )
        )
    tables = {"probe": pd.concat([probe, *weaker], ignore_index=True)}
    result = evaluate_column(tables, "a", EVALUATION_PARAMS, 100)
    grid = auroc_row(result["metrics"])
    assert grid["resamples"] == 5 and set(result["metrics"]["model"]) == {"a", "b"}
    recipes = result["recipes"]
    recipes = recipes[(recipes["model"] == "a") & (recipes["metric"] == "auroc")]
    own, variant = (recipes[recipes["recipe"] == r].iloc[0] for r in ("grid", "weaker"))
    assert own["value"] == grid["value"] and own["resamples"] == variant["resamples"] == 0
    assert np.isnan(own["difference"])
    assert variant["difference"] == pytest.approx(variant["value"] - own["value"])
    assert variant["difference_high"] < 0  # the noisier recipe is separated below
    assert set(result["recipes"]["metric"]) == {"auroc", "auroc_subject_mean"}


def test_a_draws_training_resample_is_shared_by_estimators_with_as_many():
    from crossprobe.evaluation.column import training_picks

    uniforms = np.random.default_rng(0).random(999)
    picks = training_picks(uniforms, 10)
    assert picks[0] == 0 and set(picks[1:]) == set(range(1, 11))
    assert (training_picks(uniforms, 10) == picks).all()
    assert (training_picks(uniforms, 0) == 0).all() and len(training_picks(uniforms, 0)) == 1000


def test_single_class_subjects_are_counted_and_left_out():
    tables = column_tables(subjects=2)
    # subject s1 all correct in the test split
    table = tables["probe"]
    odd = table["subject"] == "s1"
    table.loc[odd, "correct"] = 1
    metrics = evaluate_column(tables, "a", EVALUATION_PARAMS, 100)["metrics"].set_index(
        ["model", "metric"]
    )
    assert metrics.loc[("a", "subjects_single_class"), "value"] == 1
    test = table[(table["model"] == "a") & (table["split"] == "test") & ~odd]
    assert metrics.loc[("a", "auroc_subject_mean"), "value"] == pytest.approx(
        roc_auc_score(test["correct"], test["logodds"])
    )


def test_the_per_subject_mean_counts_subjects_with_enough_answers_of_each_class():
    """The per-subject mean counts only subjects with at least min_class_answers right and as
    many wrong test answers (a 9-right/1-wrong subject does not count at 5), and says how many
    it used of how many: the others are single-class or too small."""
    tables = column_tables(n=200)
    table = tables["probe"]

    def subject(question_id: str) -> str:  # two subjects of ~40 test answers, the rest of ~2
        i = int(question_id[1:])
        if 200 <= i < 210:
            return "lopsided"
        return ("big_a", "big_b")[i % 5] if i % 5 < 2 else f"small{i % 60}"

    table["subject"] = table["question_id"].map(subject)
    lopsided = table["subject"] == "lopsided"
    table.loc[lopsided, "correct"] = (table.loc[lopsided, "question_id"] != "q200").astype(int)
    strict = {**EVALUATION_PARAMS, "min_class_answers": 5}
    metrics = evaluate_column(tables, "a", strict, 100)["metrics"].set_index(["model", "metric"])
    test = table[(table["model"] == "a") & (table["split"] == "test")]
    right = test.groupby("subject")["correct"].sum()
    wrong = test.groupby("subject").size() - right
    eligible = right.index[(right >= 5) & (wrong >= 5)]
    single = (right == 0) | (wrong == 0)
    assert "lopsided" not in eligible and (right["lopsided"], wrong["lopsided"]) == (9, 1)
    assert metrics.loc[("a", "subjects_total"), "value"] == len(right)
    assert metrics.loc[("a", "subjects_single_class"), "value"] == single.sum()
    assert metrics.loc[("a", "subjects_too_small"), "value"] == len(right) - single.sum() - 2
    assert metrics.loc[("a", "subjects_used"), "value"] == len(eligible) == 2
    expected = np.mean(
        [
            roc_auc_score(g["correct"], g["logodds"])
            for s, g in test.groupby("subject")
            if s in eligible
        ]
    )
    assert metrics.loc[("a", "auroc_subject_mean"), "value"] == pytest.approx(expected)


def test_aurc_of_tied_scores_does_not_depend_on_the_order_of_the_answers():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 60)
    binary = np.where(rng.random(60) < 0.5, 27.6, -27.6)  # an agreement-like 0/1 score
    values = {aurc(y[order], binary[order]) for order in (rng.permutation(60) for _ in range(20))}
    assert len(values) == 1

    # the area is its expectation over the orders of the tied answers: the mean, over many
    # random orders, of the area of each strict order (within 4 standard errors)
    def strict(order):
        errors = np.cumsum(1 - y[order])
        return np.mean(errors / np.arange(1, len(order) + 1))

    top, bottom = np.flatnonzero(binary > 0), np.flatnonzero(binary < 0)
    areas = [strict(np.r_[rng.permutation(top), rng.permutation(bottom)]) for _ in range(4000)]
    assert aurc(y, binary) == pytest.approx(np.mean(areas), abs=4 * np.std(areas) / 63)
    # exactly, over every order of a small case's ties
    from itertools import permutations

    y = np.array([1, 0, 0, 1, 0])
    orders = [np.r_[list(p), [3, 4]] for p in permutations([0, 1, 2])]
    assert aurc(y, np.array([2.0, 2.0, 2.0, 1.0, 0.0])) == pytest.approx(
        np.mean([strict(o) for o in orders])
    )
    # without ties, the area is the mean over coverages of the error rate kept
    assert aurc([1, 0, 0], [3.0, 2.0, 1.0]) == pytest.approx((0 + 1 / 2 + 2 / 3) / 3)


def test_non_finite_scores_are_errors_not_ranks():
    with pytest.raises(ValueError, match="1 of 3 scores are not finite"):
        auroc([0, 1, 0], [np.nan, 0.1, 0.2])
    with pytest.raises(ValueError, match="not finite"):
        aurc([0, 1], [np.inf, 0.1])


def test_a_non_finite_log_odds_stops_score_column_naming_method_cell_split_and_count(tmp_path):
    from crossprobe.scores import scorers
    from crossprobe.scores.scoring import score_column

    files = {}
    for split in ("calibration", "test"):
        path = tmp_path / f"{split}.parquet"
        pd.DataFrame(
            {
                "question_id": [f"{split}{i}" for i in range(4)],
                "subject": "s",
                "correct": [0, 1, 0, 1],
                "option_scores": [[0.0, -1.0], [-1.0, 0.0], [np.nan, 0.0], [0.0, -2.0]],
                "answer_index": [0, 1, 0, 0],
                "answer_logprob": [-0.1, -0.2, np.nan, -0.1],
            }
        ).to_parquet(path)
        files[scorers.file_key("answers", "m", split)] = str(path)
    plan = {
        "method": "source_confidence",
        "source": "m",
        "replicates": {"m": [("all", "grid", None, 0)]},
        "files": files,
    }
    with pytest.raises(ValueError) as error:
        score_column(plan)
    message = str(error.value)
    assert "source_confidence: 1 of 4 log-odds are not finite for m on m, split" in message


def test_the_per_subject_bootstrap_keeps_every_subject_and_both_its_classes():
    from crossprobe.evaluation.column import stratified_draws

    subjects = np.array(["a"] * 5 + ["b"] * 3 + ["c"] * 12)
    counts = stratified_draws(subjects, 200, np.random.default_rng(0))
    assert (counts[0] == 1).all()
    for s in "abc":  # every draw keeps each stratum's number of answers
        assert (counts[:, subjects == s].sum(axis=1) == (subjects == s).sum()).all()
    tables = column_tables(n=200)
    table = tables["probe"]
    table["subject"] = table["question_id"].map(lambda q: f"s{int(q[1:]) % 4}")
    # a subject of 10 answers with one wrong: resampled within the subject alone it would lose
    # its wrong answer (and drop out of the mean) in about a third of the draws
    rare = table["question_id"].map(lambda q: 200 <= int(q[1:]) < 210)  # test answers
    table.loc[rare, "subject"] = "rare"
    table.loc[rare, "correct"] = table.loc[rare, "question_id"].map(lambda q: int(q != "q200"))
    metrics = evaluate_column(tables, "a", EVALUATION_PARAMS, 100)["metrics"]
    mine = metrics[metrics["model"] == "a"].set_index("metric")
    test = table[(table["model"] == "a") & (table["split"] == "test")]
    both = test.groupby("subject")["correct"].nunique()
    assert both["rare"] == 2 and (test["subject"] == "rare").sum() == 10
    used = mine.loc["subjects_used"]
    assert used["value"] == used["ci_low"] == used["ci_high"] == (both == 2).sum()
    assert mine.loc["auroc_subject_mean", "draws_dropped"] == 0  # every draw, every subject
    contrasts = evaluate_column(tables, "a", EVALUATION_PARAMS, 100)["contrasts"]
    assert (contrasts["draws_dropped"] == 0).all()


def test_temperatures_refitted_per_resample_match_scipy_on_the_resampled_answers():
    """The batched fit is scipy's bounded search of the same NLL on each resample's answers
    (drawn out in full), to its tolerance; at the bounds it stops there."""
    from scipy.optimize import minimize_scalar

    from crossprobe.scores.calibration import fit_temperatures

    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 120)
    z = 6 * ((2 * y - 1) + rng.normal(0, 2.5, 120))  # a weak, overconfident scorer
    counts = question_draws(120, 40, rng)
    fitted = fit_temperatures(z, y, counts)
    for t, weights in zip(fitted, counts, strict=True):
        drawn = np.repeat(np.arange(120), weights.astype(int))
        best = minimize_scalar(
            lambda log_t, d=drawn: nll(z[d] / np.exp(log_t), y[d]),
            bounds=(np.log(0.01), np.log(100)),
            method="bounded",
            options={"xatol": 1e-10},
        )
        assert np.log(t) == pytest.approx(best.x, abs=1e-7)
    assert fitted[0] == pytest.approx(fit_temperature(z, y), rel=1e-4)
    assert np.ptp(np.log(fitted)) > 0.3  # the fit moves with its 120 answers
    assert fit_temperatures(np.ones(4), np.ones(4), np.ones((1, 4)))[0] == pytest.approx(0.01)
    assert fit_temperatures(z, 1 - y, np.ones((1, 120)))[0] == pytest.approx(100)


def test_ece_and_brier_intervals_carry_the_temperature_fit():
    """Each resample refits the temperature on resampled calibration answers (120, as in the
    default run, against 1000 test answers): recomputed here from the drawn-out answers with
    scipy's fit and the one-sample ECE and Brier, draw by draw; the ECE's spread is wider than
    with the temperature held fixed, and AUROC does not move."""
    from scipy.optimize import minimize_scalar

    from crossprobe.evaluation.column import calibrated

    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 1120)
    raw = pd.DataFrame(
        {
            "split": ["calibration"] * 120 + ["test"] * 1000,
            "question_id": [f"q{i}" for i in range(1120)],
            "subject": "s",
            "correct": y,
            "logodds_raw": 4 * ((2 * y - 1) / 2 + rng.normal(0, 2, 1120)),  # weak, overconfident
        }
    )
    table = scores_table(raw)
    test, calibration = (table[table["split"] == s] for s in ("test", "calibration"))
    test_counts, calibration_counts = question_draws(1000, 300, rng), question_draws(120, 300, rng)
    p = calibrated(test, calibration, calibration_counts, np.arange(301))
    assert (p[0] == test["p_correct"].to_numpy()).all()  # the sample: its table's own
    y_test, z_test = test["correct"].to_numpy(), test["logodds_raw"].to_numpy()
    z_cal, y_cal = calibration["logodds_raw"].to_numpy(), calibration["correct"].to_numpy()
    draws = metric_draws(y_test, test["logodds"], p, p[0], test["subject"], test_counts, 10)
    for b in (1, 57, 300):
        on = np.repeat(np.arange(120), calibration_counts[b].astype(int))
        log_t = minimize_scalar(
            lambda v, d=on: nll(z_cal[d] / np.exp(v), y_cal[d]),
            bounds=(np.log(0.01), np.log(100)),
            method="bounded",
            options={"xatol": 1e-10},
        ).x
        drawn = np.repeat(np.arange(1000), test_counts[b].astype(int))
        p_b = sigmoid(z_test[drawn] / np.exp(log_t))
        assert draws["ece"][b] == pytest.approx(ece(y_test[drawn], p_b), abs=1e-6)
        assert draws["brier"][b] == pytest.approx(brier(y_test[drawn], p_b), abs=1e-9)
    fixed = metric_draws(y_test, test["logodds"], p[0], p[0], test["subject"], test_counts, 10)
    assert np.std(draws["ece"][1:]) > 1.2 * np.std(fixed["ece"][1:])
    assert (draws["auroc"] == fixed["auroc"]).all()
    assert draws["ece"][0] == fixed["ece"][0] == pytest.approx(ece(y_test, p[0]))


def test_the_ece_a_perfectly_calibrated_scorer_reads_at_this_n():
    """Labels drawn as Bernoulli(P(correct)): a calibrated scorer's ECE at n = 1000 is well
    above 0 (about 0.03 here), and `ece_if_calibrated` is its mean and range, matching an
    independent simulation; a scorer that is calibrated reads inside that range."""
    from crossprobe.evaluation.metrics import calibrated_ece

    rng = np.random.default_rng(6)
    p = rng.uniform(0.2, 0.9, 1000)
    reading = calibrated_ece(p, np.random.default_rng(1).random((1000, 1000)), 10)
    independent = [ece((rng.random(1000) < p).astype(int), p) for _ in range(1000)]
    assert reading[0] == pytest.approx(np.mean(independent), abs=0.001)
    assert 0.015 < reading[0] < 0.04
    assert np.quantile(reading[1:], 0.975) == pytest.approx(
        np.quantile(independent, 0.975), abs=0.003
    )
    y = (rng.random(1000) < p).astype(int)
    draws = metric_draws(
        y, logit(p), p, p, np.zeros(1000), np.ones((1, 1000)), 10, uniforms=rng.random((1000, 1000))
    )
    assert draws["ece_if_calibrated"][0] == pytest.approx(reading[0], abs=0.001)
    low, high = np.quantile(draws["ece_if_calibrated"][1:], [0.025, 0.975])
    assert low < ece(y, p) < high


def test_reliability_bins_carry_intervals_and_risk_coverage_counts_what_it_keeps():
    tables = column_tables(n=200, noise=(3.0, 1.0))
    curves = evaluate_column(tables, "a", EVALUATION_PARAMS, 100)["curves"]
    bins = curves[(curves["curve"] == "reliability") & (curves["model"] == "a")]
    test = tables["probe"]
    test = test[(test["model"] == "a") & (test["split"] == "test")]
    after = bins[bins["kind"] == "after temperature scaling"]
    which = np.minimum((test["p_correct"] * 10).astype(int), 9)
    by_bin = test.groupby(which).agg(
        x=("p_correct", "mean"), y=("correct", "mean"), n=("correct", "size")
    )
    assert after[["x", "y"]].to_numpy() == pytest.approx(by_bin[["x", "y"]].to_numpy())
    assert after["n"].tolist() == by_bin["n"].tolist()
    big = after[after["n"] >= 10]
    assert (
        (big["y_low"] <= big["y"]) & (big["y"] <= big["y_high"]) & (big["y_low"] < big["y_high"])
    ).all()
    risk = curves[(curves["curve"] == "risk_coverage") & (curves["model"] == "a")]
    # 200 answers: coverage 0.02 k keeps 4 k of them, the count the risk is computed on
    assert risk["n"].tolist() == [4 * k for k in range(1, 51)]
    assert risk["y_low"].isna().all()
