"""The `generate_answers` stage: each model's answer to every question, in three formats.

- mc_cloze: the option whose text has the highest mean token log-likelihood after the prompt.
- mc_letter: the first greedy token, read as a letter (anything else is an invalid answer).
- open: greedy generation, cleaned to its first line as the paper's code cleans it.

A few-shot prompt too long for `max_length` loses whole solved examples, the first ones first.

Besides the answer, each row keeps what the free baselines need later (so no model runs twice):
`option_scores` (per-option mean log-likelihoods, or letter log-probabilities) and
`answer_logprob` (mean token log-probability of the answer given).
"""

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from crossprobe.contract.formats import Format, answer_format
from crossprobe.contract.model_tasks import MODEL_TASKS, TextLengths, function
from crossprobe.contract.prompts import clean_open_answer
from crossprobe.models.lm import (
    PAD_SEGMENT,
    Throughput,
    in_batches,
    pad_left,
    padded_size,
    run_batch,
    segment_masks,
)
from crossprobe.models.tokens import boundary, encode, fit_prompts, next_token_ids, truncate

log = logging.getLogger(__name__)


def cloze_tokens(tokenizer, prompt: str, options: list[str], max_length: int | None):
    """Per question: the prompt tokens shared by every option, and per option its remaining
    tokens and how many of those are the option's own (the rest still belong to the prompt).

    Each option is tokenised with the prompt as one string (" " + option after the prompt), so its
    tokens are those the model sees; a prompt too long for `max_length` loses its start (the same
    tokens for every option)."""
    fulls = [encode(tokenizer, f"{prompt} {option}") for option in options]
    own = [len(f) - boundary(tokenizer, prompt, f) for f in fulls]
    shared = min(len(f) - n for f, n in zip(fulls, own, strict=True))
    longest = max(len(f) for f in fulls)
    prefix, _ = truncate(
        fulls[0][:shared], (max_length or longest) - (longest - shared), tokenizer.bos_token_id
    )
    tails = [f[shared:] for f in fulls]
    return prefix, tails, own


def packed_row(prefix: list[int], tails: list[list[int]]):
    """One question's row: its prompt, then each option's remaining tokens. Per position: its
    token, its position id (each option continues the prompt's positions as if it were alone),
    its segment (0 the prompt, k + 1 option k) and whether its logits are needed (the prompt's
    last position predicts each option's first token; an option's positions but its last predict
    its next)."""
    tokens, positions, segments = list(prefix), list(range(len(prefix))), [0] * len(prefix)
    predicting = [False] * (len(prefix) - 1) + [True]
    for k, tail in enumerate(tails):
        tokens += tail
        positions += range(len(prefix), len(prefix) + len(tail))
        segments += [k + 1] * len(tail)
        predicting += [True] * (len(tail) - 1) + [False]
    return tokens, positions, segments, predicting


