"""The whole workflow on tiny models and real data, through the Snakemake Python API, and exact
partial reruns: each test changes one thing and asserts the exact set of files rebuilt.

The tests share one working directory and run in file order (each leaves the grid complete).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from crossprobe.contract.config import load_schema, validate_config
from crossprobe.contract.methods import METHODS as REGISTRY
from crossprobe.scores.calibration import SCORE_COLUMNS
from helpers import make_workdir, run_workflow, tiny_config, write_config

pytestmark = pytest.mark.slow
R = "results/default"
METHODS = [
    "probe",
    "lora",
    "zero_shot",
    "source_confidence",
    "agreement",
    "agreement_prob",
    "probe_question",
    "probe_pooled",
    "probe_own",
]
PROBES = ["probe", "probe_question", "probe_pooled", "probe_own"]
# an answer set's column has no source probabilities nor the estimators' answers to agree with
IN_ANSWER_SETS = [
    m for m in METHODS if m not in ("source_confidence", "agreement", "agreement_prob")
]
SPLITS = ["train", "calibration", "test"]
SEEDS = [0, 1]  # tiny_config's probe seeds


def outputs(methods=METHODS, sweep=False, recipes=False) -> set[str]:
    """What aggregate and the figures write."""
    tables = ("grid.md", "findings.md", "consensus.md") + tuple(
        f"{n}.tsv" for n in ("grid", "contrasts", "sweep", "recipes", "curves", "consensus")
    )
    files = {f"{R}/tables/{n}" for n in tables}
    figures = ("heatmap.png", "heatmap.pdf", "heatmap_all.png", "heatmap_all.pdf", "contrasts.png")
    files |= {f"{R}/figures/{n}" for n in figures}
    files |= {
        f"{R}/figures/{kind}/{m}.png" for kind in ("reliability", "risk_coverage") for m in methods
    }
    files |= {f"{R}/figures/sweep.png"} if sweep else set()
    return files | ({f"{R}/figures/recipes.png"} if recipes else set())


GRID_OUTPUTS = outputs()


@pytest.fixture(scope="module")
def workdir(tiny_models, tmp_path_factory):
    config = tiny_config(tiny_models)
    path = make_workdir(tmp_path_factory.mktemp("grid"), config)
    path.joinpath("built.json").write_text(json.dumps(sorted(run_workflow(path))))
    return path


def config_of(workdir: Path) -> dict:
    return yaml.safe_load((workdir / "config.yaml").read_text())


def split_files(models, splits) -> set[str]:
    """Questions, answers and grades of `splits` for answering models `models`."""
    files = {f"{R}/questions/{s}.parquet" for s in splits}
    for m in models:
        for s in splits:
            files |= {f"{R}/answers/{m}/{s}.parquet", f"{R}/graded/{m}/{s}.parquet"}
    return files


def reads(models, sources, splits) -> set[str]:
    return {
        f"{R}/activations/{m}/on~{s}/{split}.safetensors"
        for m in models
        for s in sources
        for split in splits
    }


def trained(model, train_set, n="all", seed=0) -> str:
    return f"{model}/on~{train_set}/n~{n}/seed~{seed}"


def probes(models, sources, features=("answer", "question"), n="all", recipe="grid") -> set[str]:
    """The probe files (answer features: the Probe; question features: the control) of cells,
    each with every seed and training resample of its estimator."""
    return {
        f"{R}/probes/{f}/{m}/on~{s}/n~{n}/recipe~{recipe}.safetensors"
        for f in features
        for m in models
        for s in sources
    }


def pooled(models) -> set[str]:
    return probes(models, ["all"], features=("answer",))


def adapters(models, sources, seeds=(0,)) -> set[str]:
    return {
        f"{R}/lora/{trained(m, s, seed=seed)}/{name}"
        for m in models
        for s in sources
        for seed in seeds
        for name in ("adapter_model.safetensors", "adapter_config.json")
    }


def lora_scores(models, sources, splits=("calibration", "test"), seeds=(0,)) -> set[str]:
    return {
        f"{R}/lora/{trained(m, s, seed=seed)}/scored~{s}/{split}.parquet"
        for m in models
        for s in sources
        for seed in seeds
        for split in splits
    }


def column_outputs(sources) -> set[str]:
    """What evaluate_column writes for each column."""
    kinds = ("metrics", "contrasts", "sweep", "recipes", "curves", "consensus")
    return {f"{R}/{k}/on~{s}.tsv" for k in kinds for s in sources}


def column_tables(sources, methods=METHODS) -> set[str]:
    """Score tables of `methods` in each column of `sources`, and the columns' evaluations."""
    return {f"{R}/scores/{m}/on~{s}.parquet" for m in methods for s in sources} | column_outputs(
        sources
    )


