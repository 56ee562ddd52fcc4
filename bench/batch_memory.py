"""Benchmark: a batch of each model task, its peak memory measured against the memory model's
prediction (`crossprobe.models.memory`), its speed, and on a GPU its share of the card's bf16
peak and its decoding rate.

Each kind of batch runs through the job code itself (cloze scoring, greedy answers, the cached
read, LoRA training plain, with the JS regulariser, and with the regulariser and gradient
checkpointing, query scoring) on one batch of `--rows` texts of `--width` tokens (`--rows auto`:
as many as the workflow's memory budget gives this card), after a warm-up batch. Peak memory is
what the batch adds: on CUDA, allocated (`torch.cuda.max_memory_allocated`) and reserved by the
caching allocator (`max_memory_reserved`: what the card must really have free), every kind in
one process with the statistics reset between them; on a CPU the peak resident memory (VmHWM,
reset before the batch), each kind in a process of its own. Greedy decoding's rate is its new
tokens per second, a one-token run's time taken off. The model is a run's (`--model`), one with
random weights built on the device from a published config.json (`--config`, `--scale tiny`
shrinks it for a CPU), or by default a 4-layer Llama-shaped one.

    python bench/batch_memory.py --model results/default/models/gemma3/model.json
    python bench/batch_memory.py --rows 8 --width 512          # a 4-layer Llama-shaped model
    python bench/batch_memory.py --config tests/fixtures/configs/mistral-7b-v0.1.json \
        --device cuda --dtype bfloat16 --rows auto --width 4096   # (bench/gpu.sh)
"""

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from crossprobe.answers.answering import greedy_lines, option_logprobs
from crossprobe.contract.model_tasks import Footprint
from crossprobe.lora.query import query_logodds
from crossprobe.lora.training import train_lora
from crossprobe.models.lm import load_model, pick_device
from crossprobe.models.memory import Budget, batch_budget_bytes, batch_bytes, shape_of
from crossprobe.models.precision import activation_dtype, torch_dtype
from crossprobe.plan.counting import forward_flops
from crossprobe.reads.activations import compute_reads

MIB = 2**20
LORA = {
    "r": 8,
    "alpha": 16,
    "dropout": 0.0,
    "target_modules": ["q_proj", "v_proj"],
    "lr": 1e-4,
    "weight_decay": 0.0,
    "warmup_steps": 0,
    "grad_accum": 1,
    "max_steps": 1,
    "epochs": None,
    "eval_every": 0,
    "js_weight": 0.0,
    "js_tokens": "gold",
    "log_every": 1,
}


# bf16 dense TFLOP/s of the cards a first GPU run may meet (vendors' datasheets)
PEAK_TFLOPS = {"H200": 989, "H100": 989, "A100": 312, "L40S": 362, "A10": 125, "L4": 121}
TINY = {  # --scale tiny: the published config's architecture at a size a CPU runs in seconds
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
}


def trained_tokenizer():
    """A GPT-2 byte-level tokenizer trained here, with the query's " i" and " ii"."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    words = ["Question: which gas do plants absorb? Answer: carbon dioxide i ii yes no"] * 50
    bpe.train_from_iterator(words, vocab_size=2000, special_tokens=["<pad>", "<s>", "</s>"])
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )


def from_config(path: Path, scale: str | None, device: str, dtype: str):
    """(model, tokenizer, device): the architecture of a published config.json with random
    weights, built on the device in `dtype` (no download, no copy through the CPU)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    raw = json.loads(Path(path).read_text())
    raw.update(TINY if scale == "tiny" else {})
    config = AutoConfig.for_model(**raw)
    tokenizer = trained_tokenizer()
    tokenizer.padding_side = "left"
    dev = pick_device(device)
    torch.manual_seed(0)
    with torch.device(dev):
        model = AutoModelForCausalLM.from_config(config, dtype=torch_dtype(dtype)).eval()
    return model, tokenizer, dev


