"""Findings written from the tables, in fixed sentence forms that cannot say more than the
numbers do. Every comparison reads a paired contrast of `contrasts.tsv` on the headline metric,
and its verdict comes from the family-adjusted test (`separated`, Holm over the contrast's family)
with the simultaneous interval beside it:

- "A exceeds B by d [low, high]" / "A falls short of B by d [low, high]": separated;
- "A and B are equivalent within ±m (90% interval [low, high])": not separated, and the two
  one-sided tests pass: the (2 ci - 1) interval of the difference lies inside ±m (the margin m is
  `evaluation.equivalence_margin`);
- "no difference shown between A and B: d [low, high]": neither.

Never "as good as" without the equivalence test, never a difference from overlapping tiles.
"""

import pandas as pd

from crossprobe.contract.methods import title
from crossprobe.evaluation.markdown import NO_VALUE, winners

# the within-cell comparisons the findings speak about: (a, b, what a - b says)
CONTROLS = (
    ("probe", "probe_question", "the Probe against the question-only control"),
    ("probe", "probe_pooled", "a Probe per source against one trained on every source"),
    ("lora", "lora_pooled", "LoRA + Prompt per source against one trained on every source"),
)


def verdict(row, a: str, b: str, margin: float) -> str:
    """One comparison's sentence: A against B, from contrast `row` (a - b)."""
    interval = f"[{row['sim_low']:+.3f}, {row['sim_high']:+.3f}]"
    if row["separated"]:
        verb = "exceeds" if row["difference"] > 0 else "falls short of"
        return f"{a} {verb} {b} by {abs(row['difference']):.3f} {interval}"
    if -margin < row["tost_low"] and row["tost_high"] < margin:
        return (
            f"{a} and {b} are equivalent within ±{margin:.3f} (90% interval "
            f"[{row['tost_low']:+.3f}, {row['tost_high']:+.3f}])"
        )
    return f"no difference shown between {a} and {b}: {row['difference']:+.3f} {interval}"


def findings_markdown(grid: pd.DataFrame, contrasts: pd.DataFrame, layout: dict) -> str:
    """The findings of a run, from its grid and contrasts tables (see the module's forms)."""
    names, metric, margin = layout["names"], layout["headline"], layout["equivalence_margin"]
    on_metric = contrasts[contrasts["metric"] == metric]
    lines = [
        f"# Findings ({layout['headline_label']})",
        "",
        "Verdicts from paired bootstrap contrasts, Holm-adjusted within each family (a column's "
        "comparisons with the source judging itself; a cell's comparisons between methods); "
        "intervals are simultaneous 95% intervals over the family.",
        "",
        "## Judging another model vs. judging itself",
        "",
    ]
    within = on_metric[on_metric["comparison"] == "within_column"]
    for row in within.to_dict("records"):
        method, column = title(row["method"]), names[row["column"]]
        a = f"{names[row['model']]} judging {column}'s answers"
        lines.append(f"- {method}: " + verdict(row, a, f"{column} judging itself", margin) + ".")
    if within.empty:
        lines.append("- No column has a method with both a diagonal and another estimator.")
    lines += ["", "## Controls", ""]
    cells = on_metric[on_metric["comparison"] == "within_cell"]
    for a, b, what in CONTROLS:
        pairs = cells[(cells["a"] == a) & (cells["b"] == b)]
        for row in pairs.to_dict("records"):
            cell = f"{names[row['model']]} on {names[row['column']]}"
            lines.append(f"- {what}, {cell}: " + verdict(row, title(a), title(b), margin) + ".")
    lines += ["", "## Best method per cell", ""]
    table = winners(grid, contrasts, metric)
    for (model, source), cell in table.groupby(["model", "trained_on"], sort=False):
        best, others = cell.iloc[0], cell[cell["other"].notna()]
        tied = [f"{title(r.other)} ({r.other_value:.3f})" for r in others.itertuples() if r.tied]
        ties = (
            f"; not separated from it: {', '.join(tied)}" if tied else "; separated from the rest"
        )
        lines.append(
            f"- {names[model]} on {names[source]}: highest is {title(best['best'])} "
            f"({best['best_value']:.3f}){ties if len(others) else ''}."
        )
    if table.empty:
        lines.append(f"- {NO_VALUE}")
    return "\n".join(lines) + "\n"
