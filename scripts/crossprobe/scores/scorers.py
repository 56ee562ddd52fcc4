"""The scorer kinds: where a method's raw log-odds come from (`Method.scorer` in
`crossprobe.contract.methods`), defined once for both sides of the workflow. For the DAG: which
files one cell needs besides the column's graded answers, and where a trained scorer's seeds come
from. For the score_column job: how one replicate's log-odds are read from those files.

Adding a scorer kind is one class here (and the rule that writes what it reads, if none does).
Torch-free: probes are applied in numpy, LoRA's log-odds come from score_lora's tables.
"""

from functools import lru_cache

import numpy as np
import pandas as pd

from crossprobe.contract import paths
from crossprobe.contract.config import lora_params
from crossprobe.contract.methods import ESTIMATOR_ANSWERS, Method
from crossprobe.contract.splits import SCORED
from crossprobe.reads.features import aligned, load_reads
from crossprobe.reads.probes import load_probes, probe_logodds
from crossprobe.scores import baselines


def file_key(*parts) -> str:
    """The key of one input file in a score_column plan (role, model, ...)."""
    return "/".join(str(p) for p in parts)


class ColumnFiles:
    """What scoring one column reads, each file loaded once: the column's graded answers per
    scored split and the files of its cells, by `file_key`."""

    def __init__(self, files: dict, source: str):
        self.files = files
        self.graded = {s: pd.read_parquet(files[file_key("answers", source, s)]) for s in SCORED}
        self.reads = lru_cache(self._reads)
        self.table = lru_cache(lambda key: pd.read_parquet(self.files[key]))
        self.probes = lru_cache(lambda key: load_probes(self.files[key]))

    def _reads(self, model: str, split: str) -> dict:
        """The estimator's cached reads of the split, in the graded table's row order."""
        path = self.files[file_key("reads", model, split)]
        arrays, ids = load_reads(path)
        return {n: aligned(a, ids, self.graded[split], path) for n, a in arrays.items()}


class Scorer:
    """A scorer kind. `at` holds the path wildcards of one cell (experiment, source, model,
    train_set); a replicate is one fit behind it, (n_train, recipe, seed, resample)
    (`crossprobe.dag.replicates`)."""

    name: str
    seeds_from: str | None = None  # the config section whose `seeds` a trained scorer uses

    def seeds(self, config: dict, model: str) -> list[int]:
        """The training seeds of `model`'s estimators of this kind."""
        section = lora_params(config, model) if self.seeds_from == "lora" else config["probe"]
        return list(section["seeds"])

    def resamples(self, config: dict, recipe: str) -> int:
        """Bootstrap resamples of the training answers each seed of an estimator with `recipe`
        is refitted on, besides the answers themselves (0: none)."""
        return 0

    def files(self, method: Method, at: dict, replicates) -> dict[str, str]:
        raise NotImplementedError

    def raw(self, method: Method, column: ColumnFiles, model, split, replicate) -> np.ndarray:
        raise NotImplementedError


def reads_files(at: dict) -> dict[str, str]:
    return {file_key("reads", at["model"], s): paths.READS.format(**at, split=s) for s in SCORED}


class ProbeScorer(Scorer):
    """A probe (per replicate) applied to the estimator's cached features: one file per
    estimator holds the fits of all its replicates."""

    name, seeds_from = "probe", "probe"

    def resamples(self, config, recipe):
        # the variants are a sensitivity to the recipe on the one split of training answers
        return config["probe"]["resamples"] if recipe == paths.GRID_RECIPE else 0

    def files(self, method, at, replicates):
        probes = {
            file_key("probe", at["model"], n, recipe): paths.PROBE.format(
                **at, n_train=n, recipe=recipe, features=method.features
            )
            for n, recipe, _, _ in replicates
        }
        return reads_files(at) | probes

    def raw(self, method, column, model, split, replicate):
        n_train, recipe, seed, resample = replicate
        probe = column.probes(file_key("probe", model, n_train, recipe))[seed, resample]
        return probe_logodds(probe, column.reads(model, split)[f"{method.features}_features"])


class QueryScorer(Scorer):
    """The untuned estimator's answer to the query, from its cached logits of " i" and " ii"."""

    name = "query"

    def files(self, method, at, replicates):
        return reads_files(at)

    def raw(self, method, column, model, split, replicate):
        logits = column.reads(model, split)["query_logits"].astype(np.float64)
        return logits[:, 1] - logits[:, 0]


class LoraScorer(Scorer):
    """A LoRA-tuned estimator's answer to the query (per replicate), from score_lora's tables."""

    name, seeds_from = "lora", "lora"

    def files(self, method, at, replicates):
        return {
            file_key("lora", at["model"], n, seed, s): paths.LORA_SCORES.format(
                **at, n_train=n, seed=seed, split=s
            )
            for n, _, seed, _ in replicates
            for s in SCORED
        }

    def raw(self, method, column, model, split, replicate):
        n_train, _, seed, _ = replicate
        key = file_key("lora", model, n_train, seed, split)
        table = column.table(key)
        return aligned(
            table["logodds"].to_numpy(), list(table["question_id"]), column.graded[split], key
        )


class BaselineScorer(Scorer):
    """A free baseline: the function of `crossprobe.scores.baselines` named as the method, on
    the column's graded answers (and the estimator's own, where the method needs them)."""

    name = "baseline"

    def files(self, method, at, replicates):
        if ESTIMATOR_ANSWERS not in method.needs:
            return {}
        # an estimator offers its own answers only where it generated (and graded) them
        own = {**at, "source": at["model"]}
        return {
            file_key("own", at["model"], s): paths.GRADED.format(**own, split=s) for s in SCORED
        }

    def raw(self, method, column, model, split, replicate):
        own = file_key("own", model, split)
        estimator = column.table(own) if own in column.files else None
        return getattr(baselines, method.name)(column.graded[split], estimator)


SCORERS = {s.name: s for s in (ProbeScorer(), QueryScorer(), LoraScorer(), BaselineScorer())}
