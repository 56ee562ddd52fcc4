"""The judge for open-ended answers: a model asked, as in the paper, whether a student's answer
is equivalent to the correct one. An answer is correct iff the judge's whole greedy reply (up to
`grading.max_new_tokens`) contains the word "yes" (the paper's code searched GPT-3.5's reply for
the substring "yes"; a word match does not read "yesterday" or "eyes" as a verdict). Instruct
models get the question through their chat template (the system line, then the user message;
folded into one user message where the template has no system role), tokenised by the template
itself so that a template that writes its BOS gets exactly one; base models get the same text as
a plain prompt.

What the judge reads is the config's `grading.prompt` (`crossprobe.answers.grading`), a
template over {problem} (by default the whole text the answering model saw, as the paper's judge
saw it), {gold} and {answer}.

Verdicts are kept in a content-addressed store keyed by the judge's weights and its input ids, so
re-judging a model's answers after one split changed judges only the new ones.
"""

import hashlib
import json
import logging

import numpy as np
import pandas as pd
from jinja2.exceptions import TemplateError

from crossprobe.answers.answering import greedy_lines
from crossprobe.answers.grading import judge_texts, judged, shown_problems
from crossprobe.contract.formats import first_alias
from crossprobe.contract.model_tasks import TextLengths
from crossprobe.models.store import FeatureStore, sequence_key
from crossprobe.models.tokens import encode

log = logging.getLogger(__name__)


def judge_ids(tokenizer, system: str, user: str) -> list[int]:
    """The judge's input ids for one answer: its chat template (which writes its own special
    tokens) if it has one, else the plain text with the tokenizer's special tokens."""
    if not getattr(tokenizer, "chat_template", None):
        return encode(tokenizer, f"{system}\n\n{user}\nReply:")
    conversations = (
        [{"role": "system", "content": system}, {"role": "user", "content": user}],
        [{"role": "user", "content": f"{system}\n\n{user}"}],
    )
    for messages in conversations:
        try:
            return list(
                tokenizer.apply_chat_template(
                    messages, tokenize=True, add_generation_prompt=True, return_dict=True
                )["input_ids"]
            )
        except TemplateError:  # e.g. Mistral-Instruct's template rejects a system role
            continue
    raise ValueError("the judge's chat template accepts neither a system nor a user message")


def judge_inputs(tokenizer, judged: pd.DataFrame, params: dict) -> list[list[int]]:
    """The judge's input ids for each row of `judged` (problem, gold, answer)."""
    system, prompt = judge_texts(params)
    users = [
        prompt.format(problem=p, gold=first_alias(g), answer=a)
        for p, g, a in zip(judged["problem"], judged["gold"], judged["answer"], strict=True)
    ]
    return [judge_ids(tokenizer, system, u) for u in users]


def judge_lengths(tokenizer, judged: pd.DataFrame, params: dict):
    """The token length of the judge's input for each answer of `judged`."""
    if "problem" not in judged:
        judged = judged.assign(problem=shown_problems(judged, params))
    return TextLengths({"rows": list(map(len, judge_inputs(tokenizer, judged, params)))})


def judge_answers(
    model, tokenizer, device, store: FeatureStore, graded: pd.DataFrame, params, budget=None
):
    """A 0/1 verdict per row of `graded` (problem, gold, answer), judging only inputs the store
    has not seen; `params` holds the judge's system line and prompt template."""
    inputs = judge_inputs(tokenizer, graded, params)
    keys = [sequence_key(ids) for ids in inputs]
    known = store.lookup(keys)
    todo = sorted({k: ids for k, ids in zip(keys, inputs, strict=True) if k not in known}.items())
    log.info(
        "%d answers: %d judged before, %d to judge", len(keys), len(keys) - len(todo), len(todo)
    )
    replies, _ = greedy_lines(
        model,
        tokenizer,
        device,
        [ids for _, ids in todo],
        params["batch_size"],
        params["max_new_tokens"],
        budget,
        whole=True,
    )
    for (_, ids), reply in list(zip(todo, replies, strict=True))[:3]:
        log.info("judge reply %r to ...%r", reply, tokenizer.decode(ids[-40:]))
    fresh = {k: {"verdict": np.int8(judged(r))} for (k, _), r in zip(todo, replies, strict=True)}
    store.add(fresh)
    verdicts = {**known, **fresh}
    return np.asarray([int(verdicts[k]["verdict"]) for k in keys], dtype=np.int64)


def verdict_store(judge_record: dict, params: dict) -> str:
    """The store folder of this judge's verdicts: its weights, how long it may reply and how the
    reply is read (its input, prompt included, is in each entry's key)."""
    identity = {
        "judge": judge_record["fingerprint"],
        "max_new_tokens": params["max_new_tokens"],
        "reply": "whole",
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
