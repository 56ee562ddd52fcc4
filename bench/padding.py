"""Benchmark: padding efficiency (real tokens / positions processed) of LoRA training batches,
before and after length grouping, on a finished run's own training texts.

Before: each epoch a random permutation cut into batches, each padded to its longest member.
Now: `crossprobe.lora.batches.length_grouped_batches` (batches of similar lengths within shuffled
buckets). Both draw as many batches as the run's training takes (max_steps x grad_accum), with
the run's seed; the texts are the query texts of the train split's answers (the job holds out a
tenth of them to select its adapter), tokenised as the job does. Inference tasks are not
shown: their batches were and are length-sorted (every job logs its "padding efficiency").

    python bench/padding.py   # [--configfile config.yaml] [--directory DIR]
"""

import argparse

import pandas as pd
import torch
from transformers import AutoTokenizer

from crossprobe.contract.splits import TRAIN
from crossprobe.lora.batches import length_grouped_batches
from crossprobe.lora.texts import query_sequences
from crossprobe.models.lm import padded_size

from finished import FinishedRun


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
    FinishedRun.arguments(parser)
    args = parser.parse_args()
    run = FinishedRun.of(args)
    seed = run.config["seed"]
    for model in run.models():
        lora = run.lora(model)
        draws = lora["max_steps"] * lora["grad_accum"]
        print(f"{model}: LoRA batches of {lora['batch_size']}, {draws} per run")
        tokenizer = AutoTokenizer.from_pretrained(run.model_record(model)["path"])
        for source in run.models():
            table = pd.read_parquet(run.answers(source, TRAIN))
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
                lengths,
                lora["batch_size"],
                lora["batches_per_bucket"],
                torch.Generator().manual_seed(seed),
            )
            now = efficiency(seqs, grouped, draws)
            print(
                f"{model:>8} on {source:<8} ({len(seqs)} texts, "
                f"{min(lengths)}-{max(lengths)} tokens): before {before:.1%}, now {now:.1%}"
            )


if __name__ == "__main__":
    main()
