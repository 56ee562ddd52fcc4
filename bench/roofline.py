"""Benchmark: each model stage of a finished run against this machine's matrix-multiply floor.

1. Measures the machine's GEMM rate with torch (GFLOP/s) on shapes like the default models'
   layers, in the number format and at the thread count each model's jobs ran with (read from
   their provenance: `precision.dtype`, `threads`), so a stage is held against what its own
   arithmetic could do.
2. Counts the FLOPs each stage of the run needs, from its own tables and the models' configs:
   2 x (non-embedding parameters) per token of every forward pass, 3 x that per training token,
   plus 2 x d x vocab per position where the LM head must be applied (2 x d x 2 where only the
   query's two answer logits are read). What is *needed* is set by
   the task, not by an implementation: a cloze question needs its prompt once and each option's
   tokens, a cached read needs each distinct text once (features and the zero-shot query share
   it), LoRA needs its steps' tokens forward and the activation gradients back through the frozen
   base (2 x the forward: about 4 x parameters per token), LoRA scoring needs each text once.
3. Prints, per stage and in total, the measured seconds (from the run's `benchmarks/` files)
   against that floor (FLOPs / GEMM rate) and their ratio; and, from each job's log (beside the
   benchmarks folder: logs/<experiment>/), the seconds a job spends before its first log line
   and after its last (interpreter, imports, exit) and loading its model, which no batching
   changes, and the ratio of the rest.

Works on the results of this workflow and of the earlier layout (results/ without an
experiment folder; zero-shot scoring in its own `score_query` rule):

    python bench/roofline.py            # the default run
    python bench/roofline.py --run OLD_RESULTS OLD_BENCHMARKS --run results/default \
        benchmarks/default              # two runs against one GEMM measurement
"""

import argparse
import json
import re
import sys
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from crossprobe.contract.prompts import QUERY_CHOICES, query_text  # noqa: E402
from crossprobe.models.precision import MATMUL_DTYPES  # noqa: E402

SPLITS = ("train", "calibration", "test")
SCORED = ("calibration", "test")
# rule -> stage; score_query (an earlier layout) held both LoRA and zero-shot scoring
STAGES = {
    "generate_answers": "answers",
    "cache_activations": "reads (features + zero-shot)",
    "score_query/zero_shot": "reads (features + zero-shot)",
    "finetune_lora": "LoRA training",
    "score_query/lora": "LoRA scoring",
    "score_lora": "LoRA scoring",
    "prepare_model": "prepare_model (no GEMM floor)",
}


def gemm_rate(dtype: torch.dtype, threads: int, seconds: float = 6.0, windows: int = 4) -> float:
    """Best sustained GFLOP/s of (2048 x 640) @ (640 x 2048), (2048 x 2048) @ (2048 x 640) and
    (1024 x 576) @ (576 x 1536), over `windows` short windows per shape: a window that another
    process or the host interrupts reads low and is not the machine's rate."""
    torch.set_num_threads(threads)
    best = 0.0
    for m, k, n in ((2048, 640, 2048), (2048, 2048, 640), (1024, 576, 1536)):
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        a @ b  # warm-up
        for _ in range(windows):
            runs, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds / 3 / windows:
                a @ b
                runs += 1
            best = max(best, 2 * m * k * n * runs / (time.perf_counter() - started) / 1e9)
    return best


class ModelCost:
    """FLOPs per token of the body and per LM-head position, from a checkpoint's config and
    safetensors headers (no weights loaded)."""

    def __init__(self, checkpoint: Path):
        from safetensors import safe_open
        from transformers import AutoConfig, AutoTokenizer

        config = AutoConfig.from_pretrained(checkpoint)
        config = getattr(config, "text_config", config)
        total = 0
        for file in checkpoint.glob("*.safetensors"):
            with safe_open(str(file), framework="pt") as handle:
                for name in handle.keys():
                    total += _numel(handle, name)
        embedding = config.vocab_size * config.hidden_size
        self.body = 2 * (total - embedding * (1 if config.tie_word_embeddings else 2))
        self.head = 2 * embedding
        self.query_head = 2 * config.hidden_size * len(QUERY_CHOICES)
        self.tokenizer = AutoTokenizer.from_pretrained(checkpoint)

    def tokens(self, text: str) -> int:
        return len(self.tokenizer(text)["input_ids"])


