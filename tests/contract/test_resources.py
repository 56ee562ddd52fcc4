"""Resource functions, called as Snakemake calls them: light rules double on each retry; a model
job's retry asks for more only of what ended the attempt before (from the job's own record of
its attempts), up to the profile's caps, from a base that is its planned runtime and the host
memory its model needs to load."""

import json
from types import SimpleNamespace

import pytest

from crossprobe import job
from crossprobe.contract.resources import (
    CPU_MODEL_MEM_MB,
    PROCESS_MB,
    ModelJobResources,
    first_mem_mb,
    growing,
    grown,
    model_requests,
    profile_problems,
    unfilled,
)


def test_requests_grow_with_each_attempt():
    mem = growing(8000)
    assert [mem({}, attempt=a) for a in (1, 2, 3)] == [8000, 16000, 32000]
    assert growing(10, factor=1.5)(None, attempt=2) == 15


def test_attempt_counts_from_one():
    with pytest.raises(ValueError, match="attempt"):
        grown(100, 0)


@pytest.fixture
def model(tmp_path):
    """A prepared model of 3 GiB of weights (a sparse file) and its model.json."""
    folder = tmp_path / "weights"
    folder.mkdir()
    with open(folder / "model.safetensors", "wb") as f:
        f.truncate(3 * 2**30)
    (folder / "config.json").write_text("{}")
    record = tmp_path / "model.json"
    record.write_text(json.dumps({"path": str(folder)}))
    return SimpleNamespace(model=str(record))


def attempts(tmp_path, ended_by: list) -> ModelJobResources:
    """A job's record of attempts 1.. that ended by `ended_by`, written as the job writes it,
    and the model rules' resources reading it (planned 100 minutes, capped at 1000 / 40000)."""
    log = tmp_path / "logs/finetune_lora/a.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    for number, cause in enumerate(ended_by, start=1):
        job.record_attempt(job.attempts_record(log), number)
        if cause:
            job.ended(cause)
    job._record.clear()
    caps = {"finetune_lora": {"runtime": 1000, "mem_mb": 40000}}
    return ModelJobResources(
        {"finetune_lora": 100}, 60, None, caps, lambda rule, wc: job.attempts_record(log)
    )


def test_a_model_jobs_first_attempt_asks_for_what_loading_its_model_needs(model, tmp_path):
    resources = attempts(tmp_path, [])
    assert resources.mem_mb({}, model, 1, "finetune_lora") == 3 * 1024 + PROCESS_MB
    assert resources.runtime({}, 1, "finetune_lora") == 100  # planned
    assert resources.runtime({}, 1, "score_lora") == 60  # the config's model_runtime
    assert first_mem_mb({"model_mem_mb": None, "gpu": 0}) == CPU_MODEL_MEM_MB
    assert first_mem_mb({"model_mem_mb": None, "gpu": 1}) is None  # from the checkpoint
    assert first_mem_mb({"model_mem_mb": 3000, "gpu": 1}) == 3000


@pytest.mark.parametrize(
    "ended_by,memory,runtime",
    [
        (["memory", "memory"], 4, 1),  # killed for memory twice: memory grows, time does not
        (["time", "time"], 1, 4),  # stopped at its time limit: the next asks for longer
        (["other", "other"], 1, 1),  # a bug or a bad input: more of either would not help
        ([None, "memory"], 4, 2),  # killed with nothing said (no SLURM here): both grow
        (["signal", "memory"], 2, 1),  # stopped by SIGTERM (preempted): the same request
    ],
)
def test_a_retry_asks_for_more_only_of_what_ran_out(model, tmp_path, ended_by, memory, runtime):
    resources = attempts(tmp_path, ended_by)
    base = 3 * 1024 + PROCESS_MB
    assert resources.mem_mb({}, model, 3, "finetune_lora") == base * memory
    assert resources.runtime({}, 3, "finetune_lora") == 100 * runtime


def test_retries_stop_at_the_profiles_caps(model, tmp_path):
    resources = attempts(tmp_path, ["memory", "time"] * 4)
    assert resources.mem_mb({}, model, 9, "finetune_lora") == 40000
    assert resources.runtime({}, 9, "finetune_lora") == 1000


def test_a_first_attempt_starts_its_record_afresh(tmp_path):
    record = tmp_path / "x.attempts.json"
    job.record_attempt(record, 1)
    job.ended("memory")
    job.record_attempt(record, 2)  # its retry keeps what ended the first
    assert [e["attempt"] for e in job.read_attempts(record)] == [1, 2]
    job.record_attempt(record, 1)  # a new run: an earlier run's attempts are not its own
    assert job.read_attempts(record) == [{"attempt": 1, "slurm_job": None, "ended": None}]
    job._record.clear()


def test_a_profile_plans_runtimes_and_caps_and_may_not_fix_what_grows():
    set_resources = {
        "finetune_lora": {"planned_runtime": 640, "max_mem_mb": 90000},
        "score_lora": {"runtime": 30, "mem_mb": 9000},
    }
    runtimes, caps = model_requests(set_resources, {"max_runtime": 2880, "max_mem_mb": 256000})
    assert runtimes == {"finetune_lora": 640}
    assert caps["finetune_lora"] == {"mem_mb": 90000, "runtime": 2880}
    assert caps["score_lora"] == {"mem_mb": 256000, "runtime": 2880}
    problems = profile_problems(set_resources, gpus=1)
    assert [p.split(":")[0] for p in problems] == [
        "set-resources.score_lora.mem_mb",
        "set-resources.score_lora.runtime",
    ]
    assert "planned_runtime" in problems[1] and "max_runtime" in problems[1]


def test_a_gpu_type_the_plugin_refuses_and_an_unfilled_placeholder_are_named():
    hyphenated = {"finetune_lora": {"gpu_model": "nvidia_a100-sxm4-40gb"}}
    (problem,) = profile_problems(hyphenated, gpus=1)
    assert problem.startswith("set-resources.finetune_lora.gpu_model:")
    assert "slurm_extra: '--gpus-per-node=nvidia_a100-sxm4-40gb:1'" in problem
    (left,) = unfilled({"score_lora": {"gpu_model": "<gpu-type>"}}, {"runtime": 60})
    assert left.startswith("set-resources.score_lora.gpu_model: '<gpu-type>' is the template's")
