import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))

from crossprobe.resources import growing
from crossprobe.workflow import (
    cells,
    check_config,
    grid_models,
    lora_params,
    module_inputs,
    runtime_params,
)

validate(config, schema="../schemas/config.schema.yaml", set_default=True)
try:
    check_config(config)
except ValueError as err:
    raise WorkflowError(f"invalid config: {err}") from None

SPLITS = ["train", "calibration", "test"]
MODELS = list(config["models"])
GRID = grid_models(config)
METHODS = config["methods"]
JUDGE = config["grading"]["judge"]


wildcard_constraints:
    model="|".join(map(re.escape, MODELS)),
    source="|".join(map(re.escape, GRID)),
    split="|".join(SPLITS),
    method="|".join(METHODS),


def library(script):
    """The crossprobe modules `script` imports: inputs, so that editing them reruns the rule."""
    scripts = Path(workflow.basedir) / "scripts"
    return module_inputs(scripts / script, scripts / "crossprobe")


def graded_tables():
    return expand("results/graded/{model}/{split}.parquet", model=GRID, split=SPLITS)


def graded_splits(model):
    return {s: f"results/graded/{model}/{s}.parquet" for s in SPLITS}


def cell_files(pattern, methods):
    """`pattern` filled in for every (method, model, source) cell of `methods`."""
    return [
        pattern.format(method=method, model=m, source=s)
        for method in methods
        for m, s in cells(config, method)
    ]


def score_tables(method):
    return cell_files("results/scores/{method}/{model}/on~{source}.parquet", [method])


def query_inputs(wildcards):
    """LoRA + Prompt reads the cell's adapter; the zero-shot query asks the untuned model."""
    inputs = graded_splits(wildcards.source)
    if wildcards.method == "lora":
        inputs["adapter"] = (
            f"results/lora/{wildcards.model}/on~{wildcards.source}/adapter_model.safetensors"
        )
    return inputs


def baseline_inputs(wildcards):
    """Source confidence reads only the source's answers; agreement also the estimator's."""
    inputs = graded_splits(wildcards.source)
    if wildcards.method != "source_confidence":
        inputs.update(
            {
                f"own_{s}": f"results/graded/{wildcards.model}/{s}.parquet"
                for s in SPLITS
            }
        )
    return inputs


def metric_tables():
    return cell_files("results/metrics/{method}/{model}/on~{source}.tsv", METHODS)


def model_runtime(wildcards):
    return runtime_params(config, wildcards.model)


MODEL_GPUS = config["resources"]["gpu"]
MODEL_THREADS = config["resources"]["model_threads"]
model_mem_mb = growing(config["resources"]["model_mem_mb"])
model_runtime_min = growing(config["resources"]["model_runtime"])
light_mem_mb = growing(1000)
light_runtime_min = growing(10)
