"""LoRA + Prompt and the zero-shot query: ask the estimator whether the proposed answer is correct.

The answered prompt is followed by the paper's query; the log-odds of correctness are the logit of
" ii" (yes) minus that of " i" (no) at the last position. LoRA + Prompt trains a peft LoRA adapter
on that two-way cross-entropy; the zero-shot query reads the untuned model in `activations`.
"""

import logging
import math
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import get_cosine_schedule_with_warmup

from crossprobe.contract.formats import ALIAS_SEPARATOR
from crossprobe.contract.prompts import answered_text
from crossprobe.logodds import nll
from crossprobe.lora.checkpoint import Checkpoint
from crossprobe.models.lm import Throughput, in_batches, logits_of, padded_size, run_batch
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
        full = encode(tokenizer, answered_text(prompt, gold.split(ALIAS_SEPARATOR)[0]))
        start = boundary(tokenizer, prompt, full)
        ids, _ = truncate(full, max_length, tokenizer.bos_token_id)
        seqs.append(ids)
        spans.append((min(len(full) - start + 1, len(ids)), 1))
    return seqs, spans


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


def training_steps(params: dict, examples: int) -> int:
    """The step budget: `epochs` passes over the training answers when set, else `max_steps`."""
    if params.get("epochs"):
        per_step = params["batch_size"] * params["grad_accum"]
        return max(1, math.ceil(params["epochs"] * examples / per_step))
    return params["max_steps"]


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
    selection record). `regularised` = (sequences, spans), one per training pair, are the texts
    and tokens the JS regulariser reads (see `js_penalty`). With `held` = (sequences, labels)
    and `eval_every` > 0, the query loss on the held-out answers is measured every `eval_every`
    steps and the best adapter is kept. With a `checkpoint`, the run resumes from the last one
    it finds and ends with the adapter an uninterrupted run would have. A training batch that
    does not fit `budget` runs in parts whose gradients add up to the batch's."""
    torch.manual_seed(seed)
    peft_model = attach_lora(model, params)
    peft_model.train()
    choice_ids = torch.tensor(query_choice_ids(tokenizer), device=device)
    trainable = {n: p for n, p in peft_model.named_parameters() if p.requires_grad}
    opt = torch.optim.AdamW(
        trainable.values(), lr=params["lr"], weight_decay=params["weight_decay"]
    )
    steps = training_steps(params, len(seqs))
    sched = get_cosine_schedule_with_warmup(opt, params["warmup_steps"], steps)
    generator = torch.Generator().manual_seed(seed)
    batches = length_grouped_batches(list(map(len, seqs)), params["batch_size"], generator)
    targets = torch.tensor(labels, dtype=torch.long, device=device)
    kappa, every = params["js_weight"], params["eval_every"] if held else 0
    history, started = [], time.perf_counter()
    best, checked = {"step": steps, "loss": None, "state": None}, {}
    real = processed = done = 0  # tokens, positions with padding, optimiser steps taken
    resumed = checkpoint.load() if checkpoint else None
    if resumed:
        with torch.no_grad():
            for name, value in resumed["trainable"].items():
                trainable[name].copy_(value)
        opt.load_state_dict(resumed["optimizer"])
        sched.load_state_dict(resumed["scheduler"])
        for _ in range(resumed["step"] * params["grad_accum"]):  # the same batches, in order
            next(batches)
        torch.set_rng_state(resumed["rng"])
        history, checked, best = resumed["history"], resumed["checked"], resumed["best"]
        real, processed, done = resumed["real"], resumed["processed"], resumed["step"]
        log.info("resumed LoRA training at step %d of %d from %s", done, steps, checkpoint.path)
    real_before = real  # tokens of earlier attempts: not part of this attempt's rate

    def accumulate(idx) -> tuple[float, int, int]:
        """Backpropagate the loss of training batch `idx` (its share of the step) in parts that
        fit the budget: (its loss, tokens, positions processed)."""
        width = max(len(seqs[i]) for i in idx)
        js_tokens = max(regularised[1][i][0] for i in idx) if kappa > 0 else 0
        rows = budget.rows("train", width, len(idx), js_tokens=js_tokens) if budget else len(idx)
        loss_total, tokens, positions = 0.0, 0, 0
        for part in [idx[k : k + rows] for k in range(0, len(idx), rows)]:
            batch = [seqs[i] for i in part]
            tokens, positions = tokens + sum(map(len, batch)), positions + padded_size(batch)
            with logits_of(peft_model, choice_ids):
                out = run_batch(peft_model, batch, tokenizer.pad_token_id, device)
            loss = torch.nn.functional.cross_entropy(out.logits[:, -1], targets[part])
            if kappa > 0:
                loss = loss + kappa * js_penalty(
                    peft_model,
                    tokenizer,
                    device,
                    [regularised[0][i] for i in part],
                    [regularised[1][i] for i in part],
                )
            share = len(part) / len(idx)  # losses are batch means: parts add up to the batch's
            (loss * share / params["grad_accum"]).backward()
            loss_total += loss.item() * share
        return loss_total, tokens, positions

    for step in range(done + 1, steps + 1):
        drawn = [next(batches) for _ in range(params["grad_accum"])]
        while True:
            opt.zero_grad()
            try:
                parts = [accumulate(idx) for idx in drawn]
                break
            except torch.OutOfMemoryError:
                widest = max(len(seqs[i]) for idx in drawn for i in idx)
                rows = budget.rows("train", widest, max(map(len, drawn))) if budget else 0
                if rows <= 1:
                    raise
                torch.cuda.empty_cache()
                budget.halve("train", rows, widest)
        step_loss = sum(loss for loss, _, _ in parts) / params["grad_accum"]
        real += sum(tokens for _, tokens, _ in parts)
        processed += sum(positions for _, _, positions in parts)
        opt.step()
        sched.step()
        history.append(step_loss)
        if step % params["log_every"] == 0 or step == steps:
            recent = np.mean(history[-params["log_every"] :])
            elapsed = time.perf_counter() - started
            log.info(
                "lora step %d/%d: loss %.4f (mean of last %d), lr %.2e, %.2f s/step, "
                "%.0f tokens/s, padding efficiency %.1f%%",
                step,
                steps,
                recent,
                params["log_every"],
                sched.get_last_lr()[0],
                elapsed / (step - done),
                (real - real_before) / elapsed,
                100 * real / processed,
            )
        if every and (step % every == 0 or step == steps):
            peft_model.eval()
            held_loss = nll(
                query_logodds(
                    peft_model, tokenizer, device, held[0], params["score_batch_size"], budget
                ),
                held[1],
            )
            peft_model.train()
            log.info("lora step %d: held-out query loss %.4f", step, held_loss)
            checked[step] = round(held_loss, 6)
            if best["loss"] is None or held_loss < best["loss"]:
                state = {n: p.detach().clone() for n, p in trainable.items()}
                best.update(step=step, loss=held_loss, state=state)
        if checkpoint and checkpoint.due(step) and step < steps:
            checkpoint.save(
                {
                    "step": step,
                    "trainable": {n: p.detach().clone() for n, p in trainable.items()},
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "rng": torch.get_rng_state(),
                    "history": history,
                    "checked": checked,
                    "best": best,
                    "real": real,
                    "processed": processed,
                }
            )
    if best["state"] is not None:
        with torch.no_grad():
            for name, value in best["state"].items():
                trainable[name].copy_(value)
        log.info("kept the adapter of step %d (held-out loss %.4f)", best["step"], best["loss"])
    peft_model.eval()
    record = {
        "steps": steps,
        "resumed_at": done,
        "attempt_training_seconds": round(time.perf_counter() - started, 2),
        "kept_step": best["step"],
        "held_out_losses": checked,
        "training_tokens": real,
        "padding_efficiency": round(real / max(processed, 1), 4),
    }
    return peft_model, history, record


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
    regularised = (seqs, spans)
    if params["js_weight"] > 0 and params["js_tokens"] == "gold":
        regularised = gold_sequences(
            tokenizer, graded["prompt"], graded["gold"], params["max_length"]
        )
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

    in_batches([len(s) for s in seqs], batch_size, score, budget, "query")
    return out


def load_adapter(model, adapter_dir):
    return PeftModel.from_pretrained(model, str(adapter_dir)).eval()
