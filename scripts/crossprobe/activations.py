"""The `cache_activations` stage: an estimator's frozen features of a source's answered prompts.

Features are the hidden state at the last token (left padding puts it at position -1) of
prompt + " " + answer, for the configured layers (-1: after the final norm, as in the paper), all
from one forward pass. A per-estimator, content-addressed store keyed by the token ids makes each
distinct text cost one forward pass, whichever source produced it: two models that choose the same
option produce the same text, and a rerun finds it already computed.
"""

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from crossprobe.lm import Throughput, encode, length_sorted_batches, run_batch
from crossprobe.prompts import answered_text

log = logging.getLogger(__name__)


def sequence_key(ids) -> str:
    return hashlib.sha256(np.asarray(ids, dtype=np.int64).tobytes()).hexdigest()[:32]


def store_fingerprint(model_record: dict, params: dict, dtype: torch.dtype) -> str:
    """What makes a stored feature valid: the weights, the layers, truncation and precision."""
    identity = {
        "model": model_record.get("fingerprint", model_record["path"]),
        "layers": list(params["layers"]),
        "max_length": params["max_length"],
        "dtype": str(dtype),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


class FeatureStore:
    """Append-only shards of {sequence key: features}; each shard is written whole, atomically,
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
                    found[key] = tensors["features"][row]
        return found

    def add(self, features: dict) -> None:
        if not features:
            return
        keys = sorted(features)
        name = hashlib.sha256("".join(keys).encode()).hexdigest()[:16]
        tmp = self.root / f".{name}.{os.getpid()}.tmp"
        # the key list is written first: a shard counts only once its .safetensors exists
        (self.root / f"{name}.json").write_text(json.dumps(keys))
        save_file({"features": np.stack([features[k] for k in keys])}, str(tmp))
        tmp.rename(self.root / f"{name}.safetensors")


@torch.inference_mode()
def compute_features(model, tokenizer, device, sequences, layers, batch_size) -> np.ndarray:
    """float16 array (n, len(layers), d) of last-token hidden states."""
    out = [None] * len(sequences)
    meter = Throughput(len(sequences), "activations")
    for batch in length_sorted_batches([len(s) for s in sequences], batch_size):
        seqs = [sequences[i] for i in batch]
        hidden = run_batch(
            model, seqs, tokenizer.pad_token_id, device, hidden_states=True
        ).hidden_states
        stacked = torch.stack([hidden[layer][:, -1].float() for layer in layers], dim=1)
        for row, i in enumerate(batch):
            out[i] = stacked[row].cpu().numpy().astype(np.float16)
        meter.update(len(batch), sum(len(s) for s in seqs))
    if not out:
        return np.zeros((0, len(layers), model.config.hidden_size), dtype=np.float16)
    return np.stack(out)


def cache_activations(model, tokenizer, device, store: FeatureStore, splits: dict, params):
    """Features for every answered prompt of `splits` ({split: graded answers table}).

    Returns ({split: array}, {split: question ids}, stats) where stats counts the distinct
    sequences computed now and those found in the store."""
    encoded = {
        name: [
            encode(tokenizer, answered_text(p, a), max_length=params["max_length"])[0]
            for p, a in zip(frame["prompt"], frame["answer"], strict=True)
        ]
        for name, frame in splits.items()
    }
    keyed = {sequence_key(ids): ids for seqs in encoded.values() for ids in seqs}
    cached = store.lookup(keyed)
    missing = [k for k in keyed if k not in cached]
    log.info(
        "%d distinct sequences: %d in the store, %d to compute",
        len(keyed),
        len(cached),
        len(missing),
    )
    computed = compute_features(
        model,
        tokenizer,
        device,
        [keyed[k] for k in missing],
        params["layers"],
        params["batch_size"],
    )
    fresh = dict(zip(missing, computed, strict=True))
    store.add(fresh)
    features = {**cached, **fresh}
    arrays = {
        name: np.stack([features[sequence_key(ids)] for ids in seqs])
        for name, seqs in encoded.items()
    }
    ids = {name: frame["question_id"].tolist() for name, frame in splits.items()}
    return arrays, ids, {"distinct": len(keyed), "reused": len(cached), "computed": len(missing)}
