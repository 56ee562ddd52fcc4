"""The Probe method: a head on cached frozen features that predicts whether an answer is correct.

- `mlp`: the SAPLMA-shaped MLP d -> 256 -> 128 -> 64 -> 2 with ReLU (the paper's Probe), AdamW
  over a step budget with a cosine or constant schedule; its recipe is configuration
  (`probe.mlp`): PyTorch's default or Xavier-normal initialisation, gradient clipping, and either
  the state with the best NLL on the held-out selection answers (early stopping) or the last.
  The paper's code has two recipes, neither with early stopping or standardisation
  (experiments/classifier_tune.py, experiments/train_embedding_only.py); configs/paper.yaml
  follows the first.
- `logistic`: scikit-learn's L2 logistic regression, its C picked by the held-out selection NLL.

Features are standardised with the training split's mean and scale unless the recipe says not
(Gemma's hidden states have a scale in the hundreds). A fitted probe is a flat dict of numpy
arrays, saved as safetensors.
"""

import json
import logging
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
    (llm/models/peft/classifier_head.py: Xavier-normal weights, zero biases), else PyTorch's."""
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
                nn.init.zeros_(layer.bias)
    return net


def fit_mlp(x, y, x_sel, y_sel, params: dict, seed: int) -> dict:
    """Train the MLP head on (x, y): `max_steps` AdamW steps of `batch_size` over reshuffled
    epochs, the schedule and gradient clipping of the recipe; with early stopping, the state
    with the best selection NLL (checked every `eval_every` steps, stopping after `patience`
    checks without improvement), else the last state."""
    import torch

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    net = mlp(x.shape[1], params["hidden"], params["init"])
    opt = torch.optim.AdamW(net.parameters(), lr=params["lr"], weight_decay=params["weight_decay"])
    steps = params["max_steps"]
    if params["schedule"] == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    else:
        sched = torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    xs_sel = torch.from_numpy(x_sel)
    stopping = params["early_stopping"]
    best_loss, best_state, since_best = float("inf"), None, 0
    step = clipped = 0
    while step < steps:
        for batch in torch.randperm(len(xt), generator=generator).split(params["batch_size"]):
            net.train()
            loss = torch.nn.functional.cross_entropy(net(xt[batch]), yt[batch])
            opt.zero_grad()
            loss.backward()
            if params["grad_clip"]:
                norm = torch.nn.utils.clip_grad_norm_(net.parameters(), params["grad_clip"])
                clipped += int(norm > params["grad_clip"])
            opt.step()
            sched.step()
            step += 1
            if stopping and (step % params["eval_every"] == 0 or step == steps):
                net.eval()
                with torch.no_grad():
                    logits = net(xs_sel).double()
                sel_loss = nll((logits[:, 1] - logits[:, 0]).numpy(), y_sel)
                log.info(
                    "mlp probe step %d: train loss %.4f, selection NLL %.4f",
                    step,
                    loss.item(),
                    sel_loss,
                )
                if sel_loss < best_loss - 1e-5:
                    best_loss, since_best = sel_loss, 0
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                else:
                    since_best += 1
                if since_best >= params["patience"]:
                    log.info(
                        "mlp probe: early stop at step %d (best selection NLL %.4f)",
                        step,
                        best_loss,
                    )
                    step = steps
            if step >= steps:
                break
    log.info(
        "mlp probe: %d steps, %s state kept, %d steps' gradients clipped",
        steps,
        "the best" if stopping else "the last",
        clipped,
    )
    state = best_state if stopping else net.state_dict()
    return {f"mlp.{k}": v.numpy() for k, v in state.items()}


def fit_probe(x, y, x_sel, y_sel, params: dict, seed: int) -> dict:
    """A fitted probe (standardiser included) of kind `params['kind']`. Training answers of a
    single class (a small sweep subset can have them) teach nothing but that class: the probe
    is then the constant log-odds of it (AUROC 0.5), and says so in the log."""
    kind = params["kind"]
    if kind == "mlp" and not params["mlp"]["standardise"]:
        mean, scale = np.zeros(x.shape[1], np.float32), np.ones(x.shape[1], np.float32)
    else:
        mean, scale = standardiser(x)
    if len(np.unique(y)) < 2:
        log.warning("the %d training answers are all of one class: a constant probe", len(y))
        return {"mean": mean, "scale": scale, "constant": logit(np.array([y.mean()]))}
    xs, xss = (x - mean) / scale, (x_sel - mean) / scale
    fit = fit_logistic if kind == "logistic" else fit_mlp
    weights = fit(xs, y, xss, y_sel, params[kind], seed)
    return {"mean": mean, "scale": scale, **weights}


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


def save_probe(probe: dict, path: Path, params: dict) -> None:
    with atomic(path) as tmp:
        save_file(probe, str(tmp), metadata={"params": json.dumps(params, sort_keys=True)})


def load_probe(path: Path) -> dict:
    return load_file(str(path))
