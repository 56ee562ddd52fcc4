"""Torch-free helpers the workflow uses while building the DAG: library inputs, the method
registry and the cells, splits and param slices derived from it."""

from dataclasses import replace
from pathlib import Path

import pytest

from crossprobe.contract import methods
from crossprobe.contract.config import lora_params
from crossprobe.contract.grid import (
    answers_path,
    cells,
    columns,
    generated_splits,
    missing_cells,
)
from crossprobe.contract.splits import linked_splits, split_params
from crossprobe.dag import (
    consensus_answers,
    module_inputs,
    probe_params,
    released_adapter_files,
    replicates,
    score_inputs,
    scoring,
    wildcard_patterns,
)
from helpers import REPO

SCRIPTS = REPO / "scripts"


def names(script):
    """The package modules (relative paths) an adapter's rule depends on."""
    package = SCRIPTS / "crossprobe"
    return {
        str(Path(p).relative_to(package))
        for p in module_inputs(SCRIPTS / script, package)
        if not p.endswith("__init__.py")
    }


def test_library_inputs_follow_imports_transitively_and_no_further():
    assert names("evaluation/evaluate_column.py") == {
        "job.py",
        "logodds.py",
        "contract/formats.py",
        "contract/headlines.py",
        "contract/methods.py",
        "contract/paths.py",
        "contract/splits.py",
        "evaluation/column.py",
        "evaluation/consensus.py",
        "evaluation/family.py",
        "evaluation/metrics.py",
        "scores/baselines.py",
        "scores/calibration.py",
    }
    # a module's package __init__ files count too
    inits = set(module_inputs(SCRIPTS / "reads/fit_probe.py", SCRIPTS / "crossprobe"))
    assert str(SCRIPTS / "crossprobe/reads/__init__.py") in inits
    # the probe rules read cached features: they must not depend on the model code
    assert "models/lm.py" not in names("reads/fit_probe.py")
    assert "reads/features.py" in names("reads/fit_probe.py")
    assert "models/lm.py" not in names("scores/score_column.py")
    # generate_answers -> answering -> lm -> weights (imported by lm, not by the script)
    assert {
        "answers/answering.py",
        "models/lm.py",
        "intake/weights.py",
        "contract/prompts.py",
    } <= names("answers/generate_answers.py")
    # the tables do not depend on the figure code (nor the other way round)
    assert "figures/plotting.py" not in names("evaluation/aggregate.py")


# The workflow's stages in order, with the layers below and above them: a module imports from
# its own stage and earlier ones only (`job` and `logodds` below them all; `plan`, `stand_ins`,
# `dag` and `checks` above: the workflow's tools, not a job's).
LAYERS = [
    "job",
    "logodds",
    "contract",
    "intake",
    "models",
    "answers",
    "reads",
    "lora",
    "scores",
    "evaluation",
    "figures",
    "plan",
    "stand_ins",
    "dag",
    "checks",
]


def package_imports() -> dict[str, set[str]]:
    """{module: the crossprobe modules it imports, at any depth of its code}."""
    import ast

    package = SCRIPTS / "crossprobe"
    modules = {
        ".".join(("crossprobe",) + p.relative_to(package).with_suffix("").parts): p
        for p in package.rglob("*.py")
        if p.name != "__init__.py"
    }
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                candidates = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                found |= {c for c in candidates if c in modules}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name in modules}
        graph[name] = found - {name}
    return graph


def layer(module: str) -> int:
    return LAYERS.index(module.split(".")[1])


def test_the_package_has_no_import_cycle_and_imports_point_down_the_stages():
    graph = package_imports()
    assert {m.split(".")[1] for m in graph} == set(LAYERS)
    upward = [(m, i) for m, imported in graph.items() for i in imported if layer(i) > layer(m)]
    assert upward == []
    # no cycle, within a stage either: a depth-first walk never meets a module on its path
    done, path = set(), []

    def walk(module):
        assert module not in path, " -> ".join(path + [module])
        if module in done:
            return
        path.append(module)
        for imported in graph[module]:
            walk(imported)
        path.pop()
        done.add(module)

    for module in graph:
        walk(module)
    # no module imports the DAG helpers: only the workflow does
    assert [m for m, imported in graph.items() if "crossprobe.dag" in imported] == []


