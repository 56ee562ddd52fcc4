"""Benchmark: the AURC of every grid cell before and after tied scores enter together.

Before (the code of `--old-ref`, taken from git): answers were ranked by a stable sort, so answers
with tied scores entered one by one in row order (question ids), and a binary or discrete score's
AURC depended on that order. Now (the working tree): risk is evaluated at distinct score
thresholds, tied answers enter together. For each cell of a finished run (test split, full
training set, mean over training seeds), printed: the AURC now; before, in the run's row order;
and before, its range over `--permutations` random row orders (one value when no scores tie).

    python bench/aurc_ties.py --results results/default   # [--old-ref REF] [--permutations N]
"""

import argparse
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from crossprobe.evaluation.metrics import aurc  # noqa: E402

OLD_REF = "7cd3833"  # main before the tie-aware AURC


def old_metrics(ref: str) -> types.ModuleType:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{ref}:scripts/crossprobe/metrics.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType("old_metrics")
    exec(compile(source, f"{ref}:metrics.py", "exec"), module.__dict__)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(ROOT / "results/default"))
    parser.add_argument("--old-ref", default=OLD_REF)
    parser.add_argument("--permutations", type=int, default=200)
    args = parser.parse_args()
    old = old_metrics(args.old_ref)
    rng = np.random.default_rng(0)
    scores = pd.concat(
        [pd.read_parquet(p) for p in sorted(Path(args.results).glob("scores/*/on~*.parquet"))]
    )
    test = scores[(scores["split"] == "test") & (scores["n_train"].astype(str) == "all")]
    rows = []
    for (method, model, source), cell in test.groupby(["method", "model", "trained_on"]):
        now, before, low, high = [], [], [], []
        for _, replicate in cell.groupby("seed"):
            y, z = replicate["correct"].to_numpy(), replicate["logodds"].to_numpy()
            now.append(aurc(y, z))
            before.append(old.aurc(y, z))
            shuffled = [rng.permutation(len(y)) for _ in range(args.permutations)]
            values = [old.aurc(y[o], z[o]) for o in shuffled]
            low.append(min(values))
            high.append(max(values))
        rows.append(
            {
                "method": method,
                "model": model,
                "trained_on": source,
                "distinct_scores": cell.groupby("seed")["logodds"].nunique().min(),
                "n": len(cell) // cell["seed"].nunique(),
                "aurc_now": np.mean(now),
                "aurc_before": np.mean(before),
                "before_min": np.mean(low),
                "before_max": np.mean(high),
            }
        )
    table = pd.DataFrame(rows)
    print(
        f"AURC per cell, test split; before = {args.old_ref}, over {args.permutations} row orders"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    moved = (table["before_max"] - table["before_min"]).max()
    print(f"largest spread of the old AURC over row orders: {moved:.3f}")


if __name__ == "__main__":
    main()
