"""The `cache_activations` stage: an estimator's frozen read of a source's answered prompts.

One forward pass per text, prompt + " " + answer + the query suffix, gives everything the grid
reads from a frozen estimator: the hidden states at the answer's last token (the Probe's features,
for the configured layers; -1 is after the final norm, as in the paper; causal attention makes
them the same as for the answered prompt alone), those at the question's last token (the
question-only control: causal attention keeps every answer token out of them), and the logits of
the query's two answer tokens at the last position (the zero-shot query). A per-estimator,
content-addressed store keyed by token ids makes each distinct text cost one forward pass,
whichever source or split produced it.
"""

import hashlib
import json
import logging

import numpy as np
import torch

from crossprobe.contract.model_tasks import TextLengths
from crossprobe.models.lm import Throughput, in_batches, logits_of, padded_size, run_batch
from crossprobe.models.store import FeatureStore, sequence_key
from crossprobe.models.tokens import query_choice_ids, query_tokens

log = logging.getLogger(__name__)
STORE_FORMAT = 3  # bump when what a stored entry holds changes


def store_fingerprint(model_record: dict, params: dict, precision: str) -> str:
    """What makes a stored read valid: the weights, the layers, truncation, precision, format."""
    identity = {
        "model": model_record["fingerprint"],
        "layers": list(params["layers"]),
        "max_length": params["max_length"],
        "precision": precision,
        "format": STORE_FORMAT,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def read_tokens(tokenizer, prompt: str, answer: str, max_length: int | None):
    """Token ids of the query text, and the index in them of the question's last token (the
    prompt's, before any answer token) and of the answer's last token."""
    ids, dropped, prompt_tokens, answered_tokens = query_tokens(
        tokenizer, prompt, answer, max_length
    )
    return ids, max(prompt_tokens - 1 - dropped, 0), max(answered_tokens - 1 - dropped, 0)


def read_lengths(tokenizer, graded, params: dict):
    """The token length of each text the read runs (prompt, answer and query), before the store
    spares the texts it has seen."""
    texts = zip(graded["prompt"], graded["answer"], strict=True)
    lengths = [len(read_tokens(tokenizer, p, a, params["max_length"])[0]) for p, a in texts]
    return TextLengths({"rows": lengths})


@torch.inference_mode()
def compute_reads(
    model, tokenizer, device, sequences, positions, layers, batch_size, budget=None
) -> dict:
    """{"question_features", "answer_features": float16 (n, len(layers), d) at each question's
    and each answer's last token, "query_logits": float32 (n, 2) of the query's " i" / " ii" at
    the last position}; `positions` holds (question end, answer end) per sequence."""
    choice_ids = torch.tensor(query_choice_ids(tokenizer), device=device)
    shape = (len(sequences), len(layers), model.config.hidden_size)
    reads = {
        "question_features": np.zeros(shape, np.float16),
        "answer_features": np.zeros(shape, np.float16),
        "query_logits": np.zeros((len(sequences), 2), np.float32),
    }
    meter = Throughput(len(sequences), "activations")

    def read(batch):
        seqs = [sequences[i] for i in batch]
        with logits_of(model, choice_ids):
            out = run_batch(model, seqs, tokenizer.pad_token_id, device, hidden_states=True)
        width = max(len(s) for s in seqs)
        rows = torch.arange(len(batch), device=device)
        for name, which in (("question_features", 0), ("answer_features", 1)):
            # left padding: token t of a sequence of length n sits at width - n + t
            where = torch.tensor(
                [width - len(s) + positions[i][which] for s, i in zip(seqs, batch, strict=True)],
                device=device,
            )
            stacked = torch.stack(
                [out.hidden_states[layer][rows, where].float() for layer in layers], 1
            )
            reads[name][batch] = stacked.cpu().numpy().astype(np.float16)
        reads["query_logits"][batch] = out.logits[:, -1].cpu().numpy()
        meter.update(len(batch), sum(len(s) for s in seqs), padded_size(seqs))

    in_batches([len(s) for s in sequences], batch_size, read, budget)
    return reads


def cache_activations(model, tokenizer, device, store: FeatureStore, graded, params, budget=None):
    """The frozen reads of every answered prompt of one split's graded answers.

    Texts are keyed by their token ids, questions by the tokens up to the question's end (in a
    sub-store): each distinct text is run once, and each question's features are computed once
    and shared by every answer to it, whichever source gave the answer. Returns ({name: array in
    the table's row order}, stats)."""
    questions = FeatureStore(store.root / "questions")
    tokens = [
        read_tokens(tokenizer, p, a, params["max_length"])
        for p, a in zip(graded["prompt"], graded["answer"], strict=True)
    ]
    keys = [sequence_key(ids) for ids, _, _ in tokens]
    question_keys = [sequence_key(ids[: q + 1]) for ids, q, _ in tokens]
    first = {k: i for i, k in reversed(list(enumerate(keys)))}
    asked = {k: i for i, k in reversed(list(enumerate(question_keys)))}
    cached, known = store.lookup(first), questions.lookup(asked)
    # run every new text, and one text of each question not seen yet
    rows = sorted(
        {first[k] for k in first if k not in cached} | {asked[q] for q in asked if q not in known}
    )
    log.info(
        "%d distinct texts: %d in the store; %d distinct questions: %d in the store; "
        "%d texts to run",
        len(first),
        len(cached),
        len(asked),
        len(known),
        len(rows),
    )
    computed = compute_reads(
        model,
        tokenizer,
        device,
        [tokens[i][0] for i in rows],
        [tokens[i][1:] for i in rows],
        params["layers"],
        params["batch_size"],
        budget,
    )
    at = {i: r for r, i in enumerate(rows)}
    fresh_texts = {
        keys[i]: {n: computed[n][at[i]] for n in ("answer_features", "query_logits")}
        for i in rows
        if keys[i] not in cached
    }
    fresh_questions = {
        question_keys[i]: {"question_features": computed["question_features"][at[i]]}
        for i in rows
        if question_keys[i] not in known
    }
    store.add(fresh_texts)
    questions.add(fresh_questions)
    texts, asked_reads = {**cached, **fresh_texts}, {**known, **fresh_questions}
    arrays = {n: np.stack([texts[k][n] for k in keys]) for n in ("answer_features", "query_logits")}
    arrays["question_features"] = np.stack(
        [asked_reads[q]["question_features"] for q in question_keys]
    )
    stats = {
        "texts": len(first),
        "texts_reused": len(cached),
        "questions": len(asked),
        "questions_reused": len(known),
        "run": len(rows),
    }
    return arrays, stats
