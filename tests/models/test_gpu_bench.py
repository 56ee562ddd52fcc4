"""bench/gpu.sh, the prepared first run on a GPU machine, at a tiny shape on the CPU: a batch of
every model task of both paper models' shapes runs and prints its row, so the script cannot rot
unseen."""

import os
import re
import subprocess
import sys

from helpers import REPO


def test_the_gpu_bench_runs_every_kind_of_batch_of_both_shapes_at_a_tiny_size():
    out = subprocess.run(
        ["bash", str(REPO / "bench/gpu.sh"), "--tiny"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
        timeout=600,
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    rows = re.findall(r"^\| ([a-z-]+) \| (\d+) \| (\d+) \| [\d.]+ \| (\d+) \|", out.stdout, re.M)
    batches = ["cloze", "generate", "reads", "query", "train", "train-js", "train-checkpointing"]
    assert [batch for batch, *_ in rows] == batches * 2, out.stdout
    assert all(int(tokens) > 0 for *_, tokens in rows)
    assert out.stdout.count("random weights, tiny") == 2
