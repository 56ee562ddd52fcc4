"""Prompt text: few-shot prompts ending in "Answer:", the answers that follow, the answered text.

One place builds every string a model sees, so answering, probing and LoRA see the same text.

A few-shot prompt is laid out as the paper's code lays out MMLU-OE: a header line, the solved
examples, a closing line, each followed by a blank line, then the question. Without shots the
prompt is the question alone (no header).
"""

from crossprobe.contract.formats import LETTERS, answer_format


def question_block(row, fmt: str) -> str:
    """A question as answer format `fmt` shows it, ending in "Answer:"."""
    text = f"Question: {row['question']}\n"
    if answer_format(fmt).options_in_question:
        text += "".join(f"{LETTERS[i]}. {c}\n" for i, c in enumerate(row["choices"]))
    return text + "Answer:"


def shot_text(shot, fmt: str) -> str:
    """One solved example: its question block and the gold answer (outer whitespace stripped,
    as the paper's code writes its examples)."""
    return f"{question_block(shot, fmt)} {answer_format(fmt).gold_text(shot)}".strip()


def subject_label(subject: str) -> str:
    """A subject as headers name it: "abstract_algebra" -> "Abstract algebra"."""
    return subject.replace("_", " ").capitalize()


def compose(question: str, shots: list[str], header: str | None, closing: str | None) -> str:
    """The text before a model's answer: with shots, the header, the shots and the closing line
    (each followed by a blank line) before the question; without shots, the question alone."""
    if not len(shots):
        return question
    return "".join(f"{part}\n\n" for part in [header, *shots, closing] if part) + question


def build_prompt(row, shots: list[str], fmt: str, header=None, closing=None) -> str:
    """The prompt of question `row` in answer format `fmt` after the solved examples `shots`
    (texts, in order); `header` may name the row's {subject}."""
    if header:
        header = header.format(subject=subject_label(row["subject"]))
    return compose(question_block(row, fmt), shots, header, closing)


def without_first_shots(prompt: str, shots, dropped: int) -> str:
    """`prompt` (built from `shots`) without its first `dropped` examples."""
    if not dropped:
        return prompt
    return prompt.replace("".join(f"{s}\n\n" for s in shots[:dropped]), "", 1)


def clean_open_answer(text: str) -> str:
    """An open answer as the paper's code keeps it: surrounding whitespace stripped, blank lines
    folded, a line break after a colon joined, leading newlines dropped, then the first line."""
    text = text.strip().replace("\n\n", "\n").replace(":\n", ":")
    return text.strip("\n").split("\n")[0]


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
