"""The judge for open-ended answers: a model asked, as in the paper, whether a student's answer
is equivalent to the correct one. An answer is correct iff the judge's greedy reply contains
the word "yes". Instruct models get the question through their chat template (a system line
and a user message); base models get the same text as a plain prompt.

Verdicts are kept in a content-addressed store keyed by the judge's weights and the prompt, so
re-judging a model's answers after one split changed judges only the new ones.
"""

import hashlib
import json
import logging
import re

import numpy as np
import pandas as pd

from crossprobe.activations import FeatureStore
from crossprobe.answering import greedy_lines
from crossprobe.data import ALIAS_SEPARATOR

log = logging.getLogger(__name__)

SYSTEM = "You are an automated grading assistant helping a teacher grade student answers."
USER = (
    "The problem is: {question}\n\n"
    "The correct answer for this problem is: {gold}\n"
    "A student submitted the answer: {answer}\n\n"
    "Decide whether the student's answer is correct. It must be correct and specific, but not "
    "over-complete: an answer that offers several different answers is not correct. Differences "
    'of form alone do not matter: for example, "New York City" and "NYC" are equivalent. '
    "Reply yes or no, without any explanation."
)
YES = re.compile(r"\byes\b", re.IGNORECASE)


def judge_prompt(tokenizer, question: str, gold: str, answer: str) -> str:
    """The judge's input for one answer (its chat template if it has one)."""
    user = USER.format(question=question, gold=gold.split(ALIAS_SEPARATOR)[0], answer=answer)
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return f"{SYSTEM}\n\n{user}\nReply:"


def judged(reply: str) -> bool:
    return bool(YES.search(reply))


def judge_answers(model, tokenizer, device, store: FeatureStore, graded: pd.DataFrame, params):
    """A 0/1 verdict per row of `graded` (question, gold, answer), judging only prompts the
    store has not seen."""
    prompts = [
        judge_prompt(tokenizer, q, g, a)
        for q, g, a in zip(graded["question"], graded["gold"], graded["answer"], strict=True)
    ]
    keys = [hashlib.sha256(p.encode()).hexdigest()[:32] for p in prompts]
    known = store.lookup(keys)
    todo = sorted({k: p for k, p in zip(keys, prompts, strict=True) if k not in known}.items())
    log.info(
        "%d answers: %d judged before, %d to judge", len(keys), len(keys) - len(todo), len(todo)
    )
    replies, _ = greedy_lines(
        model,
        tokenizer,
        device,
        [p for _, p in todo],
        params["batch_size"],
        None,
        params["max_new_tokens"],
    )
    for (_, prompt), reply in list(zip(todo, replies, strict=True))[:3]:
        log.info("judge reply %r to ...%r", reply, prompt[-80:])
    fresh = {k: {"verdict": np.int8(judged(r))} for (k, _), r in zip(todo, replies, strict=True)}
    store.add(fresh)
    verdicts = {**known, **fresh}
    return np.asarray([int(verdicts[k]["verdict"]) for k in keys], dtype=np.int64)


def verdict_store(judge_record: dict, params: dict) -> str:
    """The store folder of this judge's verdicts: its weights and how long it may reply (the
    prompt itself is in each entry's key)."""
    identity = {"judge": judge_record["fingerprint"], "max_new_tokens": params["max_new_tokens"]}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
