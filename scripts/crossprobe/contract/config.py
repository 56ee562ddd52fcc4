"""The workflow config: validated against `schemas/config.schema.yaml` with defaults filled in,
key order made canonical, then checked for what a schema cannot say. Every error names its key:
`key.path: what was wrong (expected ...)`. Torch-free: it runs while the DAG is built.
"""

import copy
import re
from pathlib import Path

import jsonschema
import yaml

# Keys that were renamed: using the old one fails with a message that names the new one.
RENAMED = {
    ("models", "*", "source"): "weights (where the model's weights come from)",
    ("data", "mixture"): "data.splits.<split>.datasets",
    ("data", "test_dataset"): "data.splits.test.datasets",
    ("data", "sizes"): "data.splits.<split>.size",
    ("data", "num_fewshot"): "data.splits.<split>.num_fewshot",
    ("evaluation", "min_subject_answers"): "evaluation.min_class_answers (per class)",
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


def error_text(error: jsonschema.ValidationError) -> str:
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
        raise ConfigError("\n".join(dict.fromkeys(error_text(e) for e in errors)))
    return canonical(filled)


def load_schema(path) -> dict:
    return yaml.safe_load(Path(path).read_text())


# the workflow's schema, beside the package (scripts/crossprobe/contract/ -> schemas/)
SCHEMA_FILE = Path(__file__).resolve().parents[3] / "schemas" / "config.schema.yaml"


def read_config(configfile, schema_file=SCHEMA_FILE) -> dict:
    """A config file as the workflow reads it: validated against the schema, defaults filled
    in, keys in canonical order (ConfigError naming every bad key otherwise)."""
    return validate_config(yaml.safe_load(Path(configfile).read_text()), load_schema(schema_file))


def lora_params(config: dict, model: str) -> dict:
    """The global LoRA settings overridden by the estimator's own `models.<id>.lora`."""
    return {**config["lora"], **config["models"][model].get("lora", {})}
