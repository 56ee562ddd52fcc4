"""LoRA + Prompt adapters trained elsewhere (`models.<id>.lora.adapter`, e.g. the authors'
released calibration-tuning/<Model>-ct-oe): where they come from (a hub repository at a
revision, or a local folder, as a model's weights do), checked against the estimator's base
model, and written where the adapters trained here are (`crossprobe.contract.paths.ADAPTER`), so
that scoring reads them exactly as it reads its own.

The authors' adapters carry more than LoRA weights. Their code adds a pad token to the tokenizer
and grows the model's token embeddings by its row (llm/models/llm_model_utils.py), so peft saved
both embedding tables beside the LoRA weights: 32,001 rows in bfloat16, what the 531 and 533 MB
of their adapter_model.safetensors hold. Those tables are the base model's own plus the pad
token's row, which no text scored here contains: the adapter written here keeps the LoRA
weights, and its record says which tables it left out and whether their other rows are the
base's.

Torch-free but for `prepare_adapter`: the workflow checks a local adapter while it builds the DAG.
"""

import json
import shutil
from pathlib import Path

from crossprobe.intake.weights import WeightsError, hub_snapshot, sha256_of

CONFIG_FILE, WEIGHTS_FILE = "adapter_config.json", "adapter_model.safetensors"
ADAPTER_FILES = (CONFIG_FILE, WEIGHTS_FILE)
PEFT_PREFIX = "base_model.model."  # peft's name of the base model's modules in its state dict
TABLES = ("embed_tokens.weight", "lm_head.weight")  # the embedding tables peft may save


def adapter_patterns(files) -> list[str]:
    """What of an adapter's hub repository scoring needs (not its README, not the authors'
    temperature_model.pt: a temperature is fitted here per cell)."""
    return list(ADAPTER_FILES)


def adapter_folder(source: dict, key: str) -> Path:
    """The folder of an adapter's files: its hub snapshot (downloaded, or from the cache where
    HF_HUB_OFFLINE is set) or its local folder; `key` names it in errors."""
    if "hub" in source:
        return Path(hub_snapshot(source, key, adapter_patterns))
    return Path(source["local"])


def adapter_name(source: dict) -> str:
    """An adapter as messages and tables name it: its hub id at its revision, or its folder."""
    if "hub" in source:
        return f"{source['hub']}@{source.get('revision') or 'main'}"
    return source["local"]


def read_adapter_config(folder: Path, source: dict, key: str) -> dict:
    missing = [name for name in ADAPTER_FILES if not (Path(folder) / name).is_file()]
    if missing:
        raise WeightsError(
            f"{key}: {adapter_name(source)} is not a peft adapter (no {', '.join(missing)}; "
            "expected the folder peft's save_pretrained writes)"
        )
    return json.loads((Path(folder) / CONFIG_FILE).read_text())


def same_base(named: str, hub: str) -> bool:
    """Whether the base model an adapter's config names is the hub repository `hub`: the same
    id (hub ids resolve regardless of case), or, where it names a folder of the machine it was
    trained on, a folder of the repository's name."""
    named = named.rstrip("/")
    if named.count("/") == 1 and not named.startswith((".", "~")):
        return named.casefold() == hub.casefold()
    return named.split("/")[-1].casefold() == hub.split("/")[-1].casefold()


def check_base(found: dict, source: dict, weights: dict, key: str, weights_key: str) -> str:
    """Refuse an adapter that is no LoRA adapter, or whose config names another base model
    than the estimator's hub weights, naming both; else say what was compared. A local or
    packaged model has no hub id to compare (its folder may hold any model): not compared, and
    the record says so. Revisions are not compared: peft records none of the base's."""
    if found.get("peft_type") != "LORA":
        raise WeightsError(
            f"{key}: {adapter_name(source)} is a {found.get('peft_type')} adapter (expected LoRA)"
        )
    base = found.get("base_model_name_or_path") or "an unnamed base model"
    if "hub" not in weights:
        return f"not compared: {weights_key} is no hub repository ({base} named)"
    if not same_base(base, weights["hub"]):
        raise WeightsError(
            f"{key}: {adapter_name(source)} was trained on {base}, but {weights_key} is "
            f"{weights['hub']} (expected an adapter trained on {weights['hub']})"
        )
    return f"{base} is {weights_key}.hub"


