"""The grid a config describes: who is a row (the estimators) and who a column (whose answers,
"Trained On"), where each column's answers of each split come from (generated and graded, or
imported from an answer set), what each column offers besides graded answers, and the cells of
each method. Torch-free: the DAG, the config checks and the jobs' params all derive from it."""

from crossprobe.contract import methods, paths
from crossprobe.contract.formats import answer_format
from crossprobe.contract.methods import ESTIMATOR_ANSWERS, OPTION_SCORES, SOURCE_PROBABILITIES
from crossprobe.contract.splits import SCORED, SPLITS


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


def answers_path(config: dict, source: str, split: str) -> str:
    """The graded answers of column `source` on `split`, wherever they come from."""
    template = paths.IMPORTED if split in imported_splits(config, source) else paths.GRADED
    return template.format(experiment=config["experiment"], source=source, split=split)


def offers(config: dict) -> dict[str, frozenset]:
    """What each column provides besides graded answers (see `crossprobe.contract.methods`):
    all of it when a model of the grid generated its calibration and test answers, nothing when
    they come from an answer set (no token probabilities, not the grid's questions)."""
    provided = {SOURCE_PROBABILITIES, ESTIMATOR_ANSWERS}
    if answer_format(config["data"]["answer_format"]).option_scores:
        provided.add(OPTION_SCORES)
    return {
        s: frozenset() if set(SCORED) & set(imported_splits(config, s)) else frozenset(provided)
        for s in columns(config)
    }


def released_adapters(config: dict) -> dict[str, dict]:
    """{estimator: where its adapter comes from} of the grid's models that score LoRA + Prompt
    with an adapter trained elsewhere (`models.<id>.lora.adapter`, e.g. the authors' released
    ones) instead of training their own (an estimator's own key: the global one is refused)."""
    adapters = {m: config["models"][m].get("lora", {}).get("adapter") for m in grid_models(config)}
    return {m: adapter for m, adapter in adapters.items() if adapter}


def unserved(config: dict, method: str, model: str, source: str) -> bool:
    """Whether cell (model, source) of `method` needs a LoRA adapter that nobody trains: an
    estimator with a released adapter trains none, and its released adapter stands in only for
    the one it would train on its own answers (where the method's training set is its own
    column)."""
    spec = methods.method(method)
    return (
        spec.scorer == "lora"
        and model in released_adapters(config)
        and spec.train_set(model, source) != model
    )


def cells(config: dict, method: str, source: str | None = None) -> list[tuple[str, str]]:
    """(estimator, source) cells of `method`'s panel (of one column, if `source` is given)."""
    sources = [source] if source else columns(config)
    found = methods.cells(method, grid_models(config), sources, offers(config))
    return [(m, s) for m, s in found if not unserved(config, method, m, s)]


def missing_cells(config: dict) -> dict[str, dict[str, str]]:
    """{method: {column: why it has no cells there, or why some estimators have none}} for the
    configured methods."""
    provided = offers(config)
    names = display_names(config)
    missing = {}
    for method in config["methods"]:
        for source in columns(config):
            reason = methods.missing_reason(method, source, provided) or "; ".join(
                f"{names[m]}'s LoRA + Prompt is an adapter trained elsewhere on {names[m]}'s own "
                f"answers (models.{m}.lora.adapter): none is trained on {names[source]}'s"
                for m, s in methods.cells(method, grid_models(config), [source], provided)
                if unserved(config, method, m, s)
            )
            if reason:
                missing.setdefault(method, {})[source] = reason
    return missing


def training_sets(config: dict, train_set: str) -> list[str]:
    """The columns whose training answers a trained estimator learns from."""
    return columns(config) if train_set == paths.ALL else [train_set]
