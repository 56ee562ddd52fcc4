"""The `generate_answers` stage: each model's answer to every question, in three formats.

- mc_cloze: the option whose text has the highest mean token log-likelihood after the prompt.
- mc_letter: the first greedy token, read as a letter (anything else is an invalid answer).
- open: greedy generation, cleaned to its first line as the paper's code cleans it.

A few-shot prompt too long for `max_length` loses whole solved examples, the first ones first.

Besides the answer, each row keeps what the free baselines need later (so no model runs twice):
`option_scores` (per-option mean log-likelihoods, or letter log-probabilities) and
`answer_logprob` (mean token log-probability of the answer given).
"""

import copy
import logging

import numpy as np
import pandas as pd
import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from crossprobe.contract.formats import Format, answer_format
from crossprobe.contract.prompts import clean_open_answer
from crossprobe.models.lm import Throughput, in_batches, pad_left, padded_size, run_batch
from crossprobe.models.memory import CLOZE_CHUNK_LOGITS
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


def _chunks(rows: list, lengths: list[int], max_rows: int, max_kept: int):
    """Consecutive chunks of `rows` (sorted by length) with at most `max_rows` rows and at most
    `max_kept` positions whose logits are kept (length - 1 per row)."""
    chunk, kept = [], 0
    for row, length in zip(rows, lengths, strict=True):
        if chunk and (len(chunk) == max_rows or kept + length - 1 > max_kept):
            yield chunk
            chunk, kept = [], 0
        chunk.append(row)
        kept += length - 1
    if chunk:
        yield chunk


@torch.inference_mode()
def option_logprobs(
    model, tokenizer, device, prompts, options, batch_size, max_length, budget=None
):
    """Mean token log-probability of each option after its prompt: [[score per option] per
    question]. The prompt runs once per question; its key/value cache is then shared by the
    question's options, which run right-padded after it. The LM head is applied only where a
    token is predicted: the prompt's last position, and each option's positions but its last.
    Batches are sized by `batch_size` and, with a `budget`, by memory (see `in_batches`)."""
    encoded = [
        cloze_tokens(tokenizer, p, o, max_length) for p, o in zip(prompts, options, strict=True)
    ]
    logprob = [None] * len(prompts)  # per question, per option: log-probs of its tail tokens
    meter = Throughput(len(prompts), "cloze scoring")
    pad = tokenizer.pad_token_id

    def score(batch):
        ids, mask, positions = pad_left([encoded[q][0] for q in batch], pad, device)
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
        )
        first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)  # predicts each tail's token 0
        tails = {(b, k): t for b, q in enumerate(batch) for k, t in enumerate(encoded[q][1])}
        found = {row: [first[row[0], tail[0]].item()] for row, tail in tails.items()}
        real, processed = int(mask.sum()), mask.numel()
        longer = sorted((r for r, t in tails.items() if len(t) > 1), key=lambda r: len(tails[r]))
        lengths = [len(tails[r]) for r in longer]
        most = CLOZE_CHUNK_LOGITS // first.shape[-1]
        for chunk in _chunks(longer, lengths, 4 * batch_size, most):
            width = max(len(tails[r]) for r in chunk)
            real, processed = (
                real + sum(len(tails[r]) for r in chunk),
                processed + len(chunk) * width,
            )
            cache = copy.deepcopy(out.cache)
            owner = torch.tensor([b for b, _ in chunk], device=device)
            cache.batch_select_indices(owner)
            tail_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            tail_mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for r, row in enumerate(chunk):
                tail_ids[r, : len(tails[row])] = torch.tensor(tails[row])
                tail_mask[r, : len(tails[row])] = 1
            predicting = tail_mask.bool().clone()  # position i predicts tail token i + 1
            predicting[torch.arange(len(chunk)), tail_mask.sum(-1) - 1] = False
            logits = model(
                input_ids=tail_ids.to(device),
                attention_mask=torch.cat([mask[owner], tail_mask.to(device)], dim=-1),
                position_ids=mask[owner].sum(-1, keepdim=True) + torch.arange(width, device=device),
                cache=cache,
                use_cache=True,
                logits_to_keep=predicting.to(device),
            ).logits
            flat = torch.log_softmax(logits.reshape(-1, logits.shape[-1]).float(), dim=-1)
            at = 0
            for row in chunk:
                tail = tails[row]
                picked = flat[torch.arange(at, at + len(tail) - 1), torch.tensor(tail[1:])]
                found[row].extend(picked.tolist())
                at += len(tail) - 1
        for b, q in enumerate(batch):
            logprob[q] = [found[b, k] for k in range(len(encoded[q][1]))]
        meter.update(len(batch), real, processed)

    in_batches(
        [len(e[0]) for e in encoded],
        batch_size,
        score,
        budget,
        "cloze",
        options=max((len(e[1]) for e in encoded), default=0),
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

    in_batches([len(ids) for ids in encoded], batch_size, score, budget, "next_token")
    return torch.stack(out) if out else torch.zeros(0)


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
    return answers, chosen, per_question, [s[c] for s, c in zip(per_question, chosen, strict=True)]


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
    return answers, chosen, scores, answer_lp


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


def answer_tokens(tokens: list[int], decode, stop_ids) -> tuple[str, int, int]:
    """The cleaned answer of a greedy continuation and the span [first, end) of its tokens that
    the answer is made of (for its mean log-probability): generation stops at a stop token; the
    answer is the continuation's text cleaned as the paper's code cleans it."""
    stop = next((t for t, token in enumerate(tokens) if token in stop_ids), len(tokens))
    tokens = tokens[:stop]
    answer = clean_open_answer(decode(tokens))
    if not answer:
        return "", 0, 0
    first = next(t for t in range(len(tokens)) if decode(tokens[: t + 1]).strip())
    ends = range(first + 1, len(tokens) + 1)
    end = next(e for e in ends if clean_open_answer(decode(tokens[:e])) == answer)
    return answer, first, end


@torch.inference_mode()
def greedy_lines(model, tokenizer, device, encoded, batch_size, max_new_tokens, budget=None):
    """Greedy continuation of each token sequence in `encoded`, cleaned to its first line (see
    `clean_open_answer`): the texts, and the mean token log-probability of each."""
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
            stopping_criteria=StoppingCriteriaList([FirstLineComplete(tokenizer, width)]),
        )
        new_tokens = out.sequences[:, width:]
        step_lp = torch.stack([torch.log_softmax(s.float(), -1) for s in out.scores], dim=1)
        for row, i in enumerate(batch):
            tokens = new_tokens[row].tolist()
            texts[i], first, end = answer_tokens(tokens, decode, stop_ids)
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
    in_batches(lengths, batch_size, generate, budget, "generate", new_tokens=max_new_tokens)
    return texts, mean_lp


