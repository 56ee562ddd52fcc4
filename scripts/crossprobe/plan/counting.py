"""A model job counted: the texts it runs and their tokens, its FLOPs (padding included), the
batches it forms within its memory budget and their peak memory; and the plan's rows, one per
model task and model."""

import json
from dataclasses import dataclass, field

import numpy as np
import torch

from crossprobe.contract.model_tasks import MODEL_TASKS, Footprint, ModelTask, function, task_of
from crossprobe.contract.resources import first_mem_mb, loading_mem_mb
from crossprobe.lora.batches import length_grouped_batches
from crossprobe.models.lm import in_batches
from crossprobe.models.memory import Budget, batch_budget_bytes, batch_bytes, weights_bytes
from crossprobe.plan.pricing import seconds_on
from crossprobe.plan.texts import SAMPLE, Sources, Table

GIB = 2**30
CPU_PROCESS_BYTES = 1 * GIB  # torch, tokenizers and Python beside the weights (CPU jobs)


@dataclass
class Work:
    """One model job, counted: the texts it runs and their tokens, the FLOPs of its
    forward passes (padding included) and of its new tokens, the batches it forms and the
    weight reads of its decoding, and a batch's rows and peak memory at the widest text and at
    max_length."""

    texts: int
    tokens: int
    flops: float
    decode_flops: float = 0.0
    decode_bytes: float = 0.0
    rows: int = 0
    peak: int = 0
    bound_peak: int = 0
    origin: str = "unknown"
    notes: dict = field(default_factory=dict)  # counts the task reports (shots lost)


