"""LoRA + Prompt training: a peft LoRA adapter on the estimator, trained on the query's loss
(`crossprobe.lora.query.query_loss`) over graded answers, with the paper's optional JS
regulariser; length-grouped batches; a run that can stop at its time limit and resume; the
held-out loss selecting the adapter kept."""

import logging
import signal
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
from peft import LoraConfig, get_peft_model
from transformers import get_cosine_schedule_with_warmup

from crossprobe.contract.model_tasks import MODEL_TASKS, always_recomputes, training_steps
from crossprobe.job import SIGNAL, TIME, ended
from crossprobe.lora.batches import length_grouped_batches
from crossprobe.lora.checkpoint import Checkpoint, Termination
from crossprobe.lora.query import query_choice_logits, query_loss
from crossprobe.lora.regulariser import js_penalty
from crossprobe.lora.texts import query_sequences, regularised_sequences
from crossprobe.models.lm import logits_of, padded_size, run_batch, within_budget
from crossprobe.models.tokens import query_choice_ids

log = logging.getLogger(__name__)
# recomputation of each layer in the backward pass (non-reentrant: the frozen embeddings need
# no input gradients)
CHECKPOINTING = {"use_reentrant": False}
# the held-out answers that select the adapter are scored as LoRA scoring scores them
SELECTION_FOOTPRINT = MODEL_TASKS["lora_scoring"].footprint


def attach_lora(model, params: dict):
    config = LoraConfig(
        r=params["r"],
        lora_alpha=params["alpha"],
        lora_dropout=params["dropout"],
        target_modules=list(params["target_modules"]),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


@dataclass
class TrainingState:
    """What a LoRA run carries from one optimiser step to the next besides the adapter, the
    optimiser and the schedule; a resume checkpoint holds it with them (`LoraRun.checkpoint`)."""

    step: int = 0  # optimiser steps taken
    history: list = field(default_factory=list)  # the loss of each step
    clipped: int = 0  # steps whose gradient norm was clipped to max_grad_norm
    checked: dict = field(default_factory=dict)  # step -> held-out query loss
    best: dict = field(default_factory=lambda: {"step": None, "loss": None, "state": None})
    real: int = 0  # training tokens run
    positions: int = 0  # positions run, padding included
    recomputed: int = 0  # training batches that recomputed their layers


@dataclass
class Backpropagated:
    """What backpropagating one training batch ran: its loss, its tokens and its positions
    (padding included)."""

    loss: float = 0.0
    tokens: int = 0
    positions: int = 0
    recomputed: int = 0  # 1 where the batch recomputed its layers


class LoraRun:
    """One LoRA + Prompt training run, in its steps: `__init__` sets up the adapter, optimiser,
    schedule and batch order; `resume` restores a checkpoint's state; `step` takes one optimiser
    step; `select` measures the held-out loss and keeps the best adapter; `checkpoint` is what a
    resume restores; `finish` leaves the adapter kept in the model."""

    def __init__(self, model, tokenizer, device, seqs, labels, params, seed, regularised, budget):
        torch.manual_seed(seed)
        self.recomputing = always_recomputes(params)
        if self.recomputing:
            model.gradient_checkpointing_enable(CHECKPOINTING)
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
        self.batches = length_grouped_batches(
            list(map(len, seqs)), params["batch_size"], params["batches_per_bucket"], generator
        )
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

    def batch_extra(self, idx) -> dict:
        """What a training batch keeps besides its texts (`crossprobe.models.memory.row_bytes`):
        the positions the JS regulariser reads, and whether it recomputes its layers (always,
        never, or with `auto` where not one row fits its budget without)."""
        kappa = self.params["js_weight"]
        js_tokens = max(self.regularised[1][i][0] for i in idx) if kappa > 0 else 0
        setting = self.params.get("gradient_checkpointing")
        if self.budget is None:
            return {"js_tokens": js_tokens, "checkpointing": setting is True}
        width = max(len(self.seqs[i]) for i in idx)
        recompute = self.budget.recomputes(setting, width, js_tokens=js_tokens)
        return {"js_tokens": js_tokens, "checkpointing": recompute}

    def recompute(self, on: bool) -> None:
        """Recompute each layer's forward pass in the backward pass (`on`) or keep its
        activations, from the next batch on."""
        if on != self.recomputing:
            base = self.model.get_base_model()
            if on:
                base.gradient_checkpointing_enable(CHECKPOINTING)
            else:
                base.gradient_checkpointing_disable()
            self.recomputing = on

    def backpropagate(self, idx) -> Backpropagated:
        """Backpropagate the loss of training batch `idx` (its share of the step) in parts that
        fit the budget. The query's loss goes back before the JS regulariser's tuned pass runs,
        so their graphs never live together (the gradients add up as one backward pass of their
        sum would give)."""
        seqs, kappa = self.seqs, self.params["js_weight"]
        width = max(len(seqs[i]) for i in idx)
        extra = self.batch_extra(idx)
        self.recompute(extra["checkpointing"])
        rows = self.budget.rows(width, len(idx), **extra) if self.budget else len(idx)
        done = Backpropagated(recomputed=int(extra["checkpointing"]))
        for part in [idx[k : k + rows] for k in range(0, len(idx), rows)]:
            batch = [seqs[i] for i in part]
            done.tokens += sum(map(len, batch))
            done.positions += padded_size(batch)
            with logits_of(self.model, self.choice_ids):
                out = run_batch(self.model, batch, self.tokenizer.pad_token_id, self.device)
            loss = query_loss(out.logits[:, -1], self.targets[part])
            share = len(part) / len(idx)  # losses are batch means: parts add up to the batch's
            (loss * share / self.params["grad_accum"]).backward()
            done.loss += loss.item() * share
            if kappa > 0:
                penalty = kappa * js_penalty(
                    self.model,
                    self.tokenizer,
                    self.device,
                    [self.regularised[0][i] for i in part],
                    [self.regularised[1][i] for i in part],
                )
                (penalty * share / self.params["grad_accum"]).backward()
                done.loss += penalty.item() * share
        return done

    def step(self, state: TrainingState) -> None:
        """One optimiser step over `grad_accum` training batches; a step that runs out of GPU
        memory halves the budget (sized as its batches were, with their extras) and runs again
        in smaller parts."""
        drawn = [next(self.batches) for _ in range(self.params["grad_accum"])]
        every_row = [i for idx in drawn for i in idx]
        widest = max(len(self.seqs[i]) for i in every_row)

        def attempt(rows):
            self.optimizer.zero_grad()
            return [self.backpropagate(idx) for idx in drawn]

        most = max(map(len, drawn))
        _, parts = within_budget(attempt, self.budget, widest, most, **self.batch_extra(every_row))
        clip = self.params.get("max_grad_norm") or 0
        if clip:  # as transformers.Trainer does before each optimiser step (its default: 1.0)
            norm = torch.nn.utils.clip_grad_norm_(self.trainable.values(), clip)
            state.clipped += int(norm > clip)
        self.optimizer.step()
        self.scheduler.step()
        state.step += 1
        state.history.append(sum(p.loss for p in parts) / self.params["grad_accum"])
        state.real += sum(p.tokens for p in parts)
        state.positions += sum(p.positions for p in parts)
        state.recomputed += sum(p.recomputed for p in parts)
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
                100 * state.real / state.positions,
            )

    def seconds_per_step(self, state: TrainingState) -> float:
        """The mean seconds of this attempt's steps so far."""
        return (time.perf_counter() - self.started) / max(state.step - self.resumed_at, 1)

    def select(self, state: TrainingState, held_out) -> None:
        """The query's loss on the held-out answers now; the adapter is kept if it is the best."""
        self.model.eval()
        budget = self.budget.sized_for(SELECTION_FOOTPRINT) if self.budget else None
        choices = query_choice_logits(
            self.model,
            self.tokenizer,
            self.device,
            held_out[0],
            self.params["score_batch_size"],
            budget,
        )
        correct = torch.as_tensor(held_out[1], dtype=torch.long)
        held_loss = float(query_loss(torch.from_numpy(choices), correct))
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
            "padding_efficiency": round(state.real / max(state.positions, 1), 4),
            "batches_recomputed": state.recomputed,
        }


