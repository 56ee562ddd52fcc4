"""Benchmark: each model task of a finished run against this machine's matrix-multiply rate.

1. Measures the machine's GEMM rate with torch (GFLOP/s) on shapes like the default models'
   layers, in the number format and at the thread count each model's jobs ran with (read from
   their provenance: `precision.dtype`, `threads`).
2. Counts each model job's FLOPs as the plan does (`crossprobe.plan`, on the run's own texts and
   tokenizers): its forward-pass equivalents over the positions its batches hold, padding
   included, and its new tokens.
3. Prints, per model task and model, the measured seconds (the run's benchmark files) against that
   floor (FLOPs / GEMM rate) and their ratio; and, from each job's log, the seconds before its
   first log line and after its last (interpreter, imports, exit) and loading its model, which no
   batching changes, and the ratio of the rest.

    python bench/roofline.py          # [--configfile FILE] [--directory DIR]
"""

import argparse
import json
import re
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import torch

from crossprobe.contract import paths
from crossprobe.contract.model_tasks import task_of
from crossprobe.models.precision import MATMUL_DTYPES
from crossprobe.plan.counting import Planner
from crossprobe.plan.jobs import model_jobs
from crossprobe.plan.texts import Sources

from finished import FinishedRun


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


def stage_table(run: FinishedRun, configfile: Path, rate) -> pd.DataFrame:
    """Per model task and model: FLOPs, the floor at the GEMM rate of the jobs' dtype and
    threads (`rate(dtype, threads)`), and the measured seconds, start-up and loading."""
    planner = Planner(run.config, Sources(run.config, run.directory, {}, {}, {}), 40.0)
    rows = []
    for rule, wildcards in model_jobs(configfile.resolve(), run.directory):
        task = task_of(rule, run.config["data"]["answer_format"])
        named = {"experiment": run.experiment, **wildcards}
        benchmark = run.directory / paths.benchmark(rule, task.output).format(**named)
        seconds = float(pd.read_csv(benchmark, sep="\t")["s"].iloc[-1])
        log = run.directory / paths.log(rule, task.output).format(**named)
        output = run.directory / task.output.format(**named)
        provenance = json.loads(output.with_name(output.name + ".provenance.json").read_text())
        dtype = provenance.get("precision", {}).get("dtype", "float32")
        threads = int(provenance.get("threads", 1))
        flops = planner.work(task, wildcards).flops
        startup, loading = job_overhead(log, seconds)
        rows.append(
            {
                "task": task.name,
                "model": task.model(run.config, wildcards),
                "dtype": dtype,
                "threads": threads,
                "jobs": 1,
                "GFLOP": flops / 1e9,
                "floor_s": flops / (rate(dtype, threads) * 1e9),
                "measured_s": seconds,
                "startup_s": startup,
                "load_s": loading,
            }
        )
    table = pd.DataFrame(rows).groupby(["task", "model", "dtype", "threads"], sort=False)
    table = table.sum(min_count=1).reset_index()
    table["ratio"] = table["measured_s"] / table["floor_s"]
    table["ratio_rest"] = (table["measured_s"] - table["startup_s"] - table["load_s"]) / table[
        "floor_s"
    ]
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    FinishedRun.arguments(parser)
    args = parser.parse_args()
    run = FinishedRun.of(args)
    measured = {}

    def rate(dtype: str, threads: int) -> float:
        if (dtype, threads) not in measured:
            measured[dtype, threads] = gemm_rate(MATMUL_DTYPES[dtype], threads)
            print(
                f"GEMM rate, {dtype}, {threads} thread(s): {measured[dtype, threads]:.1f} GFLOP/s"
            )
        return measured[dtype, threads]

    table = stage_table(run, Path(args.configfile), rate)
    pd.set_option("display.width", 160)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    seconds, floor = table["measured_s"].sum(), table["floor_s"].sum()
    # one job without a readable log leaves the tasks' start-up unknown, not smaller
    startup, loading = table["startup_s"].sum(min_count=len(table)), table["load_s"].sum()
    print(
        f"model tasks: measured {seconds:.0f} s, floor {floor:.0f} s, "
        f"ratio {seconds / floor:.2f}; of the measured, start-up {startup:.0f} s and model "
        f"loading {loading:.0f} s, the rest "
        f"{(seconds - startup - loading) / floor:.2f}x the floor"
    )


if __name__ == "__main__":
    main()