class Planner:
    def __init__(self, config, sources: Sources, gpu_mem_gb: float):
        self.config, self.sources, self.gpu_mem_gb = config, sources, gpu_mem_gb
        self.gpu = bool(config["resources"]["gpu"])

    def dtype(self, model: str) -> str:
        """The model's number format; `auto` as on a GPU, or on a CPU float32, the larger of its
        two choices (the same float32 activations as bfloat16-linear, heavier weights)."""
        chosen = self.config["models"][model]["dtype"]
        if chosen != "auto":
            return chosen
        return "bfloat16" if self.gpu else "float32"

    def budget(self, model: str, task: ModelTask) -> Budget:
        """The memory `model`'s batches of `task` may use, as the job would size them."""
        shape, dtype = self.sources.shape(model), self.dtype(model)
        resources = self.config["resources"]
        weights = weights_bytes(shape, dtype)
        if self.gpu:
            limit = resources["gpu_mem_mb"] * 2**20 or int(self.gpu_mem_gb * 10**9)
            free = batch_budget_bytes("cuda", limit, weights)
        else:
            limit = first_mem_mb(resources) * 2**20
            free = batch_budget_bytes("cpu", limit, weights + CPU_PROCESS_BYTES)
        return Budget(shape, dtype, free, task.footprint)

    def tables(self, task: ModelTask, wildcards: dict) -> list[Table | None]:
        return [
            self.sources.questions(split) if column is None else self.sources.answers(column, split)
            for column, split in task.tables(self.config, wildcards)
        ]

    def peak(self, model: str, task: ModelTask, width: int, most: int, extra, params) -> tuple:
        """(rows, peak bytes with the weights) of the batch the budget allows at `width` (a
        training batch recomputing its layers where it must)."""
        shape, dtype, budget = (
            self.sources.shape(model),
            self.dtype(model),
            self.budget(model, task),
        )
        if task.footprint == Footprint.TRAIN:
            setting, js = params.get("gradient_checkpointing"), extra.get("js_tokens", 0)
            extra = {
                **extra,
                "checkpointing": budget.recomputes(setting, width, js_tokens=js),
            }
        rows = budget.rows(width, most, **extra)
        batch = batch_bytes(shape, task.footprint, rows, width, dtype, **extra)
        return rows, weights_bytes(shape, dtype) + batch

    def work(self, task: ModelTask, wildcards: dict) -> Work:
        model = task.model(self.config, wildcards)
        params = task.params(self.config, wildcards)
        shape = self.sources.shape(model)
        tokenizer, tokenizer_origin, tokenizer_key = self.sources.tokenizer(model)
        tables = self.tables(task, wildcards)
        if any(t is None for t in tables):  # texts that cannot be had here
            return Work(task.texts_run(params, 0), 0, 0.0)
        lengths, extra, weights = {}, {"new_tokens": task.new_tokens(params)}, []
        notes = {}
        settings = json.dumps(params, sort_keys=True, default=str)
        for table in tables:
            frame = table.frame
            if len(frame) > SAMPLE:
                frame = frame.sample(SAMPLE, random_state=0)
            found = self.sources.cached(
                ("lengths", task.lengths, tokenizer_key, table.key, settings),
                lambda frame=frame: function(task.lengths)(tokenizer, frame, params),
            )
            for kind, values in found.lengths.items():
                lengths.setdefault(kind, []).extend(values)
            extra |= {k: max(v, extra.get(k, 0)) for k, v in found.extra.items()}
            weights += [table.count / max(len(frame), 1)] * len(frame)
            for note, n in found.counted.items():  # a sample's count, scaled to its table
                notes[note] = notes.get(note, 0) + round(n * table.count / max(len(frame), 1))
        weights = np.asarray(weights)
        run = task.texts_run(params, sum(t.count for t in tables))
        most = params[task.batch_size]
        budget = self.budget(model, task)
        batches = self.batches(task, budget, lengths, most, extra, run, params)
        # a simulated text stands for `weights` texts; the batches cover `run` of them
        scale = run / max(sum(weights[i] for batch in batches for i in batch), 1e-9)
        shares = [scale * sum(weights[i] for i in batch) / len(batch) for batch in batches]
        recomputes = self.recomputes(task, budget, params, lengths, batches, extra)
        tokens, flops, again = 0, 0.0, 0.0
        for kind, passes in task.passes(params).items():
            if passes:
                mean = np.sum(np.asarray(lengths[kind]) * weights) / np.sum(weights)
                tokens += int(mean * run)
                for batch, share, recompute in zip(batches, shares, recomputes, strict=True):
                    width = max(lengths[kind][i] for i in batch)
                    each = forward_flops(shape, len(batch), width) * share
                    flops += task.passes(params, recompute)[kind] * each
                    kept = task.passes(params, False)[kind]
                    again += (task.passes(params, recompute)[kind] - kept) * each
        if task.footprint == Footprint.TRAIN:  # what recomputing layers costs
            notes["training batches recompute their layers"] = round(
                sum(s * len(b) for b, s, r in zip(batches, shares, recomputes, strict=True) if r)
                / params[task.batch_size]
            )
            notes["TFLOP of recomputation"] = round(again / 1e12)
        new = extra["new_tokens"]
        widest = max(max(v) for v in lengths.values())
        bound = params.get("max_length", widest) + extra.get("option_tokens", 0)
        rows, peak = self.peak(model, task, widest, most, extra, params)
        _, bound_peak = self.peak(model, task, max(bound, widest), most, extra, params)
        origins = sorted({t.origin for t in tables} | {tokenizer_origin})
        return Work(
            texts=run,
            tokens=tokens + new * run,
            flops=flops,
            decode_flops=2.0 * active_params(shape) * new * run,
            decode_bytes=sum(shares) * new * weights_bytes(shape, self.dtype(model)),
            rows=rows,
            peak=peak,
            bound_peak=bound_peak,
            origin=", ".join(o for o in origins if o != "real") or "real",
            notes=notes,
        )

    @staticmethod
    def recomputes(task, budget, params, lengths, batches, extra) -> list[bool | None]:
        """Per batch, whether it recomputes its layers in its backward pass (training: always,
        never, or with `auto` where it would not fit the budget without); None where no batch
        trains."""
        if task.footprint != Footprint.TRAIN:
            return [None] * len(batches)
        setting = params.get("gradient_checkpointing")
        js = {"js_tokens": extra.get("js_tokens", 0)}
        return [
            budget.recomputes(setting, max(lengths[k][i] for k in lengths for i in b), **js)
            for b in batches
        ]

    def batches(self, task, budget, lengths, most, extra, run, params) -> list[list[int]]:
        """Batches the job forms, as index lists into its texts: length-grouped training batches
        (as many as it takes, at most one pass over the texts here), else the length-sorted
        batches of `in_batches`, sized by the memory budget."""
        widths = [max(each) for each in zip(*lengths.values(), strict=True)]
        if task.footprint == Footprint.TRAIN:
            per_bucket = params["batches_per_bucket"]
            drawn = length_grouped_batches(
                widths, most, per_bucket, torch.Generator().manual_seed(0)
            )
            return [next(drawn) for _ in range(max(1, min(run, len(widths)) // most))]
        formed = []
        in_batches(widths, most, formed.append, budget, **extra)
        return formed


def active_params(shape) -> int:
    """The parameters a token's forward pass multiplies by: all but the embeddings."""
    return shape.params - shape.vocab * shape.hidden * (1 if shape.tied else 2)


def forward_flops(shape, rows: int, width: int) -> float:
    """FLOPs of one forward pass over `rows` x `width` positions: the linear layers and causal
    attention (scores and their weighted sum, each position over the ones before it)."""
    linear = 2 * active_params(shape) * rows * width
    attention = 2 * shape.layers * shape.heads * shape.head_dim * rows * width * width
    return float(linear + attention)


def job_works(config, sources: Sources, jobs, gpu_mem_gb: float) -> list:
    """(task, model, rule, Work) of every model job."""
    planner = Planner(config, sources, gpu_mem_gb)
    works = []
    for rule, wildcards in jobs:
        task = task_of(rule, config["data"]["answer_format"])
        works.append((task, task.model(config, wildcards), rule, planner.work(task, wildcards)))
    return works


def host_mem_mb(config, sources: Sources, model: str) -> int:
    """The host memory a model job of `model` asks for on its first attempt, as its rule does
    (`crossprobe.contract.resources`)."""
    return first_mem_mb(config["resources"]) or loading_mem_mb(sources.checkpoint_bytes(model))


def cost_rows(config, sources: Sources, jobs, cards: list[str], mfu: float, gpu_mem_gb: float):
    """One row per (model task, model): what its jobs run and cost."""
    groups = {}
    for task, model, _, work in job_works(config, sources, jobs, gpu_mem_gb):
        groups.setdefault((task, model), []).append(work)
    rows = []
    for (task, model), works in groups.items():
        row = {
            "stage": task.name,
            "model": model,
            "jobs": len(works),
            "texts": sum(w.texts for w in works),
            "tokens": sum(w.tokens for w in works),
            "PFLOP": sum(w.flops + w.decode_flops for w in works) / 1e15,
            "rows per batch": min(w.rows for w in works),
            "peak GiB": max(w.peak for w in works) / GIB,
            "peak GiB at max_length": max(w.bound_peak for w in works) / GIB,
            "host GiB": host_mem_mb(config, sources, model) / 1024,
        }
        for card in cards:
            row[f"{card} hours"] = sum(seconds_on(card, mfu, w) for w in works) / 3600
        row["tokens from"] = ", ".join(sorted({o for w in works for o in w.origin.split(", ")}))
        notes = {}
        for w in works:
            for note, n in w.notes.items():
                notes[note] = notes.get(note, 0) + n
        row["notes"] = "; ".join(f"{n:,} {note}" for note, n in notes.items()) or ""
        rows.append(row)
    order = {t: i for i, t in enumerate(MODEL_TASKS)}
    return sorted(rows, key=lambda r: (order[r["stage"]], r["model"]))
