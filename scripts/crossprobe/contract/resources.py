"""Portable resource requests (threads, mem_mb, runtime, gpu) that grow on retries by what ended
the attempt before.

Snakemake calls a resource function as f(wildcards, [input,] attempt, [rulename]). A light rule's
request doubles on each retry (`growing`). A model job's (`ModelJobResources`) starts from its
base, the planned runtime and the host memory its model needs to load, and grows by the cause:
an attempt killed for memory doubles the memory of the next, one stopped at its time limit
doubles its runtime, one that failed for any other reason (a bug, a bad input, a node that died)
is retried with the same request; where nothing says why an attempt ended, both grow. Requests
stop at the caps the profile sets (`max_mem_mb`, `max_runtime`: a partition's limits), so a
retry never asks for what no node offers.

What ended an attempt comes from the job's own record (`crossprobe.job` writes it beside the
job's log: the SLURM job id at the start, then how it ended), else from SLURM (the job's state:
OUT_OF_MEMORY, TIMEOUT; else its output, where slurmstepd writes "oom-kill" or "DUE TO TIME
LIMIT"). A profile plans a model rule's first runtime (`planned_runtime`) and sets the caps;
`profile_problems` and `unfilled` name what in a profile the workflow refuses before any job
starts. Torch-free: the workflow reads it while it builds the DAG.
"""

import json
import math
import re
import subprocess
from pathlib import Path

from crossprobe.contract.model_tasks import MODEL_RULES
from crossprobe.job import MEMORY, TIME, read_attempts, record_attempt

MIB = 2**20
FACTOR = 2.0  # each retry asks for this much more of what ran out
# Host memory of a GPU model job beside its checkpoint read once into host memory: Python,
# torch and the CUDA libraries, tokenizers, the job's tables
PROCESS_MB = 4096
WEIGHT_FILES = ("*.safetensors", "*.bin", "*.gguf")
CPU_MODEL_MEM_MB = 8000  # a CPU model job's first attempt: its model and batches live in it

# what ended an attempt that could not write it (`crossprobe.job.ended`), as SLURM says it
SLURM_CAUSES = {"OUT_OF_MEMORY": MEMORY, "TIMEOUT": TIME, "DEADLINE": TIME}
SLURM_LOG_CAUSES = {"oom-kill": MEMORY, "DUE TO TIME LIMIT": TIME}


def grown(base: float, attempt: int, factor: float = FACTOR) -> int:
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    return int(round(base * factor ** (attempt - 1)))


def growing(base: float, factor: float = FACTOR):
    """A resource function for Snakemake: `base` on the first attempt, growing after."""

    def request(wildcards, attempt):
        return grown(base, attempt, factor)

    return request


def checkpoint_bytes(model_record) -> int:
    """The bytes of a prepared model's weight files (its checkpoint as stored)."""
    folder = Path(json.loads(Path(model_record).read_text())["path"])
    return sum(p.stat().st_size for pattern in WEIGHT_FILES for p in folder.glob(pattern))


def loading_mem_mb(weights_bytes: int) -> int:
    """Host memory a model job needs to load its model onto a GPU: the checkpoint read into host
    memory once, and the process around it."""
    return math.ceil(weights_bytes / MIB) + PROCESS_MB


def first_mem_mb(resources: dict) -> int | None:
    """A model job's first attempt's memory, from the config's `resources`: `model_mem_mb` where
    set; else on a CPU `CPU_MODEL_MEM_MB`, and on a GPU None: from its model's checkpoint."""
    if resources["model_mem_mb"]:
        return resources["model_mem_mb"]
    return None if resources["gpu"] else CPU_MODEL_MEM_MB


