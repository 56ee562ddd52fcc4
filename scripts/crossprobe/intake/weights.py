"""Where a model's weights come from (`models.<id>.weights`): a hub repository, a local
directory, or a GGUF file inside a Python package; and an identity of the weights themselves.

Torch-free on purpose: the workflow calls `check_weights` while it builds the DAG, so a missing
package, file or directory fails before any job runs.
"""

import hashlib
import importlib.metadata
import json
import shutil
from pathlib import Path

from crossprobe.intake.packages import PackageFileError, package_file

KINDS = ("hub", "local", "gguf")


class WeightsError(ValueError):
    """Weights that cannot be resolved; the message names the config key."""


def weights_kind(weights: dict) -> str:
    for kind in KINDS:
        if kind in weights:
            return kind
    raise WeightsError(f"weights {weights!r} name none of {' / '.join(KINDS)}")


def local_files(directory) -> list[Path]:
    """The files of a local model directory (what its identity and its reruns depend on)."""
    return sorted(p for p in Path(directory).iterdir() if p.is_file())


def check_weights(key: str, weights: dict) -> None:
    """Fail early, naming `key`, when local or packaged weights are missing."""
    kind = weights_kind(weights)
    try:
        if kind == "local":
            path = Path(weights["local"])
            if not (path / "config.json").is_file():
                raise WeightsError(f"{path} is not a model directory (no config.json)")
        elif kind == "gguf":
            gguf = weights["gguf"]
            for part in gguf.get("parts") or [gguf]:
                package_file(part["package"], part["file"])
    except (WeightsError, PackageFileError) as err:
        raise WeightsError(f"{key}: {err}") from None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def materialise_gguf(gguf: dict, workdir: Path) -> Path:
    """The GGUF file on disk: shipped whole, or joined from parts (checked against its sha256)."""
    if not gguf.get("parts"):
        return package_file(gguf["package"], gguf["file"])
    target = Path(workdir) / gguf["file"]
    partial = target.with_suffix(".partial")
    with open(partial, "wb") as out:
        for part in gguf["parts"]:
            with open(package_file(part["package"], part["file"]), "rb") as chunk:
                shutil.copyfileobj(chunk, out)
    expected = gguf.get("sha256")
    if expected and sha256_of(partial) != expected:
        partial.unlink()
        raise WeightsError(f"joined {gguf['file']} does not match sha256 {expected}")
    partial.rename(target)
    return target


def weights_fingerprint(weights: dict, record: dict) -> str:
    """Identity of the weights a prepared model record points at.

    hub: the repository and the commit its snapshot resolved to; gguf: the spec and the installed
    versions of its packages; local: the name, size and sha256 of every file in the directory, so
    that weights replaced under the same path get a new identity (caches keyed by it then miss).
    Hashing is paid once per `prepare_model` run, which Snakemake repeats when the files change.
    """
    kind = weights_kind(weights)
    identity: dict = {"weights": weights}
    if kind == "hub":
        identity["commit"] = Path(record["path"]).name
    elif kind == "gguf":
        parts = weights["gguf"].get("parts") or [weights["gguf"]]
        identity["versions"] = {
            p["package"]: importlib.metadata.version(p["package"]) for p in parts
        }
    else:
        identity["files"] = [
            [p.name, p.stat().st_size, sha256_of(p)] for p in local_files(record["path"])
        ]
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
