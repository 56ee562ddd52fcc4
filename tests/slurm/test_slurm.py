"""The workflow on a real SLURM cluster (single node, started by .ci/run with
tests/slurm/cluster.sh): a tiny complete grid to the figure, and a failing job whose log is shown
and whose outputs are not left behind."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from helpers import make_workdir, tiny_config, write_config

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def cluster_is_up() -> bool:
    if not shutil.which("sinfo"):
        return False
    states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return states.returncode == 0 and any(
        state.startswith(("idle", "mix")) for state in states.stdout.split()
    )


@pytest.fixture(scope="module", autouse=True)
def slurm():
    if not cluster_is_up():
        if os.environ.get("CROSSPROBE_SLURM") == "1":
            pytest.fail(
                "CROSSPROBE_SLURM=1 but no SLURM node is idle (tests/slurm/cluster.sh start)"
            )
        pytest.skip("no SLURM cluster (start one with: bash tests/slurm/cluster.sh start)")


def run_on_slurm(workdir: Path, *extra: str, limit: int = 1500):
    command = [
        "timeout",
        "-s",
        "KILL",
        str(limit),
        sys.executable,
        "-m",
        "snakemake",
        "--workflow-profile",
        str(workdir / "profiles/slurm-test"),
        "-s",
        str(workdir / "Snakefile"),
        "-d",
        str(workdir),
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True)


def slurm_jobs() -> dict[int, tuple[str, str]]:
    """Job id -> (state, memory request) of every job squeue still remembers (finished ones
    for MinJobAge)."""
    out = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i|%T|%m"], capture_output=True, text=True
    )
    jobs = (line.split("|") for line in out.stdout.split())
    return {int(i): (state, memory) for i, state, memory in jobs}


def test_tiny_grid_runs_to_the_figure_on_slurm(tiny_models, tmp_path):
    workdir = make_workdir(tmp_path / "grid", tiny_config(tiny_models))
    before = max(slurm_jobs(), default=0)
    result = run_on_slurm(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    grid = pd.read_csv(workdir / "results/default/tables/grid.tsv", sep="\t")
    assert {"probe", "lora"} <= set(grid["method"])
    assert len(grid[(grid["metric"] == "auroc") & (grid["method"] == "lora")]) == 4
    assert (workdir / "results/default/figures/heatmap.png").stat().st_size > 10_000
    # the model jobs went through sbatch: 2 prepare + 6 answer + 12 cache + 4 fit + 4 LoRA
    # + 8 LoRA scores
    submitted = {i: state for i, (state, _) in slurm_jobs().items() if i > before}
    assert len(submitted) >= 36, submitted
    assert set(submitted.values()) == {"COMPLETED"}, submitted


def test_failing_job_shows_its_log_and_leaves_no_output(tiny_models, tmp_path):
    broken = tmp_path / "broken_model"
    shutil.copytree(tiny_models["tiny_a"], broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    config = tiny_config({**tiny_models, "tiny_a": broken})
    workdir = make_workdir(tmp_path / "fails", config)
    target = workdir / "results/default/answers/tiny_a/test.parquet"
    # provenance left from an earlier run must go with the output the failed job does not write
    stale = target.with_name(target.name + ".provenance.json")
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    result = run_on_slurm(workdir, "--retries", "0", str(target.relative_to(workdir)))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Error in rule generate_answers" in output
    # --show-failed-logs prints the job's own log, with the loader's error in it
    assert "logs/default/generate_answers/tiny_a/test.log" in output and "Traceback" in output
    # Snakemake may remove the emptied folder too; either way nothing of the job is left
    assert not target.parent.exists() or not list(target.parent.iterdir())


def memory_is_enforced() -> bool:
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True)
    return "task/cgroup" in config.stdout


def test_job_killed_for_memory_is_retried_with_more_and_completes(tiny_models, tmp_path):
    """Model jobs ask for 250 MB on the first attempt, less than torch alone needs: SLURM kills
    them (OUT_OF_MEMORY); each retry doubles the request until the job fits."""
    if not memory_is_enforced():
        pytest.skip("this SLURM cluster does not enforce memory (SLURM_CGROUP=0)")
    config = tiny_config(tiny_models)
    config["resources"]["model_mem_mb"] = 250
    workdir = make_workdir(tmp_path / "retry", config)
    before = max(slurm_jobs(), default=0)
    result = run_on_slurm(workdir, "--retries", "2", "results/default/answers/tiny_a/test.parquet")
    assert result.returncode == 0, result.stderr[-5000:]
    jobs = [job for i, job in sorted(slurm_jobs().items()) if i > before]
    failed = [job for job in jobs if job[0] in ("FAILED", "OUT_OF_MEMORY")]
    assert failed and jobs[-1][0] == "COMPLETED", jobs
    assert {memory for _, memory in failed} >= {"250M"}, jobs
    assert {memory for state, memory in jobs if state == "COMPLETED"} <= {"500M", "1000M"}, jobs
    # each failure was the cgroup killing the job for memory (failed jobs keep their SLURM log)
    slurm_logs = [p.read_text() for p in (workdir / "logs/slurm").rglob("*.log")]
    assert sum("oom-kill" in text for text in slurm_logs) == len(failed)
    assert (workdir / "results/default/answers/tiny_a/test.parquet").is_file()
    provenance = json.loads(
        (workdir / "results/default/answers/tiny_a/test.parquet.provenance.json").read_text()
    )
    assert provenance["rule"] == "generate_answers"


def test_lora_killed_at_its_time_limit_resumes_on_its_retry(tiny_models, tmp_path):
    """finetune_lora asks for 1 minute on its first attempt, less than its training takes:
    SLURM ends it (TIMEOUT) after it has written resume checkpoints; each retry, with more
    time, resumes from the last checkpoint instead of step 0, and the last one completes. The
    step budget is sized on this machine: a first job (seed 1) times 1000 training steps, the
    second (seed 0) trains for about 150 s. SLURM ends a job at its limit or up to ~40 s
    later, so no first attempt (1 min, plus loading) can finish that training."""
    config = tiny_config(tiny_models)
    config["lora"].update(seeds=[0, 1], max_steps=1000, checkpoint_every=50, log_every=500)
    workdir = make_workdir(tmp_path / "timeout", config)
    trained = "results/default/lora/tiny_a/on~tiny_a/n~all/seed~{}/adapter_model.safetensors"
    timed = run_on_slurm(workdir, trained.format(1))
    assert timed.returncode == 0, timed.stderr[-5000:]
    timing = json.loads((workdir / (trained.format(1) + ".provenance.json")).read_text())
    steps = int(1000 * 150 / timing["attempt_training_seconds"])
    config["lora"]["max_steps"] = steps
    config["resources"]["model_runtime"] = 1
    write_config(workdir, config)
    adapter = trained.format(0)
    before = max(slurm_jobs(), default=0)
    result = run_on_slurm(workdir, "--retries", "3", adapter)
    assert result.returncode == 0, result.stderr[-5000:]
    states = [state for i, (state, _) in sorted(slurm_jobs().items()) if i > before]
    provenance = json.loads((workdir / (adapter + ".provenance.json")).read_text())
    log = (workdir / "logs/default/finetune_lora/tiny_a/on~tiny_a/n~all/seed~0.log").read_text()
    seen = (steps, states, provenance["resumed_at"], log[-3000:])
    assert states[0] == "TIMEOUT" and states[-1] == "COMPLETED", seen
    assert 0 < provenance["resumed_at"] < steps, seen
    assert "resumed LoRA training at step" in log, seen
    # the resume folder is not an output and goes once the adapter is written
    assert not list((workdir / "results/default/lora/tiny_a/on~tiny_a/n~all").glob("*.resume"))
