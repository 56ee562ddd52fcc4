"""Benchmark: LoRA + Prompt training and scoring speed of the default models.

Prints, per model, seconds per optimiser step (after a warm-up forward pass) and training
examples/s at the default LoRA settings, and scoring examples/s of the query.

    snakemake answers       # model checkpoints and graded answers of the default run
    python bench/lora.py    # [--steps N] [--configfile FILE] [--directory DIR]
"""

import argparse
import time

import pandas as pd
import torch

from crossprobe.contract import paths
from crossprobe.lora.query import query_logodds
from crossprobe.lora.texts import query_sequences
from crossprobe.lora.training import train_on_answers
from crossprobe.models.lm import load_model

from finished import FinishedRun


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    FinishedRun.arguments(parser)
    parser.add_argument("--steps", type=int, default=11)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = FinishedRun.of(args)
    for model_id in run.models():
        params = {
            **run.lora(model_id),
            "max_steps": args.steps,
            "log_every": args.steps,
            "epochs": None,
            "eval_every": 0,
        }
        model, tokenizer, device = load_model(
            run.path(paths.MODEL, model=model_id), "cpu", "float32"
        )
        train = pd.read_parquet(run.answers(model_id, "train"))
        seqs, _ = query_sequences(tokenizer, train["prompt"], train["answer"], params["max_length"])
        # the first forward pass in a process is several times slower: pay it before timing
        query_logodds(model, tokenizer, device, seqs[:8], params["score_batch_size"])
        started = time.perf_counter()
        peft_model = train_on_answers(model, tokenizer, device, train, params=params, seed=0).model
        total = time.perf_counter() - started
        per_step = total / args.steps
        batch = params["batch_size"] * params["grad_accum"]
        test = pd.read_parquet(run.answers(model_id, "test"))
        test_seqs, _ = query_sequences(
            tokenizer, test["prompt"], test["answer"], params["max_length"]
        )
        started = time.perf_counter()
        query_logodds(peft_model, tokenizer, device, test_seqs, params["score_batch_size"])
        scoring = time.perf_counter() - started
        mean_len = sum(len(s) for s in seqs) / len(seqs)
        print(
            f"{model_id}: {per_step:.2f} s/step (batch {batch}, mean {mean_len:.0f} tokens), "
            f"{batch / per_step:.1f} train examples/s; "
            f"scoring {len(test_seqs) / scoring:.1f} examples/s"
        )


if __name__ == "__main__":
    main()