def test_full_tiny_grid(workdir):
    built = set(json.loads(workdir.joinpath("built.json").read_text()))
    models = ["tiny_a", "tiny_b"]
    for model in models:
        for split in SPLITS:
            graded = pd.read_parquet(workdir / f"{R}/graded/{model}/{split}.parquet")
            assert {"question_id", "subject", "prompt", "answer", "gold", "correct"} <= set(
                graded.columns
            )
            assert set(graded["correct"].unique()) <= {0, 1}
        provenance = json.loads(
            (workdir / f"{R}/answers/{model}/test.parquet.provenance.json").read_text()
        )
        assert provenance["model"]["kind"] == "local" and provenance["packages"]["torch"]
        assert provenance["params"]["answer_format"] == "mc_cloze"
        # a model job's process was offline from the hub before any hub library was imported;
        # prepare_model, which fetches hub weights, was not
        assert provenance["hub_offline"] is True
        prepared = workdir / f"{R}/models/{model}/model.json.provenance.json"
        if "HF_HUB_OFFLINE" not in os.environ:
            assert json.loads(prepared.read_text())["hub_offline"] is False
    expected = (
        split_files(models, SPLITS)
        | reads(models, models, SPLITS)
        | probes(models, models)
        | pooled(models)
        | adapters(models, models)
        | lora_scores(models, models)
        | column_tables(models)
        | GRID_OUTPUTS
    )
    assert expected <= built
    scores = pd.read_parquet(workdir / f"{R}/scores/probe/on~tiny_b.parquet")
    cell = ["method", "model", "trained_on", "n_train", "recipe", "seed", "resample"]
    assert list(scores.columns) == cell + SCORE_COLUMNS
    assert set(scores["split"]) == {"calibration", "test"} and set(scores["model"]) == set(models)
    assert set(scores["seed"]) == set(SEEDS)
    # each seed on the training answers themselves and on 10 bootstrap resamples of them
    assert set(scores["resample"]) == set(range(11)) and set(scores["recipe"]) == {"grid"}
    confidence = pd.read_parquet(workdir / f"{R}/scores/source_confidence/on~tiny_b.parquet")
    assert set(confidence["model"]) == {"tiny_b"}  # the source judging itself: one per column
    grid = pd.read_csv(workdir / f"{R}/tables/grid.tsv", sep="\t")
    assert list(grid.columns) == [
        "method",
        "model",
        "trained_on",
        "metric",
        "value",
        "seed_sd",
        "training_sd",
        "ci_low",
        "ci_high",
        "n",
        "seeds",
        "resamples",
        "draws_dropped",
    ]
    assert set(grid["method"]) == set(METHODS)
    auroc = grid[grid["metric"] == "auroc"]
    assert len(auroc[auroc["method"] == "lora"]) == 4
    assert len(auroc[auroc["method"] == "agreement"]) == 2
    assert len(auroc[auroc["method"] == "source_confidence"]) == 2
    assert set(auroc.loc[auroc["method"] == "probe", "seeds"]) == {2}
    assert auroc.loc[auroc["method"] == "probe", "seed_sd"].notna().all()
    # every probe's interval carries its training resamples; LoRA's, trained once, none
    probes_only = auroc["method"].str.startswith("probe")
    assert set(auroc.loc[probes_only, "resamples"]) == {10}
    assert auroc.loc[probes_only, "training_sd"].notna().all()
    assert set(auroc.loc[auroc["method"] == "lora", "resamples"]) == {0}
    assert {"aurc", "auroc_subject_mean", "subjects_single_class"} <= set(grid["metric"])
    contrasts = pd.read_csv(workdir / f"{R}/tables/contrasts.tsv", sep="\t")
    within = contrasts[contrasts["comparison"] == "within_column"]
    assert (
        len(within[within["metric"] == "auroc"]) == 2 * 5
    )  # 2 columns x 5 methods with a diagonal
    assert (workdir / f"{R}/figures/heatmap.png").stat().st_size > 10_000
    assert "LoRA + Prompt" in (workdir / f"{R}/tables/grid.md").read_text()
    findings = (workdir / f"{R}/tables/findings.md").read_text()
    assert "## Judging another model vs. judging itself" in findings
    assert set(contrasts["separated"]) <= {True, False} and contrasts["p_holm"].notna().any()
    # each off-diagonal cell's test answers, split by whether its estimator answered alike
    split = pd.read_csv(workdir / f"{R}/tables/consensus.tsv", sep="\t")
    pooled_auroc = split[split["metric"] == "auroc"]
    sizes = pooled_auroc.groupby(["method", "model", "trained_on"])["n"].sum()
    test_answers = len(pd.read_parquet(workdir / f"{R}/graded/tiny_b/test.parquet"))
    assert (sizes == test_answers).all() and len(sizes) >= 2
    assert {"probe", "probe_own", "lora"} <= set(pooled_auroc["method"])
    assert "agreed" in (workdir / f"{R}/tables/consensus.md").read_text()
    log = (workdir / "logs/default/generate_answers/tiny_a/test.log").read_text()
    assert "accuracy" in log and "tokens/s" in log
    log = workdir / f"logs/default/finetune_lora/{trained('tiny_a', 'tiny_b')}.log"
    assert "lora step 2/2" in log.read_text()
    # LoRA provenance sits beside each output, as for every other rule
    adapter = workdir / f"{R}/lora/{trained('tiny_a', 'tiny_b')}/adapter_model.safetensors"
    provenance = json.loads((adapter.parent / (adapter.name + ".provenance.json")).read_text())
    assert provenance["rule"] == "finetune_lora"
    assert not (adapter.parent / "provenance.json").exists()
    # the pooled probe learned from exactly the union of the columns' training answers; each
    # training resample drew as many of them, repeating some
    fits = [
        json.loads(
            Path(
                f"{workdir}/{R}/probes/answer/tiny_a/on~{s}/n~all/recipe~grid.safetensors"
                ".provenance.json"
            ).read_text()
        )
        for s in ("tiny_a", "tiny_b", "all")
    ]
    answers = [fit["training_answers"] for fit in fits]
    assert answers[2] == {**answers[0], **answers[1]} == {"tiny_a": 21, "tiny_b": 21}
    distinct = fits[0]["distinct_answers"]
    assert distinct["0"] == 21 and all(5 < distinct[str(b)] < 21 for b in range(1, 11))


