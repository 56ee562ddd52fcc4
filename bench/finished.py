"""What the benchmarks read of a finished run: its config (validated, defaults filled in, as the
workflow reads it) and its files, by the workflow's own path scheme
(`crossprobe.contract.paths`)."""

import argparse
import json
from pathlib import Path

from crossprobe.contract import grid
from crossprobe.contract.config import lora_params, read_config

ROOT = Path(__file__).resolve().parents[1]


class FinishedRun:
    """A run of `configfile` in the workflow folder `directory`."""

    def __init__(self, configfile=ROOT / "config.yaml", directory=ROOT):
        self.config = read_config(configfile)
        self.directory = Path(directory)
        self.experiment = self.config["experiment"]

    @classmethod
    def arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--configfile", default=str(ROOT / "config.yaml"))
        parser.add_argument("--directory", default=str(ROOT), help="the run's workflow folder")

    @classmethod
    def of(cls, args) -> "FinishedRun":
        return cls(args.configfile, args.directory)

    def path(self, template: str, **wildcards) -> Path:
        return self.directory / template.format(experiment=self.experiment, **wildcards)

    def answers(self, source: str, split: str) -> Path:
        """A column's graded answers on a split, wherever they come from."""
        return self.directory / grid.answers_path(self.config, source, split)

    def model_record(self, model: str) -> dict:
        from crossprobe.contract import paths

        return json.loads(self.path(paths.MODEL, model=model).read_text())

    def models(self) -> list[str]:
        return grid.grid_models(self.config)

    def lora(self, model: str) -> dict:
        return lora_params(self.config, model)