def llama_shaped(path: Path) -> Path:
    """A 4-layer Llama-shaped model (width 256) with a GPT-2 byte-level tokenizer trained here."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    tokenizer = trained_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=4,
        max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


class Peak:
    """Memory a block adds at its peak, on CUDA or from the process's resident memory."""

    def __init__(self, device: torch.device):
        self.device = device

    def _status(self, key: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) * 1024
        return 0

    def __enter__(self):
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            self.before = torch.cuda.memory_allocated()
            self.reserved_before = torch.cuda.memory_reserved()
        else:
            Path("/proc/self/clear_refs").write_text("5")
            self.before = self._status("VmRSS")
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.bytes = torch.cuda.max_memory_allocated() - self.before
            # what the caching allocator held: what the card really had to have free
            self.reserved = torch.cuda.max_memory_reserved() - self.reserved_before
        else:
            self.bytes = self.reserved = self._status("VmHWM") - self.before
        self.seconds = time.perf_counter() - self.started


BATCHES = ("cloze", "generate", "reads", "query", "train", "train-js", "train-checkpointing")
MOST = 32  # --rows auto: at most the preset's batch of every model task
HEADER = (
    "| batch | rows x width | predicted MiB | allocated MiB | reserved MiB | predicted / reserved "
    "| tokens/s | decode tokens/s | MFU |"
)


