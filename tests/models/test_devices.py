"""A job that asked for a GPU and sees no CUDA device stops before it loads any weights, naming
what to check; a CPU job is not held up."""

import json
import os
import subprocess
import sys

from helpers import REPO

LOAD = """
import json, sys, time
from types import SimpleNamespace
from crossprobe.models.lm import load_job_model
job = SimpleNamespace(
    resources={"gpu": 0},  # as a hyphenated GPU type asks (slurm_extra): the guard reads params
    input=SimpleNamespace(model=sys.argv[2]),
    params=SimpleNamespace(runtime={"device": "auto", "dtype": "auto", "gpus": int(sys.argv[1])}),
)
started = time.perf_counter()
try:
    load_job_model(job)
except Exception as err:
    print(json.dumps({"error": type(err).__name__, "message": str(err),
                      "seconds": time.perf_counter() - started}))
"""


def load(gpus: int, tmp_path) -> dict:
    """load_job_model in a process that sees no CUDA device, its model record missing."""
    out = subprocess.run(
        [sys.executable, "-c", LOAD, str(gpus), str(tmp_path / "missing/model.json")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "scripts"), "CUDA_VISIBLE_DEVICES": ""},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


def test_a_gpu_job_without_cuda_stops_before_loading_and_names_what_to_check(tmp_path):
    stopped = load(1, tmp_path)
    assert stopped["error"] == "NoGPUError" and stopped["seconds"] < 5
    message = stopped["message"]
    assert "asked for 1 GPU(s)" in message and "refusing to run it on the CPU" in message
    assert "CUDA_VISIBLE_DEVICES=" in message
    assert "nvidia-smi" in message or "CPU build" in message
    # a CPU job goes on to load its model (here: its record is missing)
    assert load(0, tmp_path)["error"] == "FileNotFoundError"