@torch.inference_mode()
def option_logprobs(
    model, tokenizer, device, prompts, options, batch_size, max_length, budget=None
):
    """Mean token log-probability of each option after its prompt: [[score per option] per
    question]. Each question is one row, its prompt once and then its options, run in one
    forward pass in which every option sees the prompt and its own tokens only (`segment_masks`)
    at the positions it would have alone; the LM head is applied only where a token is
    predicted. Rows are batched by length (`in_batches`: at most `batch_size`, and with a
    `budget` as many as fit in memory)."""
    encoded = [
        cloze_tokens(tokenizer, p, o, max_length) for p, o in zip(prompts, options, strict=True)
    ]
    rows = [packed_row(prefix, tails) for prefix, tails, _ in encoded]
    logprob = [None] * len(prompts)  # per question, per option: log-probs of its tail tokens
    meter = Throughput(len(prompts), "cloze scoring")
    pad = tokenizer.pad_token_id

    def score(batch):
        width = max(len(rows[q][0]) for q in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        positions = torch.zeros((len(batch), width), dtype=torch.long)
        segments = torch.full((len(batch), width), PAD_SEGMENT, dtype=torch.long)
        predicting = torch.zeros((len(batch), width), dtype=torch.bool)
        for r, q in enumerate(batch):
            at = width - len(rows[q][0])  # left padding
            for full, part in zip((ids, positions, segments, predicting), rows[q], strict=True):
                full[r, at:] = torch.tensor(part)
        logits = model(
            input_ids=ids.to(device),
            attention_mask=segment_masks(model, positions.to(device), segments.to(device)),
            position_ids=positions.to(device),
            use_cache=False,
            logits_to_keep=predicting.to(device),
        ).logits
        # one row after another: the prompt's last position, then each option's but its last
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        at = 0
        for q in batch:
            first = logprobs[at]
            at += 1
            per_option = []
            for tail in encoded[q][1]:
                rest = logprobs[
                    torch.arange(at, at + len(tail) - 1), torch.tensor(tail[1:], dtype=torch.long)
                ]
                per_option.append([first[tail[0]].item(), *rest.tolist()])
                at += len(tail) - 1
            logprob[q] = per_option
        real = int((segments != PAD_SEGMENT).sum())
        meter.update(len(batch), real, segments.numel())

    in_batches(
        [len(row[0]) for row in rows],
        batch_size,
        score,
        budget,
        option_tokens=max((sum(map(len, e[1])) for e in encoded), default=0),
    )
    return [
        [float(np.mean(lp[len(lp) - own :])) for lp, own in zip(per_q, encoded[q][2], strict=True)]
        for q, per_q in enumerate(logprob)
    ]


@torch.inference_mode()
def next_token_logprobs(model, tokenizer, device, contexts, batch_size, max_length, budget=None):
    """Full next-token log-probabilities after each context, shape (n, vocab), on the CPU."""
    encoded = [encode(tokenizer, ctx, max_length) for ctx in contexts]
    out = [None] * len(contexts)
    meter = Throughput(len(contexts), "next-token scoring")

    def score(batch):
        seqs = [encoded[i] for i in batch]
        logits = run_batch(model, seqs, tokenizer.pad_token_id, device).logits[:, -1]
        logprobs = torch.log_softmax(logits.float(), dim=-1).cpu()
        for row, i in enumerate(batch):
            out[i] = logprobs[row]
        meter.update(len(batch), sum(len(s) for s in seqs), padded_size(seqs))

    in_batches([len(ids) for ids in encoded], batch_size, score, budget)
    return torch.stack(out) if out else torch.zeros(0)


@dataclass
class Answered:
    """What an answering function returns, one entry per question."""

    answers: list  # the answer's text
    chosen: list  # the option picked (-1: an open or invalid answer)
    option_scores: list  # per-option scores (empty for open answers)
    answer_logprob: list  # mean token log-probability of the answer given


def answer_cloze(model, tokenizer, device, questions, fmt: Format, params: dict, budget=None):
    """The option whose text has the best mean token log-likelihood after the prompt."""
    options = [fmt.continuations(row) for _, row in questions.iterrows()]
    per_question = option_logprobs(
        model,
        tokenizer,
        device,
        list(questions["prompt"]),
        options,
        params["batch_size"],
        params["max_length"],
        budget,
    )
    chosen = [int(np.argmax(s)) for s in per_question]
    answers = [row["choices"][c] for c, (_, row) in zip(chosen, questions.iterrows(), strict=True)]
    answer_lp = [s[c] for s, c in zip(per_question, chosen, strict=True)]
    return Answered(answers, chosen, per_question, answer_lp)


def answer_letter(model, tokenizer, device, questions, fmt: Format, params: dict, budget=None):
    """The first greedy token, read as an option letter (anything else is an invalid answer)."""
    widest = max((fmt.continuations(row) for _, row in questions.iterrows()), key=len)
    letter_ids = next_token_ids(tokenizer, "Answer:", [f" {x}" for x in widest], "letter answers")
    logprobs = next_token_logprobs(
        model,
        tokenizer,
        device,
        list(questions["prompt"]),
        params["batch_size"],
        params["max_length"],
        budget,
    )
    answers, chosen, scores, answer_lp = [], [], [], []
    for row_lp, n in zip(logprobs, questions["choices"].map(len), strict=True):
        greedy = int(row_lp.argmax())
        letters = letter_ids[:n]
        scores.append([float(row_lp[t]) for t in letters])
        answer_lp.append(float(row_lp[greedy]))
        if greedy in letters:
            chosen.append(letters.index(greedy))
            answers.append(widest[chosen[-1]])
        else:  # not a letter: an invalid answer, graded wrong
            chosen.append(-1)
            answers.append(tokenizer.decode([greedy]).strip())
    return Answered(answers, chosen, scores, answer_lp)


class FirstLineComplete(StoppingCriteria):
    """Stops a row once its cleaned answer (`clean_open_answer`) can no longer change: its
    generated text, folded as the cleaning folds it, has a line break after some content."""

    def __init__(self, tokenizer, width: int):
        self.tokenizer, self.width = tokenizer, width

    def __call__(self, input_ids, scores, **kwargs):
        texts = self.tokenizer.batch_decode(input_ids[:, self.width :], skip_special_tokens=True)
        done = [
            "\n" in t.strip().replace("\n\n", "\n").replace(":\n", ":").strip("\n") for t in texts
        ]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def answer_tokens(tokens: list[int], decode, stop_ids, whole=False) -> tuple[str, int, int]:
    """The cleaned answer of a greedy continuation and the span [first, end) of its tokens that
    the answer is made of (for its mean log-probability): generation stops at a stop token; the
    answer is the continuation's text cleaned as the paper's code cleans it (with `whole`, all
    of its text, stripped)."""
    stop = next((t for t, token in enumerate(tokens) if token in stop_ids), len(tokens))
    tokens = tokens[:stop]
    if whole:
        return decode(tokens).strip(), 0, len(tokens)
    answer = clean_open_answer(decode(tokens))
    if not answer:
        return "", 0, 0
    first = next(t for t in range(len(tokens)) if decode(tokens[: t + 1]).strip())
    ends = range(first + 1, len(tokens) + 1)
    end = next(e for e in ends if clean_open_answer(decode(tokens[:e])) == answer)
    return answer, first, end


@torch.inference_mode()
def greedy_lines(
    model, tokenizer, device, encoded, batch_size, max_new_tokens, budget=None, whole=False
):
    """Greedy continuation of each token sequence in `encoded`, cleaned to its first line (see
    `clean_open_answer`), or with `whole` the whole reply up to its stop token (a judge's):
    the texts, and the mean token log-probability of each."""
    texts, mean_lp = [""] * len(encoded), [float("nan")] * len(encoded)
    meter = Throughput(len(encoded), "greedy generation")
    stop_ids = {tokenizer.eos_token_id, tokenizer.pad_token_id}

    def decode(tokens):
        return tokenizer.decode(tokens, skip_special_tokens=True)

    def generate(batch):
        seqs = [encoded[i] for i in batch]
        ids, mask, _ = pad_left(seqs, tokenizer.pad_token_id, device)
        width = ids.shape[1]
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            output_scores=True,
            return_dict_in_generate=True,
            pad_token_id=tokenizer.pad_token_id,
            stopping_criteria=StoppingCriteriaList(
                [] if whole else [FirstLineComplete(tokenizer, width)]
            ),
        )
        new_tokens = out.sequences[:, width:]
        step_lp = torch.stack([torch.log_softmax(s.float(), -1) for s in out.scores], dim=1)
        for row, i in enumerate(batch):
            tokens = new_tokens[row].tolist()
            texts[i], first, end = answer_tokens(tokens, decode, stop_ids, whole)
            lps = [float(step_lp[row, t, tokens[t]]) for t in range(first, end)]
            mean_lp[i] = float(np.mean(lps)) if lps else float("nan")
        generated = sum(
            next((t for t, x in enumerate(row) if x in stop_ids), len(row))
            for row in new_tokens.tolist()
        )
        meter.update(
            len(batch), sum(len(s) for s in seqs) + generated, ids.numel() + new_tokens.numel()
        )

    lengths = [len(e) for e in encoded]
    in_batches(lengths, batch_size, generate, budget, new_tokens=max_new_tokens)
    return texts, mean_lp


