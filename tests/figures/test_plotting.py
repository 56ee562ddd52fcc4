"""The heatmaps and the markdown grid: facets, axes, one shared colour bar, labels that fit
their tiles, legible text, n/a with its reason, and byte-stable files."""

import hashlib

import numpy as np
import pandas as pd
import pytest

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
                        "seeds": 3 if method.startswith("probe") else 1,
                        "resamples": 10 if method.startswith("probe") else 0,
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
        "min_subjects": 10,
        "min_class_answers": 5,
    }


def tiles_and_labels(figure) -> list[tuple]:
    """(tile extent, label extent) in the drawn figure's pixels, for every label of every facet:
    a label belongs to the tile around its anchor (a discrete scale puts tiles at integers)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    drawn = figure.draw()
    canvas = FigureCanvasAgg(drawn)
    canvas.draw()  # lays the figure out as saving it would
    renderer = canvas.get_renderer()
    pairs = []
    for ax in drawn.axes:
        for text in ax.texts:
            if not text.get_text():
                continue
            x, y = text.get_position()
            corners = ax.transData.transform([(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)])
            pairs.append((corners, text.get_window_extent(renderer)))
    import matplotlib.pyplot as plt

    plt.close(drawn)
    return pairs


@pytest.mark.parametrize("models", [["a", "b"], ["a", "b", "c", "d"]])
def test_heatmap_facets_the_methods_with_one_colour_bar_and_labels_inside_their_tiles(
    models, tmp_path
):
    methods = ["probe", "lora", "agreement", "source_confidence"]
    grid = fake_grid(models, methods)
    figure = heatmap(grid, layout(models, methods), methods)
    assert figure.mapping["x"] == "Trained On" and figure.mapping["y"] == "Model"
    assert list(figure.data["Method"].cat.categories) == [
        "Probe",
        "LoRA + Prompt",
        "Agreement",
        "Source confidence",
    ]
    fills = [s for s in figure.scales if "fill" in s.aesthetics]
    assert len(fills) == 1 and tuple(fills[0].limits) == (0.2, 0.8)  # one bar, fixed scale
    counts = figure.data.groupby("Method", observed=True).size().tolist()
    assert counts == [len(models) ** 2] * 3 + [len(models)]
    # the source judging itself is one row, one tile per column
    confidence = figure.data[figure.data["Method"] == "Source confidence"]
    assert set(confidence["Model"]) == {SELF}
    cells = tile_table(grid, "agreement", layout(models, methods))
    assert (cells.loc[cells["model"] == cells["trained_on"], "label"] == "—").all()
    first = cells.dropna(subset=["value"]).iloc[0]
    assert (
        first["label"] == f"{first['value']:.2f}\n[{first['ci_low']:.2f}, {first['ci_high']:.2f}]"
    )
    # every label fits inside its tile, for 2 and for 4 models
    pairs = tiles_and_labels(figure)
    assert len(pairs) == 3 * len(models) ** 2 + len(models)
    for (low, high), label in pairs:
        assert low[0] <= label.x0 and label.x1 <= high[0], (low, high, label)
        assert min(low[1], high[1]) <= label.y0 and label.y1 <= max(low[1], high[1])
    digests = []
    for run in range(2):
        png, pdf = tmp_path / f"h{run}.png", tmp_path / f"h{run}.pdf"
        save_figure(heatmap(grid, layout(models, methods), ["probe", "lora"]), png, pdf)
        digests.append([hashlib.sha256(f.read_bytes()).hexdigest() for f in (png, pdf)])
    assert digests[0] == digests[1]


def test_rows_and_columns_follow_the_order_and_text_stays_legible():
    grid = fake_grid(["a", "b"], ["probe"])
    grid.loc[:, "value"] = [0.50, 0.55, 0.79, 0.21]
    shape = layout(["b", "a"], ["probe"])  # b first, as figure.order would put it
    figure = heatmap(grid, shape, ["probe"])
    x = next(s for s in figure.scales if "x" in s.aesthetics)
    assert list(x.limits) == ["B", "A"]
    assert list(figure.data["Model"].cat.categories) == ["A", "B"]  # drawn top-down: B first
    fill = next(s for s in figure.scales if "fill" in s.aesthetics)
    scaled = fill.rescaler(np.array([0.2, 0.5, 0.8]), _from=fill.limits)
    assert scaled == pytest.approx([0, 0.5, 1])  # chance at the middle of the colour range
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
    figure = heatmap(grid, shape, shape["methods"])
    assert list(figure.data["Method"].cat.categories) == ["Probe", "Oracle"]


def contrast_row(comparison, model, column, a, b, difference, sim, separated, method="", n=100):
    family = f"{comparison}/auroc/" + (f"on~{column}" if method else f"{model}/on~{column}")
    return {
        "comparison": comparison,
        "method": method,
        "model": model,
        "column": column,
        "a": a,
        "b": b,
        "metric": "auroc",
        "difference": difference,
        "ci_low": sim[0],
        "ci_high": sim[1],
        "n": n,
        "family": family,
        "sim_low": sim[0],
        "sim_high": sim[1],
        "p_holm": 0.01 if separated else 0.5,
        "p_adjusted": 0.01 if separated else 0.5,
        "constant": False,
        "separated": separated,
    }


def test_findings_say_no_more_than_the_tables():
    from crossprobe.evaluation.findings import findings_markdown

    grid = fake_grid(["a", "b"], ["probe", "probe_question", "probe_pooled", "lora"])
    contrasts = pd.DataFrame(
        [
            # separated, both ways
            contrast_row("within_column", "b", "a", "b", "a", 0.08, (0.02, 0.14), True, "probe"),
            contrast_row(
                "within_column",
                "a",
                "b",
                "a",
                "b",
                -0.07,
                (-0.12, -0.01),
                True,
                "probe",
            ),
            # not separated, not equivalent
            contrast_row(
                "within_column",
                "b",
                "a",
                "b",
                "a",
                0.03,
                (-0.04, 0.10),
                False,
                "lora",
            ),
            # not separated, and inside the margin: equivalent
            contrast_row(
                "within_cell",
                "a",
                "a",
                "probe",
                "probe_pooled",
                0.004,
                (-0.03, 0.04),
                False,
            ),
            contrast_row(
                "within_cell",
                "a",
                "a",
                "probe",
                "probe_question",
                0.02,
                (-0.05, 0.09),
                False,
            ),
        ]
    )
    shape = {**layout(["a", "b"], ["probe"]), "equivalence_margin": 0.05}
    text = findings_markdown(grid, contrasts, shape)
    assert (
        "- Probe: B judging A's answers exceeds A judging itself by 0.080 [+0.020, +0.140]." in text
    )
    assert "A judging B's answers falls short of B judging itself by 0.070 [-0.120, -0.010]" in text
    # half-width 0.07 at n = 100, margin 0.05: 100 x (0.07 / 0.05)^2 = 196 answers needed
    assert (
        "- LoRA + Prompt: no difference shown between B judging A's answers and A judging "
        "itself: +0.030 [-0.040, +0.100]; equivalence within ±0.050 cannot be shown at n = 100 "
        "(half-width 0.070; about 200 test answers would narrow it to the margin)." in text
    )
    cells = grid[grid["trained_on"] == "a"].set_index(["method", "model"])["value"]
    above = ", ".join(
        f"{cells['probe', 'a'] - 0.5:+.3f}, {cells['probe_pooled', 'a'] - 0.5:+.3f}".split(", ")
    )
    assert (
        "Probe and Probe, all sources are equivalent within ±0.050 (simultaneous 95% interval "
        f"[-0.030, +0.040]; the cells sit {above} from chance)" in text
    )
    # the header says how verdicts and equivalence are tested, per family, and names them
    assert "simultaneous 95% interval lies inside it" in text and "at most 5%" in text
    assert "Error is controlled within each family, not across families" in text
    assert (
        "This page rests on 3 families, each at 5%: the comparisons with the source judging "
        "itself in each column (A, B) and the comparisons between methods in each cell (A on A)."
        in text
    )
    assert "each training seed was also fitted on 10 bootstrap resamples of the training" in text
    assert "contrasts between them, carry training-set variability" in text
    assert (
        "LoRA + Prompt: its intervals are conditional on its one training seed and the one "
        "split of training answers." in text
    )
    assert "no difference shown between Probe and Question-only probe: +0.020" in text
    assert "as good as" not in text and "better than" not in text
    assert "- A on A: highest point estimate " in text and "; no method is separated" in text


def test_the_best_method_is_a_point_estimate_with_what_is_separated_below_it():
    from crossprobe.evaluation.findings import best_sentence
    from crossprobe.evaluation.markdown import WINNER_COLUMNS

    def cell(separated):
        rows = [
            ("a", "a", "agreement_prob", 0.596, other, value, sep)
            for (other, value), sep in zip(
                (("probe", 0.590), ("lora", 0.571), ("zero_shot", 0.502)), separated, strict=True
            )
        ]
        return pd.DataFrame(rows, columns=WINNER_COLUMNS)

    names = {"a": "A"}
    start = "- A on A: highest point estimate Agreement (prob.) (0.596)"
    assert best_sentence(cell([False] * 3), "a", "a", names) == (
        f"{start}; no method is separated from it."
    )
    assert best_sentence(cell([False, True, True]), "a", "a", names) == (
        f"{start}; not separated from it: Probe (0.590); below it: LoRA + Prompt (0.571), "
        "Zero-shot query (0.502)."
    )
    assert best_sentence(cell([True] * 3), "a", "a", names) == (
        f"{start}; below it: Probe (0.590), LoRA + Prompt (0.571), Zero-shot query (0.502)."
    )


def test_a_constant_contrast_gets_its_own_sentence_not_an_interval_of_nan():
    from crossprobe.evaluation.findings import verdict
    from crossprobe.evaluation.markdown import difference_text

    row = contrast_row("within_cell", "a", "a", "probe", "lora", 0.0, (np.nan,) * 2, False)
    row["constant"] = True
    text = verdict(row, "Probe", "LoRA + Prompt", 0.02)
    assert text == (
        "Probe against LoRA + Prompt: +0.000 on every resample (no sampling variation: not tested)"
    )
    assert "nan" not in difference_text(row)


def test_a_headline_no_cell_has_a_value_on_is_said_not_crashed_on():
    """A per-subject headline on data without subjects: every value is NaN, and the summaries
    say so instead of failing the aggregate job."""
    from crossprobe.evaluation.findings import findings_markdown
    from crossprobe.evaluation.markdown import NO_VALUE, winners_markdown

    grid = fake_grid(["a", "b"], ["probe", "lora"]).assign(value=np.nan)
    contrasts = pd.DataFrame(
        [
            contrast_row(
                "within_cell",
                "a",
                "a",
                "probe",
                "lora",
                np.nan,
                (np.nan,) * 2,
                False,
            )
        ]
    )
    shape = {**layout(["a", "b"], ["probe", "lora"]), "equivalence_margin": 0.05}
    assert NO_VALUE in winners_markdown(grid, contrasts, shape)
    assert f"- {NO_VALUE}" in findings_markdown(grid, contrasts, shape)


def test_findings_say_what_a_per_subject_headline_rests_on_and_what_has_no_value():
    from crossprobe.evaluation.findings import findings_markdown

    grid = fake_grid(["a", "b"], ["probe"])
    grid["metric"] = "auroc_subject_mean"
    support = [
        {"method": "probe", "model": m, "trained_on": c, "metric": metric, "value": v, "seeds": 3}
        for m in ("a", "b")
        for c, used in (("a", 1), ("b", 0))
        for metric, v in (("subjects_used", used), ("subjects_total", 47))
    ]
    grid = pd.concat([grid, pd.DataFrame(support)], ignore_index=True)
    contrasts = pd.DataFrame(
        [
            contrast_row("within_column", "b", "a", "b", "a", 0.467, (0.15, 0.79), True, "probe"),
            contrast_row(
                "within_column",
                "a",
                "b",
                "a",
                "b",
                np.nan,
                (np.nan, np.nan),
                False,
                "probe",
            ),
        ]
    ).assign(metric="auroc_subject_mean")
    shape = {
        **layout(["a", "b"], ["probe"]),
        "headline": "auroc_subject_mean",
        "headline_label": "AUROC, mean over subjects",
        "equivalence_margin": 0.02,
    }
    text = findings_markdown(grid, contrasts, shape)
    assert (
        "B judging A's answers exceeds A judging itself by 0.467 [+0.150, +0.790] (resting on "
        "1 of 47 subjects, fewer than evaluation.min_subjects 10)" in text
    )
    assert (
        "A judging B's answers against B judging itself: not estimable (no subject has both "
        "classes)" in text
    )
    assert "nan" not in text and "no difference shown" not in text


def test_the_reliability_diagram_draws_each_bins_interval_and_the_ece_beside_its_floor():
    from crossprobe.evaluation.column import evaluate_column
    from crossprobe.figures.plotting import calibration_labels, reliability_figure
    from helpers import EVALUATION_PARAMS, column_tables

    result = evaluate_column(column_tables(n=150), "a", EVALUATION_PARAMS, 100)
    shape = layout(["a", "b"], ["probe"], columns=["a"])
    labels = calibration_labels(result["metrics"], "probe", shape).set_index("model")["label"]
    ece = result["metrics"].set_index(["model", "metric"]).loc[("b", "ece")]
    floor = result["metrics"].set_index(["model", "metric"]).loc[("b", "ece_if_calibrated")]
    assert labels["b"] == (
        f"ECE {ece['value']:.3f} [{ece['ci_low']:.3f}, {ece['ci_high']:.3f}]\n"
        f"calibrated at this n: {floor['value']:.3f} "
        f"[{floor['ci_low']:.3f}, {floor['ci_high']:.3f}]"
    )
    figure = reliability_figure(result["curves"], result["metrics"], "probe", shape)
    drawn = figure.draw()
    texts = [t.get_text() for ax in drawn.axes for t in ax.texts]
    assert sorted(texts) == sorted(labels)  # one label per cell
    import matplotlib.pyplot as plt

    plt.close(drawn)


def test_the_recipe_figure_has_a_row_per_recipe_in_each_cell(tmp_path):
    """Per cell, the grid's recipe and each variant with its interval, in the table's order
    (the grid's on top), the grid's value marked."""
    from crossprobe.figures.plotting import recipes_figure

    rows = []
    for model in ("a", "b"):
        for source in ("a", "b"):
            for recipe, value in (("grid", 0.6), ("paper_readme", 0.55), ("paper_c3", 0.58)):
                rows.append(
                    {
                        "method": "probe",
                        "model": model,
                        "trained_on": source,
                        "recipe": recipe,
                        "metric": "auroc",
                        "value": value,
                        "ci_low": value - 0.04,
                        "ci_high": value + 0.04,
                    }
                )
    recipes = pd.DataFrame(rows)
    figure = recipes_figure(recipes, layout(["a", "b"], ["probe"]))
    assert list(figure.data["Recipe"].cat.categories) == ["paper_c3", "paper_readme", "grid"]
    assert len(figure.data) == 12
    png = tmp_path / "recipes.png"
    save_figure(figure, png)
    assert png.stat().st_size > 10_000
