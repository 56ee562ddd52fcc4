"""The `aggregate` stage's markdown: one AUROC grid per method, rows Model, columns Trained On."""

import pandas as pd

from crossprobe.methods import title


def cell_text(row) -> str:
    if pd.isna(row["value"]):
        return "n/a"
    return f"{row['value']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def auroc_markdown(grid: pd.DataFrame, methods: list[str], names: dict) -> str:
    auroc = grid[grid["metric"] == "auroc"]
    lines = []
    for method in methods:
        rows = auroc[auroc["method"] == method].set_index(["model", "trained_on"])
        lines += [
            f"**{title(method)}** (AUROC [95% CI]; row = Model, column = Trained On)",
            "",
            "| Model \\ Trained On | " + " | ".join(names[s] for s in names) + " |",
            "|---" * (len(names) + 1) + "|",
        ]
        for m in names:
            texts = [cell_text(rows.loc[(m, s)]) if (m, s) in rows.index else "—" for s in names]
            lines.append(f"| {names[m]} | " + " | ".join(texts) + " |")
        lines.append("")
    return "\n".join(lines)


def winners(grid: pd.DataFrame) -> pd.DataFrame:
    """Per cell: the method with the highest AUROC, the runner-up, and whether the best one's
    interval lies wholly above the runner-up's (the difference is then not bootstrap noise)."""
    auroc = grid[(grid["metric"] == "auroc") & grid["value"].notna()]
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


def winners_markdown(grid: pd.DataFrame, names: dict) -> str:
    table = winners(grid)
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
