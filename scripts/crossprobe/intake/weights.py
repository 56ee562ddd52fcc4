"""Where a model's weights come from (`models.<id>.weights`): a hub repository, a local
directory, or a GGUF file inside a Python package; and an identity of the weights themselves.
An adapter trained elsewhere comes from the same places but a package
(`crossprobe.intake.adapters`).

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


# What loading a model needs from its hub repository (besides the weights)
LOADING_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer*",
    "special_tokens_map.json",
    "added_tokens.json",
    "*.model",
    "chat_template*",
)


def weight_patterns(files) -> list[str]:
    """The files of a hub repository that loading needs: config, generation config, tokenizer,
    and the safetensors weights where the repository has them (the PyTorch .bin copies only
    where it has none; many repositories ship both, doubling a download)."""
    safetensors = any(f.endswith(".safetensors") for f in files)
    weights = (
        ("*.safetensors", "*.safetensors.index.json")
        if safetensors
        else ("*.bin", "*.bin.index.json")
    )
    return list(LOADING_FILES + weights)


def hub_snapshot(weights: dict, key: str, patterns=weight_patterns) -> str:
    """The local folder of a hub repository's files at its pinned revision (`weights`: {hub,
    revision}, a model's or an adapter's), downloading only the files `patterns(the
    repository's files)` match, by default what loading a model needs (or, with HF_HUB_OFFLINE
    set, the snapshot already in the cache). Gated, missing and uncached repositories fail with
    what to do, naming `key`."""
    from huggingface_hub import HfApi, constants, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    repo, revision = weights["hub"], weights.get("revision")
    try:
        if constants.HF_HUB_OFFLINE:
            return snapshot_download(repo, revision=revision, local_files_only=True)
        files = HfApi().list_repo_files(repo, revision=revision)
        return snapshot_download(repo, revision=revision, allow_patterns=patterns(files))
    except GatedRepoError:
        raise WeightsError(
            f"{key}: {repo} is gated: accept its licence at https://huggingface.co/{repo} with "
            "your account, then log in where the workflow runs (hf auth login, or set "
            "HF_TOKEN)"
        ) from None
    except RepositoryNotFoundError:
        raise WeightsError(
            f"{key}: {repo} is not on the hub (or is private: log in with hf auth login "
            "or HF_TOKEN)"
        ) from None
    except RevisionNotFoundError:
        raise WeightsError(f"{key}: {repo} has no revision {revision!r}") from None
    except LocalEntryNotFoundError:
        raise WeightsError(
            f"{key}: {repo}@{revision or 'main'} is not in the local hub cache "
            f"({constants.HF_HUB_CACHE}) and HF_HUB_OFFLINE is set: run `snakemake download` "
            f"where the hub is reachable (same cache), or point {key} at a local folder"
        ) from None
