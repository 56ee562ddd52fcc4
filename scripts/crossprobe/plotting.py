"""The `plot_heatmap` stage: one AUROC heatmap per method, as in the paper's Fig. 5 (centre).

y axis "Model" (the estimator), x axis "Trained On" (whose answers it judges); each tile shows the
headline AUROC and its interval. Every panel shares one fixed colour scale, diverging at 0.5
(chance), so equal colours mean equal values across panels and a tile's colour says nothing the
interval does not. A method with one value per column (the source judging itself) is one row.
"""

from pathlib import Path

import numpy as np
import pandas as pd
from mizani.bounds import squish
from plotnine import (
    aes,
    element_blank,
    element_text,
    geom_text,
    geom_tile,
    ggplot,
    labs,
    scale_color_identity,
    scale_fill_gradient2,
    scale_x_discrete,
    scale_y_discrete,
    theme,
    theme_minimal,
)
from plotnine.composition import Beside, plot_spacer

from crossprobe.job import atomic
from crossprobe.methods import METHODS, title

PANELS_PER_ROW = 3
PANEL_INCHES = (5.0, 3.6)  # width, height of one panel
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


def panel(cells: pd.DataFrame, heading: str, layout: dict):
    columns = [layout["names"][c] for c in layout["columns"]]
    rows = list(dict.fromkeys(cells["Model"]))
    return (
        ggplot(cells, aes(x="Trained On", y="Model"))
        + geom_tile(aes(fill="value"), color="white", size=0.8)
        + geom_text(aes(label="label", color="text_colour"), size=8)
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
        + scale_y_discrete(limits=list(reversed(rows)))
        + labs(title=heading, fill=layout["headline_label"])
        + theme_minimal()
        + theme(
            panel_grid=element_blank(),
            plot_title=element_text(ha="center", weight="bold"),
            axis_text_x=element_text(rotation=15, ha="right"),
        )
    )


def heatmap(grid: pd.DataFrame, layout: dict):
    """A plotnine composition with one panel per method of `layout`, PANELS_PER_ROW to a row."""
    panels = [panel(tile_table(grid, m, layout), title(m), layout) for m in layout["methods"]]
    while len(panels) > PANELS_PER_ROW and len(panels) % PANELS_PER_ROW:
        panels.append(plot_spacer())
    rows = [Beside(panels[i : i + PANELS_PER_ROW]) for i in range(0, len(panels), PANELS_PER_ROW)]
    figure = rows[0]
    for row in rows[1:]:
        figure = figure / row
    # a composition takes its size from the theme of its last plot
    width = PANEL_INCHES[0] * min(len(panels), PANELS_PER_ROW)
    return figure + theme(figure_size=(width, PANEL_INCHES[1] * len(rows)))


def save_figure(figure, png: Path, pdf: Path, dpi: int = 150) -> None:
    """PNG and PDF without timestamps or version strings, so reruns give identical bytes."""
    drawn = figure.draw()
    for path, metadata in (
        (png, {"Software": None}),
        (pdf, {"CreationDate": None, "Producer": None}),
    ):
        with atomic(path) as tmp:
            drawn.savefig(tmp, format=Path(path).suffix[1:], dpi=dpi, metadata=metadata)
    import matplotlib.pyplot as plt

    plt.close(drawn)
