"""The workflow config: validated against `schemas/config.schema.yaml` with defaults filled in,
key order made canonical, then checked for what a schema cannot say. Every error names its key:
`key.path: what was wrong (expected ...)`. Torch-free: it runs while the DAG is built.
"""

import copy
import re
from pathlib import Path

import jsonschema
import yaml

from crossprobe.data import Catalogue
from crossprobe.grading import prompt_problems
from crossprobe.methods import METHODS
from crossprobe.questions import check_data_params
from crossprobe.splits import SPLITS, TRAIN, earlier
from crossprobe.tables import TableError, check_columns, mapped_columns, read_file
from crossprobe.weights import WeightsError, check_weights
from crossprobe.workflow import (
    agreement_splits,
    answer_set,
    cells,
    columns,
    display_names,
    grid_models,
    imported_splits,
    lora_params,
)


def mapped(spec: dict) -> list[str]:
    return [c for v in spec["columns"].values() for c in mapped_columns(v)]


# Keys that were renamed: using the old one fails with a message that names the new one.
RENAMED = {
    ("models", "*", "source"): "weights (where the model's weights come from)",
    ("data", "mixture"): "data.splits.<split>.datasets",
    ("data", "test_dataset"): "data.splits.test.datasets",
    ("data", "sizes"): "data.splits.<split>.size",
    ("data", "num_fewshot"): "data.splits.<split>.num_fewshot",
}


class ConfigError(ValueError):
    """An invalid config; the message lists every problem, each naming its key."""


def key_path(parts) -> str:
    return ".".join(str(p) for p in parts) or "config"


def renamed_keys(config: dict) -> list[str]:
    problems = []
    for pattern, new in RENAMED.items():
        frames = [((), config)]
        for part in pattern[:-1]:
            frames = [
                (path + (k,), v)
                for path, node in frames
                if isinstance(node, dict)
                for k, v in node.items()
                if part in ("*", k)
            ]
        for path, node in frames:
            if isinstance(node, dict) and pattern[-1] in node:
                problems.append(f"{key_path(path + (pattern[-1],))}: renamed (expected {new})")
    return problems


def _fill_defaults(validator_class):
    """A validator class that fills in each missing property's `default` (and, where a default
    is a mapping, the keys a given mapping leaves out) before validating it."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        if isinstance(instance, dict):
            for name, sub in props.items():
                if not isinstance(sub, dict) or "default" not in sub:
                    continue
                default = sub["default"]
                if name not in instance:
                    instance[name] = copy.deepcopy(default)
                elif isinstance(default, dict) and isinstance(instance[name], dict):
                    for key, value in default.items():
                        instance[name].setdefault(key, copy.deepcopy(value))
        yield from validate_properties(validator, props, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": properties})


FillingValidator = _fill_defaults(jsonschema.Draft202012Validator)

_TYPE_NAMES = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    list: "a list",
    dict: "a mapping",
    type(None): "null",
}


def describe(error: jsonschema.ValidationError) -> str:
    """One line, `key.path: what was wrong (expected ...)`, for a schema violation."""
    path, value, instance = list(error.absolute_path), error.validator_value, error.instance
    kind = error.validator
    where = key_path(path)
    if kind == "type":
        expected = " or ".join(value) if isinstance(value, list) else value
        what = _TYPE_NAMES.get(type(instance), type(instance).__name__)
        return f"{where}: {instance!r} is {what} (expected {expected})"
    if kind == "enum":
        return (
            f"{where}: {instance!r} is not allowed (expected one of {', '.join(map(str, value))})"
        )
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
        return f"{where}: {instance!r} is out of range (expected {sign[kind]} {value})"
    if kind == "required":
        missing = [k for k in value if k not in instance]
        return f"{key_path(path + missing[:1])}: missing (required)"
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = [k for k in instance if k not in error.schema.get("properties", {})]
        return "; ".join(
            f"{key_path(path + [k])}: unknown key (expected one of {', '.join(allowed)})"
            for k in extra
        )
    if kind == "unevaluatedProperties":
        extra = re.findall(r"'([^']+)'", error.message)
        known = ", ".join(sorted(k for k in instance if k not in extra))
        return "; ".join(
            f"{key_path(path + [k])}: unknown key (expected a key the schema describes, like "
            f"{known or 'columns'})"
            for k in extra
        )
    if kind in ("minItems", "maxItems"):
        bound = "at least" if kind == "minItems" else "at most"
        return f"{where}: has {len(instance)} item(s) (expected {bound} {value})"
    if kind == "minProperties":
        return f"{where}: has {len(instance)} entr(ies) (expected at least {value})"
    if kind == "uniqueItems":
        return f"{where}: {instance!r} repeats an item (expected each item once)"
    if kind == "oneOf":
        options = [k for o in value for k in o.get("required", [])]
        given = [k for k in instance if k in options] if isinstance(instance, dict) else instance
        return f"{where}: gives {given or 'none'} (expected exactly one of {', '.join(options)})"
    if kind == "pattern":
        return f"{where}: {instance!r} has a wrong form (expected to match {value})"
    if kind == "propertyNames":
        return f"{where}: a key has a wrong form ({error.message}; expected {value})"
    return f"{where}: {error.message}"


def canonical(value):
    """The same data with mapping keys sorted at every level, so that two configs that differ
    only in key order give the same params (Snakemake compares their repr)."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def validate_config(config: dict, schema: dict) -> dict:
    """`config` validated against `schema`, defaults filled in, keys in canonical order;
    ConfigError listing every problem otherwise."""
    problems = renamed_keys(config)
    if problems:
        raise ConfigError("\n".join(problems))
    filled = copy.deepcopy(config)
    validator = FillingValidator(schema)
    for _ in validator.iter_errors(filled):  # first pass fills defaults in
        pass
    errors = sorted(validator.iter_errors(filled), key=lambda e: list(map(str, e.absolute_path)))
    # a mapping that fails its own checks leaves its keys "unevaluated": say the first thing only
    failed = {tuple(e.absolute_path) for e in errors if e.validator != "unevaluatedProperties"}
    errors = [
        e
        for e in errors
        if e.validator != "unevaluatedProperties" or tuple(e.absolute_path) not in failed
    ]
    if errors:
        raise ConfigError("\n".join(dict.fromkeys(describe(e) for e in errors)))
    return canonical(filled)


