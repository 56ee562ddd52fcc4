"""Torch-free helpers for building the DAG: who is a row and who a column of the grid, the cells
of each method, per-rule param slices, and the library modules each script imports (declared as
inputs so that editing them reruns their rules).
"""

import ast
import re
from pathlib import Path

from crossprobe import methods, paths
from crossprobe.methods import ESTIMATOR_ANSWERS, OPTION_SCORES, SOURCE_PROBABILITIES
from crossprobe.splits import SCORED, SPLITS

PACKAGE = "crossprobe"


def module_inputs(script: Path, package_dir: Path) -> list[str]:
    """Files of `package_dir` that `script` imports, directly or through other modules."""
    package_dir = Path(package_dir)
    seen, todo = set(), [Path(script)]
    while todo:
        tree = ast.parse(todo.pop().read_text())
        for node in ast.walk(tree):
            names = []
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.split(".")[0] == PACKAGE
            ):
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
            for name in names:
                parts = name.split(".")[1:]
                module = package_dir.joinpath(*parts).with_suffix(".py") if parts else None
                if module is not None and module.is_file() and module not in seen:
                    seen.add(module)
                    todo.append(module)
    return sorted(str(p) for p in seen | {package_dir / "__init__.py"})


def grid_models(config: dict) -> list[str]:
    """The estimators (rows); each also answers questions and is a column."""
    return [m for m, spec in config["models"].items() if spec["in_grid"]]


def columns(config: dict) -> list[str]:
    """The Trained On columns: sources of graded answers."""
    return grid_models(config)


def offers(config: dict) -> dict[str, frozenset]:
    """What each column provides besides graded answers (see `crossprobe.methods`)."""
    provided = {SOURCE_PROBABILITIES, ESTIMATOR_ANSWERS}
    if config["data"]["answer_format"] != "open":
        provided.add(OPTION_SCORES)
    return {s: frozenset(provided) for s in columns(config)}


def cells(config: dict, method: str, source: str | None = None) -> list[tuple[str, str]]:
    """(estimator, source) cells of `method`'s panel (of one column, if `source` is given)."""
    sources = [source] if source else columns(config)
    return methods.cells(method, grid_models(config), sources, offers(config))


def runtime_params(config: dict, model: str) -> dict:
    """How a model runs (not where its weights come from: that reaches jobs through model.json)."""
    spec = config["models"][model]
    return {"dtype": spec["dtype"], "device": spec["device"]}


def lora_params(config: dict, model: str) -> dict:
    """The global LoRA settings overridden by the estimator's own `models.<id>.lora`."""
    return {**config["lora"], **config["models"][model].get("lora", {})}


def score_inputs(method: str, source: str, models: list[str], experiment: str) -> dict:
    """{(role, model, split): path} of what scoring `method` for `models` in column `source`
    reads, by the registry's scorer: the column's graded answers, plus the cached reads and
    fitted probes (probe), the cached reads (query), the LoRA scores (lora), or the estimators'
    own graded answers (baselines that need them)."""
    spec = methods.method(method)
    fill = {"experiment": experiment, "source": source}
    files = {
        ("graded", source, split): paths.GRADED.format(**fill, split=split) for split in SCORED
    }
    for model in models:
        at = {**fill, "model": model}
        if spec.scorer == "probe":
            files["probe", model, None] = paths.PROBE.format(**at)
        for split in SCORED:
            if spec.scorer in ("probe", "query"):
                files["reads", model, split] = paths.READS.format(**at, split=split)
            elif spec.scorer == "lora":
                files["lora", model, split] = paths.LORA_SCORES.format(**at, split=split)
            elif ESTIMATOR_ANSWERS in spec.needs:
                files["own", model, split] = paths.GRADED.format(
                    experiment=experiment, source=model, split=split
                )
    return files


def wildcard_patterns(config: dict) -> dict[str, str]:
    """The global wildcard constraints: every domain derived from the config and the registry."""

    def alternatives(values):
        return "|".join(map(re.escape, values))

    return {
        "experiment": re.escape(config["experiment"]),
        "model": alternatives(config["models"]),
        "source": alternatives(columns(config)),
        "split": alternatives(SPLITS),
        "method": alternatives(m for m in config["methods"] if m in methods.METHODS),
    }