def grid_config(models=("a", "b", "c"), answer_format="mc_cloze", answer_sets=None):
    config = {
        "experiment": "exp",
        "models": {m: {"in_grid": True} for m in models},
        "answer_sets": answer_sets or {},
        "data": {"answer_format": answer_format},
        "probe": {"kind": "mlp", "seeds": [0], "resamples": 0, "variants": []},
    }
    config["models"]["j"] = {"in_grid": False}
    return config


def test_cells_follow_the_registry():
    config = grid_config()
    assert len(cells(config, "probe")) == 9
    assert ("a", "a") not in cells(config, "agreement") and len(cells(config, "agreement")) == 6
    assert cells(config, "source_confidence") == [("a", "a"), ("b", "b"), ("c", "c")]
    assert cells(config, "agreement_prob", "b") == [("a", "b"), ("c", "b")]
    # open answers have no option scores: agreement_prob has no cell
    assert cells(grid_config(answer_format="open"), "agreement_prob") == []
    assert methods.missing_reason("agreement_prob", "a", {"a": frozenset()}).startswith(
        "Agreement (prob.) needs"
    )


@pytest.fixture
def registered(monkeypatch):
    """A method added through the registry alone (a baseline that needs nothing)."""
    oracle = replace(methods.METHODS["zero_shot"], name="oracle", title="Oracle", scorer="baseline")
    monkeypatch.setitem(methods.METHODS, "oracle", oracle)
    return oracle


def test_a_method_added_to_the_registry_alone_gets_cells_inputs_and_a_title(registered):
    config = grid_config(models=("a", "b"))
    assert cells(config, "oracle") == [("a", "a"), ("a", "b"), ("b", "a"), ("b", "b")]
    assert methods.title("oracle") == "Oracle"
    assert set(score_inputs(config, "oracle", "b").values()) == {
        "results/exp/graded/b/calibration.parquet",
        "results/exp/graded/b/test.parquet",
    }
    config.update(methods=["probe", "oracle"])
    assert wildcard_patterns(config)["method"] == "probe|oracle"


def test_score_inputs_by_scorer_with_every_replicate():
    """A replicate is (n_train, recipe, seed, training resample); a probe file holds every
    replicate of one estimator (n_train, recipe), and its fit_probe job fits exactly those."""
    config = grid_config(models=("a", "b"))
    config.update(
        probe={
            "kind": "mlp",
            "mlp": {"lr": 0.1},
            "seeds": [0, 1],
            "resamples": 1,
            "variants": [{"name": "c3", "mlp": {"lr": 0.2}}],
        },
        lora={"seeds": [3]},
        sweep={"train_sizes": [10], "methods": ["probe"], "seeds": [0]},
        methods=["probe"],
    )
    grid = [("all", "grid", seed, resample) for resample in (0, 1) for seed in (0, 1)]
    swept = [("10", "grid", 0, 0), ("10", "grid", 0, 1)]
    variant = [("all", "c3", 0, 0), ("all", "c3", 1, 0)]  # on the training answers only
    assert replicates(config, "probe", "a") == grid + swept + variant
    assert replicates(config, "probe_pooled", "a") == grid  # neither swept nor varied
    assert replicates(config, "lora", "a") == [("all", "grid", 3, 0)]  # no training resamples
    assert replicates(config, "zero_shot", "a") == [("all", "grid", None, 0)]
    assert probe_params(config, "all", "grid") == {
        "kind": "mlp",
        "mlp": {"lr": 0.1},
        "runs": [(s, b) for _, _, s, b in grid],
    }
    assert probe_params(config, "10", "grid")["runs"] == [(0, 0), (0, 1)]
    assert probe_params(config, "all", "c3") == {
        "kind": "mlp",
        "mlp": {"lr": 0.2},
        "runs": [(0, 0), (1, 0)],
    }
    assert wildcard_patterns(config)["recipe"] == "grid|c3"
    probe = score_inputs(config, "probe", "b")
    probes = "results/exp/probes/answer/a"
    assert probe["probe/a/all/grid"] == f"{probes}/on~b/n~all/recipe~grid.safetensors"
    assert probe["probe/a/10/grid"] == f"{probes}/on~b/n~10/recipe~grid.safetensors"
    assert probe["probe/a/all/c3"] == f"{probes}/on~b/n~all/recipe~c3.safetensors"
    assert probe["reads/a/test"] == "results/exp/activations/a/on~b/test.safetensors"
    assert "reads/a/train" not in probe  # only the scored splits are scored
    question = score_inputs(config, "probe_question", "b")
    assert question["probe/a/all/grid"].startswith("results/exp/probes/question/a/on~b/")
    pooled = score_inputs(config, "probe_pooled", "b")
    assert pooled["probe/a/all/grid"] == f"{probes}/on~all/n~all/recipe~grid.safetensors"
    lora = score_inputs(config, "lora", "b")
    assert lora["lora/a/all/3/test"] == "results/exp/lora/a/on~b/n~all/seed~3/scored~b/test.parquet"
    agreement = score_inputs(config, "agreement", "b")
    assert agreement["own/a/test"] == "results/exp/graded/a/test.parquet"


