"""Loading causal LMs and running them in length-sorted, left-padded batches.

Left padding keeps every sequence's last real token at position -1, so the LM head is only ever
applied to the last few positions (`logits_to_keep`): Gemma's 262k vocabulary makes full logits
cost gigabytes. Position ids are derived from the attention mask so that a padded sequence gives
the same hidden states as the sequence alone.
"""

import json
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from crossprobe.contract.model_tasks import task_of
from crossprobe.intake.weights import hub_snapshot, materialise_gguf, weights_kind
from crossprobe.models.memory import Budget, batch_budget_bytes, shape_of
from crossprobe.models.precision import (
    Float32Head,
    activation_dtype,
    in_format,
    resolve,
    torch_dtype,
)

log = logging.getLogger(__name__)


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def model_width(path) -> int:
    """The hidden size of the model at `path` (read from its config, weights untouched)."""
    return AutoConfig.from_pretrained(path).get_text_config().hidden_size


def prepare_model(weights: dict, out_dir: Path, key: str = "weights") -> dict:
    """Make `weights` loadable by path and return the loading record written to model.json.

    Hub weights are fetched here, only the files loading needs (this rule runs where the
    internet is: on the submitting host); GGUF weights are dequantised once into a plain
    safetensors checkpoint: later jobs then load in about a second instead of half a minute, and
    peft can train on them. `key` names the weights in errors.
    """
    out_dir = Path(out_dir)
    kind = weights_kind(weights)
    if kind == "local":
        return {"path": str(Path(weights["local"]).resolve()), "kind": kind}
    if kind == "hub":
        path = hub_snapshot(weights, key)
        return {
            "path": path,
            "kind": kind,
            "hub": weights["hub"],
            "revision": weights.get("revision"),
        }
    gguf_path = materialise_gguf(weights["gguf"], out_dir)
    kwargs = {"gguf_file": gguf_path.name}
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, dtype=torch.float32, **kwargs)
    # A GGUF-loaded model carries a quantizer that refuses save_pretrained; its weights are
    # already dequantised, so dropping it gives a bit-identical plain checkpoint.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    checkpoint = out_dir / "checkpoint"
    model.save_pretrained(checkpoint)
    tokenizer.save_pretrained(checkpoint)
    if gguf_path.parent == out_dir:
        gguf_path.unlink()
    return {"path": str(checkpoint.resolve()), "kind": kind, "gguf": weights["gguf"]["file"]}


def load_model(model_record: dict | str | Path, device: str = "auto", dtype: str = "auto"):
    """(model, tokenizer, device) from a model.json record, in the number format `dtype` names
    (`auto`: see `crossprobe.models.precision`); eval mode, left padding."""
    if not isinstance(model_record, dict):
        model_record = json.loads(Path(model_record).read_text())
    started = time.perf_counter()
    dev = pick_device(device)
    precision, _ = resolve(dtype, dev, model_width(model_record["path"]))
    tokenizer = AutoTokenizer.from_pretrained(model_record["path"])
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(
        model_record["path"], dtype=torch_dtype(precision)
    ).to(dev)
    model = in_format(model, precision)
    model.eval()
    log.info(
        "loaded %s (%s, %s) in %.1f s",
        model_record["path"],
        dev,
        precision,
        time.perf_counter() - started,
    )
    return model, tokenizer, dev


class NoGPUError(RuntimeError):
    """A job that asked for a GPU sees none."""


def require_gpu(asked: int) -> None:
    """Stop a job whose experiment asks for `asked` GPUs (`resources.gpu`) and which sees no CUDA
    device, before it loads any weights: it would otherwise run a large model on a few CPU
    threads until its time limit, holding an idle GPU, on every retry."""
    if not asked or torch.cuda.is_available():
        return
    built = torch.version.cuda
    raise NoGPUError(
        f"this job asked for {asked} GPU(s) (resources.gpu) but torch sees no CUDA device; "
        "refusing to run it on the CPU. Check: torch "
        f"{torch.__version__} is "
        + (
            f"built for CUDA {built}: does the node's driver support it (nvidia-smi)?"
            if built
            else "a CPU build (installed with constraints-cpu.txt? on GPU machines install "
            "without it: make CONSTRAINTS= install)"
        )
        + f"; CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '(not set)')} "
        "(did SLURM allocate a GPU: --gpus or --gpus-per-node in the job's sbatch line, "
        "scontrol show job)"
    )


