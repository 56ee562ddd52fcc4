"""Torch-free helpers for building the DAG: who is a row and who a column of the grid, the cells
of each method, per-rule param slices, and the library modules each script imports (declared as
inputs so that editing them reruns their rules).
"""

import ast
import re
from pathlib import Path

from crossprobe.contract import methods, paths
from crossprobe.contract.config import lora_params
from crossprobe.contract.grid import (
    agreement_splits,
    answer_set,
    answers_path,
    cells,
    columns,
    display_names,
    generated_splits,
    grid_models,
    missing_cells,
    offers,
    released_adapters,
    training_sets,
)
from crossprobe.contract.headlines import HEADLINES
from crossprobe.contract.splits import SCORED, SPLITS, TEST
from crossprobe.intake.adapters import adapter_name
from crossprobe.intake.weights import local_files
from crossprobe.scores.scorers import SCORERS, file_key

PACKAGE = "crossprobe"


def module_inputs(script: Path, package_dir: Path) -> list[str]:
    """Files of `package_dir` that `script` imports, directly or through other modules, with the
    `__init__.py` of every package they sit in."""
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
    packages = {p / "__init__.py" for m in seen for p in m.parents if p.is_relative_to(package_dir)}
    return sorted(str(p) for p in seen | packages)


def local_weight_files(config: dict, model: str) -> dict:
    """A local model's files are inputs of prepare_model: replacing them reruns it."""
    weights = config["models"][model]["weights"]
    return {"weights": local_files(weights["local"])} if "local" in weights else {}


def local_adapter_files(config: dict, model: str) -> dict:
    """A local adapter's files are inputs of prepare_adapter: replacing them rewrites it."""
    source = lora_params(config, model)["adapter"]
    return {"adapter_files": local_files(source["local"])} if "local" in source else {}


def released_adapter_files(config: dict) -> list[str]:
    """Where the adapters trained elsewhere go: each in place of its estimator's adapter trained
    on its own answers, of its one LoRA seed."""
    return [
        paths.ADAPTER.format(
            experiment=config["experiment"], model=m, train_set=m, n_train=paths.ALL, seed=seed
        )
        for m in released_adapters(config)
        for seed in lora_params(config, m)["seeds"]
    ]


def answer_set_files(config: dict, source: str) -> dict:
    """A local answers file is an input of import_answers: editing it re-imports."""
    spec = config["answer_sets"].get(answer_set(config, source) or "", {})
    return {"table": spec["file"]} if "file" in spec else {}


def answer_set_params(config: dict, source: str, split: str) -> dict:
    """What import_answers needs: the set's table spec, which of its splits is ours, and the
    config key to name in errors."""
    name = answer_set(config, source)
    spec = config["answer_sets"][name]
    table = {k: v for k, v in spec.items() if k not in ("display_name", "in_grid", "splits")}
    return {"key": f"answer_sets.{name}", "table": table, "split": spec["splits"][split]}


def runtime_params(config: dict, model: str) -> dict:
    """How a model runs (not where its weights come from: that reaches jobs through model.json):
    its dtype, its device, and the GPUs the experiment asks for (`resources.gpu`), which a job
    that sees none refuses to run without, whatever its SLURM request spells."""
    spec = config["models"][model]
    return {"dtype": spec["dtype"], "device": spec["device"], "gpus": config["resources"]["gpu"]}


def grid_layout(config: dict) -> dict:
    """What the tables and the figure show, in order: methods (panels), rows (estimators),
    columns (sources), display names, why a method has no cells in a column, the headline
    metric (and what a per-subject mean needs to count), and the figure's colour limits."""
    metric, label = HEADLINES[config["evaluation"]["headline"]]
    order = config["figure"]["order"]

    def ordered(ids: list[str]) -> list[str]:
        return sorted(ids, key=lambda i: order.index(i) if i in order else len(order))

    configured = list(config["methods"])
    layout = {
        "methods": configured,
        "figure_methods": [m for m in config["figure"]["methods"] if m in configured]
        or configured[:2],
        "rows": ordered(grid_models(config)),
        "columns": ordered(columns(config)),
        "names": display_names(config),
        "missing": missing_cells(config),
        "headline": metric,
        "headline_label": label,
        "min_class_answers": config["evaluation"]["min_class_answers"],
        "min_subjects": config["evaluation"]["min_subjects"],
        "equivalence_margin": config["evaluation"]["equivalence_margin"],
        "limits": list(config["figure"]["auroc_limits"]),
    }
    adapters, elsewhere = released_adapters(config), {}
    for method in configured:
        if method in methods.METHODS and methods.method(method).scorer == "lora":
            served = [m for m, _ in cells(config, method) if m in adapters]
            elsewhere[method] = {m: adapter_name(adapters[m]) for m in served}
    if any(elsewhere.values()):  # which cells score an adapter trained elsewhere, and whose
        layout["adapters_trained_elsewhere"] = elsewhere
    return layout