def test_the_other_reading_of_a_cell_reuses_the_estimators_own_and_trains_nothing():
    """probe_own and lora_own: X's own estimator (its diagonal cell's, trained on X's answers)
    on Y's answers. Off the diagonal only (the diagonal is the Probe's and LoRA's own cell), every
    training seed, no sweep; the files are the diagonal's probe or adapter and X's read of Y's
    answers (or the adapter's scores of them)."""
    config = grid_config(models=("a", "b"))
    config.update(
        probe={"seeds": [0, 1], "resamples": 1, "variants": []},
        lora={"seeds": [3]},
        sweep={"train_sizes": [10], "methods": ["probe", "probe_own"], "seeds": [0]},
    )
    assert cells(config, "probe_own") == [("a", "b"), ("b", "a")]
    assert cells(config, "lora_own", "b") == [("a", "b")]
    # every training run of the diagonal's estimator (seeds, each on the answers and a
    # resample of them), not swept
    runs = [("all", "grid", seed, resample) for resample in (0, 1) for seed in (0, 1)]
    assert replicates(config, "probe_own", "a") == runs
    own = score_inputs(config, "probe_own", "b")
    diagonal = "results/exp/probes/answer/a/on~a/n~all/recipe~grid.safetensors"
    assert own["probe/a/all/grid"] == diagonal
    assert own["reads/a/test"] == "results/exp/activations/a/on~b/test.safetensors"
    probes = {path for key, path in own.items() if key.startswith("probe/")}
    assert probes <= set(score_inputs(config, "probe", "a").values())  # the diagonal cell's
    lora = score_inputs(config, "lora_own", "b")
    assert lora["lora/a/all/3/test"] == "results/exp/lora/a/on~a/n~all/seed~3/scored~b/test.parquet"


def test_an_adapter_trained_elsewhere_serves_its_estimators_own_cell_only():
    """It stands in for the adapter its estimator would train on its own answers: a's LoRA +
    Prompt judges a's answers with it, and has no cell in another column (said why)."""
    config = grid_config(models=("a", "b"))
    config.update(
        lora={"seeds": [0]},
        sweep={"train_sizes": [], "methods": [], "seeds": [0]},
        methods=["lora", "probe"],
    )
    config["models"]["a"]["lora"] = {"adapter": {"hub": "org/a-ct"}}
    assert cells(config, "lora") == [("a", "a"), ("b", "a"), ("b", "b")]
    assert len(cells(config, "probe")) == 4  # other methods are untouched
    assert cells(config, "lora_pooled") == [("b", "a"), ("b", "b")]  # a's would be trained
    assert cells(config, "lora_own") == [("a", "b"), ("b", "a")]  # a's own adapter on b's
    own = score_inputs(config, "lora", "a")
    assert own["lora/a/all/0/test"] == "results/exp/lora/a/on~a/n~all/seed~0/scored~a/test.parquet"
    assert "lora/a/all/0/test" not in score_inputs(config, "lora", "b")
    assert released_adapter_files(config) == [
        "results/exp/lora/a/on~a/n~all/seed~0/adapter_model.safetensors"
    ]
    missing = missing_cells(config)
    assert list(missing) == ["lora"] and list(missing["lora"]) == ["b"]
    assert missing["lora"]["b"] == (
        "a's LoRA + Prompt is an adapter trained elsewhere on a's own answers "
        "(models.a.lora.adapter): none is trained on b's"
    )
    assert scoring(config, "lora", "a")["adapters_trained_elsewhere"] == {"a": {"hub": "org/a-ct"}}
    assert "adapters_trained_elsewhere" not in scoring(config, "lora", "b")