def load_job_model(snakemake):
    """(model, tokenizer, device, provenance) for a job's `model` input (model.json), run as its
    `runtime` params (device, dtype, the experiment's GPUs) say; the provenance says
    which dtype `auto` chose and why. A job of an experiment that asks for a GPU and sees none
    stops here (`require_gpu`), however its SLURM request was spelled (a typed `gpu_model`, or a
    `slurm_extra` with the rule's `gpu` resource at 0)."""
    runtime = snakemake.params.runtime
    require_gpu(int(runtime.get("gpus") or 0))
    record = json.loads(Path(snakemake.input.model).read_text())
    device = pick_device(runtime["device"])
    _, precision = resolve(runtime["dtype"], device, model_width(record["path"]))
    model, tokenizer, device = load_model(record, str(device), precision["dtype"])
    provenance = {"model": record, "device": str(device), **runtime, "precision": precision}
    provenance["threads"] = torch.get_num_threads()
    return model, tokenizer, device, provenance


def within_budget(run, budget: Budget | None, width: int, most: int, **extra):
    """`run(rows)` with the rows a batch at `width` tokens may hold within `budget` (at most
    `most`; `extra` says what the batch keeps besides, see `crossprobe.models.memory`); on a CUDA
    out-of-memory error the budget is halved, with the same `extra`, and `run` called again with
    fewer, down to one row. `run` must leave no trace of an attempt it did not finish. Returns
    (rows, what `run` returned)."""
    while True:
        rows = budget.rows(width, most, **extra) if budget else most
        try:
            return rows, run(rows)
        except torch.OutOfMemoryError:
            if budget is None or rows == 1:
                raise
            torch.cuda.empty_cache()
            budget.halve(rows, width, **extra)


def in_batches(lengths, most: int, work, budget: Budget | None = None, **extra):
    """Call `work(indices)` on batches of examples sorted by length, longest first (memory peaks
    at once): each batch holds at most `most` examples and, with a `budget`, no more than fit in
    its memory at the batch's width (`extra` says what the batch keeps besides; see
    `crossprobe.models.memory`), fewer after an out-of-memory error (`within_budget`)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    at = 0
    while at < len(order):
        width = lengths[order[at]]
        rows, _ = within_budget(
            lambda rows, at=at: work(order[at : at + rows]), budget, width, most, **extra
        )
        at += rows


def resident_bytes() -> int:
    """This process's resident memory now (Linux; 0 where /proc is not there)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def job_budget(snakemake, model, device, answer_format=None) -> tuple[Budget, dict]:
    """The memory budget of a model job's batches, sized for its model task's footprint (the
    task its rule runs: for answering, the one `answer_format` names), once its model is loaded,
    and its provenance: on a GPU, `gpu_mem_mb` (the card's own memory when 0) less what the
    model holds; on a CPU, the job's `mem_mb` less what the process holds."""
    shape = shape_of(model.config, model)
    dtype = activation_dtype(model)
    if device.type == "cuda":
        asked = snakemake.resources.get("gpu_mem_mb", 0) * 2**20
        limit = asked or torch.cuda.get_device_properties(device).total_memory
        free = batch_budget_bytes("cuda", limit, torch.cuda.memory_allocated(device))
    else:
        limit = snakemake.resources.get("mem_mb", 0) * 2**20
        free = batch_budget_bytes("cpu", limit, resident_bytes())
    if free == 0:
        log.warning("the model leaves no memory for batches: one example per batch")
    log.info("batch memory budget %.0f MiB", free / 2**20)
    footprint = task_of(snakemake.rule, answer_format).footprint
    return Budget(shape, dtype, free, footprint), {"batch_memory_mib": round(free / 2**20)}


def pad_left(sequences, pad_id: int, device):
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
        mask[row, width - len(seq) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), positions.to(device)


PAD_SEGMENT = -1  # `segment_masks`: a padding position