def answer_open(model, tokenizer, device, questions, fmt: Format, params: dict, budget=None):
    """A greedy line, cleaned as the paper's code cleans it."""
    encoded = [encode(tokenizer, p, params["max_length"]) for p in questions["prompt"]]
    answers, answer_lp = greedy_lines(
        model, tokenizer, device, encoded, params["batch_size"], params["max_new_tokens"], budget
    )
    return Answered(answers, [-1] * len(answers), [[] for _ in answers], answer_lp)


def fitted_prompts(tokenizer, questions: pd.DataFrame, params: dict) -> list[str]:
    """Each question's prompt, less the first solved examples that do not fit `max_length`
    with room for the answer: its new tokens where it is written, one where it is picked."""
    fmt = answer_format(params["answer_format"])
    reserve = 1 if fmt.picks_option else params["max_new_tokens"]
    return fit_prompts(tokenizer, questions, params["max_length"], reserve)


def shots_lost(questions: pd.DataFrame, prompts: list[str]) -> dict:
    """What the plan reports of fitted prompts: how many lost solved examples."""
    lost = sum(a != b for a, b in zip(questions["prompt"], prompts, strict=True))
    return {"prompts that lose shots": lost}


def cloze_lengths(tokenizer, questions: pd.DataFrame, params: dict):
    """The token length of each question's row (its prompt, then all its options), as
    `answer_cloze` runs it, the most option tokens a row holds, and the prompts that lose
    shots."""
    fmt = answer_format(params["answer_format"])
    prompts = fitted_prompts(tokenizer, questions, params)
    rows = [
        cloze_tokens(tokenizer, p, fmt.continuations(row), params["max_length"])[:2]
        for p, (_, row) in zip(prompts, questions.iterrows(), strict=True)
    ]
    options = [sum(map(len, tails)) for _, tails in rows]
    lengths = [len(prefix) + n for (prefix, _), n in zip(rows, options, strict=True)]
    extra = {"option_tokens": max(options, default=0)}
    return TextLengths({"rows": lengths}, extra, shots_lost(questions, prompts))


