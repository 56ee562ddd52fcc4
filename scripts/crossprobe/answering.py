"""The `generate_answers` stage: each model's answer to every question, in three formats.

- mc_cloze: the option whose text has the highest mean token log-likelihood after the prompt.
- mc_letter: the first greedy token, read as a letter (anything else is an invalid answer).
- open: greedy generation cut at the first newline.

Besides the answer, each row keeps what the free baselines need later (so no model runs twice):
`option_scores` (per-option mean log-likelihoods, or letter log-probabilities) and
`answer_logprob` (mean token log-probability of the answer given).
"""

import logging

import numpy as np
import pandas as pd
import torch

from crossprobe.data import LETTERS
from crossprobe.lm import Throughput, encode, length_sorted_batches, pad_left, run_batch
from crossprobe.prompts import continuations

log = logging.getLogger(__name__)


def single_token_ids(tokenizer, words: list[str], what: str) -> list[int]:
    """Token ids of `words` as next tokens; each must be one distinct token."""
    ids = []
    for word in words:
        tokens = tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(tokens) != 1:
            raise ValueError(
                f"{what}: the tokenizer splits {word!r} into {len(tokens)} tokens {tokens}; "
                "it must be a single next token"
            )
        ids.append(tokens[0])
    if len(set(ids)) != len(ids):
        raise ValueError(f"{what}: {words} do not map to distinct tokens ({ids})")
    return ids


@torch.inference_mode()
def continuation_logprobs(model, tokenizer, device, pairs, batch_size, max_length):
    """Mean token log-probability of each (context, continuation) pair's continuation."""
    encoded = [encode(tokenizer, ctx, cont, max_length) for ctx, cont in pairs]
    scores = np.zeros(len(pairs))
    meter = Throughput(len(pairs), "continuation scoring")
    for batch in length_sorted_batches([len(ids) for ids, _ in encoded], batch_size):
        seqs = [encoded[i][0] for i in batch]
        lengths = [encoded[i][1] for i in batch]
        keep = max(lengths) + 1
        logits = run_batch(model, seqs, tokenizer.pad_token_id, device, logits_to_keep=keep).logits
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        for row, (i, k) in enumerate(zip(batch, lengths, strict=True)):
            targets = torch.tensor(seqs[row][-k:], device=device)
            picked = logprobs[row, keep - k - 1 : keep - 1].gather(-1, targets[:, None])
            scores[i] = picked.mean().item()
        meter.update(len(batch), sum(len(s) for s in seqs))
    return scores


@torch.inference_mode()
def next_token_logprobs(model, tokenizer, device, contexts, batch_size, max_length):
    """Full next-token log-probabilities after each context, shape (n, vocab), on the CPU."""
    encoded = [encode(tokenizer, ctx, max_length=max_length)[0] for ctx in contexts]
    out = [None] * len(contexts)
    meter = Throughput(len(contexts), "next-token scoring")
    for batch in length_sorted_batches([len(ids) for ids in encoded], batch_size):
        seqs = [encoded[i] for i in batch]
        logits = run_batch(model, seqs, tokenizer.pad_token_id, device).logits[:, -1]
        logprobs = torch.log_softmax(logits.float(), dim=-1).cpu()
        for row, i in enumerate(batch):
            out[i] = logprobs[row]
        meter.update(len(batch), sum(len(s) for s in seqs))
    return torch.stack(out) if out else torch.zeros(0)


def answer_cloze(model, tokenizer, device, questions, batch_size, max_length):
    pairs, owners = [], []
    for q, (_, row) in enumerate(questions.iterrows()):
        for option in continuations(row, "mc_cloze"):
            pairs.append((row["prompt"], f" {option}"))
            owners.append(q)
    flat = continuation_logprobs(model, tokenizer, device, pairs, batch_size, max_length)
    per_question = [[] for _ in range(len(questions))]
    for q, score in zip(owners, flat, strict=True):
        per_question[q].append(float(score))
    chosen = [int(np.argmax(s)) for s in per_question]
    answers = [row["choices"][c] for c, (_, row) in zip(chosen, questions.iterrows(), strict=True)]
    return answers, chosen, per_question, [s[c] for s, c in zip(per_question, chosen, strict=True)]


def answer_letter(model, tokenizer, device, questions, batch_size, max_length):
    n_options = max(len(c) for c in questions["choices"])
    letter_ids = single_token_ids(
        tokenizer, [f" {LETTERS[i]}" for i in range(n_options)], "mc_letter answers"
    )
    logprobs = next_token_logprobs(
        model, tokenizer, device, list(questions["prompt"]), batch_size, max_length
    )
    answers, chosen, scores, answer_lp = [], [], [], []
    for row_lp, n in zip(logprobs, questions["choices"].map(len), strict=True):
        greedy = int(row_lp.argmax())
        letters = letter_ids[:n]
        scores.append([float(row_lp[t]) for t in letters])
        answer_lp.append(float(row_lp[greedy]))
        if greedy in letters:
            chosen.append(letters.index(greedy))
            answers.append(LETTERS[chosen[-1]])
        else:  # not a letter: an invalid answer, graded wrong
            chosen.append(-1)
            answers.append(tokenizer.decode([greedy]).strip())
    return answers, chosen, scores, answer_lp


def answer_length(tokens, decode, stop_ids) -> int:
    """How many generated tokens form the answer: up to a stop token or the first newline."""
    for t, token in enumerate(tokens):
        if token in stop_ids or "\n" in decode(tokens[: t + 1]):
            return t
    return len(tokens)


@torch.inference_mode()
def answer_open(model, tokenizer, device, questions, batch_size, max_length, max_new_tokens):
    encoded = [encode(tokenizer, p, max_length=max_length)[0] for p in questions["prompt"]]
    answers, answer_lp = [""] * len(encoded), [float("nan")] * len(encoded)
    meter = Throughput(len(encoded), "greedy generation")
    stop_ids = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    for batch in length_sorted_batches([len(e) for e in encoded], batch_size):
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
        )
        new_tokens = out.sequences[:, width:]
        step_lp = torch.stack([torch.log_softmax(s.float(), -1) for s in out.scores], dim=1)
        for row, i in enumerate(batch):
            tokens = new_tokens[row].tolist()
            kept = tokens[: answer_length(tokens, tokenizer.decode, stop_ids)]
            lps = [float(step_lp[row, t, token]) for t, token in enumerate(kept)]
            answers[i] = tokenizer.decode(kept).strip()
            answer_lp[i] = float(np.mean(lps)) if lps else float("nan")
        meter.update(len(batch), sum(len(s) for s in seqs) + new_tokens.numel())
    return answers, [-1] * len(answers), [[] for _ in answers], answer_lp


def generate_answers(
    model, tokenizer, device, questions: pd.DataFrame, params: dict
) -> pd.DataFrame:
    """Answer every question of `questions` in `params['answer_format']`."""
    fmt, batch, max_len = params["answer_format"], params["batch_size"], params["max_length"]
    if fmt == "mc_cloze":
        result = answer_cloze(model, tokenizer, device, questions, batch, max_len)
    elif fmt == "mc_letter":
        result = answer_letter(model, tokenizer, device, questions, batch, max_len)
    else:
        result = answer_open(
            model, tokenizer, device, questions, batch, max_len, params["max_new_tokens"]
        )
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
