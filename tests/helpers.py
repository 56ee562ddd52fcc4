"""What the tests share: tiny randomly initialised causal LMs with real tokenizers, saved as local
model directories; a copy of the workflow with a config and a way to run it through the Snakemake
Python API; and the texts and LoRA settings the model-stage tests train and score on."""

import os
import shutil
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CORPUS = [
    "Question: Which gas do plants absorb from the air?\nAnswer: carbon dioxide",
    "Is the proposed answer correct?\nChoices:\n(i): no\n(ii): yes\nAnswer: i ii",
    "A. B. C. D. E. Yes No yes no the of a an and water heat light sound energy",
    "Answer: A Answer: B Answer: C Answer: D Answer: E",
    "The following are questions (with answers) about physics.",
]


def build_tokenizer(vocab_size: int = 600, corpus=CORPUS):
    """A real byte-level BPE tokenizer trained on a few sentences."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        corpus * 20,
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=["<pad>", "<s>", "</s>"],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )


def build_sentencepiece_tokenizer(vocab_size: int = 400, corpus=CORPUS):
    """A real Llama/Mistral-style tokenizer (BPE with byte fallback behind a Metaspace
    pre-tokenizer that prepends "▁" to the first word): tokenising a piece of text on its own
    gives it a leading "▁" that the same text inside a longer string does not have."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    bpe.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    bpe.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"], initial_alphabet=["▁"]
    )
    bpe.train_from_iterator(corpus * 20, trainer)
    bpe.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", bpe.token_to_id("<s>"))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<unk>",
    )


def build_tiny_model(
    path: Path,
    family: str = "llama",
    seed: int = 0,
    hidden: int = 32,
    tokenizer=None,
    layers: int = 2,
):
    """Save a tiny random model of `family` with a real tokenizer to `path` (save_pretrained)."""
    import torch
    from transformers import AutoModelForCausalLM, Gemma3TextConfig, LlamaConfig

    tokenizer = tokenizer or build_tokenizer()
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    if family == "gemma3":
        config = Gemma3TextConfig(head_dim=8, sliding_window=64, **common)
    else:
        config = LlamaConfig(**common)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def tiny_config(models: dict, names=("tiny_a", "tiny_b")) -> dict:
    """A complete workflow config on tiny models and real data, small enough for CI."""
    return {
        "seed": 0,
        "models": {
            n: {"display_name": n.replace("_", "-").upper(), "weights": {"local": str(models[n])}}
            for n in names
        },
        "data": {
            "splits": {
                "train": {"datasets": ["arc_easy", "sciq"], "size": 24},
                "calibration": {"datasets": ["arc_easy", "sciq"], "size": 12},
                "test": {"datasets": ["arc_easy", "sciq"], "size": 16},
            }
        },
        "answers": {"batch_size": 8, "max_length": 256},
        "activations": {"batch_size": 8, "max_length": 256},
        "probe": {
            "kind": "mlp",
            "seeds": [0, 1],
            "resamples": 10,
            "mlp": {"max_steps": 20, "eval_every": 5, "patience": 2},
        },
        "lora": {"max_steps": 2, "batch_size": 4, "max_length": 256, "log_every": 1},
        # 999: (B + 1) x 0.05 is whole, the exact Monte Carlo rule's boundary case
        "evaluation": {"bootstrap": 999},
        "resources": {"model_threads": 1, "model_mem_mb": 1000, "model_runtime": 10},
    }


def make_workdir(path: Path, config: dict) -> Path:
    """A copy of the workflow (Snakefile, rules, scripts, schemas, profiles, configs and its
    reference tables) with `config`."""
    path.mkdir(parents=True, exist_ok=True)
    for item in (
        "Snakefile",
        "rules",
        "scripts",
        "schemas",
        "envs",
        "report",
        "profiles",
        "configs",
    ):
        source = REPO / item
        if source.is_dir():
            shutil.copytree(
                source,
                path / item,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__"),
            )
        else:
            shutil.copy2(source, path / item)
    write_config(path, config)
    return path


def write_config(path: Path, config: dict) -> None:
    (path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def run_workflow(workdir: Path, targets=("all",), cores: int = 2) -> set[str]:
    """Run the workflow in `workdir` through the Snakemake API; the files it (re)built."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        ResourceSettings,
    )

    updated: list[str] = []
    cwd = os.getcwd()
    try:
        with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
            workflow = api.workflow(
                resource_settings=ResourceSettings(cores=cores),
                config_settings=ConfigSettings(configfiles=[workdir / "config.yaml"]),
                snakefile=workdir / "Snakefile",
                workdir=workdir,
            )
            dag = workflow.dag(DAGSettings(targets=set(targets)))
            dag.execute_workflow(executor="local", updated_files=updated)
    finally:
        os.chdir(cwd)
    return {str(Path(f)) for f in updated}


# LoRA settings and texts the model-stage tests train and score on
LORA = {
    "r": 4,
    "alpha": 16,
    "dropout": 0.0,
    "target_modules": ["q_proj", "v_proj"],
    "lr": 5e-3,
    "weight_decay": 0.0,
    "warmup_steps": 0,
    "batch_size": 4,
    "grad_accum": 2,
    "max_steps": 1,
    "epochs": None,
    "eval_every": 0,
    "max_length": 128,
    "js_weight": 0.0,
    "js_tokens": "gold",
    "log_every": 1,
    "score_batch_size": 3,
    "batches_per_bucket": 8,
}
PROMPTS = [f"Question: number {i}?\nAnswer:" for i in range(8)]
ANSWERS = ["heat", "light", "salt", "water", "sound", "energy", "the", "heat"]
LABELS = [1, 0, 1, 0, 1, 0, 1, 0]
RESUMED = {**LORA, "dropout": 0.1, "batch_size": 3, "max_steps": 6, "lr": 5e-3, "warmup_steps": 2}


def column_tables(
    n=200,
    seed=0,
    noise=(1.0, 1.0),
    seeds=(0,),
    subjects=2,
    resamples=0,
    training_sd=0.0,
    training_shift=0.0,
) -> dict:
    """Score tables of one column ({method: table}): two estimators (a, b) of one method, with
    replicates (each seed, fitted on the training answers and on `resamples` resamples of them:
    each resample scales the signal by 1 + `training_shift` + N(0, `training_sd`)), on n
    calibration and n test answers."""
    import numpy as np
    import pandas as pd

    from crossprobe.scores.calibration import scores_table

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 2 * n)
    strength = np.r_[1.0, 1 + training_shift + rng.normal(0, training_sd, resamples)]
    frames = []
    for model, sd in zip(("a", "b"), noise, strict=True):
        for resample, signal in enumerate(strength):
            for s in seeds:
                z = signal * (2 * y - 1) + rng.normal(0, sd, 2 * n)
                raw = pd.DataFrame(
                    {
                        "split": ["calibration"] * n + ["test"] * n,
                        "question_id": [f"q{i}" for i in range(2 * n)],
                        "subject": [f"s{i % subjects}" for i in range(2 * n)],
                        "correct": y,
                        "logodds_raw": z,
                    }
                )
                frames.append(
                    scores_table(raw).assign(
                        method="probe",
                        model=model,
                        trained_on="a",
                        n_train="all",
                        recipe="grid",
                        seed=s,
                        resample=resample,
                    )
                )
    return {"probe": pd.concat(frames, ignore_index=True)}


EVALUATION_PARAMS = {  # evaluate_column's params
    "bootstrap": 1000,
    "ci": 0.95,
    "ece_bins": 10,
    "seed": 0,
    "min_class_answers": 1,
}
