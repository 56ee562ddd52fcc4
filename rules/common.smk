import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))

from crossprobe import paths
from crossprobe.config import ConfigError, check_config, load_schema, validate_config
from crossprobe.resources import growing
from crossprobe.splits import CALIBRATION, SCORED, SPLITS, TRAIN, split_params
from crossprobe.weights import local_files
from crossprobe.workflow import (
    cells,
    columns,
    grid_models,
    lora_params,
    module_inputs,
    runtime_params,
    score_inputs,
    wildcard_patterns,
)

try:
    _valid = validate_config(
        config, load_schema(Path(workflow.basedir) / "schemas/config.schema.yaml")
    )
    check_config(_valid)
except ConfigError as err:
    raise WorkflowError(f"invalid config:\n{err}") from None
# defaults filled in and keys in canonical order, so params compare equal across runs
config.clear()
config.update(_valid)

EXPERIMENT = config["experiment"]
MODELS = list(config["models"])
ESTIMATORS = grid_models(config)
COLUMNS = columns(config)
METHODS = config["methods"]
JUDGE = config["grading"]["judge"]
NAMES = {m: config["models"][m].get("display_name", m) for m in ESTIMATORS}


wildcard_constraints:
    **wildcard_patterns(config),


def alternatives(values):
    return "|".join(map(re.escape, values))


def library(script):
    """The crossprobe modules `script` imports: inputs, so that editing them reruns the rule."""
    scripts = Path(workflow.basedir) / "scripts"
    return module_inputs(scripts / script, scripts / "crossprobe")


def target(template, **wildcards):
    """`template` filled in for this experiment; list-valued wildcards expand."""
    return expand(template, experiment=EXPERIMENT, **wildcards)


def fill(template, wildcards, **overrides):
    """`template` filled in with a job's wildcards, some replaced by `overrides`."""
    return template.format(**{**dict(wildcards.items()), **overrides})


def local_weight_files(model):
    """A local model's files are inputs of prepare_model: replacing them reruns it."""
    weights = config["models"][model]["weights"]
    return {"weights": local_files(weights["local"])} if "local" in weights else {}


def graded_tables():
    return target(paths.GRADED, source=COLUMNS, split=SPLITS)


def method_scores(method):
    """The score tables of `method` (none if it is not configured)."""
    return [
        target(paths.SCORES, method=method, source=s)[0]
        for s in COLUMNS
        if method in column_methods(s)
    ]


def column_methods(source):
    """The configured methods with at least one cell in column `source`."""
    return [m for m in METHODS if cells(config, m, source)]


def score_files(wildcards):
    """What the score_column job of one (method, column) reads, derived from the registry."""
    models = [m for m, _ in cells(config, wildcards.method, wildcards.source)]
    return sorted(
        set(
            score_inputs(
                wildcards.method, wildcards.source, models, EXPERIMENT
            ).values()
        )
    )


def score_plan(wildcards):
    return {
        "method": wildcards.method,
        "source": wildcards.source,
        "models": [m for m, _ in cells(config, wildcards.method, wildcards.source)],
        "experiment": EXPERIMENT,
    }


def model_runtime(wildcards):
    return runtime_params(config, wildcards.model)


MODEL_GPUS = config["resources"]["gpu"]
MODEL_THREADS = config["resources"]["model_threads"]
model_mem_mb = growing(config["resources"]["model_mem_mb"])
model_runtime_min = growing(config["resources"]["model_runtime"])
light_mem_mb = growing(1000)
light_runtime_min = growing(10)
