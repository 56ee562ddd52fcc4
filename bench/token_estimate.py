"""Benchmark: the plan's stand-in tokenizer against models' own, on the paper preset's MMLU-OE
test prompts (all 14,042, built from the shipped data as prepare_questions builds them).

Per tokenizer: the prompts' token lengths (mean, median, longest), how many prompts would lose
solved examples at `answers.max_length` 2,048 and 4,096 (with the preset's 100 new tokens
reserved: those too long lose their first shots), and the stand-in's length over each
tokenizer's, per prompt (mean, range): how far the plan's `stand-in tokenizer` estimate is from
a model's own count.

    python bench/token_estimate.py --tokenizer llama2=PATH/ggml-vocab-llama-spm.gguf
        # a tokenizer folder, tokenizer.json's folder or a .gguf; the stand-in always runs
"""

import argparse

import numpy as np

from crossprobe.contract.splits import split_params
from crossprobe.intake.packages import package_file
from crossprobe.intake.questions import prepare_questions
from crossprobe.models.tokens import load_tokenizer
from crossprobe.plan.texts import STAND_IN

from finished import ROOT, FinishedRun

RESERVED = 100  # the preset's new tokens for MMLU answers


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", action="append", default=[], metavar="NAME=PATH")
    args = parser.parse_args()
    config = FinishedRun(ROOT / "configs/paper.yaml").config
    questions = prepare_questions(split_params(config["data"], config["seed"], "test"), "test")
    prompts = list(questions["prompt"])
    tokenizers = {"stand-in (SmolLM2)": str(package_file(*STAND_IN))}
    tokenizers |= dict(item.split("=", 1) for item in args.tokenizer)
    lengths = {}
    for name, where in tokenizers.items():
        encoded = load_tokenizer(where)(prompts, add_special_tokens=True)["input_ids"]
        lengths[name] = np.array([len(ids) for ids in encoded])
    stand_in = lengths["stand-in (SmolLM2)"]
    print(f"{len(prompts)} MMLU-OE test prompts (5-shot), {RESERVED} new tokens reserved")
    print(
        "| tokenizer | mean | median | longest | lose shots at 2,048 | at 4,096 | stand-in / it |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, n in lengths.items():
        ratio = stand_in / n
        print(
            f"| {name} | {n.mean():.0f} | {np.median(n):.0f} | {n.max()} | "
            f"{int((n + RESERVED > 2048).sum())} | {int((n + RESERVED > 4096).sum())} | "
            f"{ratio.mean():.3f} ({ratio.min():.2f}-{ratio.max():.2f}) |"
        )


if __name__ == "__main__":
    main()