def load_schema(path) -> dict:
    return yaml.safe_load(Path(path).read_text())


def check_models(config: dict) -> list[str]:
    problems = []
    models, sets = config["models"], config["answer_sets"]
    grid = grid_models(config)
    if len(grid) < 2:
        problems.append(
            f"models: {len(grid)} model(s) in the grid (expected at least 2 with in_grid: true)"
        )
    for key, spec in models.items():
        try:
            check_weights(f"models.{key}.weights", spec["weights"])
        except WeightsError as err:
            problems.append(str(err))
        if spec["answers_from"] is not None and spec["answers_from"] not in sets:
            problems.append(
                f"models.{key}.answers_from: {spec['answers_from']!r} is not a key of answer_sets "
                f"(expected one of {', '.join(sets) or 'none defined'})"
            )
    for key in sorted(set(models) & set(sets)):
        problems.append(f"answer_sets.{key}: a model has this id (expected an id of its own)")
    for key, spec in sets.items():
        if spec["in_grid"] and set(spec["splits"]) != set(SPLITS):
            problems.append(
                f"answer_sets.{key}.splits: a column needs train, calibration and test, got "
                f"{sorted(spec['splits'])} (expected all three, or in_grid: false and "
                "models.<id>.answers_from)"
            )
    names = display_names(config)
    shown = list(names.values())
    for name in sorted({n for n in shown if shown.count(n) > 1}):
        holders = [c for c, n in names.items() if n == name]
        section = "models" if holders[1] in models else "answer_sets"
        problems.append(
            f"{section}.{holders[1]}.display_name: {name!r} is also the name of {holders[0]} "
            "(expected a name of its own: the figure's axes would collide)"
        )
    return problems


