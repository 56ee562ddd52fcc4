"""Adapters trained elsewhere (models.<id>.lora.adapter): one saved by peft in the layout of the
authors' released adapters for a tiny model, checked against its base, written where the
adapters trained here are and scored exactly as they are; from a local folder or the hub's cache
offline."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from peft import PeftModel
from safetensors import safe_open

from crossprobe.intake.adapters import ADAPTER_FILES, check_base, prepare_adapter, same_base
from crossprobe.intake.weights import WeightsError
from crossprobe.lora.adapter import load_adapter
from crossprobe.lora.query import query_logodds
from crossprobe.lora.texts import query_sequences
from crossprobe.models.lm import load_model
from crossprobe.stand_ins import released_adapter
from helpers import ANSWERS, PROMPTS, REPO, build_tiny_model

KEY, WEIGHTS_KEY = "models.m.lora.adapter", "models.m.weights"
COMMIT = "fedcba9876543210fedcba9876543210fedcba98"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny model whose weights bfloat16 holds exactly, as it holds Mistral-7B's: the tables
    an adapter carries in bfloat16 are then the base's own, bit for bit."""
    from transformers import AutoModelForCausalLM

    path = build_tiny_model(tmp_path_factory.mktemp("base") / "tiny")
    model = AutoModelForCausalLM.from_pretrained(path)
    model.to(torch.bfloat16).to(torch.float32).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def released(base, tmp_path_factory):
    return released_adapter(tmp_path_factory.mktemp("ct") / "tiny-ct-oe", base, "org/tiny", 0)


def logodds(model, tokenizer):
    seqs, _ = query_sequences(tokenizer, PROMPTS, ANSWERS, 128)
    return query_logodds(model, tokenizer, torch.device("cpu"), seqs, 3)


