"""The `cache_activations` stage: an estimator's frozen read of a source's answered prompts.

One forward pass per text, prompt + " " + answer + the query suffix, gives both things the grid
reads from a frozen estimator: the hidden states at the answer's last token (the Probe's features,
for the configured layers; -1 is after the final norm, as in the paper; causal attention makes
them the same as for the answered prompt alone) and the logits of the query's two answer tokens at
the last position (the zero-shot query). A per-estimator, content-addressed store keyed by the
token ids makes each distinct text cost one forward pass, whichever source or split produced it.
"""

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from crossprobe.lm import Throughput, length_sorted_batches, run_batch
from crossprobe.prompts import answered_text, query_text
from crossprobe.tokens import boundary, query_choice_ids, truncate

log = logging.getLogger(__name__)
STORE_FORMAT = 2  # bump when what a stored entry holds changes


def sequence_key(ids) -> str:
    return hashlib.sha256(np.asarray(ids, dtype=np.int64).tobytes()).hexdigest()[:32]


def store_fingerprint(model_record: dict, params: dict, dtype: torch.dtype) -> str:
    """What makes a stored read valid: the weights, the layers, truncation, precision, format."""
    identity = {
        "model": model_record["fingerprint"],
        "layers": list(params["layers"]),
        "max_length": params["max_length"],
        "dtype": str(dtype),
        "format": STORE_FORMAT,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


class FeatureStore:
    """Append-only shards of {sequence key: named arrays}; each shard is written whole, atomically,
    so concurrent jobs of one estimator can only duplicate work, never corrupt it."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def lookup(self, keys) -> dict:
        wanted, found = set(keys), {}
        for shard in sorted(self.root.glob("*.safetensors")):
            tensors = load_file(shard)
            shard_keys = json.loads(shard.with_suffix(".json").read_text())
            for row, key in enumerate(shard_keys):
                if key in wanted and key not in found:
                    found[key] = {name: array[row] for name, array in tensors.items()}
        return found

    def add(self, entries: dict) -> None:
        """Store {key: {name: array}}; every entry has the same names."""
        if not entries:
            return
        keys = sorted(entries)
        name = hashlib.sha256("".join(keys).encode()).hexdigest()[:16]
        tmp = self.root / f".{name}.{os.getpid()}.tmp"
        # the key list is written first: a shard counts only once its .safetensors exists
        (self.root / f"{name}.json").write_text(json.dumps(keys))
        arrays = {n: np.stack([entries[k][n] for k in keys]) for n in entries[keys[0]]}
        save_file(arrays, str(tmp))
        tmp.rename(self.root / f"{name}.safetensors")


def read_tokens(tokenizer, prompt: str, answer: str, max_length: int | None):
    """Token ids of the query text and the index of the answer's last token in them."""
    full = tokenizer(query_text(prompt, answer), add_special_tokens=True)["input_ids"]
    answer_end = boundary(tokenizer, answered_text(prompt, answer), full) - 1
    ids, dropped = truncate(full, max_length, tokenizer.bos_token_id)
    return ids, max(answer_end - dropped, 0)


@torch.inference_mode()
def compute_reads(model, tokenizer, device, sequences, answer_ends, layers, batch_size) -> dict:
    """{"features": float16 (n, len(layers), d) at each answer's last token,
    "query_logits": float32 (n, 2) of the query's " i" / " ii" at the last position}."""
    choice_ids = torch.tensor(query_choice_ids(tokenizer), device=device)
    features = np.zeros((len(sequences), len(layers), model.config.hidden_size), np.float16)
    logits = np.zeros((len(sequences), 2), np.float32)
    meter = Throughput(len(sequences), "activations")
    for batch in length_sorted_batches([len(s) for s in sequences], batch_size):
        seqs = [sequences[i] for i in batch]
        out = run_batch(model, seqs, tokenizer.pad_token_id, device, hidden_states=True)
        width = max(len(s) for s in seqs)
        rows = torch.arange(len(batch), device=device)
        # left padding: token t of a sequence of length n sits at width - n + t
        where = torch.tensor(
            [width - len(s) + answer_ends[i] for s, i in zip(seqs, batch, strict=True)],
            device=device,
        )
        stacked = torch.stack(
            [out.hidden_states[layer][rows, where].float() for layer in layers], 1
        )
        features[batch] = stacked.cpu().numpy().astype(np.float16)
        logits[batch] = out.logits[:, -1, choice_ids].float().cpu().numpy()
        meter.update(len(batch), sum(len(s) for s in seqs))
    return {"features": features, "query_logits": logits}


def cache_activations(model, tokenizer, device, store: FeatureStore, graded, params):
    """The frozen reads of every answered prompt of one split's graded answers.

    Returns ({name: array in the table's row order}, stats), stats counting the distinct texts
    computed now and those found in the store."""
    tokens = [
        read_tokens(tokenizer, p, a, params["max_length"])
        for p, a in zip(graded["prompt"], graded["answer"], strict=True)
    ]
    keys = [sequence_key(ids) for ids, _ in tokens]
    first = {k: i for i, k in reversed(list(enumerate(keys)))}
    cached = store.lookup(first)
    missing = [k for k in first if k not in cached]
    log.info(
        "%d distinct texts: %d in the store, %d to compute", len(first), len(cached), len(missing)
    )
    computed = compute_reads(
        model,
        tokenizer,
        device,
        [tokens[first[k]][0] for k in missing],
        [tokens[first[k]][1] for k in missing],
        params["layers"],
        params["batch_size"],
    )
    fresh = {k: {n: a[i] for n, a in computed.items()} for i, k in enumerate(missing)}
    store.add(fresh)
    reads = {**cached, **fresh}
    arrays = {n: np.stack([reads[k][n] for k in keys]) for n in computed} if keys else computed
    return arrays, {"distinct": len(first), "reused": len(cached), "computed": len(missing)}
