"""The `aggregate` stage's markdown: one AUROC grid per method, rows Model, columns Trained On."""

import pandas as pd

from crossprobe.plotting import METHOD_TITLES


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
            f"**{METHOD_TITLES.get(method, method)}** "
            "(AUROC [95% CI]; row = Model, column = Trained On)",
            "",
            "| Model \\ Trained On | " + " | ".join(names[s] for s in names) + " |",
            "|---" * (len(names) + 1) + "|",
        ]
        for m in names:
            texts = [cell_text(rows.loc[(m, s)]) if (m, s) in rows.index else "—" for s in names]
            lines.append(f"| {names[m]} | " + " | ".join(texts) + " |")
        lines.append("")
    return "\n".join(lines)
