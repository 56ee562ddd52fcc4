"""The Probe method: a head on cached frozen features that predicts whether an answer is correct.

- `mlp`: the SAPLMA-shaped MLP d -> 256 -> 128 -> 64 -> 2 with ReLU (the paper's Probe), AdamW
  over a step budget with a linear warm-up and then a cosine or constant schedule; its recipe is
  configuration (`probe.mlp`, and the named recipes of `probe.variants`): PyTorch's default or
  the paper's Xavier-normal initialisation, gradient clipping, and either the state with the
  best NLL on the held-out selection answers (early stopping) or the last. The paper's code has
  two recipes, neither with early stopping or standardisation (experiments/classifier_tune.py,
  experiments/train_embedding_only.py); configs/paper.yaml follows the first at the step budget
  of the paper's App. C.3.
- `logistic`: scikit-learn's L2 logistic regression, its C picked by the held-out selection NLL.

An estimator is fitted in runs, one per training seed and training resample (its training
answers, or a bootstrap resample of them): one job fits them all, the MLP runs at once as
stacked heads (`fit_mlps`), and one file holds them. Features are standardised with each run's
training answers' mean and scale unless the recipe says not (Gemma's hidden states have a scale
in the hundreds). A fitted probe is a flat dict of numpy arrays, saved as safetensors.
"""

import json
import logging
import math
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from crossprobe.job import atomic
from crossprobe.logodds import logit, nll

log = logging.getLogger(__name__)


def standardiser(train: np.ndarray):
    mean = train.mean(axis=0)
    scale = train.std(axis=0)
    scale[scale < 1e-6] = 1.0
    return mean.astype(np.float32), scale.astype(np.float32)


def fit_logistic(x, y, x_sel, y_sel, params: dict, seed: int) -> dict:
    from sklearn.linear_model import LogisticRegression

    best = None
    for c in params["C_grid"]:
        model = LogisticRegression(C=c, max_iter=params["max_iter"], random_state=seed).fit(x, y)
        loss = nll(model.decision_function(x_sel), y_sel)
        log.info("logistic probe C=%g: selection NLL %.4f", c, loss)
        if best is None or loss < best[0]:
            best = (loss, c, model)
    _, c, model = best
    log.info("logistic probe: chose C=%g", c)
    return {
        "coef": model.coef_[0].astype(np.float32),
        "intercept": model.intercept_.astype(np.float32),
        "C": np.array([c], dtype=np.float32),
    }


def mlp(d: int, hidden: list[int], init: str = "default"):
    """The MLP head; `init` xavier_normal as the paper's code initialises it
    (llm/models/peft/classifier_head.py: Xavier-normal weights, biases left as PyTorch
    initialises them), else PyTorch's."""
    import torch.nn as nn

    layers, width = [], d
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    net = nn.Sequential(*layers, nn.Linear(width, 2))
    if init == "xavier_normal":
        for layer in net:
            if isinstance(layer, nn.Linear):
                nn.init.xavier_normal_(layer.weight)
    return net


def lr_factor(step: int, params: dict) -> float:
    """The learning rate at optimiser step `step` (from 0) as a share of `lr`: a linear warm-up
    from 0 over `warmup_steps`, then cosine to 0 over the rest of the step budget, or constant
    (transformers' cosine and constant schedules with warm-up, as the paper's Trainer runs)."""
    warmup = params["warmup_steps"]
    if step < warmup:
        return step / warmup
    if params["schedule"] == "constant":
        return 1.0
    progress = (step - warmup) / max(1, params["max_steps"] - warmup)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


