"""A LoRA run's resume checkpoint: written at an interval to a folder that is not a job output,
read back when a killed or timed-out job starts again."""

import json
import logging
import shutil
from pathlib import Path

import torch

log = logging.getLogger(__name__)


class Checkpoint:
    """Where a LoRA run keeps what it needs to resume: every `checkpoint_every` optimiser steps,
    the adapter, the optimiser and scheduler states, the random states, the step, the losses so
    far and the best adapter yet, written whole to one file (a temporary name, then a rename).
    A run that finds a checkpoint of the same training resumes from it; `identity` (what
    decides the training: settings, seed, data) must match, else it starts afresh."""

    def __init__(self, folder, identity: dict, every: int):
        self.path = None if folder is None else Path(folder) / "checkpoint.pt"
        self.identity, self.every = json.dumps(identity, sort_keys=True, default=str), every

    def due(self, step: int) -> bool:
        return bool(self.path and self.every and step % self.every == 0)

    def save(self, state: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        torch.save({**state, "identity": self.identity}, tmp)
        tmp.rename(self.path)

    def load(self) -> dict | None:
        if not (self.path and self.every and self.path.is_file()):
            return None
        state = torch.load(self.path, weights_only=False)
        if state.pop("identity") != self.identity:
            log.warning("%s is a checkpoint of another training: starting afresh", self.path)
            return None
        return state

    def remove(self) -> None:
        if self.path:
            shutil.rmtree(self.path.parent, ignore_errors=True)
