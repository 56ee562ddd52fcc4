"""A content-addressed store of per-text results (cached reads, judge verdicts): each distinct
token sequence costs one model run, whichever job or split asks for it."""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file


def sequence_key(ids) -> str:
    return hashlib.sha256(np.asarray(ids, dtype=np.int64).tobytes()).hexdigest()[:32]


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
