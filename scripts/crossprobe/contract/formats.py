"""The answer-format registry (`data.answer_format`): how a question is shown, what its gold
answer reads like, how a model answers, how an answer is graded, and whether answers come with a
score per option, defined once per format. Torch-free: the workflow reads it while it builds the
DAG.

Adding a format is one entry here and its functions: the text and grading ones are plain
functions referenced by the entry; how a model answers needs torch, so the entry names its model
task (`crossprobe.contract.model_tasks`), which names the answering function and its footprint.
"""

import re
import string
from collections.abc import Callable
from dataclasses import dataclass

LETTERS = "ABCDEFGH"  # option labels of letter answers
ALIAS_SEPARATOR = " ||| "  # open questions' gold aliases, joined in one string


@dataclass(frozen=True)
class Format:
    name: str
    picks_option: bool  # the answer is one of the question's options (multiple-choice data)
    option_scores: bool  # answers come with a score per option (baselines read them)
    options_in_question: bool  # the options are listed under the question
    task: str  # the model task that answers (crossprobe.contract.model_tasks.MODEL_TASKS)
    gold_text: Callable  # row -> the gold answer as a correct model writes it (shots)
    continuations: Callable | None  # row -> the candidate answers scored after the prompt
    grade: Callable  # graded answers table -> 0/1 per row, before any judge

    @property
    def judged(self) -> bool:
        """Whether a judge model may grade its answers (answers written, not picked)."""
        return not self.picks_option


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def first_alias(gold: str) -> str:
    """The first of an answer's gold aliases (the one a correct model writes and a judge is
    shown)."""
    return str(gold).split(ALIAS_SEPARATOR)[0]


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


def graded_by_option(graded) -> list[bool]:
    """The chosen option is the gold one (an invalid answer, index -1, is wrong)."""
    chosen, gold = graded["answer_index"].to_numpy(), graded["gold_index"].to_numpy()
    return list((chosen == gold) & (chosen >= 0))


def graded_by_match(graded) -> list[bool]:
    """The paper's cheap grader: a normalised match of a gold alias (a judge may replace it)."""
    return [open_match(a, g) for a, g in zip(graded["answer"], graded["gold"], strict=True)]


FORMATS = {
    f.name: f
    for f in (
        # the option whose text is likeliest after the prompt (length-normalised)
        Format(
            "mc_cloze",
            picks_option=True,
            option_scores=True,
            options_in_question=False,
            task="cloze_answers",
            gold_text=lambda row: row["gold"],
            continuations=lambda row: list(row["choices"]),
            grade=graded_by_option,
        ),
        # the first greedy token read as an option letter
        Format(
            "mc_letter",
            picks_option=True,
            option_scores=True,
            options_in_question=True,
            task="letter_answers",
            gold_text=lambda row: LETTERS[row["gold_index"]],
            continuations=lambda row: [LETTERS[i] for i in range(len(row["choices"]))],
            grade=graded_by_option,
        ),
        # a greedy line; multiple-choice questions are asked without their options (MMLU-OE)
        Format(
            "open",
            picks_option=False,
            option_scores=False,
            options_in_question=False,
            task="open_answers",
            gold_text=lambda row: first_alias(row["gold"]),
            continuations=None,
            grade=graded_by_match,
        ),
    )
}


def answer_format(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown answer format {name!r} (known: {', '.join(FORMATS)})") from None
