"""The order LoRA training draws its answers in: batches of similar lengths, every answer once per
epoch."""

import torch


def length_grouped_batches(lengths, size: int, per_bucket: int, generator):
    """Endless epochs of training batches of similar lengths: each epoch is a fresh permutation,
    cut into buckets of `per_bucket` batches; within a bucket the examples are sorted by length
    and cut into batches, and the epoch's batches come in a shuffled order. Every example is
    seen once per epoch, as with plain permutations, with far less padding."""
    lengths = torch.tensor(lengths)
    while True:
        order = torch.randperm(len(lengths), generator=generator)
        batches = []
        for bucket in order.split(size * per_bucket):
            batches += bucket[torch.argsort(lengths[bucket], stable=True)].split(size)
        for i in torch.randperm(len(batches), generator=generator).tolist():
            yield batches[i].tolist()
