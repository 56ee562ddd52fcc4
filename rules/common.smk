import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))

from crossprobe import paths
from crossprobe.config import ConfigError, check_config, load_schema, validate_config
from crossprobe.resources import growing
from crossprobe.splits import SCORED, SPLITS, TRAIN, dataset_files, split_params
from crossprobe.weights import local_files
from crossprobe.workflow import (
    alternatives,
    answer_set,
    answer_set_params,
    answering_params,
    answers_path,
    cells,
    columns,
    grid_layout,
    generated_splits,
    lora_params,
    module_inputs,
    runtime_params,
    replicates,
    score_inputs,
    training_sets,
    without_seeds,
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
COLUMNS = columns(config)
METHODS = config["methods"]
JUDGE = config["grading"]["judge"]
LAYOUT = grid_layout(config)


wildcard_constraints:
    **wildcard_patterns(config),


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


def judge_inputs(wildcards):
    """With a judge: its verdicts on the column's model (read as `ancient`: the judge job
    rewrites every split's verdicts when one split changes, the other splits' grades stay) and
    its model record (a new judge re-grades everything)."""
    if not JUDGE:
        return {}
    return {
        "judged": ancient(fill(paths.JUDGED, wildcards, model=wildcards.source)),
        "judge": target(paths.MODEL, model=JUDGE)[0],
    }


def answer_set_files(source):
    """A local answers file is an input of import_answers: editing it re-imports."""
    spec = config["answer_sets"].get(answer_set(config, source) or "", {})
    return {"table": spec["file"]} if "file" in spec else {}


def training_files(template, wildcards):
    """The training-split files of every column a trained estimator learns from: its cached
    reads (`template` = paths.READS), or its graded answers (`template` = None)."""
    sources = training_sets(config, wildcards.train_set)
    if template is None:
        return [answers_path(config, s, TRAIN) for s in sources]
    return [fill(template, wildcards, source=s, split=TRAIN) for s in sources]


def graded_tables():
    return [answers_path(config, s, split) for s in COLUMNS for split in SPLITS]


def answers_of(split=None):
    """Input function: the graded answers of the job's column (on its split unless given)."""
    return lambda wc: answers_path(config, wc.source, split or wc.split)


def method_scores(method):
    """The score tables of `method` (none if it is not configured)."""
    return [
        target(paths.SCORES, method=method, source=s)[0]
        for s in COLUMNS
        if method in column_methods(s)
    ]


def sweep_figure():
    """The sweep figure, when sizes are configured."""
    return target(paths.SWEEP_FIGURE) if config["sweep"]["train_sizes"] else []


def column_methods(source):
    """The configured methods with at least one cell in column `source`."""
    return [m for m in METHODS if cells(config, m, source)]


def score_files(wildcards):
    """What the score_column job of one (method, column) reads, derived from the registry."""
    return sorted(
        set(score_inputs(config, wildcards.method, wildcards.source).values())
    )


def score_plan(wildcards):
    """What score_column needs: each cell model's replicates and the files to read."""
    models = [m for m, _ in cells(config, wildcards.method, wildcards.source)]
    return {
        "method": wildcards.method,
        "source": wildcards.source,
        "replicates": {m: replicates(config, wildcards.method, m) for m in models},
        "files": score_inputs(config, wildcards.method, wildcards.source),
    }


def model_runtime(wildcards):
    return runtime_params(config, wildcards.model)


MODEL_GPUS = config["resources"]["gpu"]
MODEL_THREADS = config["resources"]["model_threads"]
model_mem_mb = growing(config["resources"]["model_mem_mb"])
model_runtime_min = growing(config["resources"]["model_runtime"])
light_mem_mb = growing(1000)
light_runtime_min = growing(10)