def card_peak(device: torch.device) -> float | None:
    """The card's bf16 dense TFLOP/s, where its name is known."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((t for card, t in PEAK_TFLOPS.items() if card in name), None)


def load(args):
    """(model, tokenizer, device, what it is) as the arguments ask."""
    if args.config:
        model, tokenizer, device = from_config(args.config, args.scale, args.device, args.dtype)
        return (
            model,
            tokenizer,
            device,
            f"{args.config} (random weights{', tiny' if args.scale else ''})",
        )
    record = json.loads(Path(args.model).read_text())
    model, tokenizer, device = load_model(record, args.device, args.dtype)
    return model, tokenizer, device, record["path"]


def measure(args, batch: str, model, tokenizer, device) -> str:
    """Run one kind of batch; its table row."""
    dtype = activation_dtype(model)
    shape = shape_of(model.config, model)
    specials = set(tokenizer.all_special_ids)
    ordinary = [i for i in range(min(len(tokenizer), 5000)) if i not in specials]
    width = args.width
    generator = torch.Generator().manual_seed(0)

    def texts(n, w=width):
        picks = torch.randint(len(ordinary), (n, w), generator=generator).tolist()
        return [[ordinary[i] for i in row] for row in picks]

    def prompts(n):
        return [tokenizer.decode(seq, skip_special_tokens=True) for seq in texts(n, width - 8)]

    def train(n, **settings):
        params = {**lora, "batch_size": n, "score_batch_size": n, **settings}
        seqs = texts(n)
        # the regulariser reads the answer's last 16 positions of the same texts
        regularised = (seqs, [(17, 1)] * n)
        labels = [i % 2 for i in range(n)]
        return train_lora(
            model, tokenizer, device, seqs, labels, params=params, seed=0, regularised=regularised
        ).model

    options = ["carbon dioxide", "oxygen", "salt water", "light"]
    layers = [shape.layers // 2, -1]
    lora = {**LORA, "max_length": width + 8, "batches_per_bucket": 8}
    js = {"js_weight": 1.0, "js_tokens": "answer"}

    def generate(n, new_tokens=args.new_tokens):
        return greedy_lines(model, tokenizer, device, texts(n), n, new_tokens)

    runs = {  # batch: (run n rows, its footprint, what the batch keeps, forward passes)
        "cloze": (
            lambda n: option_logprobs(
                model, tokenizer, device, prompts(n), [options] * n, n, width
            ),
            Footprint.CLOZE,
            {"option_tokens": 4 * 4},
            1,
        ),
        "generate": (generate, Footprint.GENERATE, {"new_tokens": args.new_tokens}, 1),
        "reads": (
            lambda n: compute_reads(
                model, tokenizer, device, texts(n), [(width // 2, width - 4)] * n, layers, n
            ),
            Footprint.READS,
            {},
            1,
        ),
        "query": (
            lambda n: query_logodds(model, tokenizer, device, texts(n), n),
            Footprint.QUERY,
            {},
            1,
        ),
        "train": (lambda n: train(n).unload(), Footprint.TRAIN, {"js_tokens": 0}, 2),
        "train-js": (lambda n: train(n, **js).unload(), Footprint.TRAIN, {"js_tokens": 17}, 5),
        "train-checkpointing": (
            lambda n: train(n, **js, gradient_checkpointing=True).unload(),
            Footprint.TRAIN,
            {"js_tokens": 17, "checkpointing": True},
            7,
        ),
    }
    run, footprint, extra, passes = runs[batch]
    rows = args.rows
    if rows == "auto":  # as the workflow sizes this batch on this card (models.memory.Budget)
        limit = torch.cuda.get_device_properties(device).total_memory
        held = torch.cuda.memory_allocated(device)
        budget = Budget(shape, dtype, batch_budget_bytes("cuda", limit, held), footprint)
        rows = budget.rows(width, MOST, **extra)
    rows = int(rows)
    run(min(rows, 2))  # warm-up: kernels, allocator pools
    decode = "n/a"
    if batch == "generate":  # the new tokens alone: one new token's run taken off
        with Peak(device) as first:
            generate(rows, 1)
    with Peak(device) as peak:
        run(rows)
    if batch == "generate":
        decode = f"{rows * (args.new_tokens - 1) / max(peak.seconds - first.seconds, 1e-9):.0f}"
    predicted = batch_bytes(shape, footprint, rows, width, dtype, **extra)
    flops = passes * forward_flops(shape, rows, width)
    peak_tflops = args.peak_tflops or card_peak(device)
    mfu = f"{flops / peak.seconds / (peak_tflops * 1e12):.0%}" if peak_tflops else "n/a"
    return (
        f"| {batch} | {rows} x {width} | {predicted / MIB:.0f} | {peak.bytes / MIB:.0f} | "
        f"{peak.reserved / MIB:.0f} | {predicted / max(peak.reserved, 1):.2f} | "
        f"{rows * width / peak.seconds:.0f} | {decode} | {mfu} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a model.json of a run")
    parser.add_argument("--config", help="a published config.json: random weights of its shape")
    parser.add_argument("--scale", choices=["tiny"], help="with --config: a tiny model of it")
    parser.add_argument(
        "--rows", default="8", help="rows per batch, or auto: as many as the card holds (CUDA)"
    )
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--peak-tflops", type=float, help="the card's bf16 peak, if not known")
    parser.add_argument(
        "--batches", default=",".join(BATCHES), help=f"kinds of batch, of {', '.join(BATCHES)}"
    )
    parser.add_argument("--batch", choices=BATCHES, help="one kind of batch, in this process")
    args = parser.parse_args()
    if args.model is None and args.config is None:
        folder = Path(tempfile.mkdtemp()) / "llama_shaped"
        args.model = str(folder / "model.json")
        llama_shaped(folder).joinpath("model.json").write_text(json.dumps({"path": str(folder)}))
    kinds = [b for b in args.batches.split(",") if b]
    if args.batch:  # one kind, in a process of its own: a CPU's peak memory is the process's
        print(measure(args, args.batch, *load(args)[:3]))
        return
    model, tokenizer, device, where = load(args)
    peak_tflops = args.peak_tflops or card_peak(device)
    print(
        f"# {where} on {device}, activations in {activation_dtype(model)}: "
        f"{shape_of(model.config, model).params:,} parameters; one batch of each kind"
        + (f"; card peak {peak_tflops:g} TFLOP/s bf16" if peak_tflops else "")
    )
    print(HEADER + "\n|" + "---|" * HEADER.count(" | ") + "---|")
    if device.type == "cuda":  # one process: the card's peak statistics reset between kinds
        for batch in kinds:
            print(measure(args, batch, model, tokenizer, device), flush=True)
        return
    del model  # on a CPU, a process per kind: its peak resident memory is the batch's
    forwarded = [
        f"--{k.replace('_', '-')}={v}"
        for k, v in vars(args).items()
        if v is not None and k not in ("batch", "batches")
    ]
    failed = False
    for batch in kinds:
        out = subprocess.run(
            [sys.executable, __file__, *forwarded, "--batch", batch], capture_output=True, text=True
        )
        row = next((x for x in out.stdout.splitlines() if x.startswith("|")), None)
        print(row if out.returncode == 0 and row else f"| {batch} | failed: {out.stderr[-800:]}")
        failed |= out.returncode != 0
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
