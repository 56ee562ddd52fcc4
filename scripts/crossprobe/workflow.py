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
    """The Trained On columns: the grid's models, then the answer sets in the grid."""
    sets = [a for a, spec in config.get("answer_sets", {}).items() if spec["in_grid"]]
    return grid_models(config) + sets


def display_names(config: dict) -> dict[str, str]:
    """Name on the figure's axes of every row and column."""
    named = {**config["models"], **config.get("answer_sets", {})}
    return {c: named[c].get("display_name", c) for c in grid_models(config) + columns(config)}


def answer_set(config: dict, source: str) -> str | None:
    """The answer set some or all of column `source`'s answers come from, if any."""
    if source in config.get("answer_sets", {}):
        return source
    return config["models"].get(source, {}).get("answers_from")


def imported_splits(config: dict, source: str) -> list[str]:
    """The splits of column `source` whose labelled answers come from an answer set; a model
    answers (and has graded) the others itself."""
    spec = config.get("answer_sets", {}).get(answer_set(config, source) or "", {})
    return [s for s in SPLITS if s in spec.get("splits", {})]


def generated_splits(config: dict, model: str) -> list[str]:
    """The splits a model answers itself (the rest come from its answer set)."""
    return [s for s in SPLITS if s not in imported_splits(config, model)]


def agreement_splits(config: dict, source: str) -> list[str]:
    """The splits of column `source` whose labels from another grader (an answer set's) the
    judge grades too, to measure how far the two graders agree (`grading.agreement`)."""
    agreement = config["grading"]["agreement"]
    if not config["grading"]["judge"] or not agreement:
        return []
    return [s for s in imported_splits(config, source) if s == agreement["split"]]


def judged_splits(config: dict, source: str) -> dict[str, list[str]]:
    """What the judge grades of column `source`: {"generated": the splits its model answered,
    "imported": the answer set's splits it grades to measure the graders}."""
    generated = generated_splits(config, source) if source in config["models"] else []
    return {
        "generated": generated if config["grading"]["judge"] else [],
        "imported": agreement_splits(config, source),
    }


def answering_params(config: dict, split: str) -> dict:
    """How models answer `split`: the answers settings, the format, and the split's own
    max_new_tokens if it has one (the paper: 30 for training answers, 100 for MMLU)."""
    own = config["data"]["splits"][split].get("max_new_tokens")
    return {
        **config["answers"],
        "answer_format": config["data"]["answer_format"],
        "max_new_tokens": own or config["answers"]["max_new_tokens"],
    }


def answer_set_params(config: dict, source: str, split: str) -> dict:
    """What import_answers needs: the set's table spec, which of its splits is ours, and the
    config key to name in errors."""
    name = answer_set(config, source)
    spec = config["answer_sets"][name]
    table = {k: v for k, v in spec.items() if k not in ("display_name", "in_grid", "splits")}
    return {"key": f"answer_sets.{name}", "table": table, "split": spec["splits"][split]}


def answers_path(config: dict, source: str, split: str) -> str:
    """The graded answers of column `source` on `split`, wherever they come from."""
    template = paths.IMPORTED if split in imported_splits(config, source) else paths.GRADED
    return template.format(experiment=config["experiment"], source=source, split=split)


def offers(config: dict) -> dict[str, frozenset]:
    """What each column provides besides graded answers (see `crossprobe.methods`): all of it
    when a model of the grid generated its calibration and test answers, nothing when they come
    from an answer set (no token probabilities, not the grid's questions)."""
    provided = {SOURCE_PROBABILITIES, ESTIMATOR_ANSWERS}
    if config["data"]["answer_format"] != "open":
        provided.add(OPTION_SCORES)
    return {
        s: frozenset() if set(SCORED) & set(imported_splits(config, s)) else frozenset(provided)
        for s in columns(config)
    }


def cells(config: dict, method: str, source: str | None = None) -> list[tuple[str, str]]:
    """(estimator, source) cells of `method`'s panel (of one column, if `source` is given)."""
    sources = [source] if source else columns(config)
    return methods.cells(method, grid_models(config), sources, offers(config))


def missing_cells(config: dict) -> dict[str, dict[str, str]]:
    """{method: {column: why it has no cells there}} for the configured methods."""
    provided = offers(config)
    missing = {}
    for method in config["methods"]:
        for source in columns(config):
            reason = methods.missing_reason(method, source, provided)
            if reason:
                missing.setdefault(method, {})[source] = reason
    return missing


def runtime_params(config: dict, model: str) -> dict:
    """How a model runs (not where its weights come from: that reaches jobs through model.json)."""
    spec = config["models"][model]
    return {"dtype": spec["dtype"], "device": spec["device"]}


def without_seeds(settings: dict) -> dict:
    """Training settings as one training job sees them: its own seed is a wildcard, so the list
    of seeds stays out (adding a seed then adds jobs and reruns none)."""
    return {k: v for k, v in settings.items() if k != "seeds"}