def prompt_lengths(tokenizer, questions: pd.DataFrame, params: dict):
    """The token length of each question's prompt, as letter and open answers run it, and the
    prompts that lose shots."""
    prompts = fitted_prompts(tokenizer, questions, params)
    lengths = [len(encode(tokenizer, p, params["max_length"])) for p in prompts]
    return TextLengths({"rows": lengths}, counted=shots_lost(questions, prompts))


def generate_answers(
    model, tokenizer, device, questions: pd.DataFrame, params: dict, budget=None
) -> pd.DataFrame:
    """Answer every question of `questions` as answer format `params['answer_format']` answers
    (its model task names the function here that does), in batches within `budget`."""
    fmt = answer_format(params["answer_format"])
    questions = questions.assign(prompt=fitted_prompts(tokenizer, questions, params))
    answerer = function(MODEL_TASKS[fmt.task].work)
    answered = answerer(model, tokenizer, device, questions, fmt, params, budget)
    return pd.DataFrame(
        {
            "question_id": questions["question_id"].to_numpy(),
            "dataset": questions["dataset"].to_numpy(),
            "subject": questions["subject"].to_numpy(),
            "prompt": questions["prompt"].to_numpy(),
            "answer": answered.answers,
            "answer_index": np.asarray(answered.chosen, dtype=np.int64),
            "option_scores": answered.option_scores,
            "answer_logprob": np.asarray(answered.answer_logprob, dtype=np.float64),
        }
    )
