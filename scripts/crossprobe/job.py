"""What every script adapter does around its stage: logging, threads, atomic outputs, provenance,
and for a model job the record of its attempts (how each ended: what its retry asks for more of,
`crossprobe.contract.resources`)."""

import json
import logging
import os
import platform
import subprocess
import sys
import time
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = (
    "torch",
    "transformers",
    "peft",
    "scikit-learn",
    "numpy",
    "pandas",
    "pyarrow",
    "plotnine",
    "safetensors",
    "snakemake",
)
log = logging.getLogger("crossprobe")
# how an attempt ended, as its record says (`ended`)
COMPLETED, MEMORY, TIME, SIGNAL, OTHER = "completed", "memory", "time", "signal", "other"
# this process's attempts record, where its rule keeps one (model jobs: see `record_attempt`)
_record: dict = {}


def attempts_record(log_path) -> Path:
    """Where a job keeps the record of its attempts: beside its log."""
    return Path(log_path).with_suffix(".attempts.json")


def read_attempts(record) -> list[dict]:
    try:
        return json.loads(Path(record).read_text())
    except (OSError, ValueError):
        return []


def provenance_path(output) -> Path:
    path = Path(output)
    return path.with_name(path.name + ".provenance.json")


def start(snakemake) -> float:
    """Set up a job: its log records go to the rule's log file, its threads are capped, and the
    provenance of its outputs from an earlier run is removed (Snakemake has removed the outputs
    themselves), so a killed job leaves no provenance beside missing outputs. (Only the jobs that
    fetch from the hub may reach it: `crossprobe.HUB_RULES`.)"""
    for output in snakemake.output:
        provenance_path(output).unlink(missing_ok=True)
    return start_logging(snakemake.log[0], snakemake.threads)


def record_attempt(record, attempt: int) -> None:
    """Write down in `record` that attempt `attempt` of this job has started, with its SLURM job
    id where it runs as one (the job's Snakemake process does so under SLURM, its script when
    it first imports crossprobe): if it is killed, nothing more is written and the controller
    asks SLURM why; else `ended` writes how it ended. A first attempt starts the record afresh
    (an earlier run's attempts are not this one's)."""
    path = Path(record)
    earlier = [e for e in read_attempts(path) if e["attempt"] < attempt] if attempt > 1 else []
    entry = {"attempt": attempt, "slurm_job": os.environ.get("SLURM_JOB_ID"), "ended": None}
    _record.update(path=path, attempts=[*earlier, entry])
    _write_record()


def ended(cause: str) -> None:
    """How this job's attempt ends: COMPLETED, MEMORY (out of memory), TIME (stopped before its
    time limit), SIGNAL (stopped by SIGTERM) or OTHER (any other failure)."""
    if _record:
        _record["attempts"][-1]["ended"] = cause
        _write_record()


def _write_record() -> None:
    _record["path"].parent.mkdir(parents=True, exist_ok=True)
    with atomic(_record["path"]) as tmp:
        tmp.write_text(json.dumps(_record["attempts"], indent=1) + "\n")


def failure_cause(error: BaseException) -> str:
    """What a job that raised `error` ended by: memory where it ran out (of host or GPU memory),
    else another failure."""
    out_of_memory = isinstance(error, MemoryError) or "OutOfMemoryError" in type(error).__name__
    return MEMORY if out_of_memory else OTHER


def start_logging(log_path, threads: int = 1) -> float:
    """Send this process's log records to `log_path` and cap the threads it uses."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.FileHandler(log_path, mode="w"), logging.StreamHandler(sys.stderr)],
        force=True,
    )

    # an uncaught error lands in the rule's log, which --show-failed-logs prints, and in the
    # attempts record: a retry asks for more only of what ran out
    def failed(kind, error, trace):
        log.critical("job failed", exc_info=(kind, error, trace))
        ended(failure_cause(error))

    sys.excepthook = failed
    if "torch" in sys.modules:  # else torch, if imported later, reads OMP_NUM_THREADS
        import torch

        torch.set_num_threads(max(int(threads), 1))
    return time.perf_counter()


def package_versions() -> dict:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def git_commit(folder: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def hub_offline() -> bool | None:
    """Whether this process is offline from the hub, as huggingface_hub reads it (None when no
    hub library was imported)."""
    constants = sys.modules.get("huggingface_hub.constants")
    return None if constants is None else bool(constants.HF_HUB_OFFLINE)


def write_provenance(outputs, rule: str, params: dict, started: float, **extra) -> None:
    """A `<output>.provenance.json` beside each output: what made it, with what, from what."""
    record = {
        "rule": rule,
        "params": params,
        "packages": package_versions(),
        "hub_offline": hub_offline(),
        "git_commit": git_commit(Path(__file__).parent),
        "host": platform.node(),
        "wall_seconds": round(time.perf_counter() - started, 3),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **extra,
    }
    text = json.dumps(record, indent=2, sort_keys=True, default=str) + "\n"
    for output in outputs:
        with atomic(provenance_path(output)) as tmp:
            tmp.write_text(text)


def finish(snakemake, params: dict, started: float, **extra) -> None:
    """Provenance for every output of this job; its attempt has completed."""
    write_provenance(snakemake.output, snakemake.rule, params, started, **extra)
    ended(COMPLETED)


@contextmanager
def atomic(path):
    """Yield a temporary sibling of `path`; it becomes `path` only if the block succeeds."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        tmp.rename(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_table(frame, path) -> None:
    with atomic(path) as tmp:
        frame.to_parquet(tmp, index=False)


def write_tsv(frame, path) -> None:
    """A tidy table for people and other tools: tab-separated, six significant digits."""
    with atomic(path) as tmp:
        frame.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
