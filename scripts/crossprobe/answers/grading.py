"""The `grade_answers` stage: correctness labels for each model's answers.

Each answer format grades as its registry entry says (`crossprobe.contract.formats`: the option
picked, or a normalised match of a gold alias, the paper's cheap option); a judge model
(`crossprobe.answers.judge`, asked what is defined here) replaces the match where one is
configured.
"""

import re
import string

import numpy as np
import pandas as pd

from crossprobe.contract.formats import answer_format
from crossprobe.contract.prompts import build_prompt
from crossprobe.contract.splits import training_order

# What the paper's judge (GPT-3.5) was told and asked, in the authors' wording; the config's
# grading.system and grading.prompt replace them.
SYSTEM = "You are an automated grading assistant helping a teacher grade student answers."
PROMPT = (
    "The problem is: {problem}\n\n The correct answer for this problem is: {gold}\n "
    "A student submitted the answer: {answer}\n "
    "The student's answer must be correct and specific but not overcomplete "
    "(for example, if they provide two different answers, they did not get the question right). "
    "However, small differences in formatting should not be penalized "
    "(for example, 'New York City' is equivalent to 'NYC'). "
    "Did the student provide an equivalent answer to the ground truth? "
    "Please answer yes or no without any explanation: "
)
PROMPT_FIELDS = ("problem", "gold", "answer")
YES = re.compile(r"\byes\b", re.IGNORECASE)


def judge_texts(grading: dict) -> tuple[str, str]:
    """(system line, prompt template) of the judge: the config's, or the paper's."""
    return grading.get("system") or SYSTEM, grading.get("prompt") or PROMPT


def prompt_problems(template: str) -> list[str]:
    """What is wrong with a judge prompt template (empty if nothing)."""
    fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    problems = [f"names {{{f}}}" for f in sorted(fields - set(PROMPT_FIELDS))]
    problems += [f"lacks {{{f}}}" for f in ("gold", "answer") if f not in fields]
    return problems


def judged(reply: str) -> bool:
    """The paper's rule: the answer is correct iff the judge's reply says yes."""
    return bool(YES.search(reply))


def grade_answers(
    answers: pd.DataFrame, questions: pd.DataFrame, fmt: str, estimator_shots: bool = True
):
    """Answers joined with gold answers and a 0/1 `correct` column, graded as answer format
    `fmt` grades (before any judge). Its `prompt` is what the estimators read before each
    answer: the prompt the model answered, or with `estimator_shots` false the question alone,
    0-shot (`data.splits.<split>.estimator_shots`)."""
    gold = questions[["question_id", "gold", "gold_index"]]
    graded = answers.merge(gold, on="question_id", how="left", validate="one_to_one")
    if graded["gold"].isna().any():
        missing = graded.loc[graded["gold"].isna(), "question_id"].head(3).tolist()
        raise ValueError(f"answers for questions that are not in the question table: {missing}")
    if not estimator_shots:
        asked = questions.set_index("question_id").loc[graded["question_id"]]
        graded["prompt"] = [build_prompt(row, [], fmt) for _, row in asked.iterrows()]
    correct = answer_format(fmt).grade(graded)
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


def shown_problems(table: pd.DataFrame, grading: dict) -> pd.Series:
    """What {problem} shows the judge of each row: the whole text the answering model saw, or
    (`grading.problem: question`, where the table has it) the bare question."""
    if grading["problem"] == "question" and "question" in table:
        return table["question"]
    return table["prompt"]


def judged_table(answers, split: str, grading: dict, seed: int, questions=None) -> pd.DataFrame:
    """What the judge is shown of one split's answers (problem, gold, answer), with the split,
    the answers' origin and, for answers labelled by another grader, that `label`.

    Generated answers come with their question table; the problem is the text the model saw
    (`grading.problem: prompt`, the paper's choice) or the bare question. Imported answers (an
    answer set's, graded to measure the graders) are a seeded sample of `grading.agreement.size`
    of them (all by default); their problem is the text their model saw."""
    if questions is not None:
        table = answers.merge(
            questions[["question_id", "question", "gold"]], on="question_id", validate="one_to_one"
        )
        return table.assign(
            problem=shown_problems(table, grading), split=split, origin="generated", label=-1
        )
    size = grading["agreement"]["size"]
    if size and size < len(answers):
        answers = answers.iloc[np.sort(training_order(answers["question_id"], seed)[:size])]
    return answers.assign(
        problem=shown_problems(answers, grading),
        split=split,
        origin="imported",
        label=answers["correct"],
    ).reset_index(drop=True)