class StackedMLP:
    """Several MLP heads of one shape, each with its own standardiser, their weights stacked
    along a first axis (one head per run), so that one pass trains them all."""

    def __init__(self, nets: list, mean: np.ndarray, scale: np.ndarray):
        import torch

        self.layers = [i for i, layer in enumerate(nets[0]) if isinstance(layer, torch.nn.Linear)]
        # per layer: (heads, in, out) weights and (heads, 1, out) biases
        self.weights = [
            torch.stack([net[i].weight.detach().T for net in nets]).requires_grad_()
            for i in self.layers
        ]
        self.biases = [
            torch.stack([net[i].bias.detach() for net in nets]).unsqueeze(1).requires_grad_()
            for i in self.layers
        ]
        self.mean, self.scale = torch.from_numpy(mean), torch.from_numpy(scale)

    def parameters(self) -> list:
        return self.weights + self.biases

    def logodds(self, x, heads=slice(None)):
        """(heads, n) logit differences of the heads `heads` for their raw features `x`
        (heads, n, d), each head its own rows."""
        import torch

        h = (x - self.mean[heads, None]) / self.scale[heads, None]
        for n, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(bias[heads], torch.relu(h) if n else h, weight[heads])
        return h[..., 1] - h[..., 0]

    def shared_logodds(self, x, chunk_floats: int = 2**26):
        """(heads, n) logit differences of every head for the same features `x` (n, d),
        standardised for a few heads at a time."""
        import torch

        count = len(self.weights[0])
        step = max(1, chunk_floats // max(1, x.numel()))
        return torch.cat(
            [
                self.logodds(x.expand(min(step, count - first), -1, -1), slice(first, first + step))
                for first in range(0, count, step)
            ]
        )

    def losses(self, x, y):
        """Per head, the mean cross-entropy of its rows `x` (heads, b, d) with labels `y`
        (heads, b): that of the two logits, as the logistic loss of their difference."""
        import torch

        z = self.logodds(x)
        return torch.nn.functional.binary_cross_entropy_with_logits(
            z, y.to(z.dtype), reduction="none"
        ).mean(dim=1)

    def state(self, head: int) -> dict:
        """Head `head`'s weights as `mlp`'s state dict names them, prefixed "mlp."."""
        out = {}
        for i, weight, bias in zip(self.layers, self.weights, self.biases, strict=True):
            out[f"mlp.{i}.weight"] = weight[head].detach().T.contiguous().numpy()
            out[f"mlp.{i}.bias"] = bias[head, 0].detach().clone().numpy()
        return out


def fit_mlps(x, y, x_sel, y_sel, params: dict, runs: list) -> list[dict]:
    """Train one MLP head per run (seed, training rows of `x`, standardiser mean and scale), all
    at once: `max_steps` AdamW steps of `batch_size` over reshuffled epochs, the recipe's
    schedule with its warm-up and its gradient clipping, each run with its seed's initialisation
    and minibatch order and its own optimiser state, norm and clipping, as if trained alone;
    with early stopping, each run's state with the best selection NLL (checked every
    `eval_every` steps, a run stopping after `patience` checks without improvement), else the
    last state. Every run has as many training rows."""
    import torch

    count = len(runs)
    nets = []
    for seed, *_ in runs:
        torch.manual_seed(seed)
        nets.append(mlp(x.shape[1], params["hidden"], params["init"]))
    heads = StackedMLP(nets, np.stack([m for *_, m, _ in runs]), np.stack([s for *_, s in runs]))
    generators = [torch.Generator().manual_seed(seed) for seed, *_ in runs]
    rows = torch.from_numpy(np.stack([r for _, r, *_ in runs]).astype(np.int64))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    xs_sel = torch.from_numpy(x_sel)
    # fused: one pass over each stacked tensor per step (the unfused update dominates on a CPU)
    opt = torch.optim.AdamW(
        heads.parameters(), lr=params["lr"], weight_decay=params["weight_decay"], fused=True
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, params))
    steps, stopping, clip = params["max_steps"], params["early_stopping"], params["grad_clip"]
    best_loss, since = np.full(count, np.inf), np.zeros(count, dtype=np.int64)
    improving = np.ones(count, dtype=bool)
    best = [p.detach().clone() for p in heads.parameters()]
    stopped_at = np.full(count, steps)
    clipped = np.zeros(count, dtype=np.int64)
    step = 0
    while step < steps and improving.any():
        order = torch.stack([torch.randperm(rows.shape[1], generator=g) for g in generators])
        for batch in order.split(params["batch_size"], dim=1):
            picked = rows.gather(1, batch)
            loss = heads.losses(xt[picked], yt[picked])
            opt.zero_grad()
            loss.sum().backward()
            if clip:
                norms = torch.linalg.vector_norm(
                    torch.stack(
                        [
                            torch.linalg.vector_norm(p.grad.flatten(1), dim=1)
                            for p in heads.parameters()
                        ]
                    ),
                    dim=0,
                )
                # torch.nn.utils.clip_grad_norm_ per run
                factor = (clip / (norms + 1e-6)).clamp(max=1.0)
                for p in heads.parameters():
                    p.grad.mul_(factor.view(-1, *[1] * (p.dim() - 1)))
                clipped += (norms > clip).numpy()
            opt.step()
            sched.step()
            step += 1
            if stopping and (step % params["eval_every"] == 0 or step == steps):
                with torch.no_grad():
                    z = heads.shared_logodds(xs_sel).double().numpy()
                losses = np.array([nll(row, y_sel) for row in z])
                better = improving & (losses < best_loss - 1e-5)
                mask = torch.from_numpy(better)
                for kept, current in zip(best, heads.parameters(), strict=True):
                    kept[mask] = current.detach()[mask]
                best_loss[better], since[better] = losses[better], 0
                since[improving & ~better] += 1
                newly = improving & (since >= params["patience"])
                stopped_at[newly] = step
                improving &= ~newly
                log.info(
                    "mlp probes step %d: train loss %.4f (mean of %d runs), selection NLL "
                    "%.4f to %.4f, %d runs still improving",
                    step,
                    loss.mean().item(),
                    count,
                    losses.min(),
                    losses.max(),
                    improving.sum(),
                )
            if step >= steps or not improving.any():
                break
    if stopping:
        with torch.no_grad():
            for kept, current in zip(best, heads.parameters(), strict=True):
                current.copy_(kept)
    log.info(
        "mlp probes: %d runs, %d steps, %s; %d of their steps' gradients clipped",
        count,
        step,
        f"each run's best state kept (stopped at steps {sorted(set(stopped_at.tolist()))})"
        if stopping
        else "the last state kept",
        clipped.sum(),
    )
    return [heads.state(i) for i in range(count)]


