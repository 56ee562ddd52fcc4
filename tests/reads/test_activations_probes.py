"""The activation cache (one pass per text, reuse across sources) and the probes."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from crossprobe.contract.prompts import answered_text
from crossprobe.lora.query import query_logodds
from crossprobe.lora.texts import query_sequences
from crossprobe.models.lm import load_model
from crossprobe.models.store import FeatureStore
from crossprobe.models.tokens import encode
from crossprobe.reads.activations import cache_activations
from crossprobe.reads.features import labelled_features, save_reads
from crossprobe.reads.probes import fit_probe, probe_logodds

PROBE = {
    "kind": "mlp",
    "mlp": {
        "hidden": [256, 128, 64],
        "lr": 1e-3,
        "weight_decay": 1e-2,
        "batch_size": 64,
        "max_steps": 300,
        "schedule": "cosine",
        "init": "default",
        "standardise": True,
        "grad_clip": 0.0,
        "early_stopping": True,
        "eval_every": 25,
        "patience": 4,
    },
    "logistic": {"C_grid": [0.01, 0.1, 1.0], "max_iter": 2000},
}
# the paper code's two recipes (step budgets cut for a test)
CLASSIFIER_TUNE = {  # experiments/classifier_tune.py through transformers.Trainer
    **PROBE["mlp"],
    "lr": 1e-4,
    "weight_decay": 0.0,
    "batch_size": 4,
    "max_steps": 120,
    "init": "xavier_normal",
    "standardise": False,
    "grad_clip": 1.0,
    "early_stopping": False,
}
EMBEDDING_ONLY = {  # experiments/train_embedding_only.py
    **PROBE["mlp"],
    "lr": 1e-3,
    "weight_decay": 1e-2,
    "batch_size": 64,
    "max_steps": 60,
    "standardise": False,
    "early_stopping": False,
}


def separable(n=400, d=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return x * 50, y  # large scale, as Gemma's features


def test_mlp_probe_learns_a_separable_problem_and_is_deterministic():
    x, y = separable()
    probe = fit_probe(x[:300], y[:300], x[300:350], y[300:350], PROBE, seed=0)
    z = probe_logodds(probe, x[350:])
    assert ((z > 0) == y[350:]).mean() > 0.9
    again = fit_probe(x[:300], y[:300], x[300:350], y[300:350], PROBE, seed=0)
    assert all(np.array_equal(probe[k], again[k]) for k in probe)


def test_logistic_probe_matches_sklearn():
    x, y = separable(seed=1)
    params = {**PROBE, "kind": "logistic", "logistic": {"C_grid": [0.1], "max_iter": 2000}}
    probe = fit_probe(x[:300], y[:300], x[300:], y[300:], params, seed=0)
    mean, scale = x[:300].mean(0), x[:300].std(0)
    reference = LogisticRegression(C=0.1, max_iter=2000).fit((x[:300] - mean) / scale, y[:300])
    expected = reference.decision_function((x[300:] - mean) / scale)
    assert probe_logodds(probe, x[300:]) == pytest.approx(expected, abs=1e-4)


def test_numpy_mlp_log_odds_equal_the_torch_network():
    from crossprobe.reads.probes import mlp

    x, y = separable(seed=2)
    probe = fit_probe(x[:300], y[:300], x[300:350], y[300:350], PROBE, seed=0)
    net = mlp(x.shape[1], PROBE["mlp"]["hidden"])
    net.load_state_dict(
        {k[4:]: torch.from_numpy(v) for k, v in probe.items() if k.startswith("mlp.")}
    )
    with torch.no_grad():
        logits = net(torch.from_numpy((x - probe["mean"]) / probe["scale"]).float()).double()
    assert probe_logodds(probe, x) == pytest.approx((logits[:, 1] - logits[:, 0]).numpy(), abs=1e-4)


def test_a_single_class_training_set_gives_a_constant_probe():
    x, _ = separable()
    probe = fit_probe(x, np.ones(len(x), dtype=np.int64), x, np.ones(len(x)), PROBE, seed=0)
    z = probe_logodds(probe, x)
    assert np.all(z == z[0]) and z[0] > 20  # certain of the one class it saw; AUROC 0.5


class CountingModel:
    """Wraps a model and counts the sequences its forward pass sees."""

    def __init__(self, model):
        self.model, self.sequences = model, 0
        self.config = model.config

    def __call__(self, **kwargs):
        self.sequences += kwargs["input_ids"].shape[0]
        return self.model(**kwargs)

    def __getattr__(self, name):  # the rest (its head, for one) is the model's
        return getattr(self.model, name)


def graded(answers, prefix="q"):
    return pd.DataFrame(
        {
            "question_id": [f"{prefix}{i}" for i in range(len(answers))],
            "prompt": [f"Question: number {i}?\nAnswer:" for i in range(len(answers))],
            "answer": answers,
        }
    )


def test_second_source_with_overlapping_answers_reuses_the_cache(tiny_models, tmp_path):
    model, tokenizer, device = load_model({"path": str(tiny_models["tiny_a"])}, "cpu", "float32")
    counting = CountingModel(model)
    store = FeatureStore(tmp_path / "store")
    params = {"layers": [-1, 1], "batch_size": 4, "max_length": 128}
    first, stats_a = cache_activations(
        counting, tokenizer, device, store, graded(["heat", "light", "salt"]), params
    )
    assert stats_a["run"] == 3 and stats_a["texts_reused"] == 0 and counting.sequences == 3
    assert first["answer_features"].shape == (3, 2, model.config.hidden_size)
    assert first["question_features"].shape == (3, 2, model.config.hidden_size)
    assert first["query_logits"].shape == (3, 2)
    # a second source answered two questions identically and one differently
    second, stats_b = cache_activations(
        counting, tokenizer, device, store, graded(["heat", "light", "sound"]), params
    )
    assert stats_b["texts_reused"] == 2 and stats_b["run"] == 1 and counting.sequences == 4
    assert stats_b["questions_reused"] == 3  # every question was seen with the first source
    assert np.array_equal(first["answer_features"][:2], second["answer_features"][:2])
    # the stored reads equal a fresh computation
    fresh, _ = cache_activations(
        model,
        tokenizer,
        device,
        FeatureStore(tmp_path / "other"),
        graded(["heat", "light", "sound"]),
        params,
    )
    assert np.allclose(fresh["answer_features"], second["answer_features"], atol=1e-3)
    table = graded(["heat", "light", "salt"]).assign(correct=[1, 0, 1])
    save_reads(tmp_path / "cell.safetensors", first, table["question_id"], params["layers"])
    x, y = labelled_features(tmp_path / "cell.safetensors", table)
    assert x.shape == (3, 2 * model.config.hidden_size) and y.tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="stale"):
        labelled_features(tmp_path / "cell.safetensors", graded(["x"], "zz").assign(correct=[1]))


@pytest.mark.parametrize("family", ["tiny_a", "tiny_b"])
def test_one_pass_gives_the_probe_features_and_the_zero_shot_query(tiny_models, tmp_path, family):
    """Features at the answer's last token equal those of the answered prompt alone (causal
    attention), and the query logits at the last position equal a separate query pass."""
    model, tokenizer, device = load_model({"path": str(tiny_models[family])}, "cpu", "float32")
    table = graded(["heat", "carbon dioxide", "the light of a"])
    params = {"layers": [-1], "batch_size": 2, "max_length": 256}
    reads, _ = cache_activations(model, tokenizer, device, FeatureStore(tmp_path), table, params)
    for row, (prompt, answer) in enumerate(zip(table["prompt"], table["answer"], strict=True)):
        ids = encode(tokenizer, answered_text(prompt, answer))
        with torch.no_grad():
            alone = model(torch.tensor([ids]), output_hidden_states=True).hidden_states[-1][0, -1]
        assert np.allclose(reads["answer_features"][row, 0], alone.numpy(), atol=2e-3)
    seqs, _ = query_sequences(tokenizer, table["prompt"], table["answer"], 256)
    separate = query_logodds(model, tokenizer, device, seqs, batch_size=3)
    logits = reads["query_logits"].astype(np.float64)
    assert logits[:, 1] - logits[:, 0] == pytest.approx(separate, abs=1e-4)


def test_question_only_features_never_include_answer_tokens(tiny_models, tmp_path):
    """The control's features are the hidden state at the prompt's last token: equal to a pass
    over the prompt alone, and one per question, whatever answer (or source) came with it."""
    model, tokenizer, device = load_model({"path": str(tiny_models["tiny_b"])}, "cpu", "float32")
    store = FeatureStore(tmp_path)
    params = {"layers": [-1], "batch_size": 2, "max_length": 256}
    first, _ = cache_activations(model, tokenizer, device, store, graded(["heat", "salt"]), params)
    other, stats = cache_activations(
        model, tokenizer, device, store, graded(["water", "carbon dioxide"]), params
    )
    assert stats["questions_reused"] == 2  # computed once per question, shared across sources
    assert np.array_equal(first["question_features"], other["question_features"])
    assert not np.allclose(first["answer_features"], other["answer_features"], atol=1e-3)
    for row, prompt in enumerate(graded(["x", "y"])["prompt"]):
        with torch.no_grad():
            alone = model(torch.tensor([encode(tokenizer, prompt)]), output_hidden_states=True)
        assert np.allclose(
            first["question_features"][row, 0], alone.hidden_states[-1][0, -1].numpy(), atol=2e-3
        )


def test_xavier_normal_init_is_the_paper_heads_and_differs_from_pytorchs():
    from crossprobe.reads.probes import mlp

    torch.manual_seed(0)
    xavier = mlp(1024, [256, 128, 64], "xavier_normal")
    default = mlp(1024, [256, 128, 64], "default")
    for a, b in zip(xavier, default, strict=True):
        if isinstance(a, torch.nn.Linear):
            fan_out, fan_in = a.weight.shape
            expected = (2 / (fan_in + fan_out)) ** 0.5  # Xavier-normal's SD
            assert a.weight.std().item() == pytest.approx(expected, rel=0.1)
            assert (a.bias == 0).all()
            assert b.weight.std().item() == pytest.approx((1 / (3 * fan_in)) ** 0.5, rel=0.1)


@pytest.mark.parametrize(
    "recipe", [CLASSIFIER_TUNE, EMBEDDING_ONLY], ids=["classifier_tune", "embedding_only"]
)
def test_each_reference_recipe_reaches_the_optimiser_and_the_probe(recipe, monkeypatch, caplog):
    """Every optimiser step of the recipe is taken (no early stop), at its learning rate on a
    cosine schedule and its weight decay, with gradients clipped where it clips; the features
    are not standardised, and the last state is the probe."""
    seen = []
    step = torch.optim.AdamW.step

    def recording_step(self, *args, **kwargs):
        grads = [p.grad for group in self.param_groups for p in group["params"]]
        norm = float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))
        group = self.param_groups[0]
        seen.append((norm, group["lr"], group["weight_decay"]))
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", recording_step)
    caplog.set_level("INFO")
    x, y = separable()
    params = {**PROBE, "mlp": recipe}
    probe = fit_probe(x[:300], y[:300], x[300:], y[300:], params, seed=0)
    assert len(seen) == recipe["max_steps"]  # no early stop
    assert seen[0][1] == pytest.approx(recipe["lr"]) and seen[-1][1] < 0.01 * recipe["lr"]
    assert {wd for _, _, wd in seen} == {recipe["weight_decay"]}
    norms = [n for n, _, _ in seen]
    if recipe["grad_clip"]:
        assert max(norms) <= recipe["grad_clip"] * (1 + 1e-5)
    else:
        assert max(norms) > 1.0  # features at scale 50: the clipped recipe's cap would bind
    assert (probe["mean"] == 0).all() and (probe["scale"] == 1).all()
    assert "the last state kept" in caplog.text
