"""Benchmark: what fusing the ops between the matrix products would cost and save (torch.compile).

`bench/forward_profile.py` shows eager PyTorch spending about 1.4-1.7x a model's matrix-product time
on the ops between them. Fusing those is what `torch.compile` (inductor) does; this prices it
for each default model, in the number format its jobs run in and at one thread (the default
jobs'), for a forward pass (answers, reads, LoRA scoring) and a LoRA training step:

- compile seconds on a cold inductor cache (a fresh folder), then in a second process on the
  cache the first one left (every model job is its own process: that is what each would pay);
- the first call on a second shape (a new batch width: does it compile again?);
- the steady time per call, eager and compiled, and their ratio;
- break-even: the eager seconds a job must spend in such calls before compiling pays for itself,
  compile x speed-up / (speed-up - 1), against the default run's longest model job.

    snakemake answers                 # model checkpoints of the default run
    python bench/compile_cost.py      # [--rows 16] [--tokens 64] [--directory DIR]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from crossprobe.contract.model_tasks import MODEL_RULES
from crossprobe.lora.training import attach_lora
from crossprobe.models.lm import load_model, logits_of
from crossprobe.models.tokens import query_choice_ids

from finished import FinishedRun
from forward_profile import forward, training_step

STEPS = {"forward": forward, "LoRA step": training_step}


def seconds(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def steady(call, repeats: int = 3) -> float:
    call()
    return min(seconds(call) for _ in range(repeats))


def measure(record: dict, shape: str, rows: int, tokens: int, lora: dict) -> dict:
    """In this process: one model's eager and compiled calls of `shape` (seconds)."""
    torch.set_num_threads(1)
    model, tokenizer, _ = load_model(record, "cpu", "auto")
    if shape == "LoRA step":
        model = attach_lora(model, lora).train()
    choices = torch.tensor(query_choice_ids(tokenizer))
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(100, len(tokenizer) - 1, (rows, tokens), generator=generator)
    wider = torch.randint(100, len(tokenizer) - 1, (rows, tokens + 17), generator=generator)
    step = STEPS[shape]
    # the query's two-logit head, set once: a head swapped per call would recompile every call
    with logits_of(model, choices):
        compiled = torch.compile(model, dynamic=True)
        return {
            "compile_s": seconds(lambda: step(compiled, ids)),
            "new_shape_s": seconds(lambda: step(compiled, wider)),
            "compiled_s": steady(lambda: step(compiled, ids)),
            "eager_s": steady(lambda: step(model, ids)),
        }


def in_child(record: dict, shape: str, args, cache: str) -> dict:
    """`measure` in a fresh process whose inductor cache is `cache`."""
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
    child = [sys.executable, __file__, "--child", json.dumps(record), shape]
    child += ["--rows", str(args.rows), "--tokens", str(args.tokens)]
    child += ["--configfile", args.configfile, "--directory", args.directory]
    done = subprocess.run(child, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{shape} of {record['path']} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def longest_job(benchmarks: Path) -> float:
    """The longest model job of a run, in seconds (benchmark files of its model rules)."""
    jobs = [f for rule in MODEL_RULES for f in (benchmarks / rule).rglob("*.tsv")]
    return max((float(pd.read_csv(f, sep="\t")["s"].iloc[-1]) for f in jobs), default=0.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    FinishedRun.arguments(parser)
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--child", nargs=2, metavar=("RECORD", "SHAPE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        record, shape = json.loads(args.child[0]), args.child[1]
        model = json.loads(args.child[0])["model"]
        result = measure(record, shape, args.rows, args.tokens, FinishedRun.of(args).lora(model))
        print(json.dumps(result))
        return
    run = FinishedRun.of(args)
    longest = longest_job(run.directory / "benchmarks" / run.experiment)
    print(f"{args.rows} rows x {args.tokens} tokens, 1 thread, torch {torch.__version__}")
    for model_id in run.models():
        record = {**run.model_record(model_id), "model": model_id}
        for shape in STEPS:
            with tempfile.TemporaryDirectory() as cache:
                cold = in_child(record, shape, args, cache)
                warm = in_child(record, shape, args, cache)
            speedup = cold["eager_s"] / cold["compiled_s"]
            compile_s = warm["compile_s"] - warm["compiled_s"]
            even = compile_s * speedup / (speedup - 1) if speedup > 1 else float("inf")
            print(
                f"{model_id} {shape}: eager {1e3 * cold['eager_s']:.0f} ms, compiled "
                f"{1e3 * cold['compiled_s']:.0f} ms ({speedup:.2f}x); first call "
                f"{cold['compile_s']:.0f} s on a cold cache, {warm['compile_s']:.0f} s on a warm "
                f"one; a new width {cold['new_shape_s']:.1f} s; break-even after {even:.0f} s "
                f"of eager calls per job (longest default model job: {longest:.0f} s)"
            )


if __name__ == "__main__":
    main()