def test_answer_set_columns_and_answers_from():
    sets = {
        "api": {"in_grid": True, "splits": {"train": "t", "calibration": "v", "test": "x"}},
        "released": {"in_grid": False, "splits": {"train": "t", "calibration": "v"}},
    }
    config = grid_config(models=("a", "b"), answer_sets=sets)
    config["models"]["b"]["answers_from"] = "released"
    assert columns(config) == ["a", "b", "api"]
    assert answers_path(config, "api", "test") == "results/exp/imported/api/test.parquet"
    assert answers_path(config, "b", "train") == "results/exp/imported/b/train.parquet"
    assert answers_path(config, "b", "test") == "results/exp/graded/b/test.parquet"
    assert generated_splits(config, "b") == ["test"]
    # no token probabilities nor shared questions where calibration answers were imported
    assert cells(config, "source_confidence") == [("a", "a")]
    assert cells(config, "agreement") == []  # b's own answers to a's questions do not exist
    assert len(cells(config, "probe")) == 6
    # nor can a column's answers be split by whether b agreed with them
    assert consensus_answers(config, "a") == consensus_answers(config, "api") == {}


def test_a_columns_answers_are_split_by_the_estimators_that_answered_its_questions():
    config = grid_config()
    assert consensus_answers(config, "b") == {
        m: f"results/exp/graded/{m}/test.parquet" for m in ("b", "a", "c")
    }
    assert consensus_answers(grid_config(models=("a",)), "a") == {}  # no other estimator


def test_a_split_depends_on_itself_and_the_earlier_splits_it_shares_data_with():
    specs = {
        "train": {"datasets": ["x"], "size": 10, "num_fewshot": 0},
        "calibration": {"datasets": ["x", "y"], "size": 5, "num_fewshot": 0},
        "test": {"datasets": ["y"], "size": 5, "num_fewshot": 0},
    }
    assert linked_splits(specs, "train") == ["train"]
    # test shares y with calibration, whose draws from x∪y depend on what train took from x
    assert linked_splits(specs, "test") == ["train", "calibration", "test"]
    specs["calibration"]["datasets"] = ["z"]
    assert linked_splits(specs, "test") == ["test"]
    data = {"answer_format": "mc_cloze", "splits": specs}
    specs["test"]["max_new_tokens"] = 50  # how answers are generated, not which questions
    assert split_params(data, 3, "test") == {
        "answer_format": "mc_cloze",
        "datasets": {},
        "seed": 3,
        "shot_seed": 3,  # data.shot_seed null: the seed
        "splits": {"test": {"datasets": ["y"], "size": 5, "num_fewshot": 0}},
    }


def test_a_models_lora_overrides_only_its_own_keys():
    config = {"lora": {"r": 8, "lr": 1e-4}, "models": {"a": {"lora": {"r": 2}}, "b": {}}}
    assert lora_params(config, "a") == {"r": 2, "lr": 1e-4}
    assert lora_params(config, "b") == {"r": 8, "lr": 1e-4}


