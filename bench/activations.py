"""Benchmark: the activation cache for the default grid against a naive extraction.

Naive = what a straightforward script does: for every (estimator, source) pair and every
example, one forward pass of the full text at batch size 1 with full logits, recomputing texts
that another source (or an earlier pair) already produced. Ours = `cache_activations`: length-sorted
batches, the LM head skipped, and each distinct text computed once per estimator.

Both runs extract the same features (checked); printed: tokens/s of each (tokens of all the grid's
texts divided by wall time) and the ratio.

    snakemake answers            # the graded answers of the default run (results/graded/...)
    python bench/activations.py  # [--limit N] examples per split, [--configfile FILE]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from crossprobe.activations import FeatureStore, cache_activations  # noqa: E402
from crossprobe.lm import encode, load_model  # noqa: E402
from crossprobe.prompts import answered_text  # noqa: E402

SPLITS = ("train", "calibration", "test")


def naive_features(model, tokenizer, frame, layers, max_length):
    out = []
    with torch.inference_mode():
        for prompt, answer in zip(frame["prompt"], frame["answer"], strict=True):
            ids, _ = encode(tokenizer, answered_text(prompt, answer), max_length=max_length)
            hidden = model(torch.tensor([ids]), output_hidden_states=True).hidden_states
            out.append(np.stack([hidden[layer][0, -1].float().numpy() for layer in layers]))
    return np.stack(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default=str(ROOT / "config.yaml"))
    parser.add_argument("--limit", type=int, default=None, help="examples per split")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = yaml.safe_load(Path(args.configfile).read_text())
    params = {"layers": [-1], "batch_size": 16, "max_length": 1024, **config.get("activations", {})}
    models = list(config["models"])
    graded = {}
    for source in models:
        graded[source] = {}
        for split in SPLITS:
            path = ROOT / f"results/graded/{source}/{split}.parquet"
            if not path.is_file():
                sys.exit(f"{path} is missing: run `snakemake answers` first")
            graded[source][split] = pd.read_parquet(path).head(args.limit)
    texts_tokens = 0
    timings = {"ours": 0.0, "naive": 0.0}
    worst = 0.0
    for estimator in models:
        model, tokenizer, device = load_model(
            ROOT / f"results/models/{estimator}/model.json", "cpu", "float32"
        )
        # warm up once so neither side pays the first-call cost
        naive_features(model, tokenizer, graded[models[0]]["test"].head(2), params["layers"], None)
        with tempfile.TemporaryDirectory() as tmp:
            store = FeatureStore(Path(tmp))
            for source in models:
                started = time.perf_counter()
                ours, _, stats = cache_activations(
                    model, tokenizer, device, store, graded[source], params
                )
                timings["ours"] += time.perf_counter() - started
                started = time.perf_counter()
                naive = {
                    s: naive_features(
                        model, tokenizer, graded[source][s], params["layers"], params["max_length"]
                    )
                    for s in SPLITS
                }
                timings["naive"] += time.perf_counter() - started
                for s in SPLITS:
                    scale = np.abs(naive[s]).max()
                    worst = max(
                        worst, float(np.abs(ours[s].astype(np.float32) - naive[s]).max() / scale)
                    )
                    texts_tokens += sum(
                        len(
                            encode(tokenizer, answered_text(p, a), max_length=params["max_length"])[
                                0
                            ]
                        )
                        for p, a in zip(
                            graded[source][s]["prompt"], graded[source][s]["answer"], strict=True
                        )
                    )
                print(
                    f"{estimator} on {source}: {stats['computed']} computed, "
                    f"{stats['reused']} reused"
                )
    print(f"grid texts: {texts_tokens} tokens over {len(models) ** 2} (estimator, source) pairs")
    print(f"max |ours - naive| / max |naive| = {worst:.2e}")
    for name in ("naive", "ours"):
        print(f"{name:>5}: {timings[name]:8.1f} s  {texts_tokens / timings[name]:8.0f} tokens/s")
    print(f"ratio: {timings['naive'] / timings['ours']:.1f}x")
    if worst > 2e-2:
        sys.exit("features differ beyond float16 tolerance")


if __name__ == "__main__":
    main()
