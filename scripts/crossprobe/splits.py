"""The split contract: which question splits exist, what each stage reads, and which part of the
config decides each split's questions. Torch-free; rules, adapters and tests all use it.

- train: trained estimators (probes, LoRA) learn on the Trained On column's answers here;
- calibration: one temperature per cell is fitted here (and probes stop early on it);
- test: every metric is computed here, and nothing else is.
Every method's P(correct) is computed on the SCORED splits only.
"""

SPLITS = ("train", "calibration", "test")
TRAIN, CALIBRATION, TEST = SPLITS
SCORED = (CALIBRATION, TEST)


def earlier(split: str) -> tuple[str, ...]:
    return SPLITS[: SPLITS.index(split)]


def linked_splits(specs: dict, split: str) -> list[str]:
    """`split` and the earlier splits whose questions decide which ones are left for it: those
    that draw from one of its datasets, directly or through another linked split."""
    linked, datasets = [split], set(specs[split]["datasets"])
    grew = True
    while grew:
        grew = False
        for other in earlier(split):
            if other not in linked and datasets & set(specs[other]["datasets"]):
                linked.append(other)
                datasets |= set(specs[other]["datasets"])
                grew = True
    return [s for s in SPLITS if s in linked]


def split_params(data: dict, seed: int, split: str) -> dict:
    """Exactly the config that decides `split`'s question table: its own spec, the specs of the
    linked earlier splits, the answer format (it shapes the prompts) and the seed. Passed as the
    rule's params, so a change elsewhere leaves this split's questions (and all after) alone."""
    specs = data["splits"]
    return {
        "answer_format": data["answer_format"],
        "seed": seed,
        "splits": {s: specs[s] for s in linked_splits(specs, split)},
    }