def _numel(handle, name) -> int:
    size = 1
    for dim in handle.get_slice(name).get_shape():
        size *= dim
    return size


def answer_flops(row, answer: str, fmt: str, cost: ModelCost) -> float:
    """What answering one question needs: the prompt once; cloze: each option's tokens, the head
    wherever a token is predicted; letter: one head position; open: the answer's tokens."""
    prompt = cost.tokens(row.prompt)
    if fmt == "mc_letter":
        return cost.body * prompt + cost.head
    if fmt == "open":
        generated = cost.tokens(f"{row.prompt} {answer}") - prompt + 1  # + the stop token
        return cost.body * (prompt + generated) + cost.head * generated
    options = [cost.tokens(f"{row.prompt} {c}") - prompt for c in row.choices]
    return cost.body * (prompt + sum(options)) + cost.head * (1 + sum(options) - len(options))


def needed_flops(results: Path, model: str, cost: ModelCost, config: dict, sources: list) -> dict:
    """{stage: FLOPs} that model `model`'s jobs need in the run under `results`."""
    fmt = config.get("data", {}).get("answer_format", "mc_cloze")
    lora = {"max_steps": 50, "batch_size": 8, "grad_accum": 1, **config.get("lora", {})}
    flops = {}
    work = 0.0
    for split in SPLITS:
        questions = pd.read_parquet(results / f"questions/{split}.parquet")
        answers = pd.read_parquet(results / f"answers/{model}/{split}.parquet")["answer"]
        for row, answer in zip(questions.itertuples(), answers, strict=True):
            work += answer_flops(row, answer, fmt, cost)
    flops["answers"] = work
    texts = set()
    scored_texts, trained = 0.0, 0.0
    for source in sources:
        for split in SPLITS:
            graded = pd.read_parquet(results / f"graded/{source}/{split}.parquet")
            queries = [
                query_text(p, a) for p, a in zip(graded["prompt"], graded["answer"], strict=True)
            ]
            texts |= set(queries)
            if split in SCORED:
                scored_texts += sum(cost.body * cost.tokens(t) + cost.query_head for t in queries)
            if split == "train":
                mean = sum(cost.tokens(t) for t in queries) / len(queries)
                examples = lora["max_steps"] * lora["batch_size"] * lora["grad_accum"]
                trained += 2 * examples * (cost.body * mean + cost.query_head)
    flops["reads (features + zero-shot)"] = sum(
        cost.body * cost.tokens(t) + cost.query_head for t in texts
    )
    flops["LoRA training"] = trained
    flops["LoRA scoring"] = scored_texts
    return flops


STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
LOADED = re.compile(r" loaded .* in ([\d.]+) s$")


def job_overhead(log: Path, seconds: float) -> tuple[float, float]:
    """(start-up, loading) seconds of a job that took `seconds`: the time outside its log's first
    and last timestamped lines (interpreter, imports, exit) and the model loading it logged;
    the start-up is unknown (NaN) without a log of at least two such lines."""
    if not log.exists():
        return float("nan"), 0.0
    stamps, loading = [], 0.0
    for line in log.read_text().splitlines():
        if stamp := STAMP.match(line):
            stamps.append(datetime.strptime(stamp[1], "%Y-%m-%d %H:%M:%S,%f"))
        if loaded := LOADED.search(line):
            loading += float(loaded[1])
    if len(stamps) < 2:
        return float("nan"), loading
    return max(seconds - (stamps[-1] - stamps[0]).total_seconds(), 0.0), loading


def measured_seconds(benchmarks: Path, model: str) -> dict:
    """{stage: (seconds, start-up seconds, loading seconds)} of `model`'s model jobs in a run's
    benchmarks folder (logs from its sibling logs folder)."""
    logs = benchmarks.parent.parent / "logs" / benchmarks.name
    seconds: dict = {}
    for file in sorted(benchmarks.rglob("*.tsv")):
        parts = file.relative_to(benchmarks).parts
        rule = parts[0]
        key = f"{rule}/{parts[1]}" if rule == "score_query" else rule
        owner = parts[2] if rule == "score_query" else parts[1]
        if owner.removesuffix(".tsv") != model or key not in STAGES:
            continue
        value = float(pd.read_csv(file, sep="\t")["s"].iloc[-1])
        log = (logs / file.relative_to(benchmarks)).with_suffix(".log")
        job = (value, *job_overhead(log, value))
        totals = seconds.get(STAGES[key], (0.0, 0.0, 0.0))
        seconds[STAGES[key]] = tuple(a + b for a, b in zip(totals, job, strict=True))
    return seconds


