"""LoRA + Prompt and the zero-shot query: ask the estimator whether the proposed answer is correct.

The answered prompt is followed by the paper's query; the log-odds of correctness are the logit of
" ii" (yes) minus that of " i" (no) at the last position. LoRA + Prompt trains a peft LoRA adapter
on that two-way cross-entropy; the zero-shot query reads the untuned model in `activations`.
"""

import logging
import shutil
import signal
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import get_cosine_schedule_with_warmup

from crossprobe.contract.formats import first_alias
from crossprobe.contract.prompts import answered_text
from crossprobe.contract.stages import Memory, training_steps
from crossprobe.logodds import nll
from crossprobe.lora.checkpoint import Checkpoint, Termination
from crossprobe.models.lm import (
    Throughput,
    in_batches,
    logits_of,
    padded_size,
    run_batch,
    within_budget,
)
from crossprobe.models.tokens import (
    boundary,
    encode,
    query_choice_ids,
    query_tokens,
    truncate,
)

log = logging.getLogger(__name__)


def query_sequences(tokenizer, prompts, answers, max_length):
    """Token ids of each query text (answered prompt + query, one string) and where its answer
    sits, counted from the end: logits at [-back, -stop) predict the answer's tokens (the
    regulariser with `js_tokens: answer` looks there)."""
    seqs, spans = [], []
    for prompt, answer in zip(prompts, answers, strict=True):
        ids, dropped, start, stop = query_tokens(tokenizer, prompt, answer, max_length)
        stop, whole = max(stop, start + 1), len(ids) + dropped
        seqs.append(ids)
        back = min(whole - start + 1, len(ids))
        spans.append((back, min(whole - stop + 1, back - 1)))
    return seqs, spans


def gold_sequences(tokenizer, prompts, golds, max_length):
    """Token ids of each prompt followed by its gold answer (as the paper's regulariser reads
    them) and where the gold answer sits, counted from the end as in `query_sequences`: logits
    at [-back, -1) predict its tokens."""
    seqs, spans = [], []
    for prompt, gold in zip(prompts, golds, strict=True):
        full = encode(tokenizer, answered_text(prompt, first_alias(gold)))
        start = boundary(tokenizer, prompt, full)
        ids, _ = truncate(full, max_length, tokenizer.bos_token_id)
        seqs.append(ids)
        spans.append((min(len(full) - start + 1, len(ids)), 1))
    return seqs, spans


def regularised_sequences(tokenizer, graded, params: dict, query=None):
    """The texts and spans the JS regulariser reads for each training answer (see `js_penalty`):
    the gold answer after the prompt (`js_tokens: gold`, the paper's), or the answer given
    inside the query text (`answer`: `query`, the query sequences and spans, are reused)."""
    if params["js_weight"] > 0 and params["js_tokens"] == "gold":
        return gold_sequences(tokenizer, graded["prompt"], graded["gold"], params["max_length"])
    if query is None:
        query = query_sequences(tokenizer, graded["prompt"], graded["answer"], params["max_length"])
    return query


def query_lengths(tokenizer, graded, params: dict):
    """The token length of each query text of `graded`, as LoRA scoring runs it."""
    seqs, _ = query_sequences(tokenizer, graded["prompt"], graded["answer"], params["max_length"])
    return {"rows": list(map(len, seqs))}, {}, {}


def training_lengths(tokenizer, graded, params: dict):
    """The token lengths of the texts LoRA training runs for each answer of `graded`: its query
    text and (with the JS regulariser) the text the regulariser reads; and what a batch keeps
    besides (`crossprobe.models.memory.row_bytes`)."""
    query = query_sequences(tokenizer, graded["prompt"], graded["answer"], params["max_length"])
    lengths = {"query": list(map(len, query[0]))}
    memory = {"js_tokens": 0, "checkpointing": bool(params.get("gradient_checkpointing"))}
    if params["js_weight"] > 0:
        seqs, spans = regularised_sequences(tokenizer, graded, params, query)
        lengths["regularised"] = list(map(len, seqs))
        memory["js_tokens"] = max((back for back, _ in spans), default=0)
    return lengths, memory, {}