def answer_open(model, tokenizer, device, questions, fmt: Format, params: dict, budget=None):
    """A greedy line, cleaned as the paper's code cleans it."""
    encoded = [encode(tokenizer, p, params["max_length"]) for p in questions["prompt"]]
    answers, answer_lp = greedy_lines(
        model, tokenizer, device, encoded, params["batch_size"], params["max_new_tokens"], budget
    )
    return answers, [-1] * len(answers), [[] for _ in answers], answer_lp


def generate_answers(
    model, tokenizer, device, questions: pd.DataFrame, params: dict, budget=None
) -> pd.DataFrame:
    """Answer every question of `questions` as answer format `params['answer_format']` answers
    (its registry entry names the function here that does), in batches within `budget`."""
    fmt = answer_format(params["answer_format"])
    # a written answer needs room for its new tokens; a picked option for one
    reserve = 1 if fmt.picks_option else params["max_new_tokens"]
    prompts = fit_prompts(tokenizer, questions, params["max_length"], reserve)
    questions = questions.assign(prompt=prompts)
    answerer = globals()[fmt.answerer]
    result = answerer(model, tokenizer, device, questions, fmt, params, budget)
    answers, chosen, scores, answer_lp = result
    return pd.DataFrame(
        {
            "question_id": questions["question_id"].to_numpy(),
            "dataset": questions["dataset"].to_numpy(),
            "subject": questions["subject"].to_numpy(),
            "prompt": questions["prompt"].to_numpy(),
            "answer": answers,
            "answer_index": np.asarray(chosen, dtype=np.int64),
            "option_scores": scores,
            "answer_logprob": np.asarray(answer_lp, dtype=np.float64),
        }
    )
