"""LoRA + Prompt: answer-token resolution, a training step, adapter round trip."""

import numpy as np
import pytest
import torch

from crossprobe.contract.prompts import QUERY_SUFFIX
from crossprobe.lora.adapter import load_adapter, save_adapter
from crossprobe.lora.query import query_logodds
from crossprobe.lora.texts import query_sequences
from crossprobe.lora.training import train_lora
from crossprobe.models.lm import load_model, logits_of, run_batch
from crossprobe.models.tokens import query_choice_ids
from helpers import ANSWERS, LABELS, LORA, PROMPTS, RESUMED


def test_choice_tokens_resolve_on_several_tokenizers():
    from helpers import build_tokenizer

    ids = [query_choice_ids(build_tokenizer(vocab)) for vocab in (400, 600, 900)]
    assert all(len(set(pair)) == 2 for pair in ids)
    # a tokenizer trained without " ii" cannot answer: a clear error, not a silent wrong token
    bare = build_tokenizer(300, corpus=["Answer: yes no maybe"])
    with pytest.raises(ValueError, match="query answer tokens"):
        query_choice_ids(bare)


@pytest.mark.parametrize("family", ["tiny_a", "tiny_b"])
def test_one_step_lowers_the_loss_and_the_adapter_round_trips(tiny_models, tmp_path, family):
    model, tokenizer, device = load_model({"path": str(tiny_models[family])}, "cpu", "float32")
    seqs, _ = query_sequences(tokenizer, PROMPTS, ANSWERS, 128)
    assert all(
        s[-1] == tokenizer(QUERY_SUFFIX, add_special_tokens=False)["input_ids"][-1] for s in seqs
    )
    params = {**LORA, "batch_size": 8, "grad_accum": 1, "max_steps": 2}
    trained = train_lora(model, tokenizer, device, seqs, LABELS, params=params, seed=0)
    peft_model, history = trained.model, trained.loss_per_step
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


@pytest.mark.parametrize(
    ("family", "dtype"),
    [
        ("tiny_a", "float32"),
        ("tiny_b", "float32"),
        ("tiny_a", "bfloat16"),
        ("tiny_b", "bfloat16-linear"),
    ],
)
def test_the_query_head_gives_the_full_heads_logits_and_gradients(tiny_models, family, dtype):
    from crossprobe.lora.training import attach_lora

    model, tokenizer, device = load_model({"path": str(tiny_models[family])}, "cpu", dtype)
    model.config.final_logit_softcapping = 5.0  # Gemma 2's: acts on each logit after the head
    peft_model = attach_lora(model, LORA)
    with torch.no_grad():  # a moved adapter, so its gradients and effect are not trivial
        for name, weight in peft_model.named_parameters():
            if "lora_B" in name:
                weight.normal_(0, 0.1)
    seqs, _ = query_sequences(tokenizer, PROMPTS, ANSWERS, 128)
    choices = torch.tensor(query_choice_ids(tokenizer))
    head = model.get_output_embeddings()
    adapters = {n: p for n, p in peft_model.named_parameters() if p.requires_grad}

    def loss_and_grads(logits):
        loss = (logits * torch.tensor([1.0, -2.0])).sum()
        grads = torch.autograd.grad(loss, list(adapters.values()))
        return logits.detach(), grads

    full = run_batch(peft_model, seqs, tokenizer.pad_token_id, device).logits[:, -1, choices]
    with logits_of(peft_model, choices):
        kept = run_batch(peft_model, seqs, tokenizer.pad_token_id, device).logits[:, -1]
    assert peft_model.get_output_embeddings() is head  # the full head is back
    assert kept.dtype == torch.float32 and kept.shape == (len(seqs), 2)
    (full, full_grads), (kept, kept_grads) = loss_and_grads(full.float()), loss_and_grads(kept)
    assert kept.numpy() == pytest.approx(full.numpy(), abs=1e-5)
    for a, b in zip(full_grads, kept_grads, strict=True):
        assert b.numpy() == pytest.approx(a.numpy(), abs=1e-5)


