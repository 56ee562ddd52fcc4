"""Labelled answers from elsewhere (`answer_sets`: the paper's released sets, an API model's
answers), read through their column mapping into the shape of graded answers."""

import pandas as pd

from crossprobe.contract.prompts import build_prompt, clean_open_answer
from crossprobe.intake.external import (
    TableError,
    check_columns,
    mapped,
    mapped_columns,
    table_name,
)

TRUE, FALSE = {"1", "true", "yes", "correct"}, {"0", "false", "no", "incorrect"}


def label(value, where: str) -> int:
    text = str(value).strip().lower()
    if text in TRUE or text == "1.0":
        return 1
    if text in FALSE or text == "0.0":
        return 0
    raise TableError(
        f"{where}: {value!r} is not a correctness label (expected 1/0, true/false or yes/no)"
    )


def answer_records(frame: pd.DataFrame, spec: dict, source: str, split: str, key: str):
    """A graded answers table (the shape `grade_answers` writes) from labelled answers: these
    answers stand in for a model's generated and graded ones. A null value reads as "" and
    answers are cleaned, as the paper's code reads such a set (llm/datasets/offline/offline.py:
    a released answer left empty is the empty answer, not "None"; the released answers are
    otherwise already clean, so they pass unchanged); `gold` is the correct answer where the set
    has one."""
    columns = spec["columns"]
    if not columns.get("prompt") and not columns.get("question"):
        raise TableError(f"{key}.columns: neither prompt nor question is mapped (expected one)")
    check_columns(frame, [c for v in columns.values() for c in mapped_columns(v)], spec, key)
    if frame.empty:
        raise TableError(f"{key}.splits.{split}: {table_name(spec)} has no rows for it")
    frame = frame.astype(object).where(frame.notna(), "")
    rows = []
    for index, row in frame.iterrows():
        if columns.get("prompt"):
            prompt = str(mapped(row, columns["prompt"])).strip()
        else:
            question = {"question": str(mapped(row, columns["question"])).strip(), "choices": []}
            prompt = build_prompt(question, [], "open")
        ident = mapped(row, columns["id"]) if columns.get("id") else f"{split}/{index}"
        rows.append(
            {
                "question_id": f"{source}/{ident}",
                "dataset": source,
                "subject": str(mapped(row, columns["subject"]))
                if columns.get("subject")
                else source,
                "prompt": prompt,
                "answer": clean_open_answer(str(mapped(row, columns["answer"]))),
                "gold": str(mapped(row, columns["gold"])).strip() if columns.get("gold") else "",
                "answer_index": -1,
                "answer_logprob": float("nan"),
                "correct": label(
                    mapped(row, columns["correct"]),
                    f"{key}.columns.correct, row {index} of {table_name(spec)}",
                ),
            }
        )
    table = pd.DataFrame(rows)
    table["option_scores"] = [[] for _ in range(len(table))]
    if table["question_id"].duplicated().any():
        raise TableError(
            f"{key}.columns.id: ids repeat within split {split} (expected one row per id)"
        )
    return table
