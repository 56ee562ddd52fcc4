"""Tokenisation as the model sees it: every text is tokenised as one string, and where a
continuation (an option, an answer, the query's answer tokens) starts is found by the common
prefix with its context, so no tokenizer family's quirks (sentencepiece's leading "▁") leak in.
Torch-free.
"""

import logging
from pathlib import Path

from crossprobe.contract.prompts import (
    QUERY_CHOICES,
    QUERY_SUFFIX,
    answered_text,
    query_text,
    without_first_shots,
)

log = logging.getLogger(__name__)


def load_tokenizer(where):
    """A tokenizer from a model folder (or a hub id) or from a .gguf file."""
    from transformers import AutoTokenizer

    path = Path(where)
    if path.suffix == ".gguf":
        return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    return AutoTokenizer.from_pretrained(where)


def truncate(ids: list[int], max_length: int | None, bos_id) -> tuple[list[int], int]:
    """Too long sequences lose the start of their text (a leading BOS stays); returns the ids and
    how many tokens were dropped."""
    if not max_length or len(ids) <= max_length:
        return ids, 0
    bos = [ids[0]] if ids[0] == bos_id else []
    dropped = len(ids) - max_length
    return bos + ids[len(bos) + dropped :], dropped


def encode(tokenizer, text: str, max_length: int | None = None) -> list[int]:
    """Token ids of `text` (special tokens included), tokenised as one string."""
    ids = tokenizer(text, add_special_tokens=True)["input_ids"]
    return truncate(ids, max_length, tokenizer.bos_token_id)[0]


def common_prefix(a, b) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def boundary(tokenizer, context: str, full_ids: list[int]) -> int:
    """How many leading tokens of `full_ids` (the whole string context + continuation) belong to
    `context`: the continuation's tokens are the rest, exactly as the model sees the whole string
    (tokenising the continuation on its own can differ, e.g. sentencepiece's leading "▁")."""
    return common_prefix(tokenizer(context, add_special_tokens=True)["input_ids"], full_ids)


def query_tokens(tokenizer, prompt: str, answer: str, max_length: int | None):
    """Token ids of the query text (prompt + answer + query, one string, truncated), how many
    leading tokens truncation dropped, and how many tokens of the whole text belong to the prompt
    and to the answered prompt."""
    full = tokenizer(query_text(prompt, answer), add_special_tokens=True)["input_ids"]
    prompt_tokens = boundary(tokenizer, prompt, full)
    answered_tokens = boundary(tokenizer, answered_text(prompt, answer), full)
    ids, dropped = truncate(full, max_length, tokenizer.bos_token_id)
    return ids, dropped, prompt_tokens, answered_tokens


def next_token_ids(tokenizer, context: str, words: list[str], what: str) -> list[int]:
    """The token each of `words` adds after `context` when the whole string is tokenised; each
    must add exactly one token, and the tokens must differ."""
    ids = []
    for word in words:
        full = tokenizer(context + word, add_special_tokens=True)["input_ids"]
        added = full[boundary(tokenizer, context, full) :]
        if len(added) != 1:
            raise ValueError(
                f"{what}: after {context[-20:]!r} the tokenizer writes {word!r} as "
                f"{len(added)} tokens {added}; it must be a single next token"
            )
        ids.append(added[0])
    if len(set(ids)) != len(ids):
        raise ValueError(f"{what}: {words} do not map to distinct tokens ({ids})")
    return ids


def query_choice_ids(tokenizer) -> list[int]:
    """The tokens of the query's answers " i" (no) and " ii" (yes), as written after the query."""
    return next_token_ids(tokenizer, QUERY_SUFFIX, list(QUERY_CHOICES), "query answer tokens")


def fit_prompts(tokenizer, questions, max_length: int, reserve: int) -> list[str]:
    """Each question's prompt, less as many of its first solved examples (whole ones) as it takes
    to leave `reserve` tokens (the answer's) within `max_length`; the log says how many
    questions lost how many examples."""
    prompts, lost = [], {}
    shots = questions["shots"] if "shots" in questions else [[]] * len(questions)
    for prompt, examples in zip(questions["prompt"], shots, strict=True):
        dropped = 0
        while dropped < len(examples):
            fitted = without_first_shots(prompt, examples, dropped)
            if len(encode(tokenizer, fitted)) + reserve <= max_length:
                break
            dropped += 1
        prompts.append(without_first_shots(prompt, examples, dropped))
        if dropped:
            lost[dropped] = lost.get(dropped, 0) + 1
    if lost:
        log.warning(
            "%d of %d prompts are too long for max_length %d with %d tokens left for the answer: "
            "%s",
            sum(lost.values()),
            len(prompts),
            max_length,
            reserve,
            ", ".join(f"{n} lost {k} example(s)" for k, n in sorted(lost.items())),
        )
    return prompts
