"""The heatmap: panels, axes and labels of the plotnine objects, and byte-stable files."""

import hashlib

import numpy as np
import pandas as pd
import pytest
from plotnine import ggplot

from crossprobe.grid import auroc_markdown
from crossprobe.plotting import heatmap, save_heatmap, tile_table


def fake_grid(models, methods, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for method in methods:
        for m in models:
            for s in models:
                if method == "agreement" and m == s:
                    continue
                v = 0.5 + 0.3 * rng.random()
                rows.append(
                    {
                        "method": method,
                        "model": m,
                        "trained_on": s,
                        "metric": "auroc",
                        "value": v,
                        "ci_low": v - 0.05,
                        "ci_high": v + 0.05,
                        "n": 100,
                    }
                )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("models", [["a", "b"], ["a", "b", "c"]])
def test_heatmap_has_one_panel_per_method_with_the_papers_axes(models, tmp_path):
    names = {m: m.upper() for m in models}
    methods = ["probe", "lora", "agreement"]
    grid = fake_grid(models, methods)
    figure = heatmap(grid, methods, names)
    panels = [p for p in figure.items if isinstance(p, ggplot)]
    assert [p.labels.title for p in panels] == ["Probe", "LoRA + Prompt", "Agreement"]
    for p in panels:
        assert p.mapping["x"] == "Trained On" and p.mapping["y"] == "Model"
        assert len(p.data) == len(models) ** 2
    cells = tile_table(grid, "agreement", names)
    assert (cells.loc[cells["model"] == cells["trained_on"], "label"] == "n/a").all()
    first = cells.dropna(subset=["value"]).iloc[0]
    assert (
        first["label"] == f"{first['value']:.2f}\n[{first['ci_low']:.2f}, {first['ci_high']:.2f}]"
    )
    # legible text: dark tiles (low values) get white text, light ones black
    valued = cells.dropna(subset=["value"])
    assert valued.loc[valued["value"].idxmin(), "text_colour"] == "white"
    assert valued.loc[valued["value"].idxmax(), "text_colour"] == "black"

    digests = []
    for run in range(2):
        png, pdf = tmp_path / f"h{run}.png", tmp_path / f"h{run}.pdf"
        save_heatmap(heatmap(grid, methods, names), png, pdf)
        digests.append([hashlib.sha256(f.read_bytes()).hexdigest() for f in (png, pdf)])
    assert digests[0] == digests[1]


def test_markdown_grid_lists_rows_and_columns():
    text = auroc_markdown(fake_grid(["a", "b"], ["probe"]), ["probe"], {"a": "A", "b": "B"})
    assert "| Model \\ Trained On | A | B |" in text
    assert text.count("\n| A |") == 1 and "[" in text


def test_winner_per_cell_and_whether_intervals_separate():
    from crossprobe.grid import winners, winners_markdown

    grid = pd.DataFrame(
        [
            {
                "method": "probe",
                "model": "a",
                "trained_on": "b",
                "metric": "auroc",
                "value": 0.8,
                "ci_low": 0.75,
                "ci_high": 0.85,
                "n": 10,
            },
            {
                "method": "lora",
                "model": "a",
                "trained_on": "b",
                "metric": "auroc",
                "value": 0.6,
                "ci_low": 0.55,
                "ci_high": 0.7,
                "n": 10,
            },
            {
                "method": "probe",
                "model": "b",
                "trained_on": "b",
                "metric": "auroc",
                "value": 0.6,
                "ci_low": 0.5,
                "ci_high": 0.7,
                "n": 10,
            },
            {
                "method": "lora",
                "model": "b",
                "trained_on": "b",
                "metric": "auroc",
                "value": 0.65,
                "ci_low": 0.6,
                "ci_high": 0.7,
                "n": 10,
            },
        ]
    )
    table = winners(grid).set_index(["model", "trained_on"])
    assert table.loc[("a", "b"), "best"] == "probe" and table.loc[("a", "b"), "separated"]
    assert table.loc[("b", "b"), "best"] == "lora" and not table.loc[("b", "b"), "separated"]
    assert "| A | B | Probe (0.800) | LoRA + Prompt (0.600) | yes |" in winners_markdown(
        grid, {"a": "A", "b": "B"}
    )


def test_a_method_added_to_the_registry_appears_in_the_grid_and_the_figure(monkeypatch):
    from dataclasses import replace

    from crossprobe import methods

    oracle = replace(methods.METHODS["zero_shot"], name="oracle", title="Oracle")
    monkeypatch.setitem(methods.METHODS, "oracle", oracle)
    grid = fake_grid(["a", "b"], ["probe", "oracle"])
    names = {"a": "A", "b": "B"}
    assert "**Oracle**" in auroc_markdown(grid, ["probe", "oracle"], names)
    panels = [p for p in heatmap(grid, ["probe", "oracle"], names).items if isinstance(p, ggplot)]
    assert [p.labels.title for p in panels] == ["Probe", "Oracle"]