def job_precision(results: Path, model: str) -> tuple[str, int]:
    """(dtype, threads) model `model`'s jobs ran with, from its answers' provenance (fp32 and the
    default run's 1 thread for runs from before either was recorded)."""
    provenance = json.loads((results / f"answers/{model}/test.parquet.provenance.json").read_text())
    dtype = provenance.get("precision", {}).get("dtype", "float32")
    return dtype, int(provenance.get("threads", 1))


def stage_table(results: Path, benchmarks: Path, config: dict, rate) -> pd.DataFrame:
    """Per model and stage: FLOPs needed, the floor at the GEMM rate of the model's dtype and
    threads (`rate(dtype, threads)`), and the measured seconds."""
    models = list(config["models"])
    rows = []
    for model in models:
        record = json.loads((results / f"models/{model}/model.json").read_text())
        cost = ModelCost(Path(record["path"]))
        flops = needed_flops(results, model, cost, config, models)
        seconds = measured_seconds(benchmarks, model)
        dtype, threads = job_precision(results, model)
        for stage in dict.fromkeys(list(flops) + list(seconds)):
            measured, startup, loading = seconds.get(stage, (float("nan"),) * 3)
            rows.append(
                {
                    "model": model,
                    "stage": stage,
                    "dtype": dtype,
                    "threads": threads,
                    "GFLOP": flops.get(stage, 0.0) / 1e9,
                    "floor_s": flops.get(stage, 0.0) / (rate(dtype, threads) * 1e9),
                    "measured_s": measured,
                    "startup_s": startup,
                    "load_s": loading,
                }
            )
    table = pd.DataFrame(rows)
    floor = table["floor_s"].where(table["floor_s"] > 0)
    table["ratio"] = table["measured_s"] / floor
    table["ratio_rest"] = (table["measured_s"] - table["startup_s"] - table["load_s"]) / floor
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run",
        nargs=2,
        action="append",
        metavar=("RESULTS", "BENCHMARKS"),
        help="a run's results and benchmarks folders (repeat to compare runs against one GEMM "
        "measurement); default: results/default benchmarks/default",
    )
    parser.add_argument("--configfile", default=str(ROOT / "config.yaml"))
    args = parser.parse_args()
    runs = args.run or [[ROOT / "results/default", ROOT / "benchmarks/default"]]
    measured = {}

    def rate(dtype: str, threads: int) -> float:
        if (dtype, threads) not in measured:
            measured[dtype, threads] = gemm_rate(MATMUL_DTYPES[dtype], threads)
            print(
                f"GEMM rate, {dtype}, {threads} thread(s): {measured[dtype, threads]:.1f} GFLOP/s"
            )
        return measured[dtype, threads]

    config = yaml.safe_load(Path(args.configfile).read_text())
    pd.set_option("display.width", 160)
    for results, benchmarks in runs:
        table = stage_table(Path(results), Path(benchmarks), config, rate)
        print(f"\n{results} ({benchmarks})")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
        gemm = table[table["floor_s"] > 0]
        seconds, floor = gemm["measured_s"].sum(), gemm["floor_s"].sum()
        # one job without a readable log leaves the stages' start-up unknown, not smaller
        startup, loading = gemm["startup_s"].sum(min_count=len(gemm)), gemm["load_s"].sum()
        print(
            f"stages with a floor: measured {seconds:.0f} s, floor {floor:.0f} s, "
            f"ratio {seconds / floor:.2f}; of the measured, start-up {startup:.0f} s and model "
            f"loading {loading:.0f} s, the rest {(seconds - startup - loading) / floor:.2f}x the "
            f"floor; all model jobs: {table['measured_s'].sum():.0f} s"
        )


if __name__ == "__main__":
    main()
