"""Findings written from the tables, in fixed sentence forms that cannot say more than the
numbers do. Every comparison reads a paired contrast of `contrasts.tsv` on the headline metric,
and its verdict comes from the family-wise tests of `evaluation.family` (a column's comparisons
with the source judging itself; a cell's comparisons between methods), error controlled per
family:

- "A exceeds B by d [low, high]" / "A falls short of B by d [low, high]": separated (the
  single-step max-t test; the interval is the family's simultaneous one, which excludes 0
  exactly then);
- "A and B are equivalent within ±m (...)": not separated, and the family's simultaneous 95%
  interval lies inside ±m (the two one-sided tests, family-wise at level at most 5%; m is
  `evaluation.equivalence_margin`, printed beside how far the two cells sit from chance);
- "no difference shown between A and B: d [low, high]": neither; where the interval's
  half-width is the margin or more, equivalence cannot be shown at this n, and the sentence
  says so with the half-width and about how many test answers would narrow it to the margin;
- "A against B: d on every resample (no sampling variation: not tested)": a constant contrast;
- "not estimable: ...": the difference has no value (a per-subject headline with no subject
  of both classes); a comparison whose per-subject headline rests on fewer subjects than
  `evaluation.min_subjects` says how many.

The best method per cell is only the highest point estimate, with the methods not separated
from it and those separated below it. Never "as good as" without the equivalence test, never a
difference from overlapping tiles.
"""

import math

import numpy as np
import pandas as pd

from crossprobe.contract.methods import title
from crossprobe.evaluation.markdown import (
    NO_VALUE,
    conditional_note,
    interval_note,
    thin_headlines,
    winners,
)

# the within-cell comparisons the findings speak about: (a, b, what a - b says)
CONTROLS = (
    ("probe", "probe_question", "the Probe against the question-only control"),
    ("probe", "probe_pooled", "a Probe per source against one trained on every source"),
    ("lora", "lora_pooled", "LoRA + Prompt per source against one trained on every source"),
    # both readings of an off-diagonal cell: does training on the source's own labels help?
    ("probe", "probe_own", "a Probe trained on the source's answers against the estimator's own"),
    (
        "lora",
        "lora_own",
        "LoRA + Prompt trained on the source's answers against the estimator's own",
    ),
)


def answers_needed(n: int, half_width: float, margin: float) -> int:
    """About how many test answers would narrow a simultaneous half-width to `margin` (the
    half-width shrinks as one over the square root of n), rounded up to a hundred."""
    return int(math.ceil(n * (half_width / margin) ** 2 / 100) * 100)


def verdict(row, a: str, b: str, margin: float, values=(np.nan, np.nan), support=None) -> str:
    """One comparison's sentence: A against B, from contrast `row` (a - b); `values` are the two
    cells' values, `support` (subjects in the per-subject mean, subjects, the minimum) where the
    headline is per subject."""
    if np.isnan(row["difference"]):
        why = "no subject has both classes" if support and support[0] == 0 else "no value"
        return f"{a} against {b}: not estimable ({why})"
    interval = f"[{row['sim_low']:+.3f}, {row['sim_high']:+.3f}]"
    half = (row["sim_high"] - row["sim_low"]) / 2
    if row["constant"]:
        text = (
            f"{a} against {b}: {row['difference']:+.3f} on every resample (no sampling "
            "variation: not tested)"
        )
    elif row["separated"]:
        verb = "exceeds" if row["difference"] > 0 else "falls short of"
        text = f"{a} {verb} {b} by {abs(row['difference']):.3f} {interval}"
    elif -margin < row["sim_low"] and row["sim_high"] < margin:
        above = ", ".join(f"{v - 0.5:+.3f}" for v in values)
        text = (
            f"{a} and {b} are equivalent within ±{margin:.3f} (simultaneous 95% interval "
            f"{interval}; the cells sit {above} from chance)"
        )
    else:
        text = f"no difference shown between {a} and {b}: {row['difference']:+.3f} {interval}"
        if margin <= half < np.inf:  # (inf: too few resamples for the level)
            text += (
                f"; equivalence within ±{margin:.3f} cannot be shown at n = {row['n']} "
                f"(half-width {half:.3f}; about {answers_needed(row['n'], half, margin):,} "
                "test answers would narrow it to the margin)"
            )
    if support and support[0] < support[2]:
        text += (
            f" (resting on {support[0]} of {support[1]} subjects, fewer than "
            f"evaluation.min_subjects {support[2]})"
        )
    return text