def check_methods(config: dict) -> list[str]:
    problems = []
    known = set(config["models"]) | set(config["answer_sets"])
    for name in config["figure"]["order"]:
        if name not in known:
            problems.append(
                f"figure.order: {name!r} is not a model or answer set id "
                f"(expected some of {', '.join(sorted(known))})"
            )
    for method in config["methods"]:
        if method not in METHODS:
            problems.append(
                f"methods: {method!r} is not a method (expected one of {', '.join(METHODS)})"
            )
        elif not cells(config, method):
            problems.append(
                f"methods: {method!r} has no cell in this grid "
                f"(it needs {', '.join(sorted(METHODS[method].needs))}; "
                f"data.answer_format is {config['data']['answer_format']!r})"
            )
    judge = config["grading"]["judge"]
    if judge is not None and judge not in config["models"]:
        problems.append(
            f"grading.judge: {judge!r} is not a key of models "
            f"(expected one of {', '.join(config['models'])})"
        )
    if judge is not None and config["data"]["answer_format"] != "open":
        problems.append(
            "grading.judge: set, but only open answers are judged "
            "(expected data.answer_format: open)"
        )
    return problems


def check_grading(config: dict) -> list[str]:
    """The judge's prompt template, the graders' agreement and the gold answers the JS
    regulariser reads."""
    problems = []
    grading = config["grading"]
    if grading["prompt"]:
        wrong = prompt_problems(grading["prompt"])
        if wrong:
            problems.append(
                f"grading.prompt: {'; '.join(wrong)} (expected a template over {{problem}}, "
                "{gold} and {answer})"
            )
    if grading["agreement"]:
        split = grading["agreement"]["split"]
        if not grading["judge"]:
            problems.append(
                "grading.agreement: set, but there is no judge (expected grading.judge)"
            )
        elif not any(agreement_splits(config, c) for c in columns(config)):
            problems.append(
                f"grading.agreement.split: no column's {split} answers come from an answer set "
                "(expected a split that answer_sets provide, with their own labels)"
            )
    tuned = any(METHODS[m].scorer == "lora" for m in config["methods"] if m in METHODS)
    regularised = [
        m
        for m in grid_models(config)
        if lora_params(config, m)["js_weight"] > 0 and lora_params(config, m)["js_tokens"] == "gold"
    ]
    for source in columns(config):
        name = answer_set(config, source)
        spec = config["answer_sets"].get(name or "")
        if spec is None or "gold" in spec["columns"]:
            continue
        if tuned and regularised and TRAIN in imported_splits(config, source):
            problems.append(
                f"answer_sets.{name}.columns.gold: not mapped, but {regularised[0]}'s LoRA "
                "regularises on gold answers (lora.js_tokens: gold, js_weight > 0; expected the "
                "column of correct answers, e.g. target)"
            )
        if agreement_splits(config, source):
            problems.append(
                f"answer_sets.{name}.columns.gold: not mapped, but the judge grades this set "
                "(grading.agreement) against its gold answers (expected e.g. target)"
            )
    return problems


def check_tables(config: dict) -> list[str]:
    """Local files of answer sets and datasets exist and have their mapped columns."""
    problems = []
    tables = [(f"answer_sets.{k}", v) for k, v in config["answer_sets"].items()]
    tables += [(f"data.datasets.{k}", v) for k, v in config["data"]["datasets"].items()]
    for key, spec in tables:
        if "file" in spec:
            try:
                check_columns(read_file(spec["file"], key), mapped(spec), spec, key)
            except TableError as err:
                problems.append(str(err))
    return problems


def check_sizes(data: dict) -> list[str]:
    """Each split's size against the questions its datasets can still supply (datasets on the
    hub are counted by the job that loads them)."""
    problems = []
    catalogue, specs = Catalogue(data["datasets"]), data["splits"]
    for split in SPLITS:
        spec = specs[split]
        sizes = [catalogue.size(d) for d in spec["datasets"]]
        if None in sizes:
            continue
        available = sum(sizes)
        consumed = sum(
            specs[e]["size"]
            for e in earlier(split)
            if set(specs[e]["datasets"]) <= set(spec["datasets"])
        )
        if spec["size"] > available - consumed:
            problems.append(
                f"data.splits.{split}.size: {spec['size']} questions asked, but "
                f"{spec['datasets']} have {available} of which earlier splits take {consumed} "
                f"(expected at most {available - consumed})"
            )
    return problems


def check_config(config: dict) -> None:
    """What the schema cannot say, checked before any job runs; ConfigError naming the key."""
    problems = check_models(config) + check_methods(config) + check_tables(config)
    problems += check_grading(config)
    if not problems:
        try:
            check_data_params(config["data"])
        except ValueError as err:
            problems.append(str(err))
        else:
            problems += check_sizes(config["data"])
    if problems:
        raise ConfigError("\n".join(problems))
