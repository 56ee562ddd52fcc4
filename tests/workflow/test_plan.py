"""The plan (python -m crossprobe.plan): each model job's footprint as its own log says it ran, on
letter answers, open answers with a judge and LoRA with the JS regulariser; and the paper
preset's plan from the published config.json of its models, its texts built from the shipped
MMLU questions and estimated where the hub sets are not here."""

import os
import re
import subprocess
import sys

from crossprobe.contract.config import read_config
from crossprobe.contract.model_tasks import MODEL_TASKS, task_of
from crossprobe.contract.paths import log
from crossprobe.plan.counting import cost_rows
from crossprobe.plan.jobs import model_jobs
from crossprobe.plan.texts import Sources
from helpers import REPO, make_workdir, run_workflow, tiny_config

CONFIGS = REPO / "tests" / "fixtures" / "configs"
MODEL_CONFIGS = {
    "mistral": CONFIGS / "mistral-7b-v0.1.json",
    "llama2": CONFIGS / "llama-2-7b-hf.json",
    "judge": CONFIGS / "mistral-7b-instruct-v0.2.json",
}
SIZED = re.compile(r"batches sized for the (\w+) footprint")


def planned_and_logged(workdir, targets) -> list[tuple[str, str, set[str]]]:
    """Run `targets`, then per model job: (its rule, its model task's footprint in the plan, the
    footprints its log says its batches were sized for)."""
    run_workflow(workdir, targets=targets)
    config = read_config(workdir / "config.yaml")
    seen = []
    for rule, wildcards in model_jobs(workdir / "config.yaml", workdir):
        task = task_of(rule, config["data"]["answer_format"])
        path = workdir / log(rule, task.output).format(**wildcards)
        if path.exists():
            seen.append((rule, task.footprint, set(SIZED.findall(path.read_text()))))
    return seen


def test_each_jobs_footprint_in_the_plan_is_the_one_its_log_says_it_ran(tiny_models, tmp_path):
    letters = tiny_config(tiny_models)
    letters["data"]["answer_format"] = "mc_letter"
    letters["methods"] = ["probe", "zero_shot"]
    workdir = make_workdir(tmp_path / "letters", letters)
    seen = planned_and_logged(
        workdir, ["answers", "results/default/activations/tiny_a/on~tiny_b/test.safetensors"]
    )
    assert {rule for rule, _, _ in seen} == {"generate_answers", "cache_activations"}
    assert all(planned in logged for _, planned, logged in seen), seen
    assert {planned for rule, planned, _ in seen if rule == "generate_answers"} == {"next_token"}

    judged = tiny_config(tiny_models, ["tiny_a", "tiny_b", "tiny_c"])
    judged["models"]["tiny_c"]["in_grid"] = False
    judged["data"] = {
        "answer_format": "open",
        "splits": {
            "train": {"datasets": ["arc_easy"], "size": 8},
            "calibration": {"datasets": ["arc_easy"], "size": 4},
            "test": {"datasets": ["trivia_qa"], "size": 6},
        },
    }
    judged["answers"]["max_new_tokens"] = 4
    judged["grading"] = {"judge": "tiny_c", "max_new_tokens": 3}
    judged["lora"].update(js_weight=1.0, js_tokens="gold", max_steps=2)
    judged["methods"] = ["lora"]
    workdir = make_workdir(tmp_path / "judged", judged)
    seen = planned_and_logged(workdir, ["lora"])
    assert {rule for rule, _, _ in seen} == {
        "generate_answers",
        "judge_answers",
        "finetune_lora",
        "score_lora",
    }
    assert all(planned in logged for _, planned, logged in seen), seen
    footprints = {rule: planned for rule, planned, _ in seen}
    assert footprints["generate_answers"] == footprints["judge_answers"] == "generate"
    assert footprints["finetune_lora"] == "train" and footprints["score_lora"] == "query"


def test_the_paper_presets_plan_counts_real_texts_and_sizes_batches_for_its_card():
    configfile = REPO / "configs/paper.yaml"
    config = read_config(configfile)
    jobs = model_jobs(configfile, REPO)
    sources = Sources(config, REPO, MODEL_CONFIGS, {}, {"train": 18000, "calibration": 2000})
    rows = cost_rows(config, sources, jobs, ["a100-40gb", "h100-80gb"], 0.4, 40.0)
    by = {(r["stage"], r["model"]): r for r in rows}
    tasks = ("open_answers", "reads", "lora_training", "lora_scoring")
    assert set(by) == {(t, m) for t in tasks for m in ("mistral", "llama2")} | {
        ("judging", "judge")
    }
    # the MMLU test questions are built here from the shipped data; the models' tokenizers and
    # the released sets are not here: estimated, and said so
    assert "built" in by["open_answers", "llama2"]["tokens from"]
    assert "stand-in tokenizer" in by["open_answers", "llama2"]["tokens from"]
    assert "mixture" in by["lora_training", "mistral"]["tokens from"]
    # 10,000 steps of 4 x 8 training texts per LoRA job, two jobs per estimator; each text its
    # own length, never max_length: the 0-shot training texts are short
    training = by["lora_training", "mistral"]
    assert training["texts"] == 2 * 10_000 * 32
    assert 50 < training["tokens"] / training["texts"] < 600
    assert by["open_answers", "llama2"]["texts"] == 14042
    # LLaMA-2's full-size KV cache cuts the preset's 32 prompts; Mistral's grouped heads fit more
    assert by["open_answers", "llama2"]["rows per batch"] < 32
    assert (
        by["open_answers", "mistral"]["rows per batch"]
        > by["open_answers", "llama2"]["rows per batch"]
    )
    # every model task fits a 40 GB card, at the widest real text and at max_length
    assert all(r["peak GiB at max_length"] <= 0.9 * 40e9 / 2**30 for r in rows), rows
    # an H100 is faster than an A100 on every model task
    assert all(r["h100-80gb hours"] < r["a100-40gb hours"] for r in rows)
    assert set(MODEL_TASKS) >= {r["stage"] for r in rows}


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
