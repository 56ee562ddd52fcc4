"""The split contract: which question splits exist, what each stage reads, and which part of the
config decides each split's questions. Torch-free; rules, adapters and tests all use it.

- train: trained estimators (probes, LoRA) learn on the Trained On column's answers here; a seeded
  hold-out of them (`selection.fraction`) picks their checkpoint (early stopping, the best LoRA
  adapter) and is never trained on; probes are also refitted on bootstrap resamples of the rest
  (`probe.resamples`), which the evaluation resamples to carry training-set variability;
- calibration: one temperature per cell is fitted here, and nothing else;
- test: every metric is computed here, and nothing else is.
Every method's P(correct) is computed on the SCORED splits only.
"""

import hashlib
import math
import zlib

import numpy as np

from crossprobe.contract.paths import ALL

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


QUESTION_KEYS = ("datasets", "size", "num_fewshot")  # what of a split spec decides its questions


def split_params(data: dict, seed: int, split: str) -> dict:
    """Exactly the config that decides `split`'s question table: its own spec, the specs of the
    linked earlier splits, the definitions of the datasets they name (and of their shot pools),
    the answer format (it shapes the prompts) and the seed. Passed as the rule's params, so a
    change elsewhere leaves this split's questions (and all after) alone."""
    specs = data["splits"]
    linked = {s: {k: specs[s][k] for k in QUESTION_KEYS} for s in linked_splits(specs, split)}
    defined = data.get("datasets", {})
    named = {d for spec in linked.values() for d in spec["datasets"] if d in defined}
    named |= {defined[d]["shots"] for d in named if defined[d].get("shots")}
    shot_seed = data.get("shot_seed")
    return {
        "answer_format": data["answer_format"],
        "datasets": {d: defined[d] for d in sorted(named)},
        "seed": seed,
        "shot_seed": seed if shot_seed is None else shot_seed,
        "splits": linked,
    }


def dataset_files(data: dict, split: str) -> list[str]:
    """Local files the questions of `split` are read from (inputs: editing one reruns it)."""
    return [
        spec["file"] for spec in split_params(data, 0, split)["datasets"].values() if "file" in spec
    ]


def training_order(question_ids, seed: int) -> np.ndarray:
    """A seeded order of training answers that depends only on their ids (not on row order, the
    estimator or the method), so every trained estimator sees the same hold-out."""
    keys = [hashlib.sha256(f"{seed}/{q}".encode()).hexdigest() for q in question_ids]
    return np.argsort(keys, kind="stable")


def selection_split(
    question_ids, fraction: float, seed: int, size: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(rows to train on, rows held out for selection), both in the seeded order. The hold-out
    is its last ceil(fraction * n) answers (at least one, fewer than all; none at fraction 0,
    where estimators keep their last state); with `size`, only the
    first `size` of the rest are trained on, so a larger size contains every smaller one."""
    order = training_order(question_ids, seed)
    held = min(max(math.ceil(fraction * len(order)), 1), len(order) - 1) if fraction else 0
    fit = order[: len(order) - held]
    if size is not None:
        if size > len(fit):
            raise ValueError(
                f"sweep.train_sizes: {size} training answers asked, but only {len(fit)} are left "
                "after the selection hold-out"
            )
        fit = fit[:size]
    return fit, order[len(order) - held :]


def bootstrap_rows(n: int, seed: int, resample: int, column: str) -> np.ndarray:
    """Positions among a column's `n` training answers (in their seeded order) that training
    resample `resample` learns from: 0, the answers themselves, each once; 1, 2, ... a bootstrap
    resample, n drawn with replacement, seeded by the seed, the resample and the column (the same
    for every estimator and method that learns from the column, so their fits on one resample
    are paired)."""
    if resample == 0:
        return np.arange(n)
    rng = np.random.default_rng([seed, resample, zlib.crc32(column.encode())])
    return rng.integers(0, n, size=n)


def training_answers(
    tables: dict, fraction: float, seed: int, size: int | None = None, resample: int = 0
):
    """(training answers, held-out answers) of a trained estimator, from {column: its graded
    training answers}: per column the seeded split above (its training answers drawn again as
    training resample `resample`, `bootstrap_rows`; the hold-out never is), each row marked with
    its `source` column and its `row` in that column's table. A pooled estimator's answers are
    exactly the union of the per-column ones, on every resample."""
    import pandas as pd

    train, held = [], []
    for source, table in tables.items():
        rows, selection = selection_split(table["question_id"], fraction, seed, size)
        rows = rows[bootstrap_rows(len(rows), seed, resample, source)]
        train.append(table.iloc[rows].assign(source=source, row=rows))
        held.append(table.iloc[selection].assign(source=source, row=selection))
    return pd.concat(train, ignore_index=True), pd.concat(held, ignore_index=True)


def training_split(tables: dict, training: dict, n_train: str, resample: int = 0):
    """(training answers, held-out answers) of one trained estimator: `tables` {column: its
    graded training answers}, `training` the estimator's training params (the share held out,
    the seed), `n_train` its wildcard (all, or a sweep size), `resample` the training resample
    (0: the answers themselves)."""
    size = None if n_train == ALL else int(n_train)
    return training_answers(tables, training["fraction"], training["seed"], size, resample)