def test_every_contrast_family_is_one_key_and_its_verdicts_agree_with_its_intervals(workdir):
    """contrasts.tsv names each family once (a column's comparisons with the source judging
    itself, per metric; a cell's comparisons between methods, per metric), so Holm recomputed
    from the table alone by `family` (statsmodels) is its p_holm; and on every row, at
    B = 999, `separated` is exactly the simultaneous interval excluding 0 and exactly the max-t
    p at most 0.05 (where draws are undefined B' is what is left: the rule holds at any B')."""
    from statsmodels.stats.multitest import multipletests

    assert config_of(workdir)["evaluation"]["bootstrap"] == 999
    contrasts = pd.read_csv(workdir / f"{R}/tables/contrasts.tsv", sep="\t")
    scope = contrasts["model"].where(contrasts["comparison"] == "within_cell", "")
    members = contrasts.assign(scope=scope).groupby("family")
    assert (members[["comparison", "metric", "column", "scope"]].nunique() == 1).all().all()
    assert (members.size() == contrasts.groupby("family")["family_size"].first()).all()
    tested = 0
    for _, family in members:
        valued = family[family["p_value"].notna()]  # a value the metric has not: no test
        if len(valued):
            holm = multipletests(valued["p_value"], method="holm")[1]
            assert valued["p_holm"].to_numpy() == pytest.approx(holm, abs=2e-6)
            tested += 1
    assert tested >= 2
    clear = (contrasts["sim_low"] > 0) | (contrasts["sim_high"] < 0)
    assert (contrasts["separated"] == clear).all()
    assert (contrasts["separated"] == (contrasts["p_adjusted"] <= 0.05)).all()
    assert (~contrasts["separated"] | ~contrasts["constant"]).all()
    assert contrasts["draws_dropped"].between(0, 999).all()


