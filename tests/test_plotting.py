"""The heatmap and the markdown grid: panels, axes, one shared colour scale, labels, legible
text, n/a with its reason, and byte-stable files."""

import hashlib

import numpy as np
import pandas as pd
import pytest
from plotnine import ggplot

from crossprobe.evaluation.markdown import auroc_markdown
from crossprobe.figures.plotting import SELF, heatmap, save_figure, tile_table


def fake_grid(models, methods, sources=None, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for method in methods:
        for m in models:
            for s in sources or models:
                if method == "agreement" and m == s:
                    continue
                if method == "source_confidence" and m != s:
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
                        "seed_sd": 0.01 if method == "probe" else np.nan,
                        "n": 100,
                    }
                )
    return pd.DataFrame(rows)


def layout(models, methods, columns=None, missing=None):
    columns = columns or models
    return {
        "methods": methods,
        "rows": models,
        "columns": columns,
        "names": {c: c.upper() for c in dict.fromkeys(models + columns)},
        "missing": missing or {},
        "headline": "auroc",
        "headline_label": "AUROC, pooled",
        "limits": [0.2, 0.8],
    }


def panels_of(figure) -> list:
    """The ggplot panels of a composition, however deeply nested."""
    if isinstance(figure, ggplot):
        return [figure] if figure.labels.title else []  # not the blank spacers
    return [p for item in figure.items for p in panels_of(item)]


@pytest.mark.parametrize("models", [["a", "b"], ["a", "b", "c"]])
def test_heatmap_has_one_panel_per_method_with_the_papers_axes(models, tmp_path):
    methods = ["probe", "lora", "agreement", "source_confidence"]
    grid = fake_grid(models, methods)
    figure = heatmap(grid, layout(models, methods))
    panels = panels_of(figure)
    assert [p.labels.title for p in panels] == [
        "Probe",
        "LoRA + Prompt",
        "Agreement",
        "Source confidence",
    ]
    for p in panels:
        assert p.mapping["x"] == "Trained On" and p.mapping["y"] == "Model"
    assert [len(p.data) for p in panels] == [len(models) ** 2] * 3 + [len(models)]
    # the source judging itself is one row, one tile per column
    assert set(panels[3].data["Model"]) == {SELF}
    cells = tile_table(grid, "agreement", layout(models, methods))
    assert (cells.loc[cells["model"] == cells["trained_on"], "label"] == "—").all()
    first = cells.dropna(subset=["value"]).iloc[0]
    assert (
        first["label"] == f"{first['value']:.2f}\n[{first['ci_low']:.2f}, {first['ci_high']:.2f}]"
    )
    digests = []
    for run in range(2):
        png, pdf = tmp_path / f"h{run}.png", tmp_path / f"h{run}.pdf"
        save_figure(heatmap(grid, layout(models, methods)), png, pdf)
        digests.append([hashlib.sha256(f.read_bytes()).hexdigest() for f in (png, pdf)])
    assert digests[0] == digests[1]


def test_every_panel_shares_one_fixed_scale_and_text_stays_legible():
    grid = fake_grid(["a", "b"], ["probe"])
    grid.loc[:, "value"] = [0.50, 0.55, 0.79, 0.21]
    for p in panels_of(heatmap(grid, layout(["a", "b"], ["probe", "lora"]))):
        fill = next(s for s in p.scales if "fill" in s.aesthetics)
        # the same limits everywhere, with chance (0.5) at the middle of the colour range
        assert tuple(fill.limits) == (0.2, 0.8)
        scaled = fill.rescaler(np.array([0.2, 0.5, 0.8]), _from=fill.limits)
        assert scaled == pytest.approx([0, 0.5, 1])
    cells = tile_table(grid, "probe", layout(["a", "b"], ["probe"])).set_index("value")
    # near chance the tile is near white: dark text; far from it, saturated: white text
    assert cells.loc[0.50, "text_colour"] == cells.loc[0.55, "text_colour"] == "#222222"
    assert cells.loc[0.79, "text_colour"] == cells.loc[0.21, "text_colour"] == "white"


def test_columns_without_cells_say_why():
    grid = fake_grid(["a", "b"], ["source_confidence"], sources=["a", "b"])
    shape = layout(
        ["a", "b"],
        ["source_confidence"],
        columns=["a", "b", "api"],
        missing={"source_confidence": {"api": "Source confidence needs source probabilities"}},
    )
    cells = tile_table(grid, "source_confidence", shape).set_index("trained_on")
    assert cells.loc["api", "label"] == "n/a"
    text = auroc_markdown(grid, shape)
    assert "| Model \\ Trained On | A | B | API |" in text
    assert "API: n/a (Source confidence needs source probabilities)." in text


def test_markdown_grid_lists_rows_and_columns():
    text = auroc_markdown(fake_grid(["a", "b"], ["probe"]), layout(["a", "b"], ["probe"]))
    assert "| Model \\ Trained On | A | B |" in text
    assert "(AUROC, pooled: mean over training seeds ± their SD [95% CI]" in text
    assert "0.010 [" in text  # the seed SD beside the value
    assert text.count("\n| A |") == 1 and "[" in text


def test_a_method_added_to_the_registry_appears_in_the_grid_and_the_figure(monkeypatch):
    from dataclasses import replace

    from crossprobe.contract import methods

    oracle = replace(methods.METHODS["zero_shot"], name="oracle", title="Oracle")
    monkeypatch.setitem(methods.METHODS, "oracle", oracle)
    grid = fake_grid(["a", "b"], ["probe", "oracle"])
    shape = layout(["a", "b"], ["probe", "oracle"])
    assert "**Oracle**" in auroc_markdown(grid, shape)
    assert [p.labels.title for p in panels_of(heatmap(grid, shape))] == ["Probe", "Oracle"]
