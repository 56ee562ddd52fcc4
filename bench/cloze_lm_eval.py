"""Benchmark: our cloze scoring against lm-evaluation-harness's `HFLM.loglikelihood`, side by
side in one process on the same model object (same dtype, same threads) and the same
(prompt, " " + option) pairs of the default run's test questions.

Each implementation runs `--rounds` times, alternating, after one warm-up on a few questions;
the fastest round of each is compared. Printed per model: seconds of each, lm-eval/ours, how
often the chosen option is the same (the option with the best mean token log-probability; the
token counts are ours for both), and the largest difference of the summed option log-probs.

lm-eval is a bench-only dependency (`pip install -r bench/requirements.txt`), not the workflow's.

    snakemake --cores all answers      # the default run's models and questions
    python bench/cloze_lm_eval.py      # [--directory DIR] [--questions N] [--threads T] [--dtype D]
"""

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from crossprobe.answers.answering import answer_cloze, cloze_tokens
from crossprobe.contract import paths
from crossprobe.contract.formats import FORMATS
from crossprobe.models.lm import load_model
from crossprobe.models.precision import resolve

from finished import FinishedRun

BATCH = 16
MAX_LENGTH = 1024


def ours(model, tokenizer, device, questions) -> list[list[float]]:
    """Summed log-prob of each option's own tokens, from our mean and its token count."""
    cloze = FORMATS["mc_cloze"]
    params = {"batch_size": BATCH, "max_length": MAX_LENGTH}
    means = answer_cloze(model, tokenizer, device, questions, cloze, params)[2]
    return [
        [m * n for m, n in zip(per_q, own_counts(tokenizer, row), strict=True)]
        for per_q, (_, row) in zip(means, questions.iterrows(), strict=True)
    ]


def own_counts(tokenizer, row) -> list[int]:
    return cloze_tokens(tokenizer, row["prompt"], list(row["choices"]), MAX_LENGTH)[2]


def lm_eval(harness, questions) -> list[list[float]]:
    from lm_eval.api.instance import Instance

    requests = [
        Instance("loglikelihood", doc={}, arguments=(row["prompt"], " " + option), idx=k)
        for _, row in questions.iterrows()
        for k, option in enumerate(row["choices"])
    ]
    flat = iter(lp for lp, _ in harness.loglikelihood(requests, disable_tqdm=True))
    return [[next(flat) for _ in row["choices"]] for _, row in questions.iterrows()]


def compare(model_json: Path, questions: pd.DataFrame, rounds: int, dtype: str) -> dict:
    from lm_eval.models.huggingface import HFLM

    model, tokenizer, device = load_model(model_json, "cpu", dtype)
    harness = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=BATCH, max_length=MAX_LENGTH)
    runs = {
        "ours": lambda q: ours(model, tokenizer, device, q),
        "lm-eval": lambda q: lm_eval(harness, q),
    }
    seconds = {name: [] for name in runs}
    out = {}
    for run in runs.values():
        run(questions.head(4))  # a process's first passes are slower: pay them first
    for _ in range(rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            out[name] = run(questions)
            seconds[name].append(time.perf_counter() - started)
    counts = [own_counts(tokenizer, row) for _, row in questions.iterrows()]
    chosen = {
        name: [
            int(np.argmax(np.asarray(s) / np.asarray(n))) for s, n in zip(sums, counts, strict=True)
        ]
        for name, sums in out.items()
    }
    flat = {name: np.concatenate([np.asarray(s) for s in sums]) for name, sums in out.items()}
    return {
        "dtype": resolve(dtype, device, model.config.get_text_config().hidden_size)[0],
        "pairs": len(flat["ours"]),
        "ours": min(seconds["ours"]),
        "lm-eval": min(seconds["lm-eval"]),
        "same_choice": float(np.mean(np.equal(chosen["ours"], chosen["lm-eval"]))),
        "max_diff": float(np.max(np.abs(flat["ours"] - flat["lm-eval"]))),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    FinishedRun.arguments(parser)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dtype", default="auto", help="auto (the run's choice), float32, ...")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = FinishedRun.of(args)
    questions = pd.read_parquet(run.path(paths.QUESTIONS, split="test")).head(args.questions)
    print(
        f"{args.questions} questions, {args.threads} threads, batch {BATCH}, best of {args.rounds}"
    )
    for model in run.models():
        r = compare(run.path(paths.MODEL, model=model), questions, args.rounds, args.dtype)
        print(
            f"{model:>8} ({r['dtype']}, {r['pairs']} pairs): "
            f"ours {r['ours']:5.1f} s, "
            f"lm-eval {r['lm-eval']:5.1f} s, lm-eval/ours {r['lm-eval'] / r['ours']:.2f}x, "
            f"same choice {r['same_choice']:.1%}, max |Δ summed log-prob| {r['max_diff']:.1e}"
        )


if __name__ == "__main__":
    main()