def test_report_builds(workdir):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--report",
            "report.html",
            "-d",
            str(workdir),
            "-s",
            str(workdir / "Snakefile"),
            "--configfile",
            str(workdir / "config.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    html = (workdir / "report.html").read_text()
    for name in (
        "heatmap.png",
        "heatmap.pdf",
        "grid.tsv",
        "grid.md",
        "contrasts.tsv",
        "contrasts.png",
        "reliability",
        "risk_coverage",
        "Reading the grid",
    ):
        assert name in html, name


def test_second_run_rebuilds_nothing(workdir):
    assert run_workflow(workdir) == set()


def test_the_plan_of_a_run_reads_its_real_texts(workdir):
    """With the questions, answers and prepared models there, the plan tokenises the texts
    themselves with the models' own tokenizers: exact token counts (a cloze row is the
    question's prompt as each model tokenises it, up to max_length, and then its options)."""
    from transformers import AutoTokenizer

    from crossprobe.plan.counting import cost_rows
    from crossprobe.plan.jobs import model_jobs
    from crossprobe.plan.texts import Sources

    config = validate_config(
        config_of(workdir), load_schema(workdir / "schemas/config.schema.yaml")
    )
    assert config["data"]["answer_format"] == "mc_cloze"
    jobs = model_jobs(workdir / "config.yaml", workdir)
    rows = cost_rows(config, Sources(config, workdir, {}, {}, {}), jobs, ["h100-80gb"], 0.4, 40.0)
    by = {(r["stage"], r["model"]): r for r in rows}
    tasks = ("cloze_answers", "reads", "lora_training", "lora_scoring")
    assert set(by) == {(t, m) for t in tasks for m in ("tiny_a", "tiny_b")}
    assert {r["tokens from"] for r in rows} == {"real"}
    prepared = json.loads((workdir / R / "models/tiny_a/model.json").read_text())["path"]
    tokenizer = AutoTokenizer.from_pretrained(prepared)
    questions = pd.concat(
        pd.read_parquet(workdir / R / f"questions/{split}.parquet")
        for split in ("train", "calibration", "test")
    )
    limit = config["answers"]["max_length"]

    def length(text):
        return len(tokenizer(text)["input_ids"])

    tokens = sum(
        min(length(prompt), limit) + sum(length(f"{prompt} {c}") - length(prompt) for c in choices)
        for prompt, choices in zip(questions["prompt"], questions["choices"], strict=True)
    )
    assert by["cloze_answers", "tiny_a"]["tokens"] == tokens
    assert all(r["PFLOP"] > 0 and r["h100-80gb hours"] > 0 for r in rows)


def test_same_values_in_another_key_order_or_spelled_out_plan_no_job(workdir):
    original = (workdir / "config.yaml").read_text()
    config = config_of(workdir)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=True))
    assert run_workflow(workdir) == set()
    # every default the schema fills in, written out by hand
    schema = load_schema(workdir / "schemas/config.schema.yaml")
    spelled = validate_config(config, schema)
    assert spelled != config
    write_config(workdir, spelled)
    assert run_workflow(workdir) == set()
    (workdir / "config.yaml").write_text(original)


def test_probe_setting_reruns_probes_only(workdir):
    config = config_of(workdir)
    config["probe"]["mlp"]["lr"] = 0.002
    write_config(workdir, config)
    models = ["tiny_a", "tiny_b"]
    expected = (
        probes(models, models) | pooled(models) | column_tables(models, PROBES) | GRID_OUTPUTS
    )
    assert run_workflow(workdir) == expected