def check_adapter(source: dict, weights: dict, key: str, weights_key: str) -> None:
    """At DAG build: a local adapter is a peft LoRA adapter of the estimator's base (a hub
    adapter is checked where it is downloaded, by prepare_adapter)."""
    if "local" in source:
        found = read_adapter_config(Path(source["local"]), source, key)
        check_base(found, source, weights, key, weights_key)


def base_tensors(folder, names) -> dict:
    """The tensors `names` of a model checkpoint folder's safetensors files."""
    from safetensors import safe_open

    found = {}
    for path in sorted(Path(folder).glob("*.safetensors")):
        with safe_open(str(path), "pt") as checkpoint:
            for name in set(names) & set(checkpoint.keys()):
                found[name] = checkpoint.get_tensor(name)
    return found


def table_record(saved, base) -> dict:
    """What an embedding table an adapter carries is, against the base model's own."""
    import torch

    record = {"rows": saved.shape[0], "dtype": str(saved.dtype).removeprefix("torch.")}
    if base is None:
        return record | {"base_rows": None, "same_as_base": None}
    rows = base.shape[0]
    same = (
        saved.shape[0] >= rows
        and saved.shape[1:] == base.shape[1:]
        and torch.equal(saved[:rows], base.to(saved.dtype))
    )
    return record | {"base_rows": rows, "same_as_base": bool(same)}


def prepare_adapter(
    source: dict, weights: dict, base_folder, out_dir, key: str, weights_key: str
) -> dict:
    """Write the adapter `source` of the model whose checkpoint is in `base_folder` into
    `out_dir` as peft writes the adapters trained here (its config, its LoRA weights), after
    `check_base`; the record of what it is and what was checked. Embedding tables it carries
    are left out (see the module's docstring); any other tensor that is no LoRA weight is
    refused, since scoring would not load it."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    folder = adapter_folder(source, key)
    found = read_adapter_config(folder, source, key)
    verdict = check_base(found, source, weights, key, weights_key)
    lora, tables = {}, {}
    with safe_open(str(folder / WEIGHTS_FILE), "pt") as adapter:
        for name in adapter.keys():
            if ".lora_" in name:
                lora[name] = adapter.get_tensor(name)
            elif name.endswith(TABLES):
                tables[name] = adapter.get_tensor(name)
            else:
                raise WeightsError(
                    f"{key}: {adapter_name(source)} carries {name}, neither a LoRA weight nor an "
                    "embedding table (expected a LoRA adapter scoring can load)"
                )
    if not lora:
        raise WeightsError(f"{key}: {adapter_name(source)} holds no LoRA weights")
    base = base_tensors(base_folder, [n.removeprefix(PEFT_PREFIX) for n in tables])
    left_out = {
        n: table_record(t, base.get(n.removeprefix(PEFT_PREFIX))) for n, t in tables.items()
    }
    out_dir = Path(out_dir)
    tmp_dir = out_dir.with_name(f".{out_dir.name}.tmp")
    tmp_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(folder / CONFIG_FILE, tmp_dir / CONFIG_FILE)
    save_file(lora, str(tmp_dir / WEIGHTS_FILE), metadata={"format": "pt"})
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ADAPTER_FILES:
        (tmp_dir / name).rename(out_dir / name)
    shutil.rmtree(tmp_dir)
    return {
        "source": source,
        "folder": str(folder),
        "commit": folder.name if "hub" in source else None,
        "base_model": found.get("base_model_name_or_path"),
        "base_check": verdict,
        "base_compared": "hub" in weights,
        "sha256": {name: sha256_of(folder / name) for name in ADAPTER_FILES},
        "lora_weights": len(lora),
        "tables_left_out": left_out,
    }
