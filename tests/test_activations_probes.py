"""The activation cache (reuse across sources) and the probes on synthetic features."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from crossprobe.activations import FeatureStore, cache_activations
from crossprobe.features import labelled_features, load_activations, save_activations
from crossprobe.lm import load_model
from crossprobe.probes import fit_probe, predict_probe

PROBE = {
    "kind": "mlp",
    "mlp": {
        "hidden": [256, 128, 64],
        "lr": 1e-3,
        "weight_decay": 1e-2,
        "batch_size": 64,
        "max_steps": 300,
        "eval_every": 25,
        "patience": 4,
    },
    "logistic": {"C_grid": [0.01, 0.1, 1.0], "max_iter": 2000},
}


def separable(n=400, d=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return x * 50, y  # large scale, as Gemma's features


def test_mlp_probe_learns_a_separable_problem_and_is_deterministic():
    x, y = separable()
    probe = fit_probe(x[:300], y[:300], x[300:350], y[300:350], PROBE, seed=0)
    p = predict_probe(probe, x[350:], "mlp", PROBE["mlp"]["hidden"])
    assert ((p > 0.5) == y[350:]).mean() > 0.9
    again = fit_probe(x[:300], y[:300], x[300:350], y[300:350], PROBE, seed=0)
    assert all(np.array_equal(probe[k], again[k]) for k in probe)


def test_logistic_probe_matches_sklearn():
    x, y = separable(seed=1)
    params = {**PROBE, "kind": "logistic", "logistic": {"C_grid": [0.1], "max_iter": 2000}}
    probe = fit_probe(x[:300], y[:300], x[300:], y[300:], params, seed=0)
    mean, scale = x[:300].mean(0), x[:300].std(0)
    reference = LogisticRegression(C=0.1, max_iter=2000).fit((x[:300] - mean) / scale, y[:300])
    expected = reference.predict_proba((x[300:] - mean) / scale)[:, 1]
    assert predict_probe(probe, x[300:], "logistic") == pytest.approx(expected, abs=1e-5)


def test_single_class_training_split_is_refused():
    x, _ = separable()
    with pytest.raises(ValueError, match="single class"):
        fit_probe(x, np.ones(len(x), dtype=np.int64), x, np.ones(len(x)), PROBE, seed=0)


class CountingModel:
    """Wraps a model and counts the sequences its forward pass sees."""

    def __init__(self, model):
        self.model, self.sequences = model, 0
        self.config = model.config

    def __call__(self, **kwargs):
        self.sequences += kwargs["input_ids"].shape[0]
        return self.model(**kwargs)


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
    source_a = {"train": graded(["heat", "light", "salt"]), "test": graded(["water", "heat"], "t")}
    arrays_a, ids_a, stats_a = cache_activations(
        counting, tokenizer, device, store, source_a, params
    )
    assert stats_a == {"distinct": 5, "reused": 0, "computed": 5} and counting.sequences == 5
    # a second source answered two train questions identically and one differently
    source_b = {"train": graded(["heat", "light", "sound"]), "test": graded(["water", "heat"], "t")}
    arrays_b, _, stats_b = cache_activations(counting, tokenizer, device, store, source_b, params)
    assert stats_b == {"distinct": 5, "reused": 4, "computed": 1} and counting.sequences == 6
    assert arrays_b["train"].shape == (3, 2, model.config.hidden_size)
    assert np.array_equal(arrays_a["train"][:2], arrays_b["train"][:2])
    # the stored features equal a fresh computation
    fresh = cache_activations(
        model, tokenizer, device, FeatureStore(tmp_path / "other"), source_b, params
    )[0]
    assert np.allclose(fresh["train"], arrays_b["train"], atol=1e-3)
    save_activations(tmp_path / "cell.safetensors", arrays_a, ids_a, params["layers"])
    features, ids = load_activations(tmp_path / "cell.safetensors")
    x, y = labelled_features(
        features, ids, graded(["heat", "light", "salt"]).assign(correct=[1, 0, 1]), "train"
    )
    assert x.shape == (3, 2 * model.config.hidden_size) and y.tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="stale"):
        labelled_features(features, ids, graded(["x"], "zz").assign(correct=[1]), "train")
