"""The `plot_heatmap` stage: one AUROC heatmap per method, as in the paper's Fig. 5 (centre).

y axis "Model" (the estimator), x axis "Trained On" (whose answers it judges), each tile
annotated with AUROC and its bootstrap interval, each panel with its own colour scale (plotnine
facets share one scale, so panels are separate plots composed side by side).
"""

from pathlib import Path

import numpy as np
import pandas as pd
from plotnine import (
    aes,
    element_blank,
    element_text,
    geom_text,
    geom_tile,
    ggplot,
    labs,
    scale_color_identity,
    scale_fill_cmap,
    scale_x_discrete,
    scale_y_discrete,
    theme,
    theme_minimal,
)
from plotnine.composition import Beside, plot_spacer

from crossprobe.job import atomic
from crossprobe.methods import title

PANELS_PER_ROW = 3
PANEL_INCHES = (5.0, 3.6)  # width, height of one panel


def tile_table(grid: pd.DataFrame, method: str, names: dict) -> pd.DataFrame:
    """The AUROC rows of one method with labels and a legible text colour per tile."""
    cells = grid[(grid["method"] == method) & (grid["metric"] == "auroc")].copy()
    index = pd.MultiIndex.from_product([list(names), list(names)], names=["model", "trained_on"])
    cells = cells.set_index(["model", "trained_on"]).reindex(index).reset_index()
    value = cells["value"].astype(float)
    low, high = value.min(), value.max()
    span = (high - low) if high > low else 1.0
    # viridis is dark at the low end and light at the high end
    shade = (value - low) / span
    cells["text_colour"] = np.where(shade > 0.55, "black", "white")
    cells["label"] = [
        "n/a" if np.isnan(v) else f"{v:.2f}\n[{lo:.2f}, {hi:.2f}]"
        for v, lo, hi in zip(value, cells["ci_low"], cells["ci_high"], strict=True)
    ]
    cells.loc[value.isna(), "text_colour"] = "black"
    cells["Model"] = cells["model"].map(names)
    cells["Trained On"] = cells["trained_on"].map(names)
    return cells


def panel(cells: pd.DataFrame, title: str, order: list[str]):
    return (
        ggplot(cells, aes(x="Trained On", y="Model"))
        + geom_tile(aes(fill="value"), color="white", size=0.8)
        + geom_text(aes(label="label", color="text_colour"), size=8)
        + scale_color_identity()
        + scale_fill_cmap("viridis", na_value="#dddddd")
        + scale_x_discrete(limits=order)
        + scale_y_discrete(limits=list(reversed(order)))
        + labs(title=title, fill="AUROC")
        + theme_minimal()
        + theme(
            panel_grid=element_blank(),
            plot_title=element_text(ha="center", weight="bold"),
            axis_text_x=element_text(rotation=15, ha="right"),
        )
    )


def heatmap(grid: pd.DataFrame, methods: list[str], names: dict):
    """A plotnine composition with one panel per method, PANELS_PER_ROW to a row."""
    order = [names[m] for m in names]
    panels = [panel(tile_table(grid, m, names), title(m), order) for m in methods]
    while len(panels) > PANELS_PER_ROW and len(panels) % PANELS_PER_ROW:
        panels.append(plot_spacer())
    rows = [Beside(panels[i : i + PANELS_PER_ROW]) for i in range(0, len(panels), PANELS_PER_ROW)]
    figure = rows[0]
    for row in rows[1:]:
        figure = figure / row
    # a composition takes its size from the theme of its last plot
    width = PANEL_INCHES[0] * min(len(panels), PANELS_PER_ROW)
    return figure + theme(figure_size=(width, PANEL_INCHES[1] * len(rows)))


def save_heatmap(figure, png: Path, pdf: Path, dpi: int = 150) -> None:
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
