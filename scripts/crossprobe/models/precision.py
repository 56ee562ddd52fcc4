"""The number format a model runs in: float32, bfloat16, float16, or bfloat16-linear (the linear
layers' weights and matrix products in bfloat16, everything between them in float32: the residual
stream, norms, attention, embeddings and the LM head).

`dtype: auto` is bfloat16 on a GPU (where memory is what counts). On a CPU it is bfloat16-linear
only where a short measurement shows bfloat16 matrix products faster than float32 ones by
`MARGIN`, at the model's width and the job's thread count, and float32 elsewhere: whether bf16
is fast depends on the CPU (AMX units, the library build), not on its flags. A measurement is
made once per CPU, torch version, width and thread count, and cached
(`$CROSSPROBE_CACHE`, default ~/.cache/crossprobe); the rates and the choice go into provenance.
On a CPU the matrix products are where bf16's speed is, and a float32 residual stream keeps the
answers close to float32's (bench/dtype_parity.py: more of the same choices than all-bfloat16).

In bfloat16 the LM head still runs in float32 on the kept positions, so logits (and the float64
log-odds read from them) lose no more than the hidden states did.
"""

import hashlib
import json
import logging
import os
import platform
import time
from pathlib import Path

import torch

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
BFLOAT16_LINEAR = "bfloat16-linear"
# every number format, and the dtype its matrix products run in
MATMUL_DTYPES = {**DTYPES, BFLOAT16_LINEAR: torch.bfloat16}
MARGIN = 1.3  # bf16 must be this much faster than fp32 to be worth its rounding


def choose(rates: dict, margin: float = MARGIN) -> str:
    """bfloat16-linear if the measured bfloat16 rate beats float32's by `margin`, else float32."""
    return BFLOAT16_LINEAR if rates["bfloat16"] >= margin * rates["float32"] else "float32"


def gemm_rate(dtype: torch.dtype, width: int, tokens: int = 512, seconds: float = 0.25) -> float:
    """GFLOP/s of a (tokens x width) @ (width x 4 width) product, as a model's MLP runs, at the
    current thread count."""
    a = torch.randn(tokens, width, dtype=dtype)
    b = torch.randn(width, 4 * width, dtype=dtype)
    a @ b  # warm-up: kernel selection, first-touch memory
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        a @ b
        runs += 1
    return 2 * tokens * width * 4 * width * runs / (time.perf_counter() - started) / 1e9


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cache_file() -> Path:
    root = os.environ.get("CROSSPROBE_CACHE") or Path.home() / ".cache" / "crossprobe"
    return Path(root) / "gemm_rates.json"


def measured_rates(width: int, threads: int) -> dict:
    """{"float32": GFLOP/s, "bfloat16": GFLOP/s, "key": ...} at this width and thread count,
    from the cache or measured now (and cached)."""
    identity = [cpu_name(), torch.__version__, width, threads]
    key = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]
    path = cache_file()
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        cached = {}
    if key in cached:
        return cached[key]
    rates = {name: round(gemm_rate(DTYPES[name], width), 1) for name in ("float32", "bfloat16")}
    rates |= {"key": key, "cpu": identity[0], "torch": identity[1], "width": width}
    rates["threads"] = threads
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps({**cached, key: rates}, indent=1))
    tmp.rename(path)  # concurrent jobs may each measure; none sees a half-written file
    return rates


def resolve(dtype: str, device: torch.device, width: int) -> tuple[str, dict]:
    """The number format (a key of `MATMUL_DTYPES`) a model runs in, and what decided it (for
    provenance)."""
    if dtype != "auto":
        return dtype, {"dtype": dtype, "chosen_by": "config"}
    if device.type == "cuda":
        return "bfloat16", {"dtype": "bfloat16", "chosen_by": "auto: a GPU"}
    rates = measured_rates(width, torch.get_num_threads())
    name = choose(rates)
    log.info(
        "dtype auto on this CPU (%d thread(s), width %d): float32 %.0f GFLOP/s, bfloat16 %.0f "
        "GFLOP/s -> %s",
        torch.get_num_threads(),
        width,
        rates["float32"],
        rates["bfloat16"],
        name,
    )
    return name, {"dtype": name, "chosen_by": "auto: measured", "rates": rates}


class Float32Head(torch.nn.Module):
    """An LM head that computes logits in float32 from lower-precision hidden states: a frozen
    float32 copy of the head's weight (untied from the input embeddings)."""

    def __init__(self, head: torch.nn.Linear):
        super().__init__()
        self.register_buffer("weight32", head.weight.detach().float().clone())
        bias = None if head.bias is None else head.bias.detach().float().clone()
        self.register_buffer("bias32", bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(hidden.float(), self.weight32, self.bias32)


def with_float32_head(model):
    """`model` with its LM head in float32 if its weights are in a lower precision."""
    if next(model.parameters()).dtype != torch.float32:
        model.set_output_embeddings(Float32Head(model.get_output_embeddings()))
    return model


def _to_bfloat16(module, args):
    return (args[0].to(torch.bfloat16), *args[1:])


def _to_float32(module, args, output):
    return output.float()


def with_bfloat16_linears(model):
    """`model` (in float32) with every linear layer but the LM head in bfloat16: each takes its
    input rounded to bfloat16 and gives its output back in float32, so only the matrix products
    run in bfloat16. LoRA adapters peft wraps around these layers stay float32."""
    head = model.get_output_embeddings()
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and module is not head:
            module.to(torch.bfloat16)
            module.register_forward_pre_hook(_to_bfloat16)
            module.register_forward_hook(_to_float32)
    return model


def in_format(model, name: str):
    """`model`, loaded in `torch_dtype(name)`, set up to run in the number format `name`."""
    if name == BFLOAT16_LINEAR:
        return with_bfloat16_linears(model)
    return with_float32_head(model)


def torch_dtype(name: str) -> torch.dtype:
    """The dtype to load a model's weights in for the number format `name`."""
    return DTYPES.get(name, torch.float32)


def activation_dtype(model) -> str:
    """The dtype of a model's residual stream (its input embeddings'), e.g. "float32"."""
    return str(model.get_input_embeddings().weight.dtype).removeprefix("torch.")