GOLDS = ["carbon dioxide", "light", "salt ||| sodium chloride", "water", "sound", "heat", "of", "a"]


def test_js_regulariser_reads_the_gold_answer_and_is_zero_until_the_adapter_moves(tiny_models):
    from crossprobe.lora.regulariser import js_divergence, js_penalty
    from crossprobe.lora.texts import gold_sequences
    from crossprobe.lora.training import attach_lora

    logits = torch.randn(3, 11)
    assert js_divergence(logits, logits).sum().item() == pytest.approx(0.0, abs=1e-6)
    assert (js_divergence(logits, torch.randn(3, 11)) > 0).all()
    model, tokenizer, device = load_model({"path": str(tiny_models["tiny_a"])}, "cpu", "float32")
    # the answer-token spans inside the query text (js_tokens: answer) ...
    seqs, spans = query_sequences(tokenizer, PROMPTS, ANSWERS, 128)
    for seq, (back, stop), answer in zip(seqs, spans, ANSWERS, strict=True):
        answer_ids = tokenizer(" " + answer, add_special_tokens=False)["input_ids"]
        assert back - stop == len(answer_ids)
        assert seq[len(seq) - back + 1 : len(seq) - stop + 1] == answer_ids
    # ... and the gold answer after the prompt (js_tokens: gold, the paper's): logits at
    # [-back, -1) predict exactly the first alias's tokens
    golds, gold_spans = gold_sequences(tokenizer, PROMPTS, GOLDS, 128)
    for seq, (back, stop), gold in zip(golds, gold_spans, GOLDS, strict=True):
        gold_ids = tokenizer(" " + gold.split(" ||| ")[0], add_special_tokens=False)["input_ids"]
        assert stop == 1 and seq[len(seq) - back + 1 :] == gold_ids
    fresh, _, _ = load_model({"path": str(tiny_models["tiny_a"])}, "cpu", "float32")
    peft_model = attach_lora(fresh, {**LORA, "dropout": 0.1})
    peft_model.train()
    before = js_penalty(peft_model, tokenizer, device, golds, gold_spans).item()
    assert before == pytest.approx(0.0, abs=1e-7)  # LoRA starts as the identity
    params = {**LORA, "js_weight": 1.0, "max_steps": 3, "lr": 5e-2}
    trained = train_lora(
        model,
        tokenizer,
        device,
        seqs,
        LABELS,
        params=params,
        seed=0,
        regularised=(golds, gold_spans),
    )
    tuned, history = trained.model, trained.loss_per_step
    assert np.isfinite(history).all()
    assert js_penalty(tuned, tokenizer, device, golds, gold_spans).item() > 1e-6


def test_the_adapter_kept_is_the_best_on_held_out_answers(tiny_models):
    from crossprobe.contract.model_tasks import training_steps

    model, tokenizer, device = load_model({"path": str(tiny_models["tiny_a"])}, "cpu", "float32")
    seqs, _ = query_sequences(tokenizer, PROMPTS, ANSWERS, 128)
    # every training answer labelled correct, every held-out one wrong: training makes the
    # held-out loss worse, so the adapter kept must be an early one, not the last
    held = (seqs[:4], np.zeros(4))
    params = {**LORA, "lr": 0.05, "batch_size": 8, "grad_accum": 1, "epochs": 3, "eval_every": 1}
    assert training_steps(params, len(seqs)) == 3  # 3 epochs of 8 answers, 8 per step
    trained = train_lora(
        model, tokenizer, device, seqs, [1] * 8, params=params, seed=0, held_out=held
    )
    peft_model, history, kept = trained.model, trained.loss_per_step, trained.record
    assert kept["steps"] == 3 and len(history) == 3 and set(kept["held_out_losses"]) == {1, 2, 3}
    losses = kept["held_out_losses"]
    assert kept["kept_step"] == min(losses, key=losses.get) < 3
    # the adapter returned is the kept one: it reproduces that step's held-out loss
    from crossprobe.logodds import nll

    again = nll(query_logodds(peft_model, tokenizer, device, held[0], 4), held[1])
    assert again == pytest.approx(losses[kept["kept_step"]], abs=1e-4)


