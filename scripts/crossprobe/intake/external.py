"""Tables from outside the wheel, for questions (`data.datasets`) and for labelled answers
(`answer_sets`): a Hugging Face `datasets` dataset from the hub (id, config name, split, pinned
revision; loaded through the `datasets` library, so the user's cache and HF_HUB_OFFLINE are
honoured) or written to disk with `save_to_disk`, or a local file (jsonl, csv, parquet), read
through a column mapping.

A mapping value names a column, a dotted path into a nested column (`choices.text`), a list of
columns (`[correct_answer, distractor1]`), or, for text, a template over columns
(`"{passage}\\nQuestion: {question}"`). Errors name the config key, the file or dataset, and what
was expected.
"""

import os
from pathlib import Path

import numpy as np
import pandas as pd

from crossprobe.contract.formats import ALIAS_SEPARATOR

FILE_READERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


class TableError(ValueError):
    """A table that cannot be read as configured; the message names key, file and expectation."""


def table_name(spec: dict) -> str:
    if "file" in spec or "disk" in spec:
        return str(spec.get("file") or spec["disk"])
    name = f" ({spec['name']})" if spec.get("name") else ""
    return f"hub dataset {spec['hub']}{name}@{spec.get('revision') or 'main'}"


def read_file(path, key: str) -> pd.DataFrame:
    path = Path(path)
    kind = FILE_READERS.get(path.suffix)
    if kind is None:
        raise TableError(f"{key}: {path} is not .jsonl, .json, .csv or .parquet")
    if not path.is_file():
        raise TableError(f"{key}: {path} does not exist")
    if kind == "json":
        return pd.read_json(path, lines=path.suffix == ".jsonl")
    return pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)


def read_hub(spec: dict, split: str, key: str) -> pd.DataFrame:
    import datasets

    try:
        loaded = datasets.load_dataset(
            spec["hub"], spec.get("name"), split=split, revision=spec.get("revision")
        )
    except (ConnectionError, FileNotFoundError, ValueError) as err:
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
        where = datasets.config.HF_DATASETS_CACHE
        raise TableError(
            f"{key}: {table_name(spec)}, split {split!r}, could not be loaded"
            f"{' offline (HF_HUB_OFFLINE is set)' if offline else ''} and is not in the local "
            f"cache ({where}): load it once where the hub is reachable, or point {key} at a "
            f"local file ({type(err).__name__}: {str(err)[:200]})"
        ) from None
    return loaded.to_pandas()


def read_disk(spec: dict, split: str | None, key: str) -> pd.DataFrame:
    import datasets

    if not Path(spec["disk"]).is_dir():
        raise TableError(f"{key}: {spec['disk']} does not exist (expected a save_to_disk folder)")
    loaded = datasets.load_from_disk(spec["disk"])
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise TableError(
                f"{key}: {spec['disk']} has no split {split!r} (it has {', '.join(loaded)})"
            )
        loaded = loaded[split]
    return loaded.to_pandas()


def read_table(spec: dict, key: str, split: str | None = None) -> pd.DataFrame:
    """The rows of a table spec ({hub: id, name, split, revision}, {disk: folder} or
    {file: path}); `split` overrides the spec's own split (hub, disk) or selects rows by the
    mapped split column (files)."""
    if "hub" in spec:
        return read_hub(spec, split or spec["split"], key)
    if "disk" in spec:
        return read_disk(spec, split or spec.get("split"), key)
    frame = read_file(spec["file"], key)
    column = spec.get("columns", {}).get("split")
    if split is not None and column:
        check_columns(frame, [column], spec, key)
        frame = frame[frame[column].astype(str) == str(split)].reset_index(drop=True)
    return frame


def mapped_columns(value) -> list[str]:
    """The table columns a mapping value reads."""
    if value is None:
        return []
    if isinstance(value, list):
        return [c for v in value for c in mapped_columns(v)]
    if "{" in value:
        import string

        return [f.split(".")[0] for _, f, _, _ in string.Formatter().parse(value) if f]
    return [value.split(".")[0]]


def check_columns(frame: pd.DataFrame, wanted, spec: dict, key: str) -> None:
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise TableError(
            f"{key}.columns: {table_name(spec)} has no column {', '.join(map(repr, missing))} "
            f"(it has {', '.join(map(str, frame.columns))})"
        )


def _at(row, path: str):
    value = row[path.split(".")[0]]
    for part in path.split(".")[1:]:
        value = value[part]
    return value


def mapped(row, value):
    """The value of one mapping entry for one row."""
    if isinstance(value, list):
        return [mapped(row, v) for v in value]
    if "{" in value:
        return value.format(**{c: row[c] for c in mapped_columns(value)})
    return _at(row, value)


def as_list(value) -> list:
    if isinstance(value, np.ndarray):
        return value.tolist()
    return list(value) if isinstance(value, list | tuple) else [value]


def question_records(frame: pd.DataFrame, spec: dict, name: str, key: str) -> pd.DataFrame:
    """Our question records (see `crossprobe.intake.shipped`) from a user dataset's rows."""
    columns = spec["columns"]
    check_columns(frame, [c for v in columns.values() for c in mapped_columns(v)], spec, key)
    rows = []
    for index, row in frame.iterrows():
        question = str(mapped(row, columns["question"])).strip()
        choices = (
            [str(c).strip() for c in as_list(mapped(row, columns["choices"]))]
            if columns.get("choices")
            else []
        )
        answer = mapped(row, columns["answer"])
        if choices:
            if columns.get("labels"):
                labels = [str(x) for x in as_list(mapped(row, columns["labels"]))]
                gold_index = labels.index(str(answer)) if str(answer) in labels else -1
            elif isinstance(answer, bool | np.bool_ | int | np.integer):
                gold_index = int(answer)
            else:
                gold_index = (
                    choices.index(str(answer).strip()) if str(answer).strip() in choices else -1
                )
            if not 0 <= gold_index < len(choices):
                raise TableError(
                    f"{key}.columns.answer: row {index} of {table_name(spec)} gives {answer!r}, "
                    f"which is not one of its {len(choices)} choices (expected an index, a label "
                    "or the text of a choice)"
                )
            gold = choices[gold_index]
        else:
            gold_index, gold = -1, ALIAS_SEPARATOR.join(str(a).strip() for a in as_list(answer))
        ident = mapped(row, columns["id"]) if columns.get("id") else index
        subject = str(mapped(row, columns["subject"])) if columns.get("subject") else name
        rows.append(
            {
                "question_id": f"{name}/{ident}",
                "dataset": name,
                "subject": subject,
                "question": question,
                "choices": choices,
                "gold_index": gold_index,
                "gold": gold,
            }
        )
    return pd.DataFrame(rows)
