"""The texts LoRA + Prompt reads: each answer's query text (the answered prompt followed by the
paper's question "Is the proposed answer correct?") and, for the JS regulariser, the text whose
tokens it regularises; and their token lengths as the plan counts them."""

from crossprobe.contract.formats import first_alias
from crossprobe.contract.model_tasks import TextLengths, always_recomputes
from crossprobe.contract.prompts import answered_text
from crossprobe.models.tokens import boundary, encode, query_tokens, truncate


def query_sequences(tokenizer, prompts, answers, max_length):
    """Token ids of each query text (answered prompt + query, one string) and where its answer
    sits, counted from the end: logits at [-back, -stop) predict the answer's tokens (the
    regulariser with `js_tokens: answer` looks there)."""
    seqs, spans = [], []
    for prompt, answer in zip(prompts, answers, strict=True):
        ids, dropped, start, stop = query_tokens(tokenizer, prompt, answer, max_length)
        stop, whole = max(stop, start + 1), len(ids) + dropped
        seqs.append(ids)
        back = min(whole - start + 1, len(ids))
        spans.append((back, min(whole - stop + 1, back - 1)))
    return seqs, spans


def gold_sequences(tokenizer, prompts, golds, max_length):
    """Token ids of each prompt followed by its gold answer (as the paper's regulariser reads
    them) and where the gold answer sits, counted from the end as in `query_sequences`: logits
    at [-back, -1) predict its tokens."""
    seqs, spans = [], []
    for prompt, gold in zip(prompts, golds, strict=True):
        full = encode(tokenizer, answered_text(prompt, first_alias(gold)))
        start = boundary(tokenizer, prompt, full)
        ids, _ = truncate(full, max_length, tokenizer.bos_token_id)
        seqs.append(ids)
        spans.append((min(len(full) - start + 1, len(ids)), 1))
    return seqs, spans


def regularised_sequences(tokenizer, graded, params: dict, query=None):
    """The texts and spans the JS regulariser reads for each training answer (see
    `crossprobe.lora.regulariser.js_penalty`): the gold answer after the prompt (`js_tokens:
    gold`, the paper's), or the answer given inside the query text (`answer`: `query`, the query
    sequences and spans, are reused)."""
    if params["js_weight"] > 0 and params["js_tokens"] == "gold":
        return gold_sequences(tokenizer, graded["prompt"], graded["gold"], params["max_length"])
    if query is None:
        query = query_sequences(tokenizer, graded["prompt"], graded["answer"], params["max_length"])
    return query


def query_lengths(tokenizer, graded, params: dict) -> TextLengths:
    """The token length of each query text of `graded`, as LoRA scoring runs it."""
    seqs, _ = query_sequences(tokenizer, graded["prompt"], graded["answer"], params["max_length"])
    return TextLengths({"rows": list(map(len, seqs))})


def training_lengths(tokenizer, graded, params: dict) -> TextLengths:
    """The token lengths of the texts LoRA training runs for each answer of `graded`: its query
    text and (with the JS regulariser) the text the regulariser reads; and what a batch keeps
    besides (`crossprobe.models.memory.row_bytes`)."""
    query = query_sequences(tokenizer, graded["prompt"], graded["answer"], params["max_length"])
    lengths = {"query": list(map(len, query[0]))}
    extra = {"js_tokens": 0, "checkpointing": always_recomputes(params)}
    if params["js_weight"] > 0:
        seqs, spans = regularised_sequences(tokenizer, graded, params, query)
        lengths["regularised"] = list(map(len, seqs))
        extra["js_tokens"] = max((back for back, _ in spans), default=0)
    return TextLengths(lengths, extra)