def segment_masks(model, positions, segments):
    """The attention masks of rows that hold several segments, for `model`'s layers: a position
    sees the earlier positions of its own segment and of segment 0 (a shared prefix), never
    padding (`PAD_SEGMENT`, which sees only itself); a sliding-window layer also only what lies
    within its window by position id, as in the segment's own sequence. One 4D mask (rows, 1,
    width, width), or a dict of one per layer type where the model mixes them
    (`config.layer_types`, as `generate` prepares them): transformers passes either to attention
    as it is. Boolean for fused attention, additive for eager attention."""
    config = model.config.get_text_config()
    width = segments.shape[1]
    order = torch.arange(width, device=segments.device)
    allowed = (
        (order[None, :] <= order[:, None])[None]
        & ((segments[:, None, :] == 0) | (segments[:, None, :] == segments[:, :, None]))
        & (segments != PAD_SEGMENT)[:, None, :]
    ) | torch.eye(width, dtype=torch.bool, device=segments.device)
    window = getattr(config, "sliding_window", None)
    kinds = getattr(config, "layer_types", None) or [
        "sliding_attention" if window else "full_attention"
    ]
    masks = {}
    for kind in set(kinds):
        mask = allowed
        if kind == "sliding_attention" and window:
            mask = mask & (positions[:, :, None] - positions[:, None, :] < window)
        if getattr(config, "_attn_implementation", None) == "eager":
            dtype = model.get_input_embeddings().weight.dtype
            mask = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
                ~mask, torch.finfo(dtype).min
            )
        masks[kind] = mask[:, None]
    return masks if len(masks) > 1 else masks[kinds[0]]


def run_batch(model, sequences, pad_id, device, logits_to_keep=1, hidden_states=False):
    """One forward pass over left-padded `sequences` (gradients only if the caller allows)."""
    ids, mask, positions = pad_left(sequences, pad_id, device)
    return model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=positions,
        logits_to_keep=logits_to_keep,
        output_hidden_states=hidden_states,
        use_cache=False,
    )


class RowsHead(torch.nn.Module):
    """An LM head cut to some rows of the vocabulary: float32 logits of those tokens only, in
    the order given."""

    def __init__(self, head, token_ids: torch.Tensor):
        super().__init__()
        full = isinstance(head, Float32Head)
        weight, bias = (head.weight32, head.bias32) if full else (head.weight, head.bias)
        self.register_buffer("weight", weight.detach()[token_ids].float())
        self.register_buffer("bias", None if bias is None else bias.detach()[token_ids].float())

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(hidden.float(), self.weight, self.bias)


@contextmanager
def logits_of(model, token_ids: torch.Tensor):
    """Within the block, `model`'s logits are those of `token_ids` only (column j: token_ids[j]),
    where a stage reads a few tokens' logits: the query's " i" and " ii". The full head costs
    2 x width x vocab per position (Gemma: 262k rows), and under autograd torch applies it to a
    batch's last positions one row at a time, rereading the whole head each time. Whatever the
    model does to logits after its head (Gemma 2's soft-capping) acts on each logit alone, so
    the kept ones are unchanged."""
    head = model.get_output_embeddings()
    model.set_output_embeddings(RowsHead(head, token_ids))
    try:
        yield
    finally:
        model.set_output_embeddings(head)


class Throughput:
    """Logs examples and tokens per second every `every` seconds, and the padding efficiency:
    real tokens over the positions processed (padding included)."""

    def __init__(self, total: int, label: str, every: float = 10.0):
        self.total, self.label, self.every = total, label, every
        self.done = self.tokens = self.processed = 0
        self.start = self.last = time.perf_counter()

    def update(self, examples: int, tokens: int, processed: int | None = None) -> None:
        self.done += examples
        self.tokens += tokens
        self.processed += tokens if processed is None else processed
        now = time.perf_counter()
        if now - self.last >= self.every or self.done == self.total:
            self.last = now
            elapsed = max(now - self.start, 1e-9)
            log.info(
                "%s: %d/%d examples, %.0f tokens/s, padding efficiency %.1f%%",
                self.label,
                self.done,
                self.total,
                self.tokens / elapsed,
                100 * self.tokens / max(self.processed, 1),
            )


def padded_size(sequences) -> int:
    """Positions a batch of `sequences` occupies once padded to its longest."""
    return len(sequences) * max(len(s) for s in sequences)
