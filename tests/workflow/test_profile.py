"""The SLURM profile the plan writes from profiles/slurm/config.yaml: whole, the template's notes
and anchor kept, the cluster's names filled in where given and left as <...> where not, each
model rule's planned runtime in its entry; a GPU type the plugin refuses asked for in SLURM's
own words; and the workflow accepting what was written (and naming what is not filled in)."""

import re
import subprocess
import sys

import yaml

from crossprobe.contract.model_tasks import MODEL_RULES
from crossprobe.plan.profile import TEMPLATE, write_profile
from helpers import REPO

RUNTIMES = {"generate_answers": 50, "finetune_lora": 640, "score_lora": 30}


def written(**names) -> str:
    return write_profile(TEMPLATE.read_text(), RUNTIMES, 1, "written by a test", **names)


def dry_run(profile_dir) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", "configs/paper.yaml"]
        + ["--workflow-profile", str(profile_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_written_profile_keeps_the_template_and_plans_each_model_rule():
    text = written()
    template = TEMPLATE.read_text()
    notes = [line for line in template.splitlines() if line.startswith("#")]
    assert all(line in text for line in notes)  # every note of the template kept
    assert text.count("&gpu_job") == 1 and text.count("<<: *gpu_job") == len(MODEL_RULES) - 1
    profile = yaml.safe_load(text)
    assert profile["executor"] == "slurm" and profile["retries"] == 2
    assert profile["default-resources"]["slurm_partition"] == "<cpu-partition>"
    for rule in MODEL_RULES:
        entry = profile["set-resources"][rule]
        assert entry["slurm_partition"] == "<gpu-partition>"
        assert entry["gpu_model"] == "<gpu-type>"
        assert "runtime" not in entry and "mem_mb" not in entry  # those grow on retries
    assert {r: e["planned_runtime"] for r, e in profile["set-resources"].items()} == {
        **dict.fromkeys(MODEL_RULES, 50),  # the anchor's, where a rule has no job of its own
        **RUNTIMES,
    }


def test_names_given_are_filled_in_and_a_hyphenated_gpu_type_is_asked_in_slurms_words():
    text = written(
        partition="cpu", gpu_partition="gpu", gpu_type="nvidia_a100-sxm4-40gb", account=""
    )
    assert not re.search(r"<[a-z-]+>", "".join(x for x in text.splitlines() if x[:1] != "#"))
    profile = yaml.safe_load(text)
    assert profile["slurm-no-account"] is True
    assert "slurm_account" not in profile["default-resources"]
    entry = profile["set-resources"]["finetune_lora"]
    assert entry["gpu"] == 0 and "gpu_model" not in entry
    assert entry["slurm_extra"] == "'--gpus-per-node=nvidia_a100-sxm4-40gb:1'"
    typed = yaml.safe_load(written(gpu_type="a100"))["set-resources"]["score_lora"]
    assert typed["gpu_model"] == "a100" and "slurm_extra" not in typed


def test_the_workflow_takes_a_written_profile_and_names_what_is_left_to_fill_in(tmp_path):
    filled = tmp_path / "filled"
    filled.mkdir()
    (filled / "config.yaml").write_text(
        written(partition="cpu", gpu_partition="gpu", gpu_type="h100", account="lab")
    )
    result = dry_run(filled)
    assert result.returncode == 0, result.stderr[-3000:]
    left = tmp_path / "left"
    left.mkdir()
    (left / "config.yaml").write_text(written(gpu_partition="gpu", gpu_type="h100"))
    result = dry_run(left)
    said = result.stdout + result.stderr
    assert result.returncode != 0
    assert "default-resources.slurm_partition: '<cpu-partition>' is the template's" in said
    assert "default-resources.slurm_account: '<account>'" in said
