"""Benchmark: padding efficiency (real tokens / positions processed) of LoRA training batches,
before and after length grouping, on a finished run's own training texts.

Before: each epoch a random permutation cut into batches, each padded to its longest member.
Now: `crossprobe.lora.tuning.length_grouped_batches` (batches of similar lengths within shuffled
buckets). Both draw as many batches as the run's training takes (max_steps x grad_accum), with
the run's seed; the texts are the query texts of the train split's answers (the job holds out a
tenth of them to select its adapter), tokenised as the job does. Inference stages are not
shown: their batches were and are length-sorted (every job logs its "padding efficiency").

    python bench/padding.py --results results/default   # [--configfile config.yaml]
"""

import argparse
import sys
from pathlib import Path

import pandas as pd
import torch
import yaml
from transformers import AutoTokenizer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from crossprobe.contract.config import load_schema, lora_params, validate_config  # noqa: E402
from crossprobe.lora.tuning import length_grouped_batches, query_sequences  # noqa: E402
from crossprobe.models.lm import padded_size  # noqa: E402


def permuted_batches(count: int, size: int, generator):
    """The batching before: endless epochs of random permutations cut into batches."""
    while True:
        for batch in torch.randperm(count, generator=generator).split(size):
            yield batch.tolist()


def efficiency(seqs, batches, n: int) -> float:
    real = processed = 0
    for _ in range(n):
        batch = [seqs[i] for i in next(batches)]
        real, processed = real + sum(map(len, batch)), processed + padded_size(batch)
    return real / processed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(ROOT / "results/default"))
    parser.add_argument("--configfile", default=str(ROOT / "config.yaml"))
    args = parser.parse_args()
    config = validate_config(
        yaml.safe_load(Path(args.configfile).read_text()),
        load_schema(ROOT / "schemas/config.schema.yaml"),
    )
    results, seed = Path(args.results), config["seed"]
    for model_dir in sorted(results.glob("models/*/checkpoint")):
        model = model_dir.parent.name
        lora = lora_params(config, model)
        draws = lora["max_steps"] * lora["grad_accum"]
        print(f"{model}: LoRA batches of {lora['batch_size']}, {draws} per run")
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        for graded in sorted(results.glob("graded/*/train.parquet")):
            table = pd.read_parquet(graded)
            seqs, _ = query_sequences(
                tokenizer, table["prompt"], table["answer"], lora["max_length"]
            )
            lengths = list(map(len, seqs))
            before = efficiency(
                seqs,
                permuted_batches(
                    len(seqs), lora["batch_size"], torch.Generator().manual_seed(seed)
                ),
                draws,
            )
            grouped = length_grouped_batches(
                lengths, lora["batch_size"], torch.Generator().manual_seed(seed)
            )
            now = efficiency(seqs, grouped, draws)
            print(
                f"{model:>8} on {graded.parent.name:<8} ({len(seqs)} texts, "
                f"{min(lengths)}-{max(lengths)} tokens): before {before:.1%}, now {now:.1%}"
            )


if __name__ == "__main__":
    main()