def _slurm(*command) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def slurm_cause(job: str) -> str | None:
    """What ended SLURM job `job`, as SLURM tells it: its state (accounting, else the queue's
    memory of it), else what slurmstepd wrote into its output; None where SLURM says nothing."""
    state = _slurm("sacct", "-X", "-n", "-P", "-j", job, "-o", "State") or _slurm(
        "squeue", "-h", "-t", "all", "-j", job, "-o", "%T"
    )
    state = state.split()[0] if state else ""
    if state in SLURM_CAUSES:
        return SLURM_CAUSES[state]
    shown = _slurm("scontrol", "show", "job", "-o", job)
    stdout = next((f[7:] for f in shown.split() if f.startswith("StdOut=")), None)
    try:
        text = Path(stdout).read_text(errors="replace") if stdout else ""
    except OSError:
        text = ""
    return next((cause for mark, cause in SLURM_LOG_CAUSES.items() if mark in text), None)


def attempt_causes(record: Path, attempt: int) -> list[str | None]:
    """What ended each attempt before `attempt` (None: nothing says), from the job's record
    and, for an attempt killed before it could write its end, from SLURM."""
    entries = {e["attempt"]: e for e in read_attempts(record)}
    causes = []
    for earlier in range(1, attempt):
        entry = entries.get(earlier, {})
        cause = entry.get("ended")
        if cause is None and entry.get("slurm_job"):
            cause = slurm_cause(str(entry["slurm_job"]))
        causes.append(cause)
    return causes


def request_after(base: float, causes, grows_on: str, cap: float | None) -> int:
    """`base`, doubled for each earlier attempt that ended by `grows_on` or for no known reason,
    at most `cap`."""
    grown_by = sum(1 for c in causes if c in (grows_on, None))
    asked = base * FACTOR**grown_by
    return int(round(min(asked, cap) if cap else asked))


class ModelJobResources:
    """The resource functions of the rules that run a model. `runtime` maps each rule to its
    first attempt's minutes (the profile's `planned_runtime`, else `default_runtime`);
    `mem_mb`, where set, is every job's first attempt's memory, else it comes from the model's
    checkpoint (`loading_mem_mb`); `caps` maps each rule to its {"mem_mb", "runtime"} limits;
    `record_of(rule, wildcards)` is the path of a job's attempts record."""

    def __init__(
        self, runtime: dict, default_runtime: int, mem_mb, caps: dict, record_of, in_job=False
    ):
        self.runtimes, self.default_runtime = runtime, default_runtime
        self.base_mem_mb, self.caps, self.record_of = mem_mb, caps, record_of
        self.in_job = in_job  # evaluated by the job's own Snakemake process (under an executor)

    def causes(self, rulename, wildcards, attempt) -> list:
        return attempt_causes(self.record_of(rulename, wildcards), attempt) if attempt > 1 else []

    def mem_mb(self, wildcards, input, attempt, rulename):
        base = self.base_mem_mb or loading_mem_mb(checkpoint_bytes(input.model))
        cap = self.caps.get(rulename, {}).get("mem_mb")
        return request_after(base, self.causes(rulename, wildcards, attempt), MEMORY, cap)

    def runtime(self, wildcards, attempt, rulename):
        base = self.runtimes.get(rulename) or self.default_runtime
        cap = self.caps.get(rulename, {}).get("runtime")
        return request_after(base, self.causes(rulename, wildcards, attempt), TIME, cap)

    def attempt(self, wildcards, attempt, rulename):
        """Which attempt a job is. In the job's own Snakemake process (under SLURM) this is the
        first of our code to run, before the script's interpreter starts: the attempt goes on
        record here, so that one killed for memory while its libraries load is on record too
        (the script records it again when it first imports crossprobe)."""
        if self.in_job:
            record_attempt(self.record_of(rulename, wildcards), attempt)
        return attempt


