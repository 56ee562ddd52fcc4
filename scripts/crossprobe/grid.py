"""The `aggregate` stage's markdown: one AUROC grid per method, rows Model, columns Trained On."""

import pandas as pd

from crossprobe.methods import title


def cell_text(row) -> str:
    if pd.isna(row["value"]):
        return "n/a"
    return f"{row['value']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def auroc_markdown(grid: pd.DataFrame, layout: dict) -> str:
    """One table per method of `layout` (workflow.grid_layout): rows Model, columns Trained On;
    "—" where the method has no cell (a reason is given below the table)."""
    auroc = grid[grid["metric"] == layout["headline"]]
    names, columns = layout["names"], layout["columns"]
    lines = []
    for method in layout["methods"]:
        rows = auroc[auroc["method"] == method].set_index(["model", "trained_on"])
        lines += [
            f"**{title(method)}** ({layout['headline_label']} [95% CI]; "
            "row = Model, column = Trained On)",
            "",
            "| Model \\ Trained On | " + " | ".join(names[s] for s in columns) + " |",
            "|---" * (len(columns) + 1) + "|",
        ]
        for m in layout["rows"]:
            texts = [cell_text(rows.loc[(m, s)]) if (m, s) in rows.index else "—" for s in columns]
            lines.append(f"| {names[m]} | " + " | ".join(texts) + " |")
        for source, reason in layout["missing"].get(method, {}).items():
            lines.append(f"\n{names[source]}: n/a ({reason}).")
        lines.append("")
    return "\n".join(lines)


def winners(grid: pd.DataFrame, metric: str = "auroc") -> pd.DataFrame:
    """Per cell: the method with the highest AUROC, the runner-up, and whether the best one's
    interval lies wholly above the runner-up's (the difference is then not bootstrap noise)."""
    auroc = grid[(grid["metric"] == metric) & grid["value"].notna()]
    rows = []
    for (model, source), cell in auroc.groupby(["model", "trained_on"], sort=False):
        ranked = cell.sort_values("value", ascending=False)
        best = ranked.iloc[0]
        second = ranked.iloc[1] if len(ranked) > 1 else None
        rows.append(
            {
                "model": model,
                "trained_on": source,
                "best": best["method"],
                "best_auroc": best["value"],
                "runner_up": None if second is None else second["method"],
                "runner_up_auroc": None if second is None else second["value"],
                "separated": second is not None and best["ci_low"] > second["ci_high"],
            }
        )
    return pd.DataFrame(rows)


def winners_markdown(grid: pd.DataFrame, layout: dict) -> str:
    names = layout["names"]
    table = winners(grid, layout["headline"])
    lines = [
        "**Best method per cell** (highest AUROC; separated = its 95% interval lies above the "
        "runner-up's)",
        "",
        "| Model | Trained On | best | runner-up | separated |",
        "|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        second = (
            "—" if row.runner_up is None else f"{title(row.runner_up)} ({row.runner_up_auroc:.3f})"
        )
        lines.append(
            f"| {names[row.model]} | {names[row.trained_on]} | "
            f"{title(row.best)} ({row.best_auroc:.3f}) | {second} | "
            f"{'yes' if row.separated else 'no'} |"
        )
    return "\n".join(lines) + "\n"
