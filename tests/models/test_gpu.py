"""The model stages on a CUDA GPU in bfloat16 (dtype auto), on a tiny model: answering, the
cached read, a LoRA step and scoring; each compared with the same stage in float32 on the CPU.
Skipped where there is no GPU."""

import numpy as np
import pandas as pd
import pytest
import torch

from crossprobe.answers.answering import generate_answers
from crossprobe.lora.query import query_logodds
from crossprobe.lora.texts import query_sequences
from crossprobe.lora.training import train_lora
from crossprobe.models.lm import load_model
from crossprobe.models.store import FeatureStore
from crossprobe.reads.activations import cache_activations
from helpers import LORA

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

QUESTIONS = pd.DataFrame(
    {
        "question_id": [f"q{i}" for i in range(6)],
        "dataset": ["arc_easy"] * 6,
        "subject": ["arc_easy"] * 6,
        "prompt": [f"Question: Which gas do plants absorb, number {i}?\nAnswer:" for i in range(6)],
        "choices": [["carbon dioxide", "salt", "light"]] * 6,
        "gold_index": [0] * 6,
    }
)


@pytest.fixture(scope="module")
def both(tiny_models):
    path = {"path": str(tiny_models["tiny_a"])}
    gpu = load_model(path, "auto", "auto")
    assert gpu[2].type == "cuda" and next(gpu[0].parameters()).dtype == torch.bfloat16
    return gpu, load_model(path, "cpu", "float32")


def test_answers_on_the_gpu(both):
    (model, tokenizer, device), (cpu_model, _, cpu) = both
    params = {"answer_format": "mc_cloze", "batch_size": 4, "max_length": 128, "max_new_tokens": 4}
    gpu_answers = generate_answers(model, tokenizer, device, QUESTIONS, params)
    cpu_answers = generate_answers(cpu_model, tokenizer, cpu, QUESTIONS, params)
    gpu_scores = np.concatenate(gpu_answers["option_scores"].to_list())
    cpu_scores = np.concatenate(cpu_answers["option_scores"].to_list())
    assert gpu_scores == pytest.approx(cpu_scores, abs=0.1)
    opened = generate_answers(
        model, tokenizer, device, QUESTIONS, {**params, "answer_format": "open"}
    )
    assert len(opened) == 6 and all("\n" not in a for a in opened["answer"])


def test_reads_lora_step_and_scoring_on_the_gpu(both, tmp_path):
    (model, tokenizer, device), (cpu_model, _, cpu) = both
    graded = QUESTIONS.assign(answer=["carbon dioxide", "salt"] * 3, correct=[1, 0] * 3)
    params = {"layers": [-1], "batch_size": 4, "max_length": 128}
    reads, _ = cache_activations(
        model, tokenizer, device, FeatureStore(tmp_path / "g"), graded, params
    )
    cpu_reads, _ = cache_activations(
        cpu_model, tokenizer, cpu, FeatureStore(tmp_path / "c"), graded, params
    )
    scale = np.abs(cpu_reads["answer_features"]).max()
    gap = reads["answer_features"].astype(float) - cpu_reads["answer_features"]
    assert np.abs(gap).max() < 0.05 * scale
    seqs, _ = query_sequences(tokenizer, graded["prompt"], graded["answer"], 128)
    lora = {**LORA, "batch_size": 6, "grad_accum": 1, "max_steps": 2}
    trained = train_lora(
        model, tokenizer, device, seqs, graded["correct"].tolist(), params=lora, seed=0
    )
    peft_model, history = trained.model, trained.loss_per_step
    assert np.isfinite(history).all()
    assert np.isfinite(query_logodds(peft_model, tokenizer, device, seqs, 3)).all()