# the GPU types snakemake-executor-plugin-slurm accepts as gpu_model (2.8, utils.set_gres_string);
# SLURM's own names may hold more (AutoDetect=nvml keeps hyphens: nvidia_a100-sxm4-40gb)
PLUGIN_GPU_MODEL = re.compile(r"^[a-zA-Z0-9_.]+$")
PLACEHOLDER = re.compile(r"^<[^<>]+>$")  # a value profiles/slurm/config.yaml leaves to the user
# what a profile may set of a model rule's requests instead of the requests themselves
PLANNED = ("planned_runtime",)  # the first attempt's minutes (python -m crossprobe.plan)
CAPS = {"mem_mb": "max_mem_mb", "runtime": "max_runtime"}  # what a retry may ask at most


def raw_resources(resources) -> dict:
    """A profile's resources as written (Snakemake keeps what was written in `raw`)."""
    return {key: getattr(value, "raw", value) for key, value in dict(resources or {}).items()}


def profile_problems(set_resources: dict, gpus: int) -> list[str]:
    """What a profile's set-resources asks of the model rules that would go wrong: a `gres` GPU
    request beside the rules' own `gpu` (snakemake-executor-plugin-slurm writes both --gres and
    --gpus, which SLURM refuses together); a GPU type the plugin refuses; a fixed runtime or
    memory, which would replace the requests that grow on retries."""
    problems = []
    for rule in MODEL_RULES:
        asked = set_resources.get(rule, {})
        gres = str(asked.get("gres") or "")
        if gpus and gres.split(":")[0] == "gpu":
            problems.append(
                f"set-resources.{rule}.gres: {gres!r} beside the rule's gpu={gpus} "
                "(resources.gpu): the SLURM plugin would write both --gres and --gpus, which "
                "SLURM refuses (expected gpu_model: <type> instead of gres, or resources.gpu: 0)"
            )
        model = str(asked.get("gpu_model") or "")
        if model and not PLUGIN_GPU_MODEL.match(model) and not PLACEHOLDER.match(model):
            problems.append(
                f"set-resources.{rule}.gpu_model: {model!r} has characters the SLURM plugin "
                "refuses (it accepts letters, digits, _ and .); ask for it by SLURM's own name "
                f"instead: gpu: 0 and slurm_extra: '--gpus-per-node={model}:{gpus or 1}' "
                "(python -m crossprobe.plan --write-profile writes that for --gpu-type)"
            )
        for fixed, cap in CAPS.items():
            if fixed in asked:
                problems.append(
                    f"set-resources.{rule}.{fixed}: a fixed {fixed} replaces the request that "
                    "grows on retries (expected "
                    + (
                        "planned_runtime: <minutes of the first attempt>, "
                        if fixed == "runtime"
                        else ""
                    )
                    + f"{cap}: <the most a retry may ask>)"
                )
    return problems


def unfilled(set_resources: dict, default_resources: dict) -> list[str]:
    """The template's <...> placeholders a profile still holds, each named by its key."""
    found = [(f"default-resources.{k}", v) for k, v in default_resources.items()]
    found += [
        (f"set-resources.{rule}.{k}", v)
        for rule, asked in set_resources.items()
        for k, v in asked.items()
    ]
    return [
        f"{key}: {value!r} is the template's placeholder (expected your cluster's name for it; "
        "python -m crossprobe.plan --write-profile fills it in from its options)"
        for key, value in found
        if PLACEHOLDER.match(str(value))
    ]


def model_requests(set_resources: dict, default_resources: dict) -> tuple[dict, dict]:
    """({rule: its first attempt's minutes}, {rule: {"mem_mb", "runtime": caps}}) of the model
    rules, from a profile's set-resources (per rule) and default-resources (every rule)."""
    runtimes, caps = {}, {}
    for rule in MODEL_RULES:
        asked = {**default_resources, **set_resources.get(rule, {})}
        if asked.get("planned_runtime"):
            runtimes[rule] = int(asked["planned_runtime"])
        caps[rule] = {k: int(asked[cap]) for k, cap in CAPS.items() if asked.get(cap)}
    return runtimes, caps
