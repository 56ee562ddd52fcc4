"""Prompt building, question splits and grading, on real rows of the shipped datasets."""

import pandas as pd
import pytest

from crossprobe.answering import answer_length
from crossprobe.data import dataset_size, load_dataset
from crossprobe.grading import grade_answers, normalise, open_match
from crossprobe.prompts import answered_text, build_prompt, continuations, gold_answer
from crossprobe.questions import check_data_params, prepare_questions
from crossprobe.splits import SPLITS, split_params

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
    from crossprobe.data import MMLU_HEADER

    prompt = build_prompt(ROW, ROW.to_frame().T.head(0), "mc_cloze", MMLU_HEADER)
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


def data(pool=("arc_easy", "sciq"), test_pool=None, fmt="mc_cloze", k=0, sizes=(30, 10, 20)):
    """Data params: train and calibration from `pool`, test from `test_pool` (else `pool`)."""
    sizes = dict(zip(SPLITS, sizes, strict=True))
    datasets = {"train": pool, "calibration": pool, "test": test_pool or pool}
    return {
        "answer_format": fmt,
        "splits": {
            s: {"datasets": list(datasets[s]), "size": sizes[s], "num_fewshot": k} for s in SPLITS
        },
    }


def tables(config: dict, seed: int = 0) -> dict:
    return {s: prepare_questions(split_params(config, seed, s), s) for s in SPLITS}


def test_real_datasets_normalise_and_split_deterministically():
    sciq = load_dataset("sciq", seed=0)
    assert len(sciq) == 1000 == dataset_size("sciq") and set(sciq["gold_index"]) == {0, 1, 2, 3}
    assert all(row.choices[row.gold_index] == row.gold for row in sciq.head(50).itertuples())
    mmlu = load_dataset("mmlu", split="dev")
    assert len(mmlu) == 285 and mmlu["subject"].nunique() == 57
    assert dataset_size("mmlu") == 14042
    first, again, other = tables(data(), 3), tables(data(), 3), tables(data(), 4)
    assert first["test"]["question_id"].tolist() == again["test"]["question_id"].tolist()
    assert first["test"]["question_id"].tolist() != other["test"]["question_id"].tolist()
    ids = [set(first[s]["question_id"]) for s in SPLITS]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert [len(first[s]) for s in SPLITS] == [30, 10, 20]


def test_earlier_splits_do_not_depend_on_later_ones():
    base = tables(data())
    bigger_test = tables(data(sizes=(30, 10, 40)))
    for split in ("train", "calibration"):
        assert base[split]["question_id"].tolist() == bigger_test[split]["question_id"].tolist()
    # the test split of the same pool continues where calibration stopped
    assert bigger_test["test"]["question_id"].tolist()[:20] == base["test"]["question_id"].tolist()
    other_test = tables(data(test_pool=("openbookqa",)))
    assert base["train"]["question_id"].tolist() == other_test["train"]["question_id"].tolist()
    assert set(other_test["test"]["dataset"]) == {"openbookqa"}


def test_shots_come_from_unused_questions_of_the_same_group():
    split = tables(data(pool=("sciq",), k=2))
    used = {q for s in SPLITS for q in split[s]["question_id"]}
    for prompt in split["train"]["prompt"]:
        assert prompt.count("\nAnswer: ") == 2
    # no shot is a question of any split: shot texts never appear as a split's question
    questions = {q for s in SPLITS for q in split[s]["question"]}
    shots = {p.split("Question: ")[1].split("\n")[0] for p in split["test"]["prompt"]}
    assert not shots & questions and len(used) == 60


def test_mmlu_test_set_gets_five_shots_from_its_dev_split():
    config = data(("arc_easy",), ("mmlu",), "mc_letter", k=5, sizes=(10, 5, 8))
    test = prepare_questions(split_params(config, 0, "test"), "test")
    assert set(test["dataset"]) == {"mmlu"}
    assert all(p.count("\nAnswer: ") == 5 for p in test["prompt"])
    assert all(p.startswith("The following are questions") for p in test["prompt"])


def test_bad_data_params_name_the_key():
    with pytest.raises(ValueError, match="data.splits.test.datasets: 'trivia_qa' has no options"):
        check_data_params(data(test_pool=("trivia_qa",)))
    with pytest.raises(ValueError, match="data.splits.train.datasets: 'mmlu_pro' is neither"):
        check_data_params(data(pool=("mmlu_pro",)))
    check_data_params(data(fmt="open"))  # open answers ask multiple-choice questions as MMLU-OE


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
