"""bench/gpu.sh, the prepared first run on a GPU machine, at a tiny shape on the CPU: the batches
the paper preset's budget depends on (its longest texts, LoRA's short ones at its micro-batch),
for both paper models' shapes, run and print their rows, so the script cannot rot unseen."""

import os
import re
import subprocess
import sys

from helpers import REPO


def test_the_gpu_bench_runs_the_presets_batches_of_both_shapes_at_a_tiny_size():
    out = subprocess.run(
        ["bash", str(REPO / "bench/gpu.sh"), "--tiny"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
        timeout=600,
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    rows = re.findall(
        r"^\| ([a-z-]+) \| (\d+) x (\d+) \| (\d+) \| (\d+) \| (\d+) \| [\d.]+ \| (\d+) \| (\S+) \|",
        out.stdout,
        re.M,
    )
    # per model: its longest texts (answers, reads, query, LoRA recomputing its layers), then
    # LoRA's short texts at the preset's micro-batch
    batches = ["generate", "reads", "query", "train-checkpointing", "train-js"]
    assert [row[0] for row in rows] == batches * 2, out.stdout
    assert [row[1:3] for row in rows][4] == ("4", "16") and rows[0][1:3] == ("2", "64")
    assert all(int(row[6]) > 0 for row in rows)  # tokens/s
    decoded = [row[7] for row in rows if row[0] == "generate"]
    assert all(rate.isdigit() and int(rate) > 0 for rate in decoded), out.stdout
    assert out.stdout.count("random weights, tiny") == 2
