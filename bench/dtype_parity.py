"""Benchmark: does a run in bfloat16 say what the float32 run says, and how much faster is it?

Compares two finished runs of the same config (same questions), one whose model jobs ran in
float32 and one in a bfloat16 format (`dtype: auto` on a CPU where bf16 measures faster runs
bfloat16-linear; or `models.<id>.dtype` set), file by file:

- answers: the share of questions on which each model chose the same option (target >= 99 %),
  and the largest difference of the option scores (mean token log-probabilities);
- reads: the largest difference of the cached features relative to their largest magnitude, and
  of the zero-shot query's log-odds;
- the grid: whether every headline AUROC of the bf16 run lies in the float32 run's bootstrap
  interval of the same cell;
- speed: each model task's seconds (from `benchmarks/`) in both runs and their ratio.

    python bench/dtype_parity.py --float32 RESULTS BENCHMARKS --bfloat16 RESULTS BENCHMARKS
"""

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from crossprobe.contract.model_tasks import MODEL_RULES
from crossprobe.reads.features import load_reads

ROOT = Path(__file__).resolve().parents[1]

TIMED = MODEL_RULES + ("prepare_model",)  # the rules whose seconds are compared


def dtype_of(results: Path) -> str:
    provenance = next(results.glob("answers/*/test.parquet.provenance.json"))
    return json.loads(provenance.read_text()).get("precision", {}).get("dtype", "float32")


def answers(full: Path, half: Path) -> pd.DataFrame:
    rows = []
    for path in sorted(full.glob("answers/*/*.parquet")):
        other = half / path.relative_to(full)
        a, b = pd.read_parquet(path), pd.read_parquet(other)
        assert a["question_id"].tolist() == b["question_id"].tolist(), path
        scores = [
            np.abs(np.asarray(x) - np.asarray(y)).max()
            for x, y in zip(a["option_scores"], b["option_scores"], strict=True)
            if len(x)
        ]
        rows.append(
            {
                "model": path.parent.name,
                "split": path.stem,
                "questions": len(a),
                "same_choice_%": 100 * float((a["answer_index"] == b["answer_index"]).mean()),
                "option_score_max_diff": max(scores) if scores else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def reads(full: Path, half: Path) -> pd.DataFrame:
    rows = []
    for path in sorted(full.glob("activations/*/on~*/*.safetensors")):
        a, ids_a = load_reads(path)
        b, ids_b = load_reads(half / path.relative_to(full))
        assert ids_a == ids_b, path
        query = [x["query_logits"].astype(float) for x in (a, b)]
        logodds = [q[:, 1] - q[:, 0] for q in query]
        rows.append(
            {
                "estimator": path.parent.parent.name,
                "source": path.parent.name.removeprefix("on~"),
                "split": path.stem,
                "features_max_rel_diff": float(
                    np.abs(a["answer_features"] - b["answer_features"]).max()
                    / np.abs(a["answer_features"]).max()
                ),
                "query_logodds_max_diff": float(np.abs(logodds[0] - logodds[1]).max()),
                "query_logodds_corr": float(np.corrcoef(logodds[0], logodds[1])[0, 1]),
            }
        )
    return pd.DataFrame(rows)


def grid(full: Path, half: Path) -> pd.DataFrame:
    cell = ["method", "model", "trained_on", "metric"]
    a = pd.read_csv(full / "tables/grid.tsv", sep="\t")
    b = pd.read_csv(half / "tables/grid.tsv", sep="\t")
    both = a.merge(b, on=cell, suffixes=("_fp32", "_bf16"))
    both = both[both["metric"].isin(["auroc", "auroc_subject_mean"])]
    both["inside_fp32_interval"] = both["value_bf16"].between(
        both["ci_low_fp32"], both["ci_high_fp32"]
    )
    return both[cell + ["value_fp32", "ci_low_fp32", "ci_high_fp32", "value_bf16"]].assign(
        inside=both["inside_fp32_interval"]
    )


def seconds(benchmarks: Path) -> pd.Series:
    out = {}
    for file in benchmarks.rglob("*.tsv"):
        rule = file.relative_to(benchmarks).parts[0]
        if rule in TIMED:
            out[rule] = out.get(rule, 0.0) + float(pd.read_csv(file, sep="\t")["s"].iloc[-1])
    return pd.Series(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--float32", nargs=2, required=True, metavar=("RESULTS", "BENCHMARKS"))
    parser.add_argument("--bfloat16", nargs=2, required=True, metavar=("RESULTS", "BENCHMARKS"))
    args = parser.parse_args()
    full, half = Path(args.float32[0]), Path(args.bfloat16[0])
    print(f"float32 run: {full} ({dtype_of(full)}); bfloat16 run: {half} ({dtype_of(half)})")
    pd.set_option("display.width", 200)
    table = answers(full, half)
    print("\nanswers\n" + table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    total = (table["same_choice_%"] * table["questions"]).sum() / table["questions"].sum()
    print(f"same choice over all answers: {total:.2f} %")
    print("\nreads\n" + reads(full, half).to_string(index=False, float_format="{:.4g}".format))
    cells = grid(full, half)
    print("\ngrid AUROCs\n" + cells.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"inside the float32 interval: {int(cells['inside'].sum())} of {len(cells)}")
    speed = pd.DataFrame(
        {"float32_s": seconds(Path(args.float32[1])), "bfloat16_s": seconds(Path(args.bfloat16[1]))}
    )
    speed.loc["all model rules"] = speed.sum()
    speed["ratio"] = speed["float32_s"] / speed["bfloat16_s"]
    print("\nmodel-job seconds\n" + speed.to_string(float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
