"""Fixtures: tiny randomly initialised causal LMs with real tokenizers, saved as local model
directories (built by `helpers`)."""

import pytest

from helpers import build_tiny_model


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Three tiny local model directories: two Llama (different seeds) and one Gemma 3."""
    root = tmp_path_factory.mktemp("models")
    return {
        "tiny_a": build_tiny_model(root / "tiny_a", "llama", seed=1),
        "tiny_b": build_tiny_model(root / "tiny_b", "gemma3", seed=2),
        "tiny_c": build_tiny_model(root / "tiny_c", "llama", seed=3, hidden=48),
    }