def training_runs(
    config: dict, scorer: str, model: str, n_train: str, recipe: str
) -> list[tuple[int, int]]:
    """(seed, resample) of every fit behind one trained estimator of scorer kind `scorer`: each
    training seed (the scorer's own, or `sweep.seeds` for a swept size) on its training answers
    (resample 0) and on each bootstrap resample of them (`crossprobe.contract.splits`)."""
    kind = SCORERS[scorer]
    seeds = kind.seeds(config, model) if n_train == paths.ALL else config["sweep"]["seeds"]
    return [(s, b) for b in range(kind.resamples(config, recipe) + 1) for s in seeds]


def estimators(config: dict, method: str) -> list[tuple[str, str]]:
    """(n_train, recipe) of every estimator behind one cell of trained `method`: the grid's (all
    training answers, its own recipe), each swept size's, and each recipe variant's."""
    spec = methods.method(method)
    found = [(paths.ALL, paths.GRID_RECIPE)]
    if method in config["sweep"]["methods"] and spec.learns_from == methods.ON_COLUMN:
        sizes = sorted(config["sweep"]["train_sizes"])
        found += [(str(n), paths.GRID_RECIPE) for n in sizes]
    if spec.recipes:
        found += [(paths.ALL, name) for name in variant_recipes(config)]
    return found


def replicates(config: dict, method: str, model: str) -> list[tuple[str, str, int | None, int]]:
    """(n_train, recipe, seed, resample) of every fit behind one cell of `method`: each of its
    estimators' training runs; untrained methods have one, (all, grid, None, 0)."""
    spec = methods.method(method)
    if not spec.trained:
        return [(paths.ALL, paths.GRID_RECIPE, None, 0)]
    return [
        (n, recipe, seed, resample)
        for n, recipe in estimators(config, method)
        for seed, resample in training_runs(config, spec.scorer, model, n, recipe)
    ]


def variant_recipes(config: dict) -> dict[str, dict]:
    """{name: MLP recipe} of the probe's recipe variants (`probe.variants`), in config order."""
    return {v["name"]: v["mlp"] for v in config["probe"]["variants"]}


def probe_params(config: dict, n_train: str, recipe: str) -> dict:
    """What one fit_probe job fits: the head (its kind and that kind's settings: the grid's, or
    a variant's MLP recipe) and its training runs, (seed, resample) each."""
    probe = config["probe"]
    if recipe == paths.GRID_RECIPE:
        head = {"kind": probe["kind"], probe["kind"]: probe[probe["kind"]]}
    else:
        head = {"kind": "mlp", "mlp": variant_recipes(config)[recipe]}
    return head | {"runs": training_runs(config, "probe", "", n_train, recipe)}


def score_inputs(config: dict, method: str, source: str) -> dict[str, str]:
    """{file_key(role, model, ...): path} of what scoring `method` for every cell of column
    `source` reads: the column's graded answers, and what the method's scorer kind reads for
    each cell and replicate (`crossprobe.scores.scorers`)."""
    spec = methods.method(method)
    scorer = SCORERS[spec.scorer]
    files = {file_key("answers", source, s): answers_path(config, source, s) for s in SCORED}
    for model, _ in cells(config, method, source):
        at = {"experiment": config["experiment"], "source": source, "model": model}
        at["train_set"] = spec.train_set(model, source)
        files |= scorer.files(spec, at, replicates(config, method, model))
    return files


