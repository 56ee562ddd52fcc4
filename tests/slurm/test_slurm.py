"""The workflow on a real SLURM cluster (single node, started by .ci/run with
tests/slurm/cluster.sh): a tiny complete grid to the figure, and a failing job whose log is shown
and whose outputs are not left behind."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

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


def run_on_slurm(workdir: Path, *extra: str, limit: int = 1500, profile: str = "slurm-test"):
    command = [
        "timeout",
        "-s",
        "KILL",
        str(limit),
        sys.executable,
        "-m",
        "snakemake",
        "--workflow-profile",
        str(workdir / "profiles" / profile),
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


def sbatch_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("sbatch call:")]


def request(line: str) -> tuple[str, str]:
    """(memory, minutes) an sbatch line asks for."""
    return re.search(r"--mem (\d+)", line).group(1), re.search(r" -t (\d+)", line).group(1)


def test_job_killed_for_memory_is_retried_with_more_memory_only_and_completes(
    tiny_models, tmp_path
):
    """Model jobs ask for 250 MB on the first attempt, less than torch alone needs: SLURM kills
    them (OUT_OF_MEMORY), nothing of the job can say so, SLURM does; each retry doubles the
    memory, not the runtime, until the job fits."""
    if not memory_is_enforced():
        pytest.skip("this SLURM cluster does not enforce memory (SLURM_CGROUP=0)")
    config = tiny_config(tiny_models)
    config["resources"]["model_mem_mb"] = 250
    workdir = make_workdir(tmp_path / "retry", config)
    before = max(slurm_jobs(), default=0)
    result = run_on_slurm(
        workdir, "--retries", "2", "--verbose", "results/default/answers/tiny_a/test.parquet"
    )
    assert result.returncode == 0, result.stderr[-5000:]
    jobs = [job for i, job in sorted(slurm_jobs().items()) if i > before]
    failed = [job for job in jobs if job[0] in ("FAILED", "OUT_OF_MEMORY")]
    assert failed and jobs[-1][0] == "COMPLETED", jobs
    assert {memory for _, memory in failed} >= {"250M"}, jobs
    assert {memory for state, memory in jobs if state == "COMPLETED"} <= {"500M", "1000M"}, jobs
    # each failure was the cgroup killing the job for memory (failed jobs keep their SLURM log)
    slurm_logs = [p.read_text() for p in (workdir / "logs/slurm").rglob("*.log")]
    assert sum("oom-kill" in text for text in slurm_logs) == len(failed)
    lines = sbatch_lines(result.stdout + result.stderr)
    asked = [request(line) for line in lines if "generate_answers" in line]
    assert [m for m, _ in asked] == ["250", "500", "1000"][: len(asked)], asked
    assert {t for _, t in asked} == {"10"}, asked  # time never ran out: it did not grow
    assert (workdir / "results/default/answers/tiny_a/test.parquet").is_file()
    provenance = json.loads(
        (workdir / "results/default/answers/tiny_a/test.parquet.provenance.json").read_text()
    )
    assert provenance["rule"] == "generate_answers"
    print("\n".join(line.split(" --wrap")[0] for line in lines))


def test_a_job_that_failed_for_another_reason_is_retried_with_the_same_request(
    tiny_models, tmp_path
):
    """A model whose weights are not a safetensors file fails every attempt, and neither memory
    nor time would help: its retries ask for what the first attempt asked."""
    broken = tmp_path / "broken_model"
    shutil.copytree(tiny_models["tiny_a"], broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    workdir = make_workdir(tmp_path / "other", tiny_config({**tiny_models, "tiny_a": broken}))
    result = run_on_slurm(
        workdir, "--retries", "2", "--verbose", "results/default/answers/tiny_a/test.parquet"
    )
    assert result.returncode != 0
    asked = [request(line) for line in sbatch_lines(result.stdout + result.stderr)]
    assert len(asked) == 3 and len(set(asked)) == 1, asked
    record = json.loads(
        (workdir / "logs/default/generate_answers/tiny_a/test.attempts.json").read_text()
    )
    assert [(e["attempt"], e["ended"]) for e in record] == [
        (1, "other"),
        (2, "other"),
        (3, "other"),
    ]


def test_lora_stopped_at_its_time_limit_resumes_at_the_step_it_reached(
    tiny_models, tmp_path, monkeypatch
):
    """finetune_lora asks for 1 minute on its first attempt, less than its training takes: the
    job reads its end time from SLURM and, before it, writes a checkpoint of the step it reached
    and exits, although no periodic checkpoint is ever due (checkpoint_every is larger than the
    run); its retry, with more time, resumes at exactly that step. (SIGTERM at the limit reaches
    the Snakemake process that runs the script, not the script.) The step budget is sized on this
    machine: a first job (seed 1) times 1000 training steps, the second (seed 0) trains for about
    150 s, which no first attempt (1 min) can finish. The user's SLURM_TIME_FORMAT is
    `relative` (squeue then prints "06:33:35" for today): the job reads its end time anyway.
    """
    monkeypatch.setenv("SLURM_TIME_FORMAT", "relative")
    config = tiny_config(tiny_models)
    config["lora"].update(seeds=[0, 1], max_steps=1000, checkpoint_every=10**6, log_every=500)
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
    # the stopped attempts' own logs stay in SLURM's log folder
    stopped = [
        int(step)
        for path in (workdir / "logs/slurm").rglob("*.log")
        for step in re.findall(r"stopped at step (\d+) of \d+ \(the job's time", path.read_text())
    ]
    seen = (steps, states, provenance["resumed_at"], stopped, log[-3000:])
    assert states[0] == "FAILED" and states[-1] == "COMPLETED", seen
    assert 0 < provenance["resumed_at"] < steps and provenance["resumed_at"] == max(stopped), seen
    assert "resumed LoRA training at step" in log, seen
    # the resume folder is not an output and goes once the adapter is written
    assert not list((workdir / "results/default/lora/tiny_a/on~tiny_a/n~all").glob("*.resume"))


def plan_profile(workdir: Path, tiny_models, gpu_type: str) -> Path:
    """The profile `python -m crossprobe.plan --write-profile` writes for the workdir's config,
    with this cluster's names (partition debug, no accounts) and `gpu_type`; then what only this
    test cluster needs (no slurmdbd: squeue polls, no waiting for status checks)."""
    models = [f"--model-config={m}={tiny_models[m] / 'config.json'}" for m in ("tiny_a", "tiny_b")]
    written = subprocess.run(
        [sys.executable, "-m", "crossprobe.plan", "--configfile", str(workdir / "config.yaml")]
        + ["--directory", str(workdir), *models, "--write-profile", str(workdir / "profiles/gpu")]
        + ["--partition=debug", "--gpu-partition=debug", f"--gpu-type={gpu_type}", "--account="],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(workdir / "scripts")},
    )
    assert written.returncode == 0, written.stderr[-3000:]
    assert written.stdout.startswith("wrote ") and "fill in" not in written.stdout
    profile = workdir / "profiles/gpu/config.yaml"
    with profile.open("a") as text:
        text.write("slurm-status-command: squeue\nslurm-init-seconds-before-status-checks: 1\n")
    return profile


@pytest.mark.parametrize(
    "gpu_type,asked",
    [
        ("a100", "--gpus=a100:1"),  # a type the plugin takes as gpu_model
        ("nvidia_a100-sxm4-40gb", "--gpus-per-node=nvidia_a100-sxm4-40gb:1"),  # one it refuses
    ],
)
def test_a_gpu_job_through_the_plans_profile_lands_on_its_typed_gpu_and_stops_without_cuda(
    tiny_models, tmp_path, gpu_type, asked
):
    """The profile the plan writes (from profiles/slurm/config.yaml, this cluster's names
    filled in) submits a model job through the real plugin: sbatch accepts its GPU request,
    also for a type named as SLURM's autodetection names it (hyphens the plugin refuses in
    gpu_model), SLURM allocates one GPU of that type, the job asks for the host memory its
    model needs to load and its planned runtime, and it stops within seconds, seeing no CUDA
    device, before loading any weights. The request the template warns against (a gres beside
    the rules' gpu) this cluster refuses, as SLURM does."""
    refused = subprocess.run(
        ["sbatch", "--wrap", "true", "--gres=gpu:a100:1", "--gpus=1", "-t", "1"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0
    assert "Invalid GRES specification (with and without type identification)" in refused.stderr
    config = tiny_config(tiny_models)
    config["resources"].update(gpu=1, model_mem_mb=None)
    workdir = make_workdir(tmp_path / "gpu", config)
    profile = plan_profile(workdir, tiny_models, gpu_type)
    planned = yaml.safe_load(profile.read_text())["set-resources"]["generate_answers"]
    target = "results/default/answers/tiny_a/test.parquet"
    before = max(slurm_jobs(), default=0)
    result = run_on_slurm(
        workdir, "--verbose", "--retries", "0", "--latency-wait", "5", target, profile="gpu"
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Error in rule generate_answers" in output, output[-5000:]
    submitted = sorted(i for i in slurm_jobs() if i > before)
    assert len(submitted) == 1, output[-5000:]
    sbatch = next(line for line in output.splitlines() if "sbatch" in line and "--gpus" in line)
    assert asked in sbatch and "--gres" not in sbatch, sbatch
    assert f"-t {planned['planned_runtime']}" in sbatch, sbatch
    weights = (tiny_models["tiny_a"] / "model.safetensors").stat().st_size
    assert f"--mem {-(-weights // 2**20) + 4096}" in sbatch, sbatch  # checkpoint + 4 GiB
    job = subprocess.run(
        ["scontrol", "show", "job", "-d", str(submitted[0])], capture_output=True, text=True
    ).stdout
    allocated = "a100" if gpu_type == "a100" else gpu_type
    assert f"JOB_GRES=gpu:{allocated}:1" in job and "JobState=FAILED" in job, job
    run_time = re.search(r"RunTime=(\d+):(\d+):(\d+)", job).groups()
    assert int(run_time[0]) * 3600 + int(run_time[1]) * 60 + int(run_time[2]) < 60, job
    log = (workdir / "logs/default/generate_answers/tiny_a/test.log").read_text()
    assert "asked for 1 GPU(s)" in log and "refusing to run it on the CPU" in log, log
    assert "loaded" not in log  # stopped before loading any weights
    print(sbatch)