def js_divergence(logits_p, logits_q):
    """Jensen-Shannon divergence between next-token distributions, one value per position."""
    lp, lq = torch.log_softmax(logits_p.float(), -1), torch.log_softmax(logits_q.float(), -1)
    lm = torch.logsumexp(torch.stack([lp, lq]), 0) - np.log(2.0)
    return 0.5 * ((lp.exp() * (lp - lm)).sum(-1) + (lq.exp() * (lq - lm)).sum(-1))


def js_penalty(peft_model, tokenizer, device, seqs, spans):
    """The JS regulariser of a batch, as the paper's code computes it: the divergence between the
    tuned and the frozen model's next-token distributions, summed over the positions that
    predict each text's regularised tokens (`spans`), averaged over the batch."""
    keep = max(back for back, _ in spans)
    tuned = run_batch(peft_model, seqs, tokenizer.pad_token_id, device, logits_to_keep=keep).logits
    with torch.no_grad(), peft_model.disable_adapter():
        frozen = run_batch(
            peft_model, seqs, tokenizer.pad_token_id, device, logits_to_keep=keep
        ).logits
    terms = [
        js_divergence(
            tuned[row, keep - back : keep - stop], frozen[row, keep - back : keep - stop]
        ).sum()
        for row, (back, stop) in enumerate(spans)
    ]
    return torch.stack(terms).mean()


