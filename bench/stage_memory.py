"""Benchmark: each model stage's batch, its peak memory measured against the memory model's
prediction (`crossprobe.models.memory`), and its speed, on the GPU when there is one.

Each stage runs in a process of its own through the job code itself (cloze scoring, greedy
answers, the cached read, LoRA training, query scoring) on one batch of `--rows` texts of
`--width` tokens, after a warm-up batch. Peak memory is what the batch adds: on CUDA
`torch.cuda.max_memory_allocated` over what was allocated before; on a CPU the peak resident
memory (VmHWM, reset before the batch).

    python bench/stage_memory.py --model results/default/models/gemma3/model.json
    python bench/stage_memory.py --rows 8 --width 512          # a 4-layer Llama-shaped model
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from crossprobe.answers.answering import greedy_lines, option_logprobs  # noqa: E402
from crossprobe.lora.tuning import query_logodds, train_lora  # noqa: E402
from crossprobe.models.lm import load_model  # noqa: E402
from crossprobe.models.memory import batch_bytes, shape_of  # noqa: E402
from crossprobe.models.precision import activation_dtype  # noqa: E402
from crossprobe.reads.activations import compute_reads  # noqa: E402

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


def llama_shaped(path: Path) -> Path:
    """A 4-layer Llama-shaped model (width 256) with a GPT-2 byte-level tokenizer trained here."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    words = ["Question: which gas do plants absorb? Answer: carbon dioxide i ii yes no"] * 50
    bpe.train_from_iterator(words, vocab_size=2000, special_tokens=["<pad>", "<s>", "</s>"])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
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
        else:
            Path("/proc/self/clear_refs").write_text("5")
            self.before = self._status("VmRSS")
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.bytes = torch.cuda.max_memory_allocated() - self.before
        else:
            self.bytes = self._status("VmHWM") - self.before
        self.seconds = time.perf_counter() - self.started


STAGES = ("cloze", "generate", "reads", "query", "train")


def measure(record: dict, stage: str, args) -> None:
    """Run one stage's batch in this process; print its table row (and the header first)."""
    model, tokenizer, device = load_model(record, args.device, args.dtype)
    dtype = activation_dtype(model)
    shape = shape_of(model.config, model)
    specials = set(tokenizer.all_special_ids)
    ordinary = [i for i in range(min(len(tokenizer), 5000)) if i not in specials]
    rows, width = args.rows, args.width
    generator = torch.Generator().manual_seed(0)

    def texts(n, w=width):
        picks = torch.randint(len(ordinary), (n, w), generator=generator).tolist()
        return [[ordinary[i] for i in row] for row in picks]

    def prompts(n):
        return [tokenizer.decode(seq, skip_special_tokens=True) for seq in texts(n, width - 8)]

    options = ["carbon dioxide", "oxygen", "salt water", "light"]
    layers = [shape.layers // 2, -1]
    lora = {**LORA, "batch_size": rows, "max_length": width + 8, "score_batch_size": rows}
    runs = {
        "cloze": (
            lambda n: option_logprobs(
                model, tokenizer, device, prompts(n), [options] * n, n, width
            ),
            {"option_tokens": 4 * 4},
        ),
        "generate": (
            lambda n: greedy_lines(model, tokenizer, device, texts(n), n, args.new_tokens),
            {"new_tokens": args.new_tokens},
        ),
        "reads": (
            lambda n: compute_reads(
                model, tokenizer, device, texts(n), [(width // 2, width - 4)] * n, layers, n
            ),
            {},
        ),
        "query": (lambda n: query_logodds(model, tokenizer, device, texts(n), n), {}),
        "train": (
            lambda n: train_lora(
                model, tokenizer, device, texts(n), [i % 2 for i in range(n)], lora, 0
            )[0].unload(),
            {"js_tokens": 0},
        ),
    }
    run, extra = runs[stage]
    if stage == STAGES[0]:
        print(
            f"# {record['path']} on {device}, activations in {dtype}: {shape.params:,} parameters; "
            f"one batch of {rows} x {width} tokens per stage, each in a process of its own"
        )
        print("| stage | predicted MiB | measured MiB | predicted / measured | tokens/s |")
        print("|---|---|---|---|---|")
    run(2)  # warm-up: kernels, allocator pools
    with Peak(device) as peak:
        run(rows)
    predicted = batch_bytes(shape, stage, rows, width, dtype, **extra)
    print(
        f"| {stage} | {predicted / MIB:.0f} | {peak.bytes / MIB:.0f} | "
        f"{predicted / max(peak.bytes, 1):.2f} | {rows * width / peak.seconds:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a model.json of a run (default: a Llama-shaped model)")
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--stage", choices=STAGES, help="one stage, in this process")
    args = parser.parse_args()
    if args.model is None:
        folder = Path(tempfile.mkdtemp()) / "llama_shaped"
        args.model = str(folder / "model.json")
        llama_shaped(folder).joinpath("model.json").write_text(json.dumps({"path": str(folder)}))
    if args.stage:
        measure(json.loads(Path(args.model).read_text()), args.stage, args)
        return
    common = ["--rows", str(args.rows), "--width", str(args.width), "--model", args.model]
    common += ["--new-tokens", str(args.new_tokens), "--dtype", args.dtype, "--device", args.device]
    for stage in STAGES:
        out = subprocess.run(
            [sys.executable, __file__, *common, "--stage", stage], capture_output=True, text=True
        )
        lines = [x for x in out.stdout.splitlines() if x.startswith(("#", "|"))]
        print(
            "\n".join(lines) if out.returncode == 0 else f"| {stage} | failed: {out.stderr[-500:]}"
        )


if __name__ == "__main__":
    main()