def test_adding_a_training_seed_refits_the_probes_only(workdir):
    config = config_of(workdir)
    config["probe"]["seeds"] = [0, 1, 2]
    write_config(workdir, config)
    models = ["tiny_a", "tiny_b"]
    expected = (
        probes(models, models)  # one job fits every seed of an estimator
        | pooled(models)
        | column_tables(models, PROBES)
        | GRID_OUTPUTS
    )
    assert run_workflow(workdir) == expected
    grid = pd.read_csv(workdir / f"{R}/tables/grid.tsv", sep="\t")
    assert set(grid.loc[grid["method"] == "probe", "seeds"]) == {3}


def test_a_training_size_sweep_adds_only_each_sizes_jobs(workdir):
    config = config_of(workdir)
    config["sweep"] = {"train_sizes": [8]}
    write_config(workdir, config)
    models = ["tiny_a", "tiny_b"]
    swept = probes(models, models, features=("answer",), n=8)
    sweep_outputs = column_tables(models, ["probe"]) | outputs(sweep=True)
    assert run_workflow(workdir) == swept | sweep_outputs
    config["sweep"]["train_sizes"] = [4, 8]
    write_config(workdir, config)
    assert run_workflow(workdir) == probes(models, models, ("answer",), 4) | sweep_outputs
    sweep = pd.read_csv(workdir / f"{R}/tables/sweep.tsv", sep="\t")
    probe = sweep[(sweep["metric"] == "auroc") & (sweep["model"] == "tiny_a")]
    # each column: the two subsets and the grid's estimator (all 21 answers left after the hold-out)
    assert sorted(probe.loc[probe["trained_on"] == "tiny_b", "n_train"]) == [4, 8, 21]
    assert (workdir / f"{R}/figures/sweep.png").stat().st_size > 10_000


def test_a_recipe_variant_adds_only_its_jobs_and_sits_beside_the_probe(workdir):
    """A named recipe (probe.variants) is one fit_probe job per Probe cell, its seeds fitted on
    the training answers themselves; the recipes table and figure put it beside the grid's
    recipe, on those answers too, with their paired difference."""
    config = config_of(workdir)
    warm = {"max_steps": 30, "warmup_steps": 10, "init": "xavier_normal", "early_stopping": False}
    config["probe"]["variants"] = [{"name": "warm", "mlp": warm}]
    write_config(workdir, config)
    models = ["tiny_a", "tiny_b"]
    expected = (
        probes(models, models, ("answer",), recipe="warm")
        | column_tables(models, ["probe"])
        | outputs(sweep=True, recipes=True)
    )
    assert run_workflow(workdir) == expected
    fit = json.loads(
        (
            workdir / f"{R}/probes/answer/tiny_a/on~tiny_b/n~all/recipe~warm.safetensors"
            ".provenance.json"
        ).read_text()
    )["params"]
    assert fit["mlp"]["warmup_steps"] == 10 and fit["runs"] == [[0, 0], [1, 0], [2, 0]]
    recipes = pd.read_csv(workdir / f"{R}/tables/recipes.tsv", sep="\t")
    auroc = recipes[recipes["metric"] == "auroc"].set_index(["recipe", "model", "trained_on"])
    cells = {(m, s) for m in models for s in models}
    assert set(auroc.index) == {(r, m, s) for r in ("grid", "warm") for m, s in cells}
    assert (auroc["resamples"] == 0).all() and (auroc["seeds"] == 3).all()
    moved = auroc.loc["warm", "value"] - auroc.loc["grid", "value"]
    # the tables hold six significant digits: the difference of two rounded values is close
    assert auroc.loc["warm", "difference"].to_numpy() == pytest.approx(moved.to_numpy(), abs=1e-5)
    assert auroc.loc["grid", "difference"].isna().all()
    assert (workdir / f"{R}/figures/recipes.png").stat().st_size > 10_000


