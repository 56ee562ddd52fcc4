"""Question and answer tables from outside the wheel (local files, a `datasets` dataset written
to disk, the hub offline) through column mappings, and labelled answers from elsewhere."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from crossprobe.contract.splits import dataset_files, split_params
from crossprobe.intake.answer_sets import answer_records
from crossprobe.intake.external import TableError, question_records, read_table
from crossprobe.intake.questions import Catalogue, prepare_questions
from helpers import REPO

ARC_LIKE = [
    {
        "id": f"arc{i}",
        "question": f"Which is number {i}?",
        "choices": {"text": ["one", "two", "three"], "label": ["A", "B", "C"]},
        "answerKey": "ABC"[i % 3],
        "topic": "counting" if i % 2 else "physics",
    }
    for i in range(12)
]
ARC_COLUMNS = {
    "question": "question",
    "choices": "choices.text",
    "labels": "choices.label",
    "answer": "answerKey",
    "id": "id",
    "subject": "topic",
}


@pytest.fixture
def arc_file(tmp_path):
    path = tmp_path / "arc.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ARC_LIKE))
    return path


def test_nested_columns_and_labels_map_to_questions(arc_file):
    spec = {"file": str(arc_file), "columns": ARC_COLUMNS}
    questions = question_records(
        read_table(spec, "data.datasets.arc"), spec, "arc", "data.datasets.arc"
    )
    first = questions.iloc[1]
    assert first["question_id"] == "arc/arc1" and first["subject"] == "counting"
    assert first["choices"] == ["one", "two", "three"]
    assert first["gold_index"] == 1 and first["gold"] == "two"


def test_a_list_of_columns_an_answer_text_and_a_question_template(tmp_path):
    path = tmp_path / "sciq.csv"
    pd.DataFrame(
        {
            "support": ["Plants need light.", "Water boils."],
            "q": ["What do plants need?", "What boils?"],
            "correct_answer": ["light", "water"],
            "distractor1": ["salt", "rock"],
        }
    ).to_csv(path, index=False)
    columns = {
        "question": "{support} {q}",
        "choices": ["correct_answer", "distractor1"],
        "answer": "correct_answer",
    }
    spec = {"file": str(path), "columns": columns}
    questions = question_records(read_table(spec, "k"), spec, "sciq", "k")
    assert questions["question"].tolist()[0] == "Plants need light. What do plants need?"
    assert (
        questions["gold_index"].tolist() == [0, 0] and questions["subject"].tolist() == ["sciq"] * 2
    )


def test_columns_that_do_not_match_the_mapping_name_key_file_and_columns(arc_file):
    spec = {"file": str(arc_file), "columns": {**ARC_COLUMNS, "question": "prompt"}}
    with pytest.raises(
        TableError, match="data.datasets.arc.columns: .*arc.jsonl has no column 'prompt'"
    ):
        question_records(read_table(spec, "data.datasets.arc"), spec, "arc", "data.datasets.arc")
    bad = {"file": str(arc_file), "columns": {**ARC_COLUMNS, "labels": "topic"}}
    with pytest.raises(
        TableError, match="columns.answer: row 0 .* which is not one of its 3 choices"
    ):
        question_records(read_table(bad, "k"), bad, "arc", "k")


def test_a_user_dataset_in_the_splits_with_shots_from_another_and_a_header(arc_file, tmp_path):
    dev = tmp_path / "dev.jsonl"
    dev.write_text(
        "".join(json.dumps({**row, "id": f"dev{i}"}) + "\n" for i, row in enumerate(ARC_LIKE))
    )
    data = {
        "answer_format": "open",
        "datasets": {
            "arc": {
                "file": str(arc_file),
                "columns": ARC_COLUMNS,
                "header": "Questions about {subject}.",
                "closing": "Your turn.",
                "shots": "arc_dev",
            },
            "arc_dev": {"file": str(dev), "columns": ARC_COLUMNS},
        },
        "splits": {
            "train": {"datasets": ["arc"], "size": 4, "num_fewshot": 1},
            "calibration": {"datasets": ["arc"], "size": 2, "num_fewshot": 1},
            "test": {"datasets": ["trivia_qa"], "size": 2, "num_fewshot": 0},
        },
    }
    params = split_params(data, 0, "train")
    assert set(params["datasets"]) == {"arc", "arc_dev"}
    # the files a split's questions come from are its inputs: editing one reruns it
    assert dataset_files(data, "train") == [str(arc_file), str(dev)]
    assert dataset_files(data, "test") == []
    train = prepare_questions(params, "train")
    assert len(train) == 4 and set(train["dataset"]) == {"arc"}
    for row in train.itertuples():
        # MMLU-OE style: asked without options, one shot of the same subject between the
        # header (subject capitalised) and the closing line
        assert row.prompt.startswith(f"Questions about {row.subject.capitalize()}.\n\nQuestion: ")
        assert row.prompt.endswith(f"\n\nYour turn.\n\nQuestion: {row.question}\nAnswer:")
        assert row.prompt.count("\nAnswer: ") == 1 and "A. " not in row.prompt
    assert Catalogue(data["datasets"]).size("arc") == 12


def test_a_datasets_dataset_written_to_disk(tmp_path):
    import datasets

    rows = {"question": ["Capital of France?", "2 + 2?"], "answer": ["Paris", "4"]}
    datasets.DatasetDict({"test": datasets.Dataset.from_dict(rows)}).save_to_disk(tmp_path / "qa")
    spec = {
        "disk": str(tmp_path / "qa"),
        "split": "test",
        "columns": {"question": "question", "answer": "answer"},
    }
    questions = question_records(read_table(spec, "k"), spec, "qa", "k")
    assert questions["gold"].tolist() == ["Paris", "4"] and (questions["gold_index"] == -1).all()
    with pytest.raises(TableError, match="has no split 'train'"):
        read_table({**spec, "split": "train"}, "k")


def test_a_hub_dataset_missing_from_the_cache_offline_names_key_and_cache(tmp_path):
    code = (
        "import sys; sys.path.insert(0, 'scripts')\n"
        "from crossprobe.intake.external import read_table, TableError\n"
        "try:\n"
        "    read_table({'hub': 'cais/mmlu', 'name': 'all', 'revision': None, 'split': 'test',"
        " 'columns': {}}, 'data.datasets.mmlu_hub')\n"
        "except TableError as err:\n"
        "    print(err)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    message = out.stdout
    assert message.startswith("data.datasets.mmlu_hub: hub dataset cais/mmlu (all)@main"), (
        out.stderr[-2000:]
    )
    assert "offline (HF_HUB_OFFLINE is set)" in message and str(tmp_path / "hf") in message


def test_labelled_answers_stand_in_for_graded_ones(tmp_path):
    path = tmp_path / "released.parquet"
    pd.DataFrame(
        {
            "prompt": ["Q1 ", "Q2 "],
            "context": ["Question: capital?\n", "Question: sum?\n"],
            "target_prompt": ["Answer:", "Answer:"],
            "output": [" Paris", "5"],
            "query_label": [1, 0],
            "split": ["train", "train"],
        }
    ).to_parquet(path)
    spec = {
        "file": str(path),
        "columns": {
            "prompt": "{prompt}{context}{target_prompt}",
            "answer": "output",
            "correct": "query_label",
            "split": "split",
        },
    }
    graded = answer_records(
        read_table(spec, "answer_sets.r", "train"), spec, "r", "train", "answer_sets.r"
    )
    assert graded["prompt"].tolist()[0] == "Q1 Question: capital?\nAnswer:"
    assert graded["answer"].tolist() == ["Paris", "5"] and graded["correct"].tolist() == [1, 0]
    assert graded["question_id"].tolist() == ["r/train/0", "r/train/1"]
    unlabelled = {"file": str(path), "columns": {**spec["columns"], "correct": "label"}}
    with pytest.raises(TableError, match="answer_sets.r.columns: .* has no column 'label'"):
        answer_records(
            read_table(unlabelled, "answer_sets.r"), unlabelled, "r", "train", "answer_sets.r"
        )
    wrong = {"file": str(path), "columns": {**spec["columns"], "correct": "output"}}
    with pytest.raises(TableError, match="' Paris' is not a correctness label"):
        answer_records(read_table(wrong, "answer_sets.r"), wrong, "r", "train", "answer_sets.r")
    assert read_table(spec, "k", "validation").empty


def test_a_null_released_answer_reads_as_the_empty_answer(tmp_path):
    """As the paper's code reads its released sets (every null value as ""): a null output is
    the empty answer, never the text "None"; a null gold answer is no gold answer."""
    path = tmp_path / "released.parquet"
    pd.DataFrame(
        {
            "context": ["Question: capital?", "Question: sum?"],
            "target_prompt": ["\nAnswer:", "\nAnswer:"],
            "target": ["Paris", None],
            "output": [None, "5"],
            "query_label": [0, 1],
        }
    ).to_parquet(path)
    columns = {
        "prompt": "{context}{target_prompt}",
        "answer": "output",
        "correct": "query_label",
        "gold": "target",
    }
    spec = {"file": str(path), "columns": columns}
    graded = answer_records(read_table(spec, "answer_sets.r"), spec, "r", "train", "answer_sets.r")
    assert graded["answer"].tolist() == ["", "5"] and graded["gold"].tolist() == ["Paris", ""]
    assert graded["prompt"].tolist() == ["Question: capital?\nAnswer:", "Question: sum?\nAnswer:"]
    assert graded["correct"].tolist() == [0, 1]
