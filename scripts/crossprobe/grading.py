"""The `grade_answers` stage: correctness labels for each model's answers.

Multiple choice: the chosen option index equals the gold index. Open-ended: a normalised match
(answer equals, or contains, one of the gold aliases: the paper's cheap option), or the verdicts
of a judge model (`crossprobe.judge`) where one is configured.
"""

import re
import string

import pandas as pd

from crossprobe.data import ALIAS_SEPARATOR

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


def apply_verdicts(graded: pd.DataFrame, verdicts: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """`graded` with `correct` replaced by the judge's verdicts (by question id), and how many
    of them overrule the normalised match."""
    verdict = verdicts.set_index("question_id")["verdict"]
    missing = set(graded["question_id"]) - set(verdict.index)
    if missing:
        raise ValueError(
            f"the judge gave no verdict on {len(missing)} answers (e.g. {sorted(missing)[:3]})"
        )
    judged = verdict.loc[graded["question_id"]].to_numpy().astype("int64")
    changed = int((judged != graded["correct"].to_numpy()).sum())
    return graded.assign(correct=judged), changed