def fit_probes(x, y, x_sel, y_sel, params: dict, runs: list[tuple[int, np.ndarray]]) -> list:
    """One fitted probe (standardiser included) of kind `params['kind']` per run (seed, rows):
    run i learns from the rows `rows_i` of (x, y) (a row may repeat: a bootstrap resample) with
    its seed, and selects on (x_sel, y_sel). A run whose training answers are of a single class
    (a small sweep subset can have them) learns nothing but that class: its probe is the
    constant log-odds of it (AUROC 0.5), and the log says so."""
    kind = params["kind"]
    probes, trained = [None] * len(runs), []
    for i, (seed, rows) in enumerate(runs):
        xr, yr = x[rows], y[rows]
        if kind == "mlp" and not params["mlp"]["standardise"]:
            mean, scale = np.zeros(x.shape[1], np.float32), np.ones(x.shape[1], np.float32)
        else:
            mean, scale = standardiser(xr)
        if len(np.unique(yr)) < 2:
            log.warning(
                "run %d (seed %d): its %d training answers are all of one class: a constant probe",
                i,
                seed,
                len(yr),
            )
            probes[i] = {"mean": mean, "scale": scale, "constant": logit(np.array([yr.mean()]))}
        elif kind == "logistic":
            xs, xss = (xr - mean) / scale, (x_sel - mean) / scale
            weights = fit_logistic(xs, yr, xss, y_sel, params["logistic"], seed)
            probes[i] = {"mean": mean, "scale": scale, **weights}
        else:
            trained.append((i, seed, rows, mean, scale))
    if trained:
        fits = fit_mlps(x, y, x_sel, y_sel, params["mlp"], [t[1:] for t in trained])
        for (i, *_, mean, scale), weights in zip(trained, fits, strict=True):
            probes[i] = {"mean": mean, "scale": scale, **weights}
    return probes


def probe_logodds(probe: dict, x: np.ndarray) -> np.ndarray:
    """Log-odds of correctness (float64) for each row of `x`, computed in numpy (no torch):
    the MLP's logit difference, or the logistic model's decision value."""
    h = ((x - probe["mean"]) / probe["scale"]).astype(np.float64)
    if "constant" in probe:
        return np.full(len(h), float(probe["constant"][0]))
    if "coef" in probe:
        return h @ probe["coef"].astype(np.float64) + float(probe["intercept"][0])
    layers = sorted({int(k.split(".")[1]) for k in probe if k.startswith("mlp.")})
    for n, layer in enumerate(layers):
        h = h @ probe[f"mlp.{layer}.weight"].astype(np.float64).T + probe[f"mlp.{layer}.bias"]
        if n < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return h[:, 1] - h[:, 0]


def save_probes(probes: dict, path: Path, params: dict) -> None:
    """Every fit of one estimator, {(seed, resample): probe}, in one file (keys
    "seed~S/resample~B/<array>")."""
    flat = {
        f"seed~{seed}/resample~{resample}/{name}": array
        for (seed, resample), probe in probes.items()
        for name, array in probe.items()
    }
    with atomic(path) as tmp:
        save_file(flat, str(tmp), metadata={"params": json.dumps(params, sort_keys=True)})


def load_probes(path: Path) -> dict:
    """{(seed, resample): probe} of a file `save_probes` wrote."""
    probes: dict = {}
    for key, array in load_file(str(path)).items():
        seed, resample, name = key.split("/", 2)
        run = (int(seed.removeprefix("seed~")), int(resample.removeprefix("resample~")))
        probes.setdefault(run, {})[name] = array
    return probes
