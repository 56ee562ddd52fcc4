"""The figures: the AUROC heatmaps as in the paper's Fig. 5 (centre), the paired contrasts, the
training-size sweep, the recipe variants, and per method the reliability diagrams and
risk-coverage curves.

Heatmaps: y axis "Model" (the estimator), x axis "Trained On" (whose answers it judges); each tile
shows the headline AUROC and its interval. Every panel shares one fixed colour scale, diverging at
0.5 (chance), so equal colours mean equal values across panels and a tile's colour says nothing
the interval does not. A method with one value per column (the source judging itself) is one row.
"""

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from mizani.bounds import squish
from plotnine import (
    aes,
    element_blank,
    element_text,
    facet_grid,
    facet_wrap,
    geom_abline,
    geom_errorbar,
    geom_errorbarh,
    geom_hline,
    geom_line,
    geom_point,
    geom_ribbon,
    geom_text,
    geom_tile,
    geom_vline,
    ggplot,
    labs,
    scale_color_identity,
    scale_fill_gradient2,
    scale_x_continuous,
    scale_x_discrete,
    scale_x_log10,
    scale_y_continuous,
    theme,
    theme_minimal,
)

from crossprobe.contract.methods import METHODS, title
from crossprobe.contract.paths import GRID_RECIPE
from crossprobe.evaluation.markdown import conditional_note, subject_support
from crossprobe.job import atomic

FACETS_PER_ROW = 3
TILE_INCHES = (1.25, 0.62)  # width, height of one tile: room for "0.58" and "[0.52, 0.65]"
TEXT_SIZE = 8
BELOW, CHANCE, ABOVE = "#2166ac", "#f7f7f7", "#b2182b"
SELF = "the source itself"  # the row label of one-per-column methods


def tile_table(grid: pd.DataFrame, method: str, layout: dict) -> pd.DataFrame:
    """The headline rows of one method on its panel's tiles, with labels and a text colour that
    stays legible on the tile's colour."""
    metric, (low, high) = layout["headline"], layout["limits"]
    names, columns = layout["names"], layout["columns"]
    self_only = METHODS[method].self_only if method in METHODS else False
    cells = grid[(grid["method"] == method) & (grid["metric"] == metric)].copy()
    if self_only:
        cells["model"] = SELF
    rows = [SELF] if self_only else layout["rows"]
    index = pd.MultiIndex.from_product([rows, columns], names=["model", "trained_on"])
    cells = cells.set_index(["model", "trained_on"]).reindex(index).reset_index()
    value = cells["value"].astype(float)
    # distance from chance as a share of the scale's reach on that side: far = saturated tile
    reach = np.where(value >= 0.5, high - 0.5, 0.5 - low)
    cells["text_colour"] = np.where(np.abs(value - 0.5) / reach > 0.6, "white", "#222222")
    missing = layout["missing"].get(method, {})
    cells["label"] = [
        ("n/a" if s in missing else "—") if np.isnan(v) else f"{v:.2f}\n[{lo:.2f}, {hi:.2f}]"
        for v, lo, hi, s in zip(
            value, cells["ci_low"], cells["ci_high"], cells["trained_on"], strict=True
        )
    ]
    cells.loc[value.isna(), "text_colour"] = "#222222"
    cells["Model"] = cells["model"].map(lambda m: names.get(m, m))
    cells["Trained On"] = cells["trained_on"].map(names)
    return cells


def facet_title(method: str) -> str:
    """A pooled estimator learned from every column; its columns are only where it is scored."""
    pooled = method in METHODS and METHODS[method].pooled
    return f"{title(method)} (trained on every column)" if pooled else title(method)


