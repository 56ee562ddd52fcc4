"""A LoRA run's resume checkpoint: written at an interval to a folder that is not a job output,
read back when a killed or timed-out job starts again."""

import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import torch

log = logging.getLogger(__name__)


class Checkpoint:
    """Where a LoRA run keeps what it needs to resume: every `checkpoint_every` optimiser steps,
    the adapter, the optimiser and scheduler states, the random states, the step, the losses so
    far and the best adapter yet, written whole to one file (a temporary name, then a rename).
    A run that finds a checkpoint of the same training resumes from it; `identity` (what
    decides the training: settings, seed, data) must match, else it starts afresh."""

    MARGIN_SECONDS = 30  # before the job's end: time to write the checkpoint and exit

    def __init__(self, folder, identity: dict, every: int, end_time: float | None = None):
        self.path = None if folder is None else Path(folder) / "checkpoint.pt"
        self.identity, self.every = json.dumps(identity, sort_keys=True, default=str), every
        self.end_time = end_time  # when the job will be ended (epoch seconds), if known

    def out_of_time(self, step_seconds: float) -> bool:
        """Whether the job should stop now, with a checkpoint: another step or two would run
        into its end time."""
        if not (self.enabled and self.end_time):
            return False
        return time.time() + max(self.MARGIN_SECONDS, 2 * step_seconds) >= self.end_time

    @property
    def enabled(self) -> bool:
        return bool(self.path and self.every)

    def due(self, step: int) -> bool:
        return self.enabled and step % self.every == 0

    def save(self, state: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        torch.save({**state, "identity": self.identity}, tmp)
        tmp.rename(self.path)

    def load(self) -> dict | None:
        if not (self.enabled and self.path.is_file()):
            return None
        try:
            state = torch.load(self.path, weights_only=False)
        except Exception as err:  # truncated or corrupt (a node that died mid-write): any error
            log.warning("%s is unreadable (%s): starting afresh", self.path, err)
            self.path.unlink(missing_ok=True)
            return None
        if state.pop("identity", None) != self.identity:
            log.warning("%s is a checkpoint of another training: starting afresh", self.path)
            return None
        return state

    def remove(self) -> None:
        if self.path:
            shutil.rmtree(self.path.parent, ignore_errors=True)


def training_identity(params: dict, seed, answers, model_record: dict, dtype: str) -> dict:
    """What decides a LoRA training, as its checkpoint records it: the settings, the seed, the
    training answers (their ids, in order), the model's weights and the number format. A
    checkpoint of anything else is not resumed."""
    return {
        "params": params,
        "seed": seed,
        "answers": hashlib.sha256("".join(answers).encode()).hexdigest(),
        "model": model_record["fingerprint"],
        "dtype": dtype,
    }


class Termination:
    """Within `deferred()`, SIGTERM (SLURM's at a job's time limit, or at preemption) only marks
    the run as `requested` to stop, so that the step in progress can finish and be checkpointed
    before the job exits; outside it, SIGTERM does what it did before."""

    def __init__(self):
        self.requested = False

    @contextmanager
    def deferred(self):
        previous = signal.signal(signal.SIGTERM, self._request)
        try:
            yield self
        finally:
            signal.signal(signal.SIGTERM, previous)

    def _request(self, signum, frame):
        log.warning("SIGTERM: stopping after the step in progress")
        self.requested = True


def slurm_end_time() -> float | None:
    """When SLURM will end this job at its time limit (epoch seconds), where it runs as one: the
    job's `SLURM_JOB_END_TIME` (SLURM 23.02 and later set it in every task's environment), else
    its end time as squeue reports it in a fixed format (a user's SLURM_TIME_FORMAT, say
    `relative`, would change squeue's). A job cannot count on SIGTERM at its limit: with
    proctrack/cgroup, SLURM signals the job step's direct children, the Snakemake process that
    runs the script, which ends its script without passing the signal on (see docs/cluster.md
    for the other process-tracking plugins)."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return None
    if os.environ.get("SLURM_JOB_END_TIME", "").isdigit():
        return float(os.environ["SLURM_JOB_END_TIME"])
    try:
        found = subprocess.run(
            ["squeue", "-h", "-j", job, "-o", "%e"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "SLURM_TIME_FORMAT": "standard"},
        ).stdout.strip()
        return datetime.fromisoformat(found).timestamp()
    except (OSError, ValueError, subprocess.SubprocessError):
        log.warning("SLURM job %s: its end time is unknown (squeue); no stop before it", job)
        return None
