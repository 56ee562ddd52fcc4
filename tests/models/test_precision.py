"""The number format a model runs in (dtype auto by measurement), the float32 LM head, and
training batches grouped by length."""

import json

import pytest
import torch

from crossprobe.models import precision
from crossprobe.models.lm import load_model


def test_auto_picks_bfloat16_only_where_it_measures_faster_by_the_margin(monkeypatch, tmp_path):
    assert precision.choose({"float32": 100.0, "bfloat16": 410.0}) == "bfloat16-linear"
    assert precision.choose({"float32": 267.0, "bfloat16": 157.0}) == "float32"
    assert precision.choose({"float32": 100.0, "bfloat16": 120.0}) == "float32"  # within margin
    cpu = torch.device("cpu")
    monkeypatch.setenv("CROSSPROBE_CACHE", str(tmp_path))
    for rates, expected in (
        ({"float32": 50.0, "bfloat16": 220.0}, "bfloat16-linear"),
        ({"float32": 270.0, "bfloat16": 150.0}, "float32"),
    ):
        measured = []

        def rate(dtype, width, tokens=512, seconds=0.25, rates=rates, measured=measured):
            measured.append(dtype)
            return rates["bfloat16" if dtype == torch.bfloat16 else "float32"]

        monkeypatch.setattr(precision, "gemm_rate", rate)
        (tmp_path / "gemm_rates.json").unlink(missing_ok=True)
        dtype, record = precision.resolve("auto", cpu, width=64)
        assert dtype == expected and record["chosen_by"] == "auto: measured"
        assert record["rates"]["float32"] == rates["float32"] and len(measured) == 2
        precision.resolve("auto", cpu, width=64)
        assert len(measured) == 2  # cached: measured once per CPU, width and thread count
        precision.resolve("auto", cpu, width=128)
        assert len(measured) == 4
    cached = json.loads((tmp_path / "gemm_rates.json").read_text())
    assert {entry["width"] for entry in cached.values()} == {64, 128}
    assert precision.resolve("float32", cpu, 64)[1] == {"dtype": "float32", "chosen_by": "config"}
    assert precision.resolve("auto", torch.device("cuda"), 64)[0] == "bfloat16"


def test_a_real_gemm_measurement_gives_positive_rates():
    assert precision.gemm_rate(torch.float32, 64, tokens=32, seconds=0.02) > 0
    assert precision.gemm_rate(torch.bfloat16, 64, tokens=32, seconds=0.02) > 0


def test_bfloat16_models_keep_a_float32_head(tiny_models):
    record = {"path": str(tiny_models["tiny_a"])}
    full, tokenizer, _ = load_model(record, "cpu", "float32")
    half, _, _ = load_model(record, "cpu", "bfloat16")
    assert next(half.model.parameters()).dtype == torch.bfloat16
    assert isinstance(half.get_output_embeddings(), precision.Float32Head)
    assert half.get_input_embeddings().weight.dtype == torch.bfloat16  # the head is untied
    ids = torch.tensor([tokenizer("Question: which gas?\nAnswer: carbon dioxide")["input_ids"]])
    with torch.no_grad():
        exact = full(input_ids=ids).logits
        rounded = half(input_ids=ids).logits
    assert rounded.dtype == torch.float32
    assert (rounded - exact).abs().max() < 0.05 * exact.abs().max()
    assert not isinstance(full.get_output_embeddings(), precision.Float32Head)


def test_training_batches_are_grouped_by_length_and_cover_every_example_each_epoch():
    from crossprobe.lora.batches import length_grouped_batches
    from crossprobe.models.lm import padded_size

    BUCKET = 8
    g = torch.Generator().manual_seed(0)
    lengths = [int(x) for x in torch.randint(10, 400, (4 * 8 * BUCKET + 5,), generator=g)]
    batches = length_grouped_batches(lengths, 4, BUCKET, torch.Generator().manual_seed(1))
    epoch = [next(batches) for _ in range(-(-len(lengths) // 4) + BUCKET)]
    first = [i for b in epoch[: len(epoch) - BUCKET] for i in b]
    assert sorted(first) == list(range(len(lengths)))  # once each per epoch
    grouped = sum(padded_size([[0] * lengths[i] for i in b]) for b in epoch[:8])
    plain = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(1))
    random = sum(padded_size([[0] * lengths[i] for i in b.tolist()]) for b in plain.split(4)[:8])
    assert grouped < 0.8 * random
    again = length_grouped_batches(lengths, 4, BUCKET, torch.Generator().manual_seed(1))
    assert [next(again) for _ in range(5)] == epoch[:5]  # seeded


def test_bfloat16_linear_rounds_only_the_products_and_stays_closer_to_float32(tiny_models):
    from crossprobe.models.memory import shape_of, weights_bytes

    record = {"path": str(tiny_models["tiny_a"])}
    loaded = {name: load_model(record, "cpu", name) for name in ("float32", "bfloat16")}
    loaded["bfloat16-linear"] = load_model(record, "cpu", "bfloat16-linear")
    models = {name: model for name, (model, _, _) in loaded.items()}
    tokenizer, mixed = loaded["float32"][1], models["bfloat16-linear"]
    head = mixed.get_output_embeddings()
    linears = [m for m in mixed.modules() if isinstance(m, torch.nn.Linear) and m is not head]
    assert linears and {m.weight.dtype for m in linears} == {torch.bfloat16}
    assert head.weight.dtype == mixed.get_input_embeddings().weight.dtype == torch.float32
    assert precision.activation_dtype(mixed) == "float32"
    held = sum(p.numel() * p.element_size() for p in mixed.parameters())
    predicted = weights_bytes(shape_of(mixed.config, mixed), "bfloat16-linear")
    assert predicted == pytest.approx(held, rel=0.02)  # norms, counted at 2 bytes, are float32
    ids = torch.tensor(
        [tokenizer("Question: which gas do plants take in?\nAnswer: CO2")["input_ids"]]
    )
    with torch.no_grad():
        out = {name: m(input_ids=ids, output_hidden_states=True) for name, m in models.items()}
    assert {o.hidden_states[-1].dtype for n, o in out.items() if n != "bfloat16"} == {torch.float32}
    exact = out["float32"].logits
    error = {n: (o.logits - exact).abs().max().item() for n, o in out.items() if n != "float32"}
    assert 0 < error["bfloat16-linear"] < error["bfloat16"]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "bfloat16-linear"])
def test_lora_trains_in_every_format_with_float32_adapters(tiny_models, dtype):
    from crossprobe.lora.texts import query_sequences
    from crossprobe.lora.training import train_lora
    from helpers import ANSWERS, LABELS, LORA, PROMPTS

    model, tokenizer, device = load_model({"path": str(tiny_models["tiny_a"])}, "cpu", dtype)
    seqs, _ = query_sequences(tokenizer, PROMPTS, ANSWERS, 128)
    params = {**LORA, "batch_size": 8, "grad_accum": 1, "max_steps": 2}
    trained = train_lora(model, tokenizer, device, seqs, LABELS, params=params, seed=0)
    peft_model, history, record = trained.model, trained.loss_per_step, trained.record
    assert history[1] < history[0]
    adapters = {p.dtype for n, p in peft_model.named_parameters() if "lora_" in n}
    assert adapters == {torch.float32}
    assert 0 < record["padding_efficiency"] <= 1