def test_one_models_lora_setting_reruns_its_lora_row_only(workdir):
    config = config_of(workdir)
    config["models"]["tiny_a"]["lora"] = {"r": 2}
    write_config(workdir, config)
    models = ["tiny_a", "tiny_b"]
    expected = (
        adapters(["tiny_a"], models)
        | lora_scores(["tiny_a"], models)
        | column_tables(models, ["lora"])
        | outputs(sweep=True, recipes=True)
    )
    assert run_workflow(workdir) == expected


def test_editing_a_library_module_reruns_the_rules_that_import_it(workdir):
    module = workdir / "scripts/crossprobe/evaluation/metrics.py"
    module.write_text(module.read_text() + "\n# edited\n")
    assert run_workflow(workdir) == column_outputs(["tiny_a", "tiny_b"]) | outputs(
        sweep=True, recipes=True
    )


def test_the_headline_is_a_display_choice_and_reruns_only_what_draws(workdir):
    config = config_of(workdir)
    config["evaluation"]["headline"] = "per_subject_mean"
    write_config(workdir, config)
    # aggregate (the tables and grid.md) and the figures; no column's bootstrap, no score
    assert run_workflow(workdir) == outputs(sweep=True, recipes=True)
    markdown = (workdir / f"{R}/tables/grid.md").read_text()
    assert "AUROC, mean over subjects" in markdown and "subjects (those with at least" in markdown


def test_split_files_rebuilt(splits, models=("tiny_a", "tiny_b")) -> set:
    """What a change of `splits`' questions reruns: their answers, grades, reads and LoRA
    scores, every score table and the columns' evaluations, the tables and figures; never a
    probe or an adapter."""
    scored = [s for s in splits if s != "train"]
    return (
        split_files(models, splits)
        | reads(models, models, splits)
        | lora_scores(models, models, scored)
        | column_tables(models)
        | outputs(sweep=True, recipes=True)
    )


test_split_files_rebuilt.__test__ = False  # a helper, not a test


def test_new_test_dataset_reruns_the_test_split_and_retrains_nothing(workdir):
    config = config_of(workdir)
    config["data"]["splits"]["test"]["datasets"] = ["openbookqa"]
    write_config(workdir, config)
    assert run_workflow(workdir) == test_split_files_rebuilt(["test"])
    questions = pd.read_parquet(workdir / f"{R}/questions/test.parquet")
    assert set(questions["dataset"]) == {"openbookqa"}


def test_test_size_reruns_the_test_split_and_retrains_nothing(workdir):
    config = config_of(workdir)
    config["data"]["splits"]["test"]["size"] = 20
    write_config(workdir, config)
    assert run_workflow(workdir) == test_split_files_rebuilt(["test"])


def test_calibration_size_reruns_what_reads_calibration(workdir):
    config = config_of(workdir)
    config["data"]["splits"]["calibration"]["size"] = 14
    write_config(workdir, config)
    # the test split draws from other datasets now, so only calibration changes; no estimator
    # is trained on it (checkpoints are selected on a hold-out of the training answers)
    assert run_workflow(workdir) == test_split_files_rebuilt(["calibration"])


def labelled_answers(path: Path) -> Path:
    """A file of labelled answers from elsewhere (say, an API model), with a split column."""
    rows = []
    for split, n in (("train", 24), ("validation", 12), ("test", 16)):
        for i in range(n):
            rows.append(
                {
                    "uid": f"{split}-{i}",
                    "question": f"What is {i} plus {i}?",
                    "response": str(2 * i if i % 2 else 2 * i + 1),
                    "graded": "yes" if i % 2 else "no",
                    "part": split,
                }
            )
    pd.DataFrame(rows).to_parquet(path)
    return path