def family_names(contrasts: pd.DataFrame, names: dict) -> str:
    """The families of `contrasts`, in words, in their order."""
    columns, cells = [], []
    for row in contrasts.drop_duplicates("family").itertuples():
        if row.comparison == "within_column":
            columns.append(names[row.column])
        else:
            cells.append(f"{names[row.model]} on {names[row.column]}")
    parts = []
    if columns:
        parts.append(
            f"the comparisons with the source judging itself in each column ({', '.join(columns)})"
        )
    if cells:
        parts.append(f"the comparisons between methods in each cell ({'; '.join(cells)})")
    return " and ".join(parts)


def best_sentence(cell: pd.DataFrame, model: str, source: str, names: dict) -> str:
    """The best method per cell, claiming no more than the contrasts test: the highest point
    estimate, the methods not separated from it, those separated below it."""
    best, others = cell.iloc[0], cell[cell["other"].notna()]

    def listed(rows) -> str:
        return ", ".join(f"{title(r.other)} ({r.other_value:.3f})" for r in rows.itertuples())

    text = (
        f"- {names[model]} on {names[source]}: highest point estimate {title(best['best'])} "
        f"({best['best_value']:.3f})"
    )
    close, below = others[~others["separated"]], others[others["separated"]]
    if len(others) and not len(below):
        text += "; no method is separated from it"
    elif len(close):
        text += f"; not separated from it: {listed(close)}"
    if len(below):
        text += f"; below it: {listed(below)}"
    return text + "."


def findings_markdown(grid: pd.DataFrame, contrasts: pd.DataFrame, layout: dict) -> str:
    """The findings of a run, from its grid and contrasts tables (see the module's forms)."""
    names, metric, margin = layout["names"], layout["headline"], layout["equivalence_margin"]
    on_metric = contrasts[contrasts["metric"] == metric]
    value = grid[grid["metric"] == metric].set_index(["method", "model", "trained_on"])["value"]
    support = {
        c: (used, total, layout["min_subjects"])
        for c, (used, total) in thin_headlines(grid, layout).items()
    }

    def values(method_a, model_a, method_b, model_b, column):
        return tuple(
            value.get((method, model, column), np.nan)
            for method, model in ((method_a, model_a), (method_b, model_b))
        )

    methods = list(dict.fromkeys(grid["method"]))
    families = on_metric["family"].nunique()  # the page's three sections read them all
    lines = [
        f"# Findings ({layout['headline_label']})",
        "",
        "Verdicts from paired bootstrap contrasts. Error is controlled within each family, not "
        "across families: a family's contrasts are tested together by the single-step max-t "
        "test, whose simultaneous 95% interval is printed, and a contrast is separated exactly "
        "where that interval excludes 0 (its adjusted p at most 0.05). This page rests on "
        f"{families} {'family' if families == 1 else 'families'}, each at 5%: "
        f"{family_names(on_metric, names) or 'none'}. Two estimators are called equivalent within "
        f"±{margin:.3f} (evaluation.equivalence_margin) only where the family's simultaneous "
        "95% interval lies inside it (the two one-sided tests, family-wise at most 5%).",
        "",
        interval_note(grid, methods),
    ]
    note = conditional_note(grid, methods)
    lines += ["", note] if note else []
    lines += ["", "## Judging another model vs. judging itself", ""]
    within = on_metric[on_metric["comparison"] == "within_column"]
    for row in within.to_dict("records"):
        method, column = row["method"], row["column"]
        a = f"{names[row['model']]} judging {names[column]}'s answers"
        pair = values(method, row["model"], method, column, column)
        sentence = verdict(
            row, a, f"{names[column]} judging itself", margin, pair, support.get(column)
        )
        lines.append(f"- {title(method)}: {sentence}.")
    if within.empty:
        lines.append("- No column has a method with both a diagonal and another estimator.")
    lines += ["", "## Controls", ""]
    cells = on_metric[on_metric["comparison"] == "within_cell"]
    for a, b, what in CONTROLS:
        pairs = cells[(cells["a"] == a) & (cells["b"] == b)]
        for row in pairs.to_dict("records"):
            column = row["column"]
            cell = f"{names[row['model']]} on {names[column]}"
            pair = values(a, row["model"], b, row["model"], column)
            sentence = verdict(row, title(a), title(b), margin, pair, support.get(column))
            lines.append(f"- {what}, {cell}: {sentence}.")
    lines += ["", "## Best method per cell", ""]
    table = winners(grid, contrasts, metric)
    for (model, source), cell in table.groupby(["model", "trained_on"], sort=False):
        lines.append(best_sentence(cell, model, source, names))
    if table.empty:
        lines.append(f"- {NO_VALUE}")
    return "\n".join(lines) + "\n"