SIGNALLED_RUN = """
import os, signal, sys, torch
from crossprobe.lora.checkpoint import Checkpoint
from crossprobe.lora.texts import query_sequences
from crossprobe.lora.training import train_lora
from crossprobe.models.lm import load_model
from helpers import ANSWERS, LABELS, PROMPTS, RESUMED

taken = [0]
optimiser_step = torch.optim.AdamW.step


def step_then_signal(self, *args, **kwargs):
    out = optimiser_step(self, *args, **kwargs)
    taken[0] += 1
    if taken[0] == 4:  # inside the 4th step
        os.kill(os.getpid(), getattr(signal, sys.argv[3]))
    return out


torch.optim.AdamW.step = step_then_signal
model, tokenizer, device = load_model({"path": sys.argv[1]}, "cpu", "float32")
seqs, _ = query_sequences(tokenizer, PROMPTS, ANSWERS, 128)
checkpoint = Checkpoint(sys.argv[2], {}, int(sys.argv[4]))
train_lora(model, tokenizer, device, seqs, LABELS, params=RESUMED, seed=0, checkpoint=checkpoint)
"""


def signalled_and_resumed(tiny_models, tmp_path, signal: str, every: int):
    """A LoRA run sent `signal` inside its 4th step (checkpoints every `every` steps), resumed
    in this process: (the signalled process, the checkpoint, the resumed run's record), after
    checking that the resumed run ends as an uninterrupted one does."""
    import os
    import subprocess
    import sys

    from crossprobe.lora.checkpoint import Checkpoint
    from helpers import REPO

    path = str(tiny_models["tiny_a"])
    model, tokenizer, device = load_model({"path": path}, "cpu", "float32")
    seqs, _ = query_sequences(tokenizer, PROMPTS, ANSWERS, 128)
    trained = train_lora(model, tokenizer, device, seqs, LABELS, params=RESUMED, seed=0)
    whole, history = trained.model, trained.loss_per_step
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'scripts'}:{REPO / 'tests'}"}
    stopped = subprocess.run(
        [sys.executable, "-c", SIGNALLED_RUN, path, str(tmp_path / "resume"), signal, str(every)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    checkpoint = Checkpoint(tmp_path / "resume", {}, every)
    saved = checkpoint.load()
    model, _, _ = load_model({"path": path}, "cpu", "float32")
    trained = train_lora(
        model, tokenizer, device, seqs, LABELS, params=RESUMED, seed=0, checkpoint=checkpoint
    )
    resumed, resumed_history, record = trained.model, trained.loss_per_step, trained.record
    assert resumed_history == pytest.approx(history, abs=1e-6)
    a = dict(whole.named_parameters())
    for name, value in resumed.named_parameters():
        if "lora_" in name:
            assert torch.allclose(value, a[name], atol=1e-6), name
    return stopped, saved, record


def test_a_killed_lora_run_resumes_to_the_adapter_of_an_uninterrupted_one(tiny_models, tmp_path):
    from crossprobe.lora.checkpoint import Checkpoint

    killed, saved, record = signalled_and_resumed(tiny_models, tmp_path, "SIGKILL", 1)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert saved["step"] == 3 and record["resumed_at"] == 3  # the checkpoint before the kill
    # a checkpoint of other training is not resumed
    assert Checkpoint(tmp_path / "resume", {"seed": 1}, 1).load() is None


def test_gradient_checkpointing_trains_the_same_adapter_with_the_regulariser_on(tiny_models):
    """Each layer recomputed in the backward pass (dropout replayed from the saved random state):
    the same losses and adapter as keeping the activations, within float tolerance."""
    from crossprobe.lora.texts import gold_sequences

    params = {**RESUMED, "js_weight": 1.0, "max_steps": 3}
    runs = {}
    for checkpointing in (False, True):
        model, tokenizer, device = load_model(
            {"path": str(tiny_models["tiny_a"])}, "cpu", "float32"
        )
        seqs, _ = query_sequences(tokenizer, PROMPTS, ANSWERS, 128)
        golds = gold_sequences(tokenizer, PROMPTS, ANSWERS, 128)
        trained = train_lora(
            model,
            tokenizer,
            device,
            seqs,
            LABELS,
            params={**params, "gradient_checkpointing": checkpointing},
            seed=0,
            regularised=golds,
        )
        runs[checkpointing] = (trained.loss_per_step, dict(trained.model.named_parameters()))
    assert runs[True][0] == pytest.approx(runs[False][0], rel=1e-5, abs=1e-6)
    for name, value in runs[True][1].items():
        if "lora_" in name:
            torch.testing.assert_close(value, runs[False][1][name], rtol=1e-4, atol=1e-6)


def test_the_regularisers_backward_after_the_querys_gives_the_gradients_of_their_sum(
    tiny_models,
):
    """The query's loss goes back before the JS pass runs (their graphs never live together):
    the adapter's gradients equal those of one backward pass of the summed loss."""
    from crossprobe.lora.regulariser import js_penalty
    from crossprobe.lora.texts import gold_sequences
    from crossprobe.lora.training import LoraRun

    model, tokenizer, device = load_model({"path": str(tiny_models["tiny_a"])}, "cpu", "float32")
    seqs, _ = query_sequences(tokenizer, PROMPTS, ANSWERS, 128)
    golds = gold_sequences(tokenizer, PROMPTS, ANSWERS, 128)
    params = {**LORA, "batch_size": 8, "grad_accum": 1, "js_weight": 0.7}
    run = LoraRun(model, tokenizer, device, seqs, LABELS, params, 0, golds, None)
    with torch.no_grad():  # a moved adapter, so the regulariser is not zero
        for name, weight in run.trainable.items():
            if "lora_B" in name:
                weight.normal_(0, 0.1)
    batch = list(range(8))
    run.optimizer.zero_grad()
    run.backpropagate(batch)
    separate = {n: p.grad.clone() for n, p in run.trainable.items()}
    run.optimizer.zero_grad()
    with logits_of(run.model, run.choice_ids):
        out = run_batch(run.model, seqs, tokenizer.pad_token_id, device)
    query = torch.nn.functional.cross_entropy(out.logits[:, -1], run.targets)
    penalty = js_penalty(run.model, tokenizer, device, golds[0], golds[1])
    (query + 0.7 * penalty).backward()
    for name, param in run.trainable.items():
        torch.testing.assert_close(separate[name], param.grad, rtol=1e-5, atol=1e-7)


def test_gradients_are_clipped_to_max_grad_norm_before_each_step(tiny_models, monkeypatch):
    """As transformers.Trainer clips (its max_grad_norm): the global norm of the adapter's
    gradients that the optimiser sees is at most max_grad_norm; 0 leaves them alone."""
    seen = []
    step = torch.optim.AdamW.step

    def recording_step(self, *args, **kwargs):
        grads = [p.grad for group in self.param_groups for p in group["params"]]
        seen.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", recording_step)
    norms, records = {}, {}
    for clip in (0, 1e-3):
        seen.clear()
        model, tokenizer, device = load_model(
            {"path": str(tiny_models["tiny_a"])}, "cpu", "float32"
        )
        seqs, _ = query_sequences(tokenizer, PROMPTS, ANSWERS, 128)
        params = {**LORA, "max_steps": 3, "lr": 5e-2, "max_grad_norm": clip}
        records[clip] = train_lora(
            model, tokenizer, device, seqs, LABELS, params=params, seed=0
        ).record
        norms[clip] = list(seen)
    assert max(norms[1e-3]) <= 1e-3 * (1 + 1e-4) and min(norms[0]) > 1e-3
    assert records[1e-3]["clipped_steps"] == 3 and records[0]["clipped_steps"] == 0


def test_an_unreadable_checkpoint_is_logged_and_training_starts_afresh(
    tiny_models, tmp_path, caplog
):
    from crossprobe.lora.checkpoint import Checkpoint

    model, tokenizer, device = load_model({"path": str(tiny_models["tiny_a"])}, "cpu", "float32")
    seqs, _ = query_sequences(tokenizer, PROMPTS, ANSWERS, 128)
    checkpoint = Checkpoint(tmp_path / "resume", {}, 2)
    checkpoint.save({"step": 1})
    data = checkpoint.path.read_bytes()
    checkpoint.path.write_bytes(data[: len(data) // 2])  # a node that died mid-write
    trained = train_lora(
        model, tokenizer, device, seqs, LABELS, params=RESUMED, seed=0, checkpoint=checkpoint
    )
    history, record = trained.loss_per_step, trained.record
    assert record["resumed_at"] == 0 and len(history) == RESUMED["max_steps"]
    assert "is unreadable" in caplog.text and "starting afresh" in caplog.text


def test_sigterm_writes_a_checkpoint_of_the_step_reached_and_the_retry_resumes_there(
    tiny_models, tmp_path
):
    """SIGTERM (SLURM's at the time limit, where it reaches the script) lets the step in
    progress finish, writes a checkpoint of it although no periodic one is due (every 1000
    steps), and exits 143; the retry resumes at that step and ends with the adapter of an
    uninterrupted run."""
    stopped, saved, record = signalled_and_resumed(tiny_models, tmp_path, "SIGTERM", 1000)
    assert stopped.returncode == 143, stopped.stderr[-2000:]
    assert "stopped at step 4 of 6 (SIGTERM): checkpoint written" in stopped.stderr
    assert saved["step"] == 4 and record["resumed_at"] == 4


def test_a_run_whose_job_ends_soon_stops_with_a_checkpoint_of_its_last_step(tiny_models, tmp_path):
    """A SLURM job's end time known (squeue's): once another step would run into it, training
    writes a checkpoint of the step reached and exits 1, so that the retry resumes there."""
    import time

    from crossprobe.lora.checkpoint import Checkpoint

    model, tokenizer, device = load_model({"path": str(tiny_models["tiny_a"])}, "cpu", "float32")
    seqs, _ = query_sequences(tokenizer, PROMPTS, ANSWERS, 128)
    ending = Checkpoint(tmp_path / "resume", {}, 1000, end_time=time.time() + 20)
    with pytest.raises(SystemExit) as stopped:
        train_lora(
            model, tokenizer, device, seqs, LABELS, params=RESUMED, seed=0, checkpoint=ending
        )
    assert stopped.value.code == 1 and Checkpoint(tmp_path / "resume", {}, 1000).load()["step"] == 1
    assert not Checkpoint(tmp_path / "x", {}, 1000, end_time=time.time() + 3600).out_of_time(1.0)


def test_a_jobs_end_time_is_read_from_slurms_environment_first(monkeypatch):
    """SLURM 23.02+ puts SLURM_JOB_END_TIME in every task's environment: it is read before
    squeue is asked (tests/slurm ask a real squeue, under SLURM_TIME_FORMAT=relative)."""
    from crossprobe.lora.checkpoint import slurm_end_time

    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert slurm_end_time() is None  # not a SLURM job
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("SLURM_JOB_END_TIME", "1767225600")
    assert slurm_end_time() == 1767225600.0