def heatmap(grid: pd.DataFrame, layout: dict, methods: list[str]):
    """One facet per method of `methods` (rows: Model, columns: Trained On, in the layout's
    order), `FACETS_PER_ROW` to a row, one shared colour bar on one fixed scale (white at 0.5),
    each tile sized to hold its value and interval; a per-subject headline's support below."""
    tables = [tile_table(grid, m, layout).assign(Method=facet_title(m)) for m in methods]
    cells = pd.concat(tables, ignore_index=True)
    cells["Method"] = pd.Categorical(cells["Method"], [facet_title(m) for m in methods])
    rows = list(reversed([layout["names"][r] for r in layout["rows"]])) + [SELF]
    cells["Model"] = pd.Categorical(cells["Model"], [r for r in rows if r in set(cells["Model"])])
    columns = [layout["names"][c] for c in layout["columns"]]
    across = min(len(methods), FACETS_PER_ROW)
    down = -(-len(methods) // across)
    width = across * (TILE_INCHES[0] * len(columns) + 0.4) + 3.0  # + row labels and colour bar
    height = down * (TILE_INCHES[1] * len(layout["rows"]) + 1.3) + 0.6
    notes = (subject_support(grid, layout), conditional_note(grid, methods))
    support = " ".join(t for t in notes if t)
    return (
        ggplot(cells, aes(x="Trained On", y="Model"))
        + geom_tile(aes(fill="value"), color="white", size=0.8)
        + geom_text(aes(label="label", color="text_colour"), size=TEXT_SIZE)
        + scale_color_identity()
        + scale_fill_gradient2(
            low=BELOW,
            mid=CHANCE,
            high=ABOVE,
            midpoint=0.5,
            limits=tuple(layout["limits"]),
            oob=squish,
            na_value="#dddddd",
        )
        + scale_x_discrete(limits=columns)
        + facet_wrap("Method", ncol=across, scales="free_y")
        + labs(
            fill=layout["headline_label"].replace(", ", "\n"),
            x="Trained On",
            caption=textwrap.fill(support, 30 * across) if support else "",
        )
        + theme_minimal()
        + theme(
            figure_size=(width, height + (0.3 if support else 0)),
            panel_grid=element_blank(),
            strip_text=element_text(weight="bold", size=11),
            axis_text_x=element_text(rotation=15, ha="right"),
        )
    )


def contrasts_figure(contrasts: pd.DataFrame, layout: dict):
    """Within each column, per method: each estimator's headline AUROC minus that of the source
    judging itself, with its paired interval, simultaneous over the column's comparisons (right
    of 0: the other model judges better)."""
    names = layout["names"]
    data = contrasts[
        (contrasts["comparison"] == "within_column") & (contrasts["metric"] == layout["headline"])
    ].copy()
    data["pair"] = [
        f"{names[m]} on {names[c]}" for m, c in zip(data["model"], data["column"], strict=True)
    ]
    data["Method"] = pd.Categorical(
        data["method"].map(title), [title(m) for m in layout["methods"]], ordered=True
    )
    return (
        ggplot(data, aes(x="difference", y="pair"))
        + geom_vline(xintercept=0, linetype="dashed", color="#888888")
        + geom_errorbarh(aes(xmin="sim_low", xmax="sim_high"), height=0.25)
        + geom_point(size=2)
        + facet_wrap("Method", ncol=2)
        + labs(
            x=f"{layout['headline_label']}: Model on Trained On − Trained On judging itself",
            y="",
            title="Judging another model vs. judging itself (paired, simultaneous 95% intervals)",
        )
        + theme_minimal()
        + theme(
            figure_size=(
                9,
                1.2
                + 0.5
                * max(1, data["pair"].nunique())
                * max(1, (data["Method"].nunique() + 1) // 2),
            )
        )
    )


def sweep_figure(sweep: pd.DataFrame, grid: pd.DataFrame, layout: dict):
    """AUROC against the number of training answers (log axis), one line per estimator with its
    interval, a facet per method and source; the untrained methods' values as reference lines."""
    names = layout["names"]
    metric = layout["headline"]
    data = sweep[sweep["metric"] == metric].copy()
    data["Model"] = data["model"].map(names)
    data["Trained_On"] = data["trained_on"].map(names)
    data["Method"] = data["method"].map(title)
    untrained = [m for m in layout["methods"] if m in METHODS and not METHODS[m].trained]
    references = grid[(grid["metric"] == metric) & grid["method"].isin(untrained)].copy()
    references = references.merge(data[["Method", "trained_on"]].drop_duplicates(), on="trained_on")
    references["Model"] = references["model"].map(names)
    references["Trained_On"] = references["trained_on"].map(names)
    references["Baseline"] = references["method"].map(title)
    return (
        ggplot(data, aes(x="n_train", y="value", color="Model", fill="Model"))
        + geom_hline(
            references, aes(yintercept="value", color="Model", linetype="Baseline"), alpha=0.7
        )
        + geom_hline(yintercept=0.5, color="#bbbbbb")
        + geom_ribbon(aes(ymin="ci_low", ymax="ci_high"), alpha=0.15, color="none")
        + geom_line()
        + geom_point()
        + scale_x_log10()
        + facet_grid(rows="Method", cols="Trained_On")
        + labs(
            x="training answers (log scale)",
            y=layout["headline_label"],
            title="How many labelled answers does an estimator need?",
        )
        + theme_minimal()
        + theme(
            figure_size=(4 + 3.5 * data["Trained_On"].nunique(), 1.5 + 3 * data["Method"].nunique())
        )
    )


def recipes_figure(recipes: pd.DataFrame, layout: dict):
    """Per cell (rows: Model, columns: Trained On), the headline AUROC of the grid's recipe and
    of each variant with its interval (all on the one split of training answers), a dashed
    line at the grid's recipe: how far the recipe moves a cell."""
    data = cells_frame(recipes[recipes["metric"] == layout["headline"]], layout)
    order = list(dict.fromkeys(data["recipe"]))
    data["Recipe"] = pd.Categorical(data["recipe"], list(reversed(order)), ordered=True)
    data["Method"] = data["method"].map(title)
    grid = data[data["recipe"] == GRID_RECIPE]
    return (
        ggplot(data, aes(x="value", y="Recipe", color="Method"))
        + geom_vline(grid, aes(xintercept="value", color="Method"), linetype="dashed")
        + geom_vline(xintercept=0.5, color="#bbbbbb")
        + geom_errorbarh(aes(xmin="ci_low", xmax="ci_high"), height=0.25)
        + geom_point(size=2)
        + facet_grid(rows="Model", cols="Trained_On")
        + labs(
            x=layout["headline_label"],
            y="",
            title="How far does the Probe's training recipe move a cell?",
            caption="On the one split of training answers; dashed: the grid's recipe",
        )
        + theme_minimal()
        + theme(
            figure_size=(
                3 + 3.5 * max(1, data["Trained_On"].nunique()),
                1.2 + (0.4 * len(order) + 0.6) * max(1, data["Model"].nunique()),
            )
        )
    )


def cells_frame(frame: pd.DataFrame, layout: dict) -> pd.DataFrame:
    """`frame` with the display names of its cells (facet variables must be identifiers)."""
    names = layout["names"]
    return frame.assign(
        Model=frame["model"].map(lambda m: names.get(m, m)),
        Trained_On=frame["trained_on"].map(names),
    )


def cell_panels(data: pd.DataFrame) -> list:
    """One panel per cell (rows: Model, columns: Trained On) on the unit square, sized to the
    grid; shared by the per-cell curve figures."""
    return [
        facet_grid(rows="Model", cols="Trained_On"),
        scale_x_continuous(limits=(0, 1)),
        scale_y_continuous(limits=(0, 1)),
        theme_minimal(),
        theme(
            figure_size=(
                3 + 3 * max(1, data["Trained_On"].nunique()),
                1.5 + 2.6 * max(1, data["Model"].nunique()),
            )
        ),
    ]


def calibration_labels(grid: pd.DataFrame, method: str, layout: dict) -> pd.DataFrame:
    """Per cell of `method`: its ECE with its interval, beside the ECE a perfectly calibrated
    scorer reads at this n (its mean and range)."""
    rows = grid[(grid["method"] == method) & grid["metric"].isin(["ece", "ece_if_calibrated"])]
    wide = rows.pivot_table(
        index=["model", "trained_on"], columns="metric", values=["value", "ci_low", "ci_high"]
    )
    labels = [
        f"ECE {r[('value', 'ece')]:.3f} [{r[('ci_low', 'ece')]:.3f}, {r[('ci_high', 'ece')]:.3f}]"
        f"\ncalibrated at this n: {r[('value', 'ece_if_calibrated')]:.3f} "
        f"[{r[('ci_low', 'ece_if_calibrated')]:.3f}, {r[('ci_high', 'ece_if_calibrated')]:.3f}]"
        for _, r in wide.iterrows()
    ]
    return cells_frame(wide.index.to_frame(index=False).assign(label=labels), layout)


def reliability_figure(curves: pd.DataFrame, grid: pd.DataFrame, method: str, layout: dict):
    """Per cell of `method`: accuracy against mean P(correct) per bin, before and after
    temperature scaling, with the accuracy's interval (on the diagonal: calibrated), and the
    cell's ECE beside what a perfectly calibrated scorer reads at this n."""
    data = cells_frame(
        curves[(curves["method"] == method) & (curves["curve"] == "reliability")], layout
    )
    return (
        ggplot(data, aes(x="x", y="y", color="kind"))
        + geom_abline(slope=1, intercept=0, linetype="dashed", color="#888888")
        + geom_errorbar(aes(ymin="y_low", ymax="y_high"), width=0.02, alpha=0.6)
        + geom_line()
        + geom_point(aes(size="n"))
        + geom_text(
            calibration_labels(grid, method, layout),
            aes(label="label"),
            x=0.03,
            y=0.97,
            ha="left",
            va="top",
            size=7,
            inherit_aes=False,
        )
        + cell_panels(data)
        + labs(
            x="mean P(correct) in the bin",
            y="accuracy in the bin",
            color="",
            size="answers",
            title=f"{title(method)}: reliability on the test answers",
        )
    )


def risk_coverage_figure(curves: pd.DataFrame, grid: pd.DataFrame, method: str, layout: dict):
    """Per cell of `method`: the error rate among the answers kept, keeping them from the most
    to the least confident, with the area under the curve (AURC, lower is better)."""
    data = cells_frame(
        curves[(curves["method"] == method) & (curves["curve"] == "risk_coverage")], layout
    )
    area = grid[(grid["method"] == method) & (grid["metric"] == "aurc")]
    area = cells_frame(area.assign(label=[f"AURC {v:.3f}" for v in area["value"]]), layout)
    return (
        ggplot(data, aes(x="x", y="y"))
        + geom_line(color="#b2182b")
        + geom_text(area, aes(label="label"), x=0.95, y=0.95, ha="right", va="top", size=8)
        + cell_panels(data)
        + labs(
            x="coverage (share of answers kept)",
            y="error rate among those kept",
            title=f"{title(method)}: risk-coverage on the test answers",
        )
    )


def save_figure(figure, png: Path, pdf: Path | None = None, dpi: int = 150) -> None:
    """PNG (and PDF) without timestamps or version strings, so reruns give identical bytes."""
    drawn = figure.draw()
    targets = [(png, {"Software": None})]
    if pdf is not None:
        targets.append((pdf, {"CreationDate": None, "Producer": None}))
    for path, metadata in targets:
        with atomic(path) as tmp:
            drawn.savefig(tmp, format=Path(path).suffix[1:], dpi=dpi, metadata=metadata)
    import matplotlib.pyplot as plt

    plt.close(drawn)