def test_adding_an_answer_set_column_computes_only_that_column(workdir):
    config = config_of(workdir)
    config["answer_sets"] = {
        "api": {
            "display_name": "API model",
            "file": str(labelled_answers(workdir / "api.parquet")),
            "splits": {"train": "train", "calibration": "validation", "test": "test"},
            "columns": {
                "question": "question",
                "answer": "response",
                "correct": "graded",
                "id": "uid",
                "split": "part",
            },
        }
    }
    write_config(workdir, config)
    models = ["tiny_a", "tiny_b"]
    expected = (
        {f"{R}/imported/api/{s}.parquet" for s in SPLITS}
        | reads(models, ["api"], SPLITS)
        | probes(models, ["api"])
        | probes(models, ["api"], features=("answer",), n=4)
        | probes(models, ["api"], features=("answer",), n=8)
        | probes(models, ["api"], features=("answer",), recipe="warm")
        | adapters(models, ["api"])
        | lora_scores(models, ["api"])
        | column_tables(["api"], IN_ANSWER_SETS)
        # the pooled probes learn from every column: they gain the new one's answers
        | pooled(models)
        | column_tables(models, ["probe_pooled"])
        | outputs(sweep=True, recipes=True)
    )
    assert run_workflow(workdir) == expected
    markdown = (workdir / f"{R}/tables/grid.md").read_text()
    assert "| Model \\ Trained On | TINY-A | TINY-B | API model |" in markdown
    assert "API model: n/a (Source confidence needs source probabilities" in markdown
    imported = pd.read_parquet(workdir / f"{R}/imported/api/test.parquet")
    assert imported["prompt"].iloc[0] == "Question: What is 0 plus 0?\nAnswer:"
    assert imported["correct"].tolist()[:2] == [0, 1]


def test_adding_a_model_computes_only_its_row_and_column(workdir, tiny_models):
    config = config_of(workdir)
    config["models"]["tiny_c"] = tiny_config(tiny_models, ["tiny_c"])["models"]["tiny_c"]
    write_config(workdir, config)
    built = run_workflow(workdir)
    old = ["tiny_a", "tiny_b"]
    models = old + ["tiny_c"]
    new_cells = [(m, s) for m in models for s in models + ["api"] if "tiny_c" in (m, s)]
    expected = (
        split_files(["tiny_c"], SPLITS) - {f"{R}/questions/{s}.parquet" for s in SPLITS}
        | {f"{R}/models/tiny_c/model.json"}
        | {f for m, s in new_cells for f in reads([m], [s], SPLITS)}
        | {f for m, s in new_cells for f in probes([m], [s])}
        | {f for m, s in new_cells for n in (4, 8) for f in probes([m], [s], ("answer",), n)}
        | {f for m, s in new_cells for f in probes([m], [s], ("answer",), recipe="warm")}
        | {f for m, s in new_cells for f in adapters([m], [s])}
        | {f for m, s in new_cells for f in lora_scores([m], [s])}
        | pooled(models)  # every pooled probe gains the new column's answers
        | column_tables(["tiny_c"])
        # the old columns gain a row: their tables are rewritten, except source confidence
        # (the source judging itself), which no other row touches
        | column_tables(old, [m for m in METHODS if m != "source_confidence"])
        | column_tables(["api"], IN_ANSWER_SETS)
        | outputs(sweep=True, recipes=True)
    )
    assert built == expected
    grid = pd.read_csv(workdir / f"{R}/tables/grid.tsv", sep="\t")
    auroc = grid[(grid["metric"] == "auroc") & (grid["method"] == "probe")]
    assert len(auroc) == 3 * 4
    assert set(REGISTRY) >= set(grid["method"])


def test_another_experiment_leaves_this_one_alone(workdir, tiny_models):
    """A config file is a whole experiment: nothing of the workdir's config.yaml leaks into it,
    and planning it shows no job of the other experiment."""
    other = tiny_config(tiny_models, ["tiny_b", "tiny_c"])
    other["experiment"] = "other"
    (workdir / "other.yaml").write_text(yaml.safe_dump(other))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--cores",
            "1",
            "-s",
            str(workdir / "Snakefile"),
            "-d",
            str(workdir),
            "--configfile",
            str(workdir / "other.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = [
        line.split(":", 1)[1]
        for line in result.stdout.splitlines()
        if line.strip().startswith("output:")
    ]
    assert outputs and all("results/other/" in line for line in outputs)
    assert "tiny_a" not in result.stdout and "api" not in result.stdout
    assert run_workflow(workdir) == set()  # the default experiment is still complete