def test_sweep_subsets_are_nested_and_the_pooled_set_is_exactly_the_union():
    import pandas as pd

    from crossprobe.contract.splits import selection_split, training_answers

    ids = [f"q{i}" for i in range(50)]
    full, held = selection_split(ids, 0.1, seed=0)
    subsets = [selection_split(ids, 0.1, seed=0, size=n)[0] for n in (5, 10, 20)]
    for small, large in zip(subsets, subsets[1:] + [full], strict=False):
        assert list(large[: len(small)]) == list(small)  # a prefix: the smaller is inside
    assert all(not set(s) & set(held) for s in subsets)
    with pytest.raises(ValueError, match="sweep.train_sizes: 46 training answers asked"):
        selection_split(ids, 0.1, seed=0, size=46)
    tables = {
        source: pd.DataFrame({"question_id": [f"{source}{i}" for i in range(20)], "correct": 1})
        for source in ("a", "b")
    }
    pooled, pooled_held = training_answers(tables, 0.1, seed=0)
    alone = {s: training_answers({s: t}, 0.1, seed=0) for s, t in tables.items()}
    assert set(pooled["question_id"]) == set().union(*(a[0]["question_id"] for a in alone.values()))
    assert set(pooled_held["question_id"]) == set().union(
        *(a[1]["question_id"] for a in alone.values())
    )
    assert pooled.groupby("source").size().to_dict() == {"a": 18, "b": 18}


def test_a_local_models_identity_follows_its_weights_not_its_path(tmp_path):
    from crossprobe.intake.weights import local_files, weights_fingerprint
    from helpers import build_tiny_model

    path = build_tiny_model(tmp_path / "model", seed=1)
    weights = {"local": str(path)}
    before = weights_fingerprint(weights, {"path": str(path)})
    sizes = {p.name: p.stat().st_size for p in local_files(path)}
    build_tiny_model(path, seed=2)  # new weights, same directory, same file sizes
    assert {p.name: p.stat().st_size for p in local_files(path)} == sizes
    assert weights_fingerprint(weights, {"path": str(path)}) != before
    # the files are prepare_model's inputs: replacing them reruns it, and all that follows
    assert {"config.json", "model.safetensors"} <= {p.name for p in local_files(path)}


def test_a_job_removes_the_provenance_its_outputs_had(tmp_path):
    from types import SimpleNamespace

    from crossprobe.job import provenance_path, start

    output = tmp_path / "adapter_model.safetensors"
    stale = provenance_path(output)
    stale.write_text("{}")
    job = SimpleNamespace(
        output=[str(output)], log=[str(tmp_path / "job.log")], threads=1, resources={}
    )
    start(job)
    assert not stale.exists()  # a job killed now leaves no provenance beside a missing output


def test_a_scorer_kind_added_in_one_place_serves_the_dag_and_the_job(monkeypatch, tmp_path):
    """A scorer kind is one class (what a cell reads, how a replicate's log-odds are read);
    the DAG helpers and score_column both use it. Here: the source model's own confidence
    in its answer, read from its graded answers' answer_logprob."""
    import numpy as np
    import pandas as pd

    from crossprobe.scores import scorers
    from crossprobe.scores.scoring import score_column

    class Confidence(scorers.Scorer):
        name = "confidence"

        def files(self, method, at, replicates):
            return {}

        def raw(self, method, column, model, split, replicate):
            return column.graded[split]["answer_logprob"].to_numpy()

    monkeypatch.setitem(scorers.SCORERS, "confidence", Confidence())
    spec = replace(methods.METHODS["zero_shot"], name="confident", scorer="confidence")
    monkeypatch.setitem(methods.METHODS, "confident", spec)
    config = grid_config(models=("a", "b"))
    config["experiment"] = str(tmp_path / "exp")
    files = score_inputs(config, "confident", "b")
    assert {k.split("/")[0] for k in files} == {"answers"}
    rng = np.random.default_rng(0)
    for key, path in files.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        n = 40
        pd.DataFrame(
            {
                "question_id": [f"{key}/{i}" for i in range(n)],
                "subject": "s",
                "correct": rng.integers(0, 2, n),
                "answer_logprob": rng.normal(size=n),
            }
        ).to_parquet(path)
    scoring = {
        "method": "confident",
        "source": "b",
        "replicates": {m: replicates(config, "confident", m) for m in ("a", "b")},
        "files": files,
    }
    scores = score_column(scoring)
    test = scores[(scores["split"] == "test") & (scores["model"] == "a")]
    expected = pd.read_parquet(files["answers/b/test"])["answer_logprob"].to_numpy()
    assert np.allclose(test["logodds_raw"], expected)
