"""Prompt building, question splits and grading, on real rows of the shipped datasets."""

import pandas as pd
import pytest

from crossprobe.answering import answer_length
from crossprobe.data import load_dataset, split_questions
from crossprobe.grading import grade_answers, normalise, open_match
from crossprobe.prompts import answered_text, build_prompt, continuations, gold_answer
from crossprobe.questions import check_data_params, prepare_questions

ROW = pd.Series(
    {
        "question": "What do plants absorb?",
        "choices": ["oxygen", "carbon dioxide", "salt"],
        "gold_index": 1,
        "gold": "carbon dioxide",
        "subject": "high_school_biology",
        "dataset": "mmlu",
    }
)


def test_cloze_prompt_and_continuations():
    prompt = build_prompt(ROW, ROW.to_frame().T.head(0), "mc_cloze")
    assert prompt == (
        "The following are questions (with answers) about high school biology.\n\n"
        "Question: What do plants absorb?\nAnswer:"
    )
    assert continuations(ROW, "mc_cloze") == ["oxygen", "carbon dioxide", "salt"]
    assert answered_text(prompt, "salt").endswith("Answer: salt")


def test_letter_prompt_with_shots_lists_options_and_gold_letters():
    shots = pd.DataFrame([ROW, ROW])
    prompt = build_prompt(ROW, shots, "mc_letter")
    assert prompt.count("Answer: B\n\n") == 2
    assert prompt.endswith(
        "Question: What do plants absorb?\nA. oxygen\nB. carbon dioxide\nC. salt\nAnswer:"
    )
    assert continuations(ROW, "mc_letter") == ["A", "B", "C"]
    assert gold_answer(ROW, "open") == "carbon dioxide"


def test_open_answer_is_cut_at_first_newline_or_stop_token():
    pieces = {1: "Paris", 2: " France", 3: "\n", 4: "Question", 9: "</s>"}

    def decode(tokens):
        return "".join(pieces[t] for t in tokens)

    assert answer_length([1, 2, 3, 4], decode, {9}) == 2
    assert answer_length([1, 9, 2], decode, {9}) == 1
    assert answer_length([1, 2], decode, {9}) == 2


def test_real_datasets_normalise_and_split_deterministically():
    sciq = load_dataset("sciq", seed=0)
    assert len(sciq) == 1000 and set(sciq["gold_index"]) == {0, 1, 2, 3}
    assert all(row.choices[row.gold_index] == row.gold for row in sciq.head(50).itertuples())
    mmlu = load_dataset("mmlu", split="dev")
    assert len(mmlu) == 285 and mmlu["subject"].nunique() == 57
    sizes = {"train": 30, "calibration": 10, "test": 20}
    first, _ = split_questions(sciq, sizes, seed=3)
    again, _ = split_questions(sciq, sizes, seed=3)
    other, _ = split_questions(sciq, sizes, seed=4)
    assert first["test"]["question_id"].tolist() == again["test"]["question_id"].tolist()
    assert first["test"]["question_id"].tolist() != other["test"]["question_id"].tolist()
    ids = [set(first[s]["question_id"]) for s in ("train", "calibration", "test")]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])


def test_mmlu_test_set_gets_five_shots_from_its_dev_split():
    params = {
        "seed": 0,
        "mixture": ["arc_easy"],
        "test_dataset": "mmlu",
        "num_fewshot": 5,
        "sizes": {"train": 10, "calibration": 5, "test": 8},
        "answer_format": "mc_letter",
    }
    splits = prepare_questions(params)
    test = splits["test"]
    assert set(test["dataset"]) == {"mmlu"}
    assert all(p.count("\nAnswer: ") == 5 for p in test["prompt"])
    assert all(p.startswith("The following are questions") for p in test["prompt"])


def test_bad_data_params_name_the_key():
    base = {"mixture": ["arc_easy"], "test_dataset": None, "answer_format": "open"}
    with pytest.raises(ValueError, match="data.answer_format"):
        check_data_params(base)
    with pytest.raises(ValueError, match="data.test_dataset"):
        check_data_params({**base, "answer_format": "mc_cloze", "test_dataset": "arc_easy"})


def test_normalised_matching():
    assert normalise("The  Eiffel Tower!") == "eiffel tower"
    assert open_match("It is the Eiffel Tower.", "Eiffel Tower ||| La tour Eiffel")
    assert not open_match("", "x")
    assert not open_match("Berlin", "Paris ||| Paris, France")


def test_grading_multiple_choice_and_open():
    questions = pd.DataFrame(
        {"question_id": ["q1", "q2"], "gold": ["b", "Paris ||| Paree"], "gold_index": [1, -1]}
    )
    answers = pd.DataFrame(
        {"question_id": ["q1", "q2"], "answer": ["a", "paris"], "answer_index": [0, -1]}
    )
    assert grade_answers(answers, questions, "mc_cloze")["correct"].tolist() == [0, 0]
    mc = questions.assign(gold_index=[0, 2])
    assert grade_answers(answers.assign(answer_index=[0, 2]), mc, "mc_letter")[
        "correct"
    ].tolist() == [1, 1]
    assert grade_answers(answers, questions, "open")["correct"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="not in the question table"):
        grade_answers(answers.assign(question_id=["q1", "zz"]), questions, "open")
