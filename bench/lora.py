"""Benchmark: LoRA + Prompt training and scoring speed of the default models.

Prints, per model, seconds per optimiser step (after a warm-up forward pass) and training
examples/s at the default LoRA settings, and scoring examples/s of the query.

    snakemake answers       # model checkpoints and graded answers of the default run
    python bench/lora.py    # [--steps N] [--configfile FILE] [--results results/default]
"""

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from crossprobe.lora.tuning import query_logodds, query_sequences, train_on_answers  # noqa: E402
from crossprobe.models.lm import load_model  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default=str(ROOT / "config.yaml"))
    parser.add_argument("--steps", type=int, default=11)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--results", default=str(ROOT / "results/default"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = yaml.safe_load(Path(args.configfile).read_text())
    defaults = yaml.safe_load((ROOT / "schemas/config.schema.yaml").read_text())
    base = defaults["properties"]["lora"]["default"]
    results = Path(args.results)
    for model_id, spec in config["models"].items():
        params = {
            **base,
            **config.get("lora", {}),
            **spec.get("lora", {}),
            "max_steps": args.steps,
            "log_every": args.steps,
            "epochs": None,
            "eval_every": 0,
        }
        model, tokenizer, device = load_model(
            results / f"models/{model_id}/model.json", "cpu", "float32"
        )
        train = pd.read_parquet(results / f"graded/{model_id}/train.parquet")
        seqs, _ = query_sequences(tokenizer, train["prompt"], train["answer"], params["max_length"])
        # the first forward pass in a process is several times slower: pay it before timing
        query_logodds(model, tokenizer, device, seqs[:8], params["score_batch_size"])
        started = time.perf_counter()
        peft_model, _, _ = train_on_answers(model, tokenizer, device, train, params, seed=0)
        total = time.perf_counter() - started
        per_step = total / args.steps
        batch = params["batch_size"] * params["grad_accum"]
        test = pd.read_parquet(results / f"graded/{model_id}/test.parquet")
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
