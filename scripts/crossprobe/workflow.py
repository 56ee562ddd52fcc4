"""Torch-free helpers for building the DAG: semantic config checks, per-rule param slices, and
the library modules each script imports (declared as inputs so editing them reruns their rules).
"""

import ast
from pathlib import Path

from crossprobe.questions import check_data_params
from crossprobe.sources import SourceError, check_source

PACKAGE = "crossprobe"
OFF_DIAGONAL_METHODS = ("agreement", "agreement_prob")  # a model always agrees with itself
MC_ONLY_METHODS = ("agreement_prob",)


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


def check_config(config: dict) -> None:
    """What the JSON schema cannot say; ValueError naming the key and what was expected."""
    models = config["models"]
    grid = grid_models(config)
    if len(grid) < 2:
        raise ValueError(f"models: the grid needs at least 2 models with in_grid: true, got {grid}")
    for key, spec in models.items():
        try:
            check_source(f"models.{key}.source", spec["source"])
        except SourceError as err:
            raise ValueError(str(err)) from None
    check_data_params(config["data"])
    judge = config["grading"]["judge"]
    if judge is not None and judge not in models:
        raise ValueError(f"grading.judge: {judge!r} is not a key of models ({sorted(models)})")
    if judge is not None and config["data"]["answer_format"] != "open":
        raise ValueError("grading.judge is only used with data.answer_format: open")
    if config["data"]["answer_format"] == "open":
        bad = [m for m in config["methods"] if m in MC_ONLY_METHODS]
        if bad:
            raise ValueError(f"methods: {bad} need a multiple-choice data.answer_format")
    sizes = config["data"]["sizes"]
    if sizes["train"] < 2 or sizes["calibration"] < 2 or sizes["test"] < 2:
        raise ValueError(f"data.sizes: every split needs at least 2 questions, got {sizes}")


def grid_models(config: dict) -> list[str]:
    return [m for m, spec in config["models"].items() if spec["in_grid"]]


def cells(config: dict, method: str) -> list[tuple[str, str]]:
    """(estimator, source) pairs of `method`'s panel."""
    grid = grid_models(config)
    return [(m, s) for m in grid for s in grid if not (method in OFF_DIAGONAL_METHODS and m == s)]


def runtime_params(config: dict, model: str) -> dict:
    """How a model runs (not where its weights come from: that reaches jobs through model.json)."""
    spec = config["models"][model]
    return {"dtype": spec["dtype"], "device": spec["device"]}


def lora_params(config: dict, model: str) -> dict:
    """The global LoRA settings overridden by the estimator's own `models.<id>.lora`."""
    return {**config["lora"], **config["models"][model].get("lora", {})}
