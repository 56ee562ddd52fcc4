"""The plan (python -m crossprobe.plan) of the paper preset, from the published config.json of
its models: every model stage of the DAG, batches cut to what a 40 GB card holds."""

import os
import subprocess
import sys

import yaml

from crossprobe.contract.config import load_schema, validate_config
from crossprobe.plan import model_jobs, plan
from helpers import REPO

CONFIGS = REPO / "tests" / "fixtures" / "configs"
MODEL_CONFIGS = {
    "mistral": CONFIGS / "mistral-7b-v0.1.json",
    "llama2": CONFIGS / "llama-2-7b-hf.json",
    "judge": CONFIGS / "mistral-7b-instruct-v0.2.json",
}


def test_the_paper_presets_plan_sizes_every_model_stage_for_its_card():
    configfile = REPO / "configs/paper.yaml"
    config = validate_config(
        yaml.safe_load(configfile.read_text()), load_schema(REPO / "schemas/config.schema.yaml")
    )
    jobs = model_jobs(configfile, REPO)
    rows = plan(config, REPO, jobs, MODEL_CONFIGS, 100.0, 40.0, {"train": 1000})
    by = {(r["rule"], r["model"]): r for r in rows}
    stages = ("generate_answers", "cache_activations", "finetune_lora", "score_lora")
    assert set(by) == {(s, m) for s in stages for m in ("mistral", "llama2")} | {
        ("judge_answers", "judge")
    }
    # one MMLU test split answered per model, 100 new tokens; nothing tokenised yet: bounds
    assert by["generate_answers", "llama2"]["texts"] == 14042
    assert all(
        r["tokens"].startswith("<= ") and r["padding before -> after"] == "n/a" for r in rows
    )
    # LLaMA-2's full-size KV cache cuts the preset's 32 prompts; Mistral's grouped heads fit more
    assert by["generate_answers", "llama2"]["rows per batch"] < 32
    assert (
        by["generate_answers", "mistral"]["rows per batch"]
        > by["generate_answers", "llama2"]["rows per batch"]
    )
    assert all(r["peak GiB"] <= 0.9 * 40e9 / 2**30 for r in rows)
    # 10,000 steps of 4 x 8 training texts per LoRA job, two jobs per estimator
    assert by["finetune_lora", "mistral"]["texts"] == 2 * 10_000 * 32


def test_a_model_without_a_config_is_named_with_what_to_pass():
    out = subprocess.run(
        [sys.executable, "-m", "crossprobe.plan", "--configfile", str(REPO / "configs/paper.yaml")],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO / "scripts")},
    )
    assert out.returncode != 0
    assert "--model-config" in out.stderr and "config.json" in out.stderr
