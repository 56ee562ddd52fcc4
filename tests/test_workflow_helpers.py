"""Torch-free helpers the workflow uses while building the DAG."""

from pathlib import Path

from conftest import REPO
from crossprobe.workflow import cells, lora_params, module_inputs

SCRIPTS = REPO / "scripts"


def names(script):
    return {Path(p).name for p in module_inputs(SCRIPTS / script, SCRIPTS / "crossprobe")}


def test_library_inputs_follow_imports_transitively_and_no_further():
    assert names("evaluate_cell.py") == {"__init__.py", "job.py", "metrics.py"}
    # the probe rules read cached features: they must not depend on the model code
    assert "lm.py" not in names("fit_probe.py") and "features.py" in names("fit_probe.py")
    # generate_answers -> answering -> lm -> sources (imported by lm, not by the script)
    assert {"answering.py", "lm.py", "sources.py", "prompts.py"} <= names("generate_answers.py")


def test_cells_leave_out_the_diagonal_only_for_agreement():
    config = {"models": {m: {"in_grid": True} for m in ("a", "b", "c")}}
    config["models"]["j"] = {"in_grid": False}
    assert len(cells(config, "probe")) == 9
    assert ("a", "a") not in cells(config, "agreement") and len(cells(config, "agreement")) == 6


def test_a_models_lora_overrides_only_its_own_keys():
    config = {"lora": {"r": 8, "lr": 1e-4}, "models": {"a": {"lora": {"r": 2}}, "b": {}}}
    assert lora_params(config, "a") == {"r": 2, "lr": 1e-4}
    assert lora_params(config, "b") == {"r": 8, "lr": 1e-4}