def lora_params(config: dict, model: str) -> dict:
    """The global LoRA settings overridden by the estimator's own `models.<id>.lora`."""
    return {**config["lora"], **config["models"][model].get("lora", {})}


HEADLINES = {  # evaluation.headline -> (metric in grid.tsv, how tables and figures name it)
    "per_subject_mean": ("auroc_subject_mean", "AUROC, mean over subjects"),
    "pooled": ("auroc", "AUROC, pooled"),
}


def grid_layout(config: dict) -> dict:
    """What the tables and the figure show, in order: methods (panels), rows (estimators),
    columns (sources), display names, why a method has no cells in a column, the headline
    metric (and what a per-subject mean needs to count), and the figure's colour limits."""
    metric, label = HEADLINES[config["evaluation"]["headline"]]
    order = config["figure"]["order"]

    def ordered(ids: list[str]) -> list[str]:
        return sorted(ids, key=lambda i: order.index(i) if i in order else len(order))

    return {
        "methods": list(config["methods"]),
        "rows": ordered(grid_models(config)),
        "columns": ordered(columns(config)),
        "names": display_names(config),
        "missing": missing_cells(config),
        "headline": metric,
        "headline_label": label,
        "min_subject_answers": config["evaluation"]["min_subject_answers"],
        "min_subjects": config["evaluation"]["min_subjects"],
        "limits": list(config["figure"]["auroc_limits"]),
    }


def replicates(config: dict, method: str, model: str) -> list[tuple[str, int | None]]:
    """(n_train, seed) of every estimator behind one cell of `method`: the grid's (all training
    answers, each training seed), then the sweep's (each size, each sweep seed); untrained
    methods have one, (all, None)."""
    spec = methods.method(method)
    if not spec.trained:
        return [(paths.ALL, None)]
    if spec.scorer == "lora":
        seeds = lora_params(config, model)["seeds"]
    else:
        seeds = config["probe"]["seeds"]
    grid = [(paths.ALL, seed) for seed in seeds]
    if method not in config["sweep"]["methods"] or spec.pooled:
        return grid
    sizes = sorted(config["sweep"]["train_sizes"])
    return grid + [(str(n), seed) for n in sizes for seed in config["sweep"]["seeds"]]


def file_key(*parts) -> str:
    return "/".join(str(p) for p in parts)


def score_inputs(config: dict, method: str, source: str) -> dict[str, str]:
    """{file_key(role, model, ...): path} of what scoring `method` for every cell of column
    `source` reads, by the registry's scorer: the column's graded answers, plus the cached reads
    and each replicate's fitted probe (probe), the cached reads (query), each replicate's LoRA
    scores (lora), or the estimators' own graded answers (baselines that need them)."""
    spec = methods.method(method)
    fill = {"experiment": config["experiment"], "source": source}
    train_set = paths.ALL if spec.pooled else source
    files = {file_key("answers", source, s): answers_path(config, source, s) for s in SCORED}
    for model, _ in cells(config, method, source):
        at = {**fill, "model": model, "train_set": train_set}
        for split in SCORED:
            if spec.scorer in ("probe", "query"):
                files[file_key("reads", model, split)] = paths.READS.format(**at, split=split)
            elif ESTIMATOR_ANSWERS in spec.needs:
                files[file_key("own", model, split)] = answers_path(config, model, split)
        for n_train, seed in replicates(config, method, model) if spec.trained else []:
            trained = {**at, "n_train": n_train, "seed": seed}
            if spec.scorer == "probe":
                path = paths.PROBE.format(**trained, features=spec.features)
                files[file_key("probe", model, n_train, seed)] = path
            else:
                for split in SCORED:
                    path = paths.LORA_SCORES.format(**trained, split=split)
                    files[file_key("lora", model, n_train, seed, split)] = path
    return files


def alternatives(values) -> str:
    """A wildcard constraint matching exactly `values`."""
    return "|".join(map(re.escape, values))


def training_sets(config: dict, train_set: str) -> list[str]:
    """The columns whose training answers a trained estimator learns from."""
    return columns(config) if train_set == paths.ALL else [train_set]


def wildcard_patterns(config: dict) -> dict[str, str]:
    """The global wildcard constraints: every domain derived from the config and the registry."""
    return {
        "experiment": re.escape(config["experiment"]),
        "model": alternatives(config["models"]),
        "source": alternatives(columns(config)),
        "train_set": alternatives(columns(config) + [paths.ALL]),
        "split": alternatives(SPLITS),
        "method": alternatives(m for m in config["methods"] if m in methods.METHODS),
        "features": alternatives(sorted({m.features for m in methods.METHODS.values()})),
        "n_train": r"all|\d+",
        "seed": r"\d+",
    }