def test_open_answers_graded_by_a_judge_loaded_once_per_answering_model(tiny_models, tmp_path):
    """MMLU-OE style: multiple-choice questions asked without their options, open answers
    graded by a local judge model that is not part of the grid; the judge runs once per
    answering model over all its splits, and a test-set change re-grades only the test split."""
    config = tiny_config(tiny_models, ["tiny_a", "tiny_b", "tiny_c"])
    config["models"]["tiny_c"]["in_grid"] = False
    config["data"] = {
        "answer_format": "open",
        "splits": {
            "train": {"datasets": ["arc_easy"], "size": 8, "max_new_tokens": 3},
            "calibration": {"datasets": ["arc_easy"], "size": 4},
            "test": {"datasets": ["trivia_qa"], "size": 6},
        },
    }
    config["answers"]["max_new_tokens"] = 4
    config["grading"] = {"judge": "tiny_c", "max_new_tokens": 3}
    config["methods"] = ["probe", "source_confidence", "agreement"]
    workdir = make_workdir(tmp_path / "open", config)
    built = run_workflow(workdir, targets=["answers"])
    judged = {f"{R}/judged/tiny_a.parquet", f"{R}/judged/tiny_b.parquet"}
    assert judged | {f"{R}/models/tiny_c/model.json"} <= built
    assert not any("tiny_c" in f for f in built - {f"{R}/models/tiny_c/model.json"})
    train = pd.read_parquet(workdir / f"{R}/questions/train.parquet")
    assert set(train["dataset"]) == {"arc_easy"} and not train["prompt"].str.contains("\nA. ").any()
    graded = pd.read_parquet(workdir / f"{R}/graded/tiny_a/test.parquet")
    assert (graded["answer_index"] == -1).all() and graded["correct"].isin([0, 1]).all()
    provenance = json.loads((workdir / f"{R}/judged/tiny_a.parquet.provenance.json").read_text())
    assert provenance["judge_model"]["path"] == str(tiny_models["tiny_c"])
    answered = {
        split: json.loads(
            (workdir / f"{R}/answers/tiny_a/{split}.parquet.provenance.json").read_text()
        )["params"]["max_new_tokens"]
        for split in ("train", "test")
    }
    assert answered == {"train": 3, "test": 4}  # a split's own max_new_tokens, else answers'
    config["data"]["splits"]["test"]["datasets"] = ["nq_open"]
    write_config(workdir, config)
    assert run_workflow(workdir, targets=["answers"]) == {
        f"{R}/questions/test.parquet"
    } | judged | {
        f"{R}/{kind}/{m}/test.parquet"
        for kind in ("answers", "graded")
        for m in ("tiny_a", "tiny_b")
    }
    log = (workdir / "logs/default/judge_answers/tiny_a.log").read_text()
    # the training answers' verdicts came from the store: only the new test answers met the judge
    assert "8 answers: 8 judged before, 0 to judge" in log
    assert "6 answers: 0 judged before, 6 to judge" in log


def test_pooled_lora_is_trained_once_per_estimator_and_scored_per_column(tiny_models, tmp_path):
    config = tiny_config(tiny_models)
    config["methods"] = ["lora", "lora_pooled"]
    workdir = make_workdir(tmp_path / "pooled", config)
    built = run_workflow(workdir)
    models = ["tiny_a", "tiny_b"]
    assert adapters(models, ["all"]) <= built and adapters(models, models) <= built
    assert {
        f"{R}/lora/{trained(m, 'all')}/scored~{s}/{split}.parquet"
        for m in models
        for s in models
        for split in ("calibration", "test")
    } <= built
    provenance = json.loads(
        (
            workdir
            / f"{R}/lora/{trained('tiny_a', 'all')}/adapter_model.safetensors.provenance.json"
        ).read_text()
    )
    assert provenance["training_answers"] == {"tiny_a": 21, "tiny_b": 21}
    contrasts = pd.read_csv(workdir / f"{R}/tables/contrasts.tsv", sep="\t")
    cell = contrasts[(contrasts["comparison"] == "within_cell") & (contrasts["metric"] == "auroc")]
    assert len(cell) == 4 and set(zip(cell["a"], cell["b"], strict=True)) == {
        ("lora", "lora_pooled")
    }
