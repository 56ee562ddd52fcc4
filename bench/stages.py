"""Benchmark: the stages this workflow changed, old and new side by side on the same questions.

- cloze answering: the earlier code ran each (prompt, option) pair as its own sequence; now a
  question's prompt and all its options run as one row (each option masked from the others),
  and the LM head is applied only where a token is predicted.
- reads: the earlier code ran one pass for the probe's features (answered prompt) and another
  for the zero-shot query (answered prompt + query); now one pass over the query text gives both.

The old code is taken from git (`--old-ref`, the commit before the change) into a temporary
folder; each (stage, implementation, model) runs in its own process (same threads, model loaded
and warmed up before timing), alternating old and new. Printed: seconds of each, the old/new
ratio, and the largest difference between their outputs relative to the largest output.

    snakemake answers               # graded answers of the default run
    python bench/stages.py          # [--old-ref REF] [--stages cloze reads] [--questions N]
                                    # [--dtype D] [--results DIR]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OLD_REF = "011cb78"  # main before the per-split DAG and the shared passes
STAGES = {"cloze": "questions/test.parquet", "reads": "graded/{model}/train.parquet"}  # inputs


def staged_layout() -> dict:
    """The functions timed, from the package on sys.path: the staged layout of today, or the
    flat one of the old code."""
    try:
        from crossprobe.answers.answering import answer_cloze
        from crossprobe.contract.formats import FORMATS
        from crossprobe.models.lm import load_model
        from crossprobe.models.store import FeatureStore
        from crossprobe.reads.activations import cache_activations
    except ImportError:
        from crossprobe.activations import FeatureStore, cache_activations
        from crossprobe.answering import answer_cloze
        from crossprobe.lm import load_model

        FORMATS = None
    return {
        "answer_cloze": answer_cloze,
        "FORMATS": FORMATS,
        "load_model": load_model,
        "FeatureStore": FeatureStore,
        "cache_activations": cache_activations,
    }


def worker(args) -> dict:
    """Time one stage of one implementation (the crossprobe on sys.path) on one model."""
    import numpy as np
    import pandas as pd
    import torch

    torch.set_num_threads(args.threads)
    layout = staged_layout()
    load_model = layout["load_model"]

    staged = layout["FORMATS"] is not None  # the old ref may be staged too (--old-ref)
    model, tokenizer, device = load_model(
        json.loads(Path(args.model_json).read_text()), "cpu", args.dtype
    )
    table = pd.read_parquet(args.table).head(args.questions)
    if args.stage == "cloze":
        answer_cloze = layout["answer_cloze"]

        def run(frame):
            if staged:
                cloze, params = (
                    layout["FORMATS"]["mc_cloze"],
                    {"batch_size": 16, "max_length": 1024},
                )
                scores = answer_cloze(model, tokenizer, device, frame, cloze, params)[2]
            else:
                scores = answer_cloze(model, tokenizer, device, frame, 16, 1024)[2]
            return np.asarray(sum(scores, []))

    else:
        FeatureStore, cache_activations = layout["FeatureStore"], layout["cache_activations"]
        params = {"layers": [-1], "batch_size": 16, "max_length": 1024}

        def run(frame):
            with tempfile.TemporaryDirectory() as tmp:
                store = FeatureStore(Path(tmp))
                if staged:
                    reads, _ = cache_activations(model, tokenizer, device, store, frame, params)
                    logits = reads["query_logits"].astype(np.float64)
                    return np.concatenate(
                        [reads["answer_features"].reshape(-1), logits[:, 1] - logits[:, 0]]
                    )
                from crossprobe.calibration import logit
                from crossprobe.lora import query_p_correct, query_sequences

                arrays, _, _ = cache_activations(
                    model, tokenizer, device, store, {"x": frame}, params
                )
                seqs, _ = query_sequences(tokenizer, frame["prompt"], frame["answer"], 1024)
                p = query_p_correct(model, tokenizer, device, seqs, 16)
                return np.concatenate([arrays["x"].reshape(-1), logit(p)])

    run(table.head(4))  # the first forward passes of a process are slower: pay them first
    started = time.perf_counter()
    out = run(table)
    return {"seconds": time.perf_counter() - started, "output": out.astype(float).tolist()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-ref", default=OLD_REF)
    parser.add_argument("--results", default=str(ROOT / "results/default"))
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", default="float32", help="float32, auto (the run's choice), ...")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--worker", choices=STAGES, dest="stage")
    parser.add_argument("--model-json")
    parser.add_argument("--table")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.stage:
        Path(args.out).write_text(json.dumps(worker(args)))
        return
    import numpy as np

    results = Path(args.results)
    models = sorted(p.parent.name for p in results.glob("models/*/model.json"))
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        old.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.old_ref, "scripts/crossprobe"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        print(f"old: {args.old_ref}, new: the working tree; {args.questions} questions, ", end="")
        print(f"{args.threads} threads, {args.dtype}")
        for stage in args.stages:
            table = STAGES[stage]
            for model in models:
                timed = {}
                for impl, scripts in (("old", old / "scripts"), ("new", ROOT / "scripts")):
                    out = Path(tmp) / f"{stage}-{impl}-{model}.json"
                    subprocess.run(
                        [
                            sys.executable,
                            __file__,
                            "--worker",
                            stage,
                            "--model-json",
                            str(results / f"models/{model}/model.json"),
                            "--table",
                            str(results / table.format(model=model)),
                            "--questions",
                            str(args.questions),
                            "--threads",
                            str(args.threads),
                            "--dtype",
                            args.dtype,
                            "--out",
                            str(out),
                        ],
                        env={**os.environ, "PYTHONPATH": str(scripts)},
                        check=True,
                        capture_output=True,
                    )
                    timed[impl] = json.loads(out.read_text())
                before, after = (
                    np.asarray(timed["old"]["output"]),
                    np.asarray(timed["new"]["output"]),
                )
                diff = np.max(np.abs(before - after)) / np.max(np.abs(before))
                seconds = {impl: timed[impl]["seconds"] for impl in timed}
                print(
                    f"{stage:>5} {model:>8}: old {seconds['old']:6.1f} s, "
                    f"new {seconds['new']:6.1f} s, old/new {seconds['old'] / seconds['new']:.2f}x, "
                    f"max |old - new| / max |old| {diff:.1e}"
                )


if __name__ == "__main__":
    main()
