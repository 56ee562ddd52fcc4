"""The whole workflow on tiny models and real data, through the Snakemake Python API, and exact
partial reruns: each test changes one thing and asserts the exact set of files rebuilt.

The tests share one working directory and run in file order (each leaves the grid complete).
"""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import make_workdir, run_workflow, tiny_config, write_config

pytestmark = pytest.mark.slow
METHODS = ["probe", "lora", "zero_shot", "source_confidence", "agreement", "agreement_prob"]
SPLITS = ["train", "calibration", "test"]
GRID_OUTPUTS = {
    "results/tables/grid.tsv",
    "results/tables/grid.md",
    "results/figures/heatmap.png",
    "results/figures/heatmap.pdf",
}


@pytest.fixture(scope="module")
def workdir(tiny_models, tmp_path_factory):
    config = tiny_config(tiny_models)
    path = make_workdir(tmp_path_factory.mktemp("grid"), config)
    path.joinpath("built.json").write_text(json.dumps(sorted(run_workflow(path))))
    return path


def config_of(workdir: Path) -> dict:
    return yaml.safe_load((workdir / "config.yaml").read_text())


def cell_files(kind: str, models, sources, methods=METHODS) -> set[str]:
    """Outputs of (model, source) cells for `kind` of output."""
    files = set()
    for m in models:
        for s in sources:
            if kind == "lora":
                files |= {
                    f"results/lora/{m}/on~{s}/adapter_model.safetensors",
                    f"results/lora/{m}/on~{s}/adapter_config.json",
                }
            for method in methods:
                if method in ("agreement", "agreement_prob") and m == s:
                    continue
                if kind == "scores":
                    files.add(f"results/scores/{method}/{m}/on~{s}.parquet")
                elif kind == "metrics":
                    files.add(f"results/metrics/{method}/{m}/on~{s}.tsv")
    return files


def test_full_tiny_grid(workdir):
    built = set(json.loads(workdir.joinpath("built.json").read_text()))
    for model in ("tiny_a", "tiny_b"):
        for split in SPLITS:
            graded = pd.read_parquet(workdir / f"results/graded/{model}/{split}.parquet")
            assert {"question_id", "subject", "prompt", "answer", "gold", "correct"} <= set(
                graded.columns
            )
            assert set(graded["correct"].unique()) <= {0, 1}
        provenance = json.loads(
            (workdir / f"results/answers/{model}/test.parquet.provenance.json").read_text()
        )
        assert provenance["model"]["kind"] == "local" and provenance["packages"]["torch"]
        assert provenance["params"]["answer_format"] == "mc_cloze"
    expected = cell_files("scores", ["tiny_a", "tiny_b"], ["tiny_a", "tiny_b"])
    assert expected <= built
    scores = pd.read_parquet(workdir / "results/scores/probe/tiny_a/on~tiny_b.parquet")
    assert list(scores.columns) == [
        "split",
        "question_id",
        "subject",
        "correct",
        "p_correct_raw",
        "p_correct",
        "temperature",
    ]
    assert set(scores["split"]) == {"calibration", "test"}
    grid = pd.read_csv(workdir / "results/tables/grid.tsv", sep="\t")
    assert list(grid.columns) == [
        "method",
        "model",
        "trained_on",
        "metric",
        "value",
        "ci_low",
        "ci_high",
        "n",
    ]
    assert set(grid["method"]) == set(METHODS)
    assert len(grid[(grid["metric"] == "auroc") & (grid["method"] == "lora")]) == 4
    assert len(grid[(grid["metric"] == "auroc") & (grid["method"] == "agreement")]) == 2
    assert (workdir / "results/figures/heatmap.png").stat().st_size > 10_000
    assert "LoRA + Prompt" in (workdir / "results/tables/grid.md").read_text()
    log = (workdir / "logs/generate_answers/tiny_a.log").read_text()
    assert "accuracy" in log and "tokens/s" in log
    assert (workdir / "results/lora/tiny_a/on~tiny_b/adapter_config.json").is_file()
    assert "lora step 2/2" in (workdir / "logs/finetune_lora/tiny_a/on~tiny_b.log").read_text()


