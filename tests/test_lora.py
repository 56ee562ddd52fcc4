"""LoRA + Prompt: answer-token resolution, a training step, adapter round trip."""

import numpy as np
import pytest
import torch

from crossprobe.lm import load_model
from crossprobe.lora import (
    load_adapter,
    query_logodds,
    query_sequences,
    save_adapter,
    train_lora,
)
from crossprobe.prompts import QUERY_SUFFIX
from crossprobe.tokens import query_choice_ids

LORA = {
    "r": 4,
    "alpha": 16,
    "dropout": 0.0,
    "target_modules": ["q_proj", "v_proj"],
    "lr": 5e-3,
    "weight_decay": 0.0,
    "warmup_steps": 0,
    "batch_size": 4,
    "grad_accum": 2,
    "max_steps": 1,
    "epochs": None,
    "eval_every": 0,
    "max_length": 128,
    "js_weight": 0.0,
    "log_every": 1,
    "score_batch_size": 3,
}
PROMPTS = [f"Question: number {i}?\nAnswer:" for i in range(8)]
ANSWERS = ["heat", "light", "salt", "water", "sound", "energy", "the", "heat"]
LABELS = [1, 0, 1, 0, 1, 0, 1, 0]


def test_choice_tokens_resolve_on_several_tokenizers():
    from conftest import build_tokenizer

    ids = [query_choice_ids(build_tokenizer(vocab)) for vocab in (400, 600, 900)]
    assert all(len(set(pair)) == 2 for pair in ids)
    # a tokenizer trained without " ii" cannot answer: a clear error, not a silent wrong token
    bare = build_tokenizer(300, corpus=["Answer: yes no maybe"])
    with pytest.raises(ValueError, match="query answer tokens"):
        query_choice_ids(bare)


@pytest.mark.parametrize("family", ["tiny_a", "tiny_b"])
def test_one_step_lowers_the_loss_and_the_adapter_round_trips(tiny_models, tmp_path, family):
    model, tokenizer, device = load_model({"path": str(tiny_models[family])}, "cpu", "float32")
    seqs, spans = query_sequences(tokenizer, PROMPTS, ANSWERS, 128)
    assert all(
        s[-1] == tokenizer(QUERY_SUFFIX, add_special_tokens=False)["input_ids"][-1] for s in seqs
    )
    params = {**LORA, "batch_size": 8, "grad_accum": 1, "max_steps": 2}
    peft_model, history, _ = train_lora(
        model, tokenizer, device, seqs, LABELS, params, seed=0, spans=spans
    )
    assert len(history) == 2 and history[1] < history[0]  # same full batch twice: loss falls
    scores = query_logodds(peft_model, tokenizer, device, seqs, batch_size=3)
    save_adapter(peft_model, tmp_path / "adapter")
    assert {p.name for p in (tmp_path / "adapter").iterdir()} == {
        "adapter_config.json",
        "adapter_model.safetensors",
    }
    base, _, _ = load_model({"path": str(tiny_models[family])}, "cpu", "float32")
    reloaded = load_adapter(base, tmp_path / "adapter")
    assert query_logodds(reloaded, tokenizer, device, seqs, batch_size=5) == pytest.approx(
        scores, abs=1e-4
    )


def test_js_regulariser_runs_and_is_zero_before_training(tiny_models):
    from crossprobe.lora import js_divergence

    logits = torch.randn(3, 11)
    assert js_divergence(logits, logits).item() == pytest.approx(0.0, abs=1e-6)
    assert js_divergence(logits, torch.randn(3, 11)).item() > 0
    model, tokenizer, device = load_model({"path": str(tiny_models["tiny_a"])}, "cpu", "float32")
    seqs, spans = query_sequences(tokenizer, PROMPTS, ANSWERS, 128)
    # each span covers exactly the positions that predict the answer's tokens
    for seq, (back, stop), answer in zip(seqs, spans, ANSWERS, strict=True):
        answer_ids = tokenizer(" " + answer, add_special_tokens=False)["input_ids"]
        assert back - stop == len(answer_ids)
        assert seq[len(seq) - back + 1 : len(seq) - stop + 1] == answer_ids
    params = {**LORA, "js_weight": 1.0, "max_steps": 1}
    _, history, _ = train_lora(model, tokenizer, device, seqs, LABELS, params, seed=0, spans=spans)
    assert np.isfinite(history).all()


def test_the_adapter_kept_is_the_best_on_held_out_answers(tiny_models):
    from crossprobe.lora import training_steps

    model, tokenizer, device = load_model({"path": str(tiny_models["tiny_a"])}, "cpu", "float32")
    seqs, spans = query_sequences(tokenizer, PROMPTS, ANSWERS, 128)
    # every training answer labelled correct, every held-out one wrong: training makes the
    # held-out loss worse, so the adapter kept must be an early one, not the last
    held = (seqs[:4], np.zeros(4))
    params = {**LORA, "lr": 0.05, "batch_size": 8, "grad_accum": 1, "epochs": 3, "eval_every": 1}
    assert training_steps(params, len(seqs)) == 3  # 3 epochs of 8 answers, 8 per step
    peft_model, history, kept = train_lora(
        model, tokenizer, device, seqs, [1] * 8, params, seed=0, spans=spans, held=held
    )
    assert kept["steps"] == 3 and len(history) == 3 and set(kept["held_out_losses"]) == {1, 2, 3}
    losses = kept["held_out_losses"]
    assert kept["kept_step"] == min(losses, key=losses.get) < 3
    # the adapter returned is the kept one: it reproduces that step's held-out loss
    from crossprobe.calibration import nll

    again = nll(query_logodds(peft_model, tokenizer, device, held[0], 4), held[1])
    assert again == pytest.approx(losses[kept["kept_step"]], abs=1e-4)