def test_the_authors_layout_is_written_as_ours_and_scores_as_the_authors_load_it(
    base, released, tmp_path
):
    # the stand-in has the released adapters' layout: LoRA weights and both embedding tables,
    # one row more than the model's (the pad token), in bfloat16; the base named by its hub id
    config = json.loads((released / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "org/tiny" and config["peft_type"] == "LORA"
    assert (config["r"], config["lora_alpha"], sorted(config["target_modules"])) == (
        8,
        32,
        ["q_proj", "v_proj"],
    )
    model, tokenizer, _ = load_model({"path": str(base)}, "cpu", "float32")
    rows = model.get_input_embeddings().num_embeddings
    with safe_open(str(released / "adapter_model.safetensors"), "pt") as saved:
        tables = {k: saved.get_slice(k) for k in saved.keys() if ".lora_" not in k}
        assert {k.split(".")[-2] for k in tables} == {"embed_tokens", "lm_head"}
        assert all(
            t.get_shape()[0] == rows + 1 and t.get_dtype() == "BF16" for t in tables.values()
        )

    out = tmp_path / "lora/m/on~m/n~all/seed~0"
    record = prepare_adapter(
        {"local": str(released)}, {"hub": "org/tiny"}, base, out, KEY, WEIGHTS_KEY
    )
    assert sorted(p.name for p in out.iterdir()) == sorted(ADAPTER_FILES)
    assert record["base_check"] == "org/tiny is models.m.weights.hub"
    assert record["lora_weights"] == 2 * 2 * 2  # 2 layers x q, v x A, B
    assert all(
        t["rows"] == rows + 1 and t["same_as_base"] for t in record["tables_left_out"].values()
    )
    with safe_open(str(out / "adapter_model.safetensors"), "pt") as written:
        assert all(".lora_" in k for k in written.keys())

    untuned = logodds(model, tokenizer)
    ours = logodds(load_adapter(model, out), tokenizer)
    # as the authors' code loads it: the tokenizer's pad token, the model grown by its row, the
    # adapter's tables and LoRA weights
    authors, _, _ = load_model({"path": str(base)}, "cpu", "float32")
    authors.resize_token_embeddings(rows + 1)
    theirs = logodds(PeftModel.from_pretrained(authors, str(released)).eval(), tokenizer)
    np.testing.assert_array_equal(ours, theirs)
    assert np.abs(ours - untuned).max() > 0.1  # the adapter moves the query's answer


def test_an_adapter_of_another_base_is_refused_naming_both(base, released, tmp_path):
    with pytest.raises(WeightsError) as refused:
        prepare_adapter(
            {"local": str(released)}, {"hub": "org/other"}, base, tmp_path, KEY, WEIGHTS_KEY
        )
    assert str(refused.value) == (
        f"{KEY}: {released} was trained on org/tiny, but {WEIGHTS_KEY} is org/other "
        "(expected an adapter trained on org/other)"
    )
    assert not list(tmp_path.iterdir())  # nothing written
    # the authors' bases by hub id, or by the folder they were trained from
    assert same_base("meta-llama/Llama-2-7b-hf", "Meta-Llama/llama-2-7b-hf")
    assert same_base("/home/u/models/Llama-2-7b-hf/", "meta-llama/Llama-2-7b-hf")
    assert not same_base("mistralai/Mistral-7B-Instruct-v0.2", "mistralai/Mistral-7B-v0.1")
    assert not same_base("other/Mistral-7B-v0.1", "mistralai/Mistral-7B-v0.1")
    # local weights have no hub id to compare: said so, not refused
    found = {"peft_type": "LORA", "base_model_name_or_path": "org/tiny"}
    verdict = check_base(found, {"local": "x"}, {"local": str(base)}, KEY, WEIGHTS_KEY)
    assert verdict == "not compared: models.m.weights is no hub repository (org/tiny named)"
    with pytest.raises(WeightsError, match="is a PROMPT_TUNING adapter"):
        check_base({"peft_type": "PROMPT_TUNING"}, {"local": "x"}, {"hub": "a/b"}, KEY, "w")


def prepare_offline(hub_home, out, adapter: dict, weights: dict, base):
    """prepare_adapter in a process of its own, offline from the hub, as its job runs it
    (huggingface_hub reads HF_HOME and HF_HUB_OFFLINE when it is imported)."""
    code = (
        "import json; from crossprobe.intake.adapters import prepare_adapter;"
        f"print(json.dumps(prepare_adapter({adapter!r}, {weights!r}, {str(base)!r}, "
        f"{str(out)!r}, {KEY!r}, {WEIGHTS_KEY!r})))"
    )
    env = {"HF_HOME": str(hub_home), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO / "scripts")}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )


def test_a_hub_adapter_comes_from_the_cache_at_its_pinned_revision(base, released, tmp_path):
    repo = tmp_path / "hf/hub/models--org--tiny-ct-oe"
    shutil.copytree(released, repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs/main").write_text(COMMIT)
    adapter = {"hub": "org/tiny-ct-oe", "revision": COMMIT}
    done = prepare_offline(tmp_path / "hf", tmp_path / "out", adapter, {"hub": "org/tiny"}, base)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(done.stdout.strip().splitlines()[-1])
    assert record["commit"] == COMMIT and record["folder"].endswith(f"snapshots/{COMMIT}")
    assert (tmp_path / "out/adapter_model.safetensors").is_file()
    # another base is refused at download, naming both
    done = prepare_offline(tmp_path / "hf", tmp_path / "x", adapter, {"hub": "org/b"}, base)
    assert done.returncode != 0
    assert f"{KEY}: org/tiny-ct-oe@{COMMIT} was trained on org/tiny, but {WEIGHTS_KEY}" in (
        done.stderr
    )
    # one not in the cache says what to do
    absent = {"hub": "org/absent"}
    done = prepare_offline(tmp_path / "hf", tmp_path / "y", absent, {"hub": "org/tiny"}, base)
    message = done.stderr.strip().splitlines()[-1]
    assert f"{KEY}: org/absent@main is not in the local hub cache" in message
    assert "run `snakemake download` where the hub is reachable" in message
