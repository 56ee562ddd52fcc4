"""The `grade_answers` stage: correctness labels for each model's answers.

Multiple choice: the chosen option index equals the gold index. Open-ended: a normalised match
(answer equals, or contains, one of the gold aliases), optionally overruled by a judge model that is
asked the paper's yes/no equivalence question.
"""

import re
import string

import pandas as pd

from crossprobe.data import ALIAS_SEPARATOR

JUDGE_TEMPLATE = (
    "Are the following two answers to my question Q equivalent?\n\n"
    "Q: {question}\nA1: {gold}\nA2: {answer}\n\n"
    'Please answer with a single word, either "Yes." or "No."\nAnswer:'
)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalise(text: str) -> str:
    """SQuAD-style: lower case, no punctuation, no articles, single spaces."""
    text = _ARTICLES.sub(" ", str(text).lower().translate(_PUNCTUATION))
    return " ".join(text.split())


def open_match(answer: str, gold: str) -> bool:
    """Normalised exact match or containment of any gold alias in the answer."""
    said = normalise(answer)
    if not said:
        return False
    aliases = [normalise(a) for a in gold.split(ALIAS_SEPARATOR)]
    return any(a and (a == said or a in said) for a in aliases)


def judge_prompts(graded: pd.DataFrame, questions: pd.DataFrame) -> list[str]:
    text = questions.set_index("question_id")["question"]
    return [
        JUDGE_TEMPLATE.format(
            question=text[qid], gold=gold.split(ALIAS_SEPARATOR)[0], answer=answer
        )
        for qid, gold, answer in zip(
            graded["question_id"], graded["gold"], graded["answer"], strict=True
        )
    ]


def grade_answers(answers: pd.DataFrame, questions: pd.DataFrame, answer_format: str):
    """Answers joined with gold answers and a 0/1 `correct` column (rule-based grading)."""
    gold = questions[["question_id", "gold", "gold_index"]]
    graded = answers.merge(gold, on="question_id", how="left", validate="one_to_one")
    if graded["gold"].isna().any():
        missing = graded.loc[graded["gold"].isna(), "question_id"].head(3).tolist()
        raise ValueError(f"answers for questions that are not in the question table: {missing}")
    if answer_format == "open":
        correct = [open_match(a, g) for a, g in zip(graded["answer"], graded["gold"], strict=True)]
    else:
        # an invalid answer (index -1, e.g. a non-letter) is wrong whatever the gold index
        correct = (graded["answer_index"] == graded["gold_index"]) & (graded["answer_index"] >= 0)
    return graded.assign(correct=pd.Series(correct, index=graded.index).astype("int64"))
