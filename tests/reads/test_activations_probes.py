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
from crossprobe.reads.probes import fit_probes, probe_logodds

PROBE = {
    "kind": "mlp",
    "mlp": {
        "hidden": [256, 128, 64],
        "lr": 1e-3,
        "weight_decay": 1e-2,
        "batch_size": 64,
        "max_steps": 300,
        "warmup_steps": 0,
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
APPENDIX_C3 = {  # the paper's App. C.3 step budget: a warm-up, then the schedule
    **CLASSIFIER_TUNE,
    "batch_size": 32,
    "max_steps": 100,
    "warmup_steps": 10,
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


def fit_probe(x, y, x_sel, y_sel, params, seed):
    """One probe: a single run of `fit_probes` on every row of (x, y)."""
    return fit_probes(x, y, x_sel, y_sel, params, [(seed, np.arange(len(y)))])[0]


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
    """The paper's head (llm/models/peft/classifier_head.py) redraws each layer's weights
    Xavier-normal and leaves its biases as PyTorch drew them."""
    from crossprobe.reads.probes import mlp

    torch.manual_seed(0)
    xavier = mlp(1024, [256, 128, 64], "xavier_normal")
    torch.manual_seed(0)
    default = mlp(1024, [256, 128, 64], "default")
    for a, b in zip(xavier, default, strict=True):
        if isinstance(a, torch.nn.Linear):
            fan_out, fan_in = a.weight.shape
            expected = (2 / (fan_in + fan_out)) ** 0.5  # Xavier-normal's SD
            assert a.weight.std().item() == pytest.approx(expected, rel=0.1)
            assert b.weight.std().item() == pytest.approx((1 / (3 * fan_in)) ** 0.5, rel=0.1)
            assert torch.equal(a.bias, b.bias)  # PyTorch's: uniform within 1 / sqrt(fan_in)
            assert a.bias.abs().max() <= fan_in**-0.5 and (a.bias != 0).all()


@pytest.mark.parametrize(
    "recipe",
    [CLASSIFIER_TUNE, EMBEDDING_ONLY, APPENDIX_C3],
    ids=["classifier_tune", "embedding_only", "appendix_c3"],
)
def test_each_reference_recipe_reaches_the_optimiser_and_the_probe(recipe, monkeypatch, caplog):
    """Every optimiser step of the recipe is taken (no early stop), at its learning rate on its
    warm-up and cosine schedule and its weight decay, with gradients clipped where it clips;
    the features are not standardised, and the last state is the probe."""
    from crossprobe.reads.probes import lr_factor

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
    rates = [rate for _, rate, _ in seen]
    assert rates == pytest.approx([recipe["lr"] * lr_factor(i, recipe) for i in range(len(seen))])
    peak = recipe["warmup_steps"]
    assert rates[peak] == pytest.approx(recipe["lr"]) and rates[-1] < 0.01 * recipe["lr"]
    assert rates[0] == (0 if peak else recipe["lr"])
    assert {wd for _, _, wd in seen} == {recipe["weight_decay"]}
    norms = [n for n, _, _ in seen]
    if recipe["grad_clip"]:
        assert max(norms) <= recipe["grad_clip"] * (1 + 1e-5)
    else:
        assert max(norms) > 1.0  # features at scale 50: the clipped recipe's cap would bind
    assert (probe["mean"] == 0).all() and (probe["scale"] == 1).all()
    assert "the last state kept" in caplog.text


def test_the_warm_up_and_schedules_are_the_paper_trainers():
    """A linear warm-up from 0, then cosine to 0 over the rest of the budget or constant:
    transformers' schedules with warm-up (the paper's Trainer; our LoRA runs the first)."""
    from transformers import get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup

    from crossprobe.reads.probes import lr_factor

    for warmup, steps in ((0, 50), (10, 100), (1000, 10000)):
        for schedule, reference in (
            ("cosine", get_cosine_schedule_with_warmup),
            ("constant", get_constant_schedule_with_warmup),
        ):
            optimiser = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
            if schedule == "cosine":
                theirs = reference(optimiser, warmup, steps)
            else:
                theirs = reference(optimiser, warmup)
            recipe = {"warmup_steps": warmup, "max_steps": steps, "schedule": schedule}
            for step in range(steps):
                assert lr_factor(step, recipe) == pytest.approx(theirs.lr_lambdas[0](step))


def training_tables() -> dict:
    """Graded training answers of two columns (40 and 30 questions)."""
    rng = np.random.default_rng(3)
    return {
        column: pd.DataFrame(
            {"question_id": [f"{column}-q{i}" for i in range(n)], "correct": rng.integers(0, 2, n)}
        )
        for column, n in (("c1", 40), ("c2", 30))
    }


def test_a_training_resample_is_the_seeded_bootstrap_of_the_training_answers():
    """Resample 0 is the training answers themselves; resample b draws as many of each column's
    (in their seeded order) with replacement, seeded by the seed, b and the column; the
    selection hold-out is never resampled; a pooled estimator's resample is the union of its
    columns'; a sweep subset resamples itself."""
    import zlib

    from crossprobe.contract.splits import training_split

    tables, training = training_tables(), {"fraction": 0.1, "seed": 7}
    itself, held = training_split(tables, training, "all")
    drawn, held_too = training_split(tables, training, "all", 2)
    assert held_too.equals(held)
    for column, table in tables.items():
        ids = itself.loc[itself["source"] == column, "question_id"].to_numpy()
        assert len(ids) == len(table) - len(held[held["source"] == column])
        rng = np.random.default_rng([7, 2, zlib.crc32(column.encode())])
        bootstrap = ids[rng.integers(0, len(ids), size=len(ids))]
        assert list(drawn.loc[drawn["source"] == column, "question_id"]) == list(bootstrap)
    assert drawn["question_id"].nunique() < len(drawn) == len(itself)  # it repeats answers
    assert not drawn.equals(training_split(tables, training, "all", 3)[0])
    pooled = pd.concat(
        [training_split({c: t}, training, "all", 2)[0] for c, t in tables.items()],
        ignore_index=True,
    )
    assert drawn.equals(pooled)
    subset = training_split(tables, training, "8", 2)[0]
    first = training_split(tables, training, "8")[0]
    assert set(subset["question_id"]) <= set(first["question_id"]) and len(subset) == 16


def test_every_run_of_an_estimator_fits_as_it_would_alone_and_a_resample_refits():
    """Stacked runs (seeds x training rows) give each run the probe it gets trained alone, each
    stopping early at its own step; a refit on a bootstrap resample of the training answers is
    another probe."""
    x, y = separable(seed=4)
    rng = np.random.default_rng(0)
    rows = {0: np.arange(300), 1: rng.integers(0, 300, 300)}
    runs = [(0, rows[0]), (1, rows[0]), (0, rows[1])]
    params = {**PROBE, "mlp": {**PROBE["mlp"], "eval_every": 5, "patience": 2}}
    together = fit_probes(x, y, x[300:350], y[300:350], params, runs)
    for run, probe in zip(runs, together, strict=True):
        alone = fit_probes(x, y, x[300:350], y[300:350], params, [run])[0]
        assert probe_logodds(probe, x[350:]) == pytest.approx(
            probe_logodds(alone, x[350:]), abs=1e-4
        )
    assert probe_logodds(together[2], x) != pytest.approx(probe_logodds(together[0], x), abs=0.1)
    resampled_mean = x[rows[1]].mean(axis=0)
    assert together[2]["mean"] == pytest.approx(resampled_mean, rel=1e-5)  # its own standardiser
