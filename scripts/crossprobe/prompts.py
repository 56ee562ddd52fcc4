"""Prompt text: few-shot prompts ending in "Answer:", the answers that follow, the answered text.

One place builds every string a model sees, so answering, probing and LoRA see the same text.
"""

import pandas as pd

from crossprobe.data import ALIAS_SEPARATOR, LETTERS


def question_block(row, answer_format: str) -> str:
    text = f"Question: {row['question']}\n"
    if answer_format == "mc_letter":
        text += "".join(f"{LETTERS[i]}. {c}\n" for i, c in enumerate(row["choices"]))
    return text + "Answer:"


def gold_answer(row, answer_format: str) -> str:
    """The answer text a correct model gives (used in few-shot examples)."""
    if answer_format == "mc_letter":
        return LETTERS[row["gold_index"]]
    if answer_format == "open":
        return row["gold"].split(ALIAS_SEPARATOR)[0]
    return row["gold"]


def build_prompt(row, shots: pd.DataFrame, answer_format: str, header: str | None = None) -> str:
    """The shots, then the question, ending in "Answer:"; `header` (with {subject} filled in)
    comes first."""
    parts = [header.format(subject=row["subject"].replace("_", " ")) + "\n\n" if header else ""]
    for _, shot in shots.iterrows():
        parts.append(
            f"{question_block(shot, answer_format)} {gold_answer(shot, answer_format)}\n\n"
        )
    parts.append(question_block(row, answer_format))
    return "".join(parts)


def answered_text(prompt: str, answer: str) -> str:
    """The prompt with a model's answer appended: what the probe reads."""
    return f"{prompt} {answer}"


# The paper's uncertainty query, asked after the answered prompt (LoRA + Prompt, zero-shot query);
# the answer tokens " i" (no) and " ii" (yes) are read at the last position.
QUERY_SUFFIX = "\n\nIs the proposed answer correct?\nChoices:\n(i): no\n(ii): yes\nAnswer:"
QUERY_CHOICES = (" i", " ii")  # index 1 is "yes, correct"


def query_text(prompt: str, answer: str) -> str:
    """The answered prompt followed by the query; it starts with exactly the probe's text."""
    return answered_text(prompt, answer) + QUERY_SUFFIX


def continuations(row, answer_format: str) -> list[str]:
    """The candidate answers scored after the prompt (multiple-choice formats)."""
    if answer_format == "mc_letter":
        return [LETTERS[i] for i in range(len(row["choices"]))]
    return list(row["choices"])
