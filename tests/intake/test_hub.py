"""Model weights from the Hugging Face hub, offline: a real hub cache (the layout
huggingface_hub writes) holding a tiny model in both weight formats, read with HF_HUB_OFFLINE."""

import json
import shutil
import subprocess
import sys

import pytest

from crossprobe.intake.weights import weight_patterns
from helpers import REPO

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_home(tiny_models, tmp_path):
    """$HF_HOME with org/tiny cached at COMMIT (main points at it): safetensors and .bin."""
    import torch
    from safetensors.torch import load_file

    repo = tmp_path / "hf/hub/models--org--tiny"
    snapshot = repo / "snapshots" / COMMIT
    shutil.copytree(tiny_models["tiny_a"], snapshot)
    torch.save(load_file(snapshot / "model.safetensors"), snapshot / "pytorch_model.bin")
    (repo / "refs").mkdir()
    (repo / "refs/main").write_text(COMMIT)
    return tmp_path / "hf"


def test_only_the_files_loading_needs_are_fetched():
    both = ["config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json", "README.md"]
    patterns = weight_patterns(both)
    assert "*.safetensors" in patterns and not any(".bin" in p for p in patterns)
    assert "*.bin" in weight_patterns(["config.json", "pytorch_model.bin"])
    assert {"config.json", "generation_config.json", "tokenizer*"} <= set(patterns)


def prepare_offline(hub_home, tmp_path, weights: dict):
    """prepare_model in a process of its own (huggingface_hub reads HF_HOME and HF_HUB_OFFLINE
    when it is imported), as the prepare_model job runs it."""
    code = (
        "import json, sys; from crossprobe.models.lm import prepare_model, load_model;"
        f"record = prepare_model({weights!r}, {str(tmp_path)!r}, 'models.m.weights');"
        "model, tokenizer, _ = load_model(record, 'cpu', 'float32');"
        "print(json.dumps(record))"
    )
    env = {"HF_HOME": str(hub_home), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO / "scripts")}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )


def test_a_hub_model_in_the_cache_loads_offline_at_its_pinned_revision(hub_home, tmp_path):
    for revision in ("main", COMMIT):
        done = prepare_offline(hub_home, tmp_path, {"hub": "org/tiny", "revision": revision})
        assert done.returncode == 0, done.stderr[-2000:]
        record = json.loads(done.stdout.strip().splitlines()[-1])
        assert record["path"].endswith(f"snapshots/{COMMIT}") and record["kind"] == "hub"


def test_a_hub_model_missing_from_the_cache_offline_says_what_to_do(hub_home, tmp_path):
    done = prepare_offline(hub_home, tmp_path, {"hub": "org/absent", "revision": "main"})
    assert done.returncode != 0
    message = done.stderr.strip().splitlines()[-1]
    assert "models.m.weights: org/absent@main is not in the local hub cache" in message
    assert "run `snakemake download` where the hub is reachable" in message