def scoring(config: dict, method: str, source: str) -> dict:
    """What the score_column job of one (method, column) needs: each cell model's replicates
    and the files to read; and, for its provenance, where the LoRA adapters that were trained
    elsewhere come from."""
    models = [m for m, _ in cells(config, method, source)]
    plan = {
        "method": method,
        "source": source,
        "replicates": {m: replicates(config, method, m) for m in models},
        "files": score_inputs(config, method, source),
    }
    released = released_adapters(config) if methods.method(method).scorer == "lora" else {}
    if set(models) & set(released):
        plan["adapters_trained_elsewhere"] = {m: released[m] for m in models if m in released}
    return plan


def column_methods(config: dict, source: str) -> list[str]:
    """The configured methods with at least one cell in column `source`."""
    return [m for m in config["methods"] if cells(config, m, source)]


def consensus_answers(config: dict, source: str) -> dict[str, str]:
    """{model: its graded test answers} of column `source` and of every other estimator that
    answered the column's questions itself (the agreement baseline's capability): what splits
    the column's test answers by whether estimator and source agree. Empty where none did."""
    provided = offers(config)
    if methods.ESTIMATOR_ANSWERS not in provided.get(source, frozenset()):
        return {}
    others = [
        m
        for m in grid_models(config)
        if m != source and methods.ESTIMATOR_ANSWERS in provided.get(m, frozenset())
    ]
    return {m: answers_path(config, m, TEST) for m in [source, *others]} if others else {}


def graded_tables(config: dict) -> list[str]:
    """Every column's graded answers, every split."""
    return [answers_path(config, s, split) for s in columns(config) for split in SPLITS]


def agreement_columns(config: dict) -> list[str]:
    """The columns whose answer-set labels the judge grades too."""
    return [c for c in columns(config) if agreement_splits(config, c)]


def reference_columns(config: dict) -> list[str]:
    """The columns whose judged test answers are compared with another grader's accuracy per
    subject (`grading.reference`): models of the grid that answer their test split."""
    reference = config["grading"]["judge"] and config["grading"]["reference"]
    if not reference:
        return []
    return [
        m
        for m in grid_models(config)
        if m in reference["models"] and "test" in generated_splits(config, m)
    ]


def reference_scores(config: dict) -> list[tuple[str, str]]:
    """(method, column) of the score tables put beside the authors' runs (evaluation.reference):
    every configured method's, in every column it has cells in (the comparison says where the
    reference has no matching run)."""
    if not config["evaluation"]["reference"]:
        return []
    return [(m, c) for m in config["methods"] for c in columns(config) if cells(config, m, c)]


def graded_scores(config: dict) -> list[tuple[str, str]]:
    """(method, column) of the learned methods' score tables in those columns."""
    return [
        (m, c)
        for c in agreement_columns(config)
        for m in config["methods"]
        if methods.method(m).trained and cells(config, m, c)
    ]


def training_params(config: dict, train_set: str) -> dict:
    """What a trained estimator's job needs to know of its training answers: the columns they
    come from (in its input order), the share held out to select its checkpoint, the seed."""
    return {
        "sources": training_sets(config, train_set),
        "fraction": config["selection"]["fraction"],
        "seed": config["seed"],
    }


BOOTSTRAP = ("bootstrap", "ci")  # how any interval is drawn
COMPUTED = BOOTSTRAP + ("ece_bins", "min_class_answers")  # the rest only displays


def bootstrap_params(config: dict) -> dict:
    """How an interval is drawn: resamples, coverage and the seed."""
    return {k: config["evaluation"][k] for k in BOOTSTRAP} | {"seed": config["seed"]}


def evaluation_params(config: dict) -> dict:
    """The evaluation settings the numbers depend on; display choices (the headline, the
    minimum subjects a headline is flagged below) reach only the rules that draw."""
    return bootstrap_params(config) | {k: config["evaluation"][k] for k in COMPUTED}


NOTHING = "(?!)"  # a pattern no value matches (an empty one would be no constraint at all)


def alternatives(values) -> str:
    """A wildcard constraint matching exactly `values` (none: nothing)."""
    return "|".join(map(re.escape, values)) or NOTHING


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
        "recipe": alternatives([paths.GRID_RECIPE, *variant_recipes(config)]),
        "seed": r"\d+",
    }