def attach_lora(model, params: dict):
    config = LoraConfig(
        r=params["r"],
        lora_alpha=params["alpha"],
        lora_dropout=params["dropout"],
        target_modules=list(params["target_modules"]),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


BUCKET = 8  # training batches per length bucket


def length_grouped_batches(lengths, size: int, generator):
    """Endless epochs of training batches of similar lengths: each epoch is a fresh permutation,
    cut into buckets of BUCKET batches; within a bucket the examples are sorted by length and cut
    into batches, and the epoch's batches come in a shuffled order. Every example is seen once
    per epoch, as with plain permutations, with far less padding."""
    lengths = torch.tensor(lengths)
    while True:
        order = torch.randperm(len(lengths), generator=generator)
        batches = []
        for bucket in order.split(size * BUCKET):
            batches += bucket[torch.argsort(lengths[bucket], stable=True)].split(size)
        for i in torch.randperm(len(batches), generator=generator).tolist():
            yield batches[i].tolist()


@dataclass
class TrainingState:
    """What a LoRA run carries from one optimiser step to the next besides the adapter, the
    optimiser and the schedule; a resume checkpoint holds it with them (`LoraRun.checkpoint`)."""

    step: int = 0  # optimiser steps taken
    history: list = field(default_factory=list)  # the loss of each step
    clipped: int = 0  # steps whose gradient norm was clipped to max_grad_norm
    checked: dict = field(default_factory=dict)  # step -> held-out query loss
    best: dict = field(default_factory=lambda: {"step": None, "loss": None, "state": None})
    real: int = 0  # training tokens processed
    processed: int = 0  # positions processed, padding included


class LoraRun:
    """One LoRA + Prompt training run, in its steps: `__init__` sets up the adapter, optimiser,
    schedule and batch order; `resume` restores a checkpoint's state; `step` takes one optimiser
    step; `select` measures the held-out loss and keeps the best adapter; `checkpoint` is what a
    resume restores; `finish` leaves the adapter kept in the model."""

    def __init__(self, model, tokenizer, device, seqs, labels, params, seed, regularised, budget):
        torch.manual_seed(seed)
        if params.get("gradient_checkpointing"):
            # each layer's forward pass again in the backward pass instead of its activations
            # kept (non-reentrant: the frozen embeddings need no input gradients)
            model.gradient_checkpointing_enable({"use_reentrant": False})
        self.model = attach_lora(model, params)
        self.model.train()
        self.tokenizer, self.device, self.params, self.budget = tokenizer, device, params, budget
        self.seqs, self.regularised = seqs, regularised
        self.targets = torch.tensor(labels, dtype=torch.long, device=device)
        self.choice_ids = torch.tensor(query_choice_ids(tokenizer), device=device)
        self.trainable = {n: p for n, p in self.model.named_parameters() if p.requires_grad}
        self.optimizer = torch.optim.AdamW(
            self.trainable.values(), lr=params["lr"], weight_decay=params["weight_decay"]
        )
        self.steps = training_steps(params, len(seqs))
        self.scheduler = get_cosine_schedule_with_warmup(
            self.optimizer, params["warmup_steps"], self.steps
        )
        generator = torch.Generator().manual_seed(seed)
        self.batches = length_grouped_batches(list(map(len, seqs)), params["batch_size"], generator)
        self.started = time.perf_counter()
        self.resumed_at = self.real_before = 0  # where this attempt started, and its tokens

    def checkpoint(self, state: TrainingState) -> dict:
        """What a resumed run needs to continue exactly as this one would have."""
        return {
            "trainable": {n: p.detach().clone() for n, p in self.trainable.items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": torch.get_rng_state(),
            # LoRA dropout draws on the GPU's generator there
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            **vars(state),
        }

    def resume(self, checkpoint: Checkpoint | None) -> TrainingState:
        """The state to go on from: the last checkpoint's, if there is one of this training (the
        adapter, optimiser, schedule, the batches already drawn and the random state restored),
        else a fresh one."""
        saved = checkpoint.load() if checkpoint else None
        if saved and set(self.checkpoint(TrainingState())) - set(saved):
            log.warning("%s lacks what this code resumes from: starting afresh", checkpoint.path)
            saved = None
        if not saved:
            return TrainingState()
        with torch.no_grad():
            for name, value in saved["trainable"].items():
                self.trainable[name].copy_(value)
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        state = TrainingState(**{k: saved[k] for k in vars(TrainingState())})
        for _ in range(state.step * self.params["grad_accum"]):  # the same batches, in order
            next(self.batches)
        torch.set_rng_state(saved["rng"])
        if saved["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(saved["cuda_rng"])
        self.resumed_at, self.real_before = state.step, state.real
        log.info(
            "resumed LoRA training at step %d of %d from %s",
            state.step,
            self.steps,
            checkpoint.path,
        )
        return state

    def backpropagate(self, idx) -> tuple[float, int, int]:
        """Backpropagate the loss of training batch `idx` (its share of the step) in parts that
        fit the budget: (its loss, tokens, positions processed). The query's loss goes back
        before the JS regulariser's tuned pass runs, so their graphs never live together (the
        gradients add up as one backward pass of their sum would give)."""
        seqs, kappa = self.seqs, self.params["js_weight"]
        width = max(len(seqs[i]) for i in idx)
        js_tokens = max(self.regularised[1][i][0] for i in idx) if kappa > 0 else 0
        rows = len(idx)
        if self.budget:
            checkpointing = bool(self.params.get("gradient_checkpointing"))
            rows = self.budget.rows(
                Memory.TRAIN, width, rows, js_tokens=js_tokens, checkpointing=checkpointing
            )
        loss_total, tokens, positions = 0.0, 0, 0
        for part in [idx[k : k + rows] for k in range(0, len(idx), rows)]:
            batch = [seqs[i] for i in part]
            tokens, positions = tokens + sum(map(len, batch)), positions + padded_size(batch)
            with logits_of(self.model, self.choice_ids):
                out = run_batch(self.model, batch, self.tokenizer.pad_token_id, self.device)
            loss = torch.nn.functional.cross_entropy(out.logits[:, -1], self.targets[part])
            share = len(part) / len(idx)  # losses are batch means: parts add up to the batch's
            (loss * share / self.params["grad_accum"]).backward()
            loss_total += loss.item() * share
            if kappa > 0:
                penalty = kappa * js_penalty(
                    self.model,
                    self.tokenizer,
                    self.device,
                    [self.regularised[0][i] for i in part],
                    [self.regularised[1][i] for i in part],
                )
                (penalty * share / self.params["grad_accum"]).backward()
                loss_total += penalty.item() * share
        return loss_total, tokens, positions

    def step(self, state: TrainingState) -> None:
        """One optimiser step over `grad_accum` training batches; a step that runs out of GPU
        memory halves the budget and runs again in smaller parts."""
        drawn = [next(self.batches) for _ in range(self.params["grad_accum"])]
        widest = max(len(self.seqs[i]) for idx in drawn for i in idx)

        def attempt(rows):
            self.optimizer.zero_grad()
            return [self.backpropagate(idx) for idx in drawn]

        _, parts = within_budget(attempt, self.budget, Memory.TRAIN, widest, max(map(len, drawn)))
        clip = self.params.get("max_grad_norm") or 0
        if clip:  # as transformers.Trainer does before each optimiser step (its default: 1.0)
            norm = torch.nn.utils.clip_grad_norm_(self.trainable.values(), clip)
            state.clipped += int(norm > clip)
        self.optimizer.step()
        self.scheduler.step()
        state.step += 1
        state.history.append(sum(loss for loss, _, _ in parts) / self.params["grad_accum"])
        state.real += sum(tokens for _, tokens, _ in parts)
        state.processed += sum(positions for _, _, positions in parts)
        every = self.params["log_every"]
        if state.step % every == 0 or state.step == self.steps:
            elapsed = time.perf_counter() - self.started
            log.info(
                "lora step %d/%d: loss %.4f (mean of last %d), lr %.2e, %d of %d steps' "
                "gradients clipped, %.2f s/step, %.0f tokens/s, padding efficiency %.1f%%",
                state.step,
                self.steps,
                np.mean(state.history[-every:]),
                every,
                self.scheduler.get_last_lr()[0],
                state.clipped,
                state.step,
                elapsed / (state.step - self.resumed_at),
                (state.real - self.real_before) / elapsed,
                100 * state.real / state.processed,
            )

    def seconds_per_step(self, state: TrainingState) -> float:
        """The mean seconds of this attempt's steps so far."""
        return (time.perf_counter() - self.started) / max(state.step - self.resumed_at, 1)

    def select(self, state: TrainingState, held) -> None:
        """The query loss on the held-out answers now; the adapter is kept if it is the best."""
        self.model.eval()
        held_loss = nll(
            query_logodds(
                self.model,
                self.tokenizer,
                self.device,
                held[0],
                self.params["score_batch_size"],
                self.budget,
            ),
            held[1],
        )
        self.model.train()
        log.info("lora step %d: held-out query loss %.4f", state.step, held_loss)
        state.checked[state.step] = round(held_loss, 6)
        if state.best["loss"] is None or held_loss < state.best["loss"]:
            kept = {n: p.detach().clone() for n, p in self.trainable.items()}
            state.best.update(step=state.step, loss=held_loss, state=kept)

    def finish(self, state: TrainingState) -> dict:
        """The kept adapter in the model (eval mode), and the run's record."""
        best = state.best
        if best["state"] is not None:
            with torch.no_grad():
                for name, value in best["state"].items():
                    self.trainable[name].copy_(value)
            log.info("kept the adapter of step %d (held-out loss %.4f)", best["step"], best["loss"])
        self.model.eval()
        return {
            "steps": self.steps,
            "resumed_at": self.resumed_at,
            "attempt_training_seconds": round(time.perf_counter() - self.started, 2),
            "kept_step": self.steps if best["step"] is None else best["step"],
            "clipped_steps": state.clipped,
            "held_out_losses": state.checked,
            "training_tokens": state.real,
            "padding_efficiency": round(state.real / max(state.processed, 1), 4),
        }


def train_lora(
    model,
    tokenizer,
    device,
    seqs,
    labels,
    params: dict,
    seed: int,
    regularised=None,
    held=None,
    checkpoint: Checkpoint | None = None,
    budget=None,
):
    """LoRA-tune `model` on (sequence, correct) pairs; returns (peft model, loss per step,
    record). `regularised` = (sequences, spans), one per training pair, are the texts and tokens
    the JS regulariser reads (see `js_penalty`). With `held` = (sequences, labels) and
    `eval_every` > 0, the query loss on the held-out answers is measured every `eval_every`
    steps and the best adapter is kept. With a `checkpoint`, the run resumes from the last one
    it finds and ends with the adapter an uninterrupted run would have. A training batch that
    does not fit `budget` runs in parts whose gradients add up to the batch's."""
    run = LoraRun(model, tokenizer, device, seqs, labels, params, seed, regularised, budget)
    state = run.resume(checkpoint)
    every = params["eval_every"] if held else 0
    termination = Termination()
    with termination.deferred() if checkpoint and checkpoint.enabled else nullcontext():
        while state.step < run.steps:
            run.step(state)
            if every and (state.step % every == 0 or state.step == run.steps):
                run.select(state, held)
            if state.step == run.steps or not checkpoint:
                continue
            late = checkpoint.out_of_time(run.seconds_per_step(state))
            if checkpoint.due(state.step) or termination.requested or late:
                checkpoint.save(run.checkpoint(state))
            if termination.requested or late:
                log.warning(
                    "stopped at step %d of %d (%s): checkpoint written, a retry resumes here",
                    state.step,
                    run.steps,
                    "SIGTERM" if termination.requested else "the job's time limit is near",
                )
                raise SystemExit(128 + signal.SIGTERM if termination.requested else 1)
    record = run.finish(state)
    return run.model, state.history, record


def train_on_answers(
    model,
    tokenizer,
    device,
    graded,
    params: dict,
    seed: int,
    held=None,
    checkpoint=None,
    budget=None,
):
    """LoRA + Prompt training on a graded answers table (prompt, answer, correct, gold); `held`,
    a table of the same shape, selects the adapter kept. The JS regulariser reads the gold
    answer after the prompt (`js_tokens: gold`, the paper's) or the answer given inside the
    query text (`answer`)."""
    seqs, spans = query_sequences(
        tokenizer, graded["prompt"], graded["answer"], params["max_length"]
    )
    regularised = regularised_sequences(tokenizer, graded, params, (seqs, spans))
    selection = None
    if held is not None and len(held):
        selection = (
            query_sequences(tokenizer, held["prompt"], held["answer"], params["max_length"])[0],
            held["correct"].to_numpy(),
        )
    labels = graded["correct"].tolist()
    return train_lora(
        model,
        tokenizer,
        device,
        seqs,
        labels,
        params,
        seed,
        regularised,
        selection,
        checkpoint,
        budget,
    )


def save_adapter(peft_model, out_dir: Path) -> None:
    """Write the adapter as peft does, into a temporary folder first, so that a killed job
    leaves no adapter that looks complete."""
    out_dir = Path(out_dir)
    tmp_dir = out_dir.with_name(f".{out_dir.name}.tmp")
    peft_model.save_pretrained(tmp_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        (tmp_dir / name).rename(out_dir / name)
    shutil.rmtree(tmp_dir)


@torch.inference_mode()
def query_logodds(model, tokenizer, device, seqs, batch_size: int, budget=None) -> np.ndarray:
    """z_ii - z_i (float64) at the last position of each query sequence: the log-odds of
    "correct", kept unsaturated (a softmax in float32 ties every margin beyond ~17)."""
    choice_ids = torch.tensor(query_choice_ids(tokenizer), device=device)
    out = np.zeros(len(seqs))
    meter = Throughput(len(seqs), "query scoring")

    def score(batch):
        batch_seqs = [seqs[i] for i in batch]
        with logits_of(model, choice_ids):
            logits = run_batch(model, batch_seqs, tokenizer.pad_token_id, device).logits
        pair = logits[:, -1].double().cpu().numpy()
        out[batch] = pair[:, 1] - pair[:, 0]
        meter.update(len(batch), sum(map(len, batch_seqs)), padded_size(batch_seqs))

    in_batches([len(s) for s in seqs], batch_size, score, budget, Memory.QUERY)
    return out


def load_adapter(model, adapter_dir):
    return PeftModel.from_pretrained(model, str(adapter_dir)).eval()