@dataclass
class TrainedLora:
    """A finished LoRA run: the tuned peft model (the kept adapter in it, eval mode), the loss
    of each step and the run's record (steps, the step kept, held-out losses, throughput)."""

    model: object
    loss_per_step: list
    record: dict


def train_lora(
    model,
    tokenizer,
    device,
    seqs,
    labels,
    *,
    params: dict,
    seed: int,
    regularised=None,
    held_out=None,
    checkpoint: Checkpoint | None = None,
    budget=None,
) -> TrainedLora:
    """LoRA-tune `model` on (sequence, correct) pairs. `regularised` = (sequences, spans), one
    per training pair, are the texts and tokens the JS regulariser reads (see
    `crossprobe.lora.regulariser.js_penalty`). With `held_out` = (sequences, labels) and
    `eval_every` > 0, the query's loss on the held-out answers is measured every `eval_every`
    steps and the best adapter is kept. With a `checkpoint`, the run resumes from the last one
    it finds and ends with the adapter an uninterrupted run would have. A training batch that
    does not fit `budget` runs in parts whose gradients add up to the batch's."""
    run = LoraRun(model, tokenizer, device, seqs, labels, params, seed, regularised, budget)
    state = run.resume(checkpoint)
    every = params["eval_every"] if held_out else 0
    termination = Termination()
    with termination.deferred() if checkpoint and checkpoint.enabled else nullcontext():
        while state.step < run.steps:
            run.step(state)
            if every and (state.step % every == 0 or state.step == run.steps):
                run.select(state, held_out)
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
                ended(SIGNAL if termination.requested else TIME)
                raise SystemExit(128 + signal.SIGTERM if termination.requested else 1)
    record = run.finish(state)
    return TrainedLora(run.model, state.history, record)


def train_on_answers(
    model,
    tokenizer,
    device,
    graded,
    *,
    params: dict,
    seed: int,
    held_out=None,
    checkpoint=None,
    budget=None,
) -> TrainedLora:
    """LoRA + Prompt training on a graded answers table (prompt, answer, correct, gold);
    `held_out`, a table of the same shape, selects the adapter kept. The JS regulariser reads
    the gold answer after the prompt (`js_tokens: gold`, the paper's) or the answer given inside
    the query text (`answer`)."""
    seqs, spans = query_sequences(
        tokenizer, graded["prompt"], graded["answer"], params["max_length"]
    )
    selection = None
    if held_out is not None and len(held_out):
        selection = (
            query_sequences(
                tokenizer, held_out["prompt"], held_out["answer"], params["max_length"]
            )[0],
            held_out["correct"].to_numpy(),
        )
    return train_lora(
        model,
        tokenizer,
        device,
        seqs,
        graded["correct"].tolist(),
        params=params,
        seed=seed,
        regularised=regularised_sequences(tokenizer, graded, params, (seqs, spans)),
        held_out=selection,
        checkpoint=checkpoint,
        budget=budget,
    )