def test_report_builds(workdir):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--report",
            "report.html",
            "-d",
            str(workdir),
            "-s",
            str(workdir / "Snakefile"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    html = (workdir / "report.html").read_text()
    assert "heatmap.png" in html and "grid.tsv" in html


def test_second_run_rebuilds_nothing(workdir):
    assert run_workflow(workdir) == set()


def test_probe_setting_reruns_probes_only(workdir):
    config = config_of(workdir)
    config["probe"]["mlp"]["lr"] = 0.002
    write_config(workdir, config)
    models = ["tiny_a", "tiny_b"]
    expected = (
        {f"results/probes/{m}/on~{s}.safetensors" for m in models for s in models}
        | cell_files("scores", models, models, ["probe"])
        | cell_files("metrics", models, models, ["probe"])
        | GRID_OUTPUTS
    )
    assert run_workflow(workdir) == expected


def test_one_models_lora_setting_reruns_its_lora_row_only(workdir):
    config = config_of(workdir)
    config["models"]["tiny_a"]["lora"] = {"r": 2}
    write_config(workdir, config)
    models = ["tiny_a", "tiny_b"]
    expected = (
        cell_files("lora", ["tiny_a"], models, [])
        | cell_files("scores", ["tiny_a"], models, ["lora"])
        | cell_files("metrics", ["tiny_a"], models, ["lora"])
        | GRID_OUTPUTS
    )
    assert run_workflow(workdir) == expected


def test_editing_a_library_module_reruns_the_rules_that_import_it(workdir):
    module = workdir / "scripts/crossprobe/metrics.py"
    module.write_text(module.read_text() + "\n# edited\n")
    models = ["tiny_a", "tiny_b"]
    expected = cell_files("metrics", models, models) | GRID_OUTPUTS
    assert run_workflow(workdir) == expected


def test_adding_a_model_computes_only_its_row_and_column(workdir, tiny_models):
    config = config_of(workdir)
    config["models"]["tiny_c"] = tiny_config(tiny_models, ["tiny_c"])["models"]["tiny_c"]
    write_config(workdir, config)
    built = run_workflow(workdir)
    old = {"tiny_a", "tiny_b"}
    for path in built - GRID_OUTPUTS:
        parts = set(Path(path).parts) | {
            p.removeprefix("on~")
            .removesuffix(".parquet")
            .removesuffix(".tsv")
            .removesuffix(".safetensors")
            for p in Path(path).parts
        }
        assert "tiny_c" in parts, f"{path} does not involve the new model"
    assert GRID_OUTPUTS <= built
    models = ["tiny_a", "tiny_b", "tiny_c"]
    new_cells = [(m, s) for m in models for s in models if "tiny_c" in (m, s)]
    expected_scores = {f for m, s in new_cells for f in cell_files("scores", [m], [s])}
    assert {f for f in built if f.startswith("results/scores/")} == expected_scores
    assert not any(f.startswith("results/questions/") for f in built)
    assert not any(f"/{m}/" in f for f in built for m in old if f.startswith("results/answers/"))
    grid = pd.read_csv(workdir / "results/tables/grid.tsv", sep="\t")
    auroc = grid[(grid["metric"] == "auroc") & (grid["method"] == "probe")]
    assert len(auroc) == 9


def test_open_answers_graded_by_a_judge_model(tiny_models, tmp_path):
    """Open-ended answers from real TriviaQA questions, graded by a local judge model that is
    not part of the grid."""
    config = tiny_config(tiny_models, ["tiny_a", "tiny_b", "tiny_c"])
    config["models"]["tiny_c"]["in_grid"] = False
    config["data"] = {
        "mixture": ["trivia_qa"],
        "answer_format": "open",
        "sizes": {"train": 8, "calibration": 4, "test": 6},
    }
    config["answers"]["max_new_tokens"] = 4
    config["grading"] = {"judge": "tiny_c"}
    config["methods"] = ["probe", "source_confidence", "agreement"]
    workdir = make_workdir(tmp_path / "open", config)
    built = run_workflow(workdir, targets=["answers"])
    assert "results/models/tiny_c/model.json" in built
    assert not any("answers/tiny_c" in f for f in built)
    graded = pd.read_parquet(workdir / "results/graded/tiny_a/test.parquet")
    assert (graded["answer_index"] == -1).all() and graded["correct"].isin([0, 1]).all()
    assert "judge overruled" in (workdir / "logs/grade_answers/tiny_a/test.log").read_text()
    provenance = json.loads(
        (workdir / "results/graded/tiny_a/test.parquet.provenance.json").read_text()
    )
    assert provenance["judge_model"]["path"] == str(tiny_models["tiny_c"])
