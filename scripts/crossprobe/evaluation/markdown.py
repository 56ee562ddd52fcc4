"""The `aggregate` stage's markdown: one grid per method (rows Model, columns Trained On) of the
headline AUROC, the paired within-column contrasts (the paper's claim), and the best method per
cell."""

import numpy as np
import pandas as pd

from crossprobe.contract.headlines import PER_SUBJECT
from crossprobe.contract.methods import METHODS, title


def trained(method: str) -> bool:
    return method in METHODS and METHODS[method].trained


def resamples(grid: pd.DataFrame, method: str) -> int:
    """The bootstrap resamples of the training answers behind every cell of `method` (0 where
    any cell has none: its intervals hold the training answers fixed)."""
    cells = grid[grid["method"] == method]
    return int(cells["resamples"].min()) if len(cells) else 0


def listed(titles: list[str]) -> str:
    return ", ".join(titles[:-1]) + (" and " if len(titles) > 1 else "") + titles[-1]


def interval_note(grid: pd.DataFrame, methods: list[str]) -> str:
    """What the intervals resample, said where they are read (grid.md, findings.md): the test
    answers, the seeds, and for the methods refitted on training resamples those too."""
    text = (
        "Intervals resample the test answers (with the temperature refitted on resampled "
        "calibration answers, for the metrics of P(correct)) and a cell's training seeds where "
        "it has several (a seed varies a probe's initialisation only)."
    )
    carry = [m for m in methods if trained(m) and resamples(grid, m)]
    if carry:
        counts = sorted({resamples(grid, m) for m in carry})
        carried = "their intervals, and the contrasts between them, carry"
        text += (
            f" {listed([title(m) for m in carry])}: each training seed was also fitted on "
            f"{listed([str(k) for k in counts])} bootstrap resamples of the training answers, "
            "and each draw takes one of them (the same for every cell of the column), so "
            f"{'its intervals carry' if len(carry) == 1 else carried} training-set variability; "
            "a contrast with a method whose interval is conditional on the training answers "
            "carries only its own side's."
        )
    return text


def cell_text(row) -> str:
    if pd.isna(row["value"]):
        return "n/a"
    sd = "" if pd.isna(row["seed_sd"]) else f" ± {row['seed_sd']:.3f}"
    return f"{row['value']:.3f}{sd} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def thin_headlines(grid: pd.DataFrame, layout: dict) -> dict[str, tuple[int, int]]:
    """For a per-subject headline: {column: (subjects in its mean, subjects in its test
    answers)}; empty for a pooled headline."""
    if layout["headline"] != PER_SUBJECT:
        return {}
    counts = grid.pivot_table(index="trained_on", columns="metric", values="value", aggfunc="max")
    return {
        c: (int(counts.loc[c, "subjects_used"]), int(counts.loc[c, "subjects_total"]))
        for c in layout["columns"]
        if c in counts.index
    }


def subject_support(grid: pd.DataFrame, layout: dict) -> str:
    """For a per-subject headline: what its mean rests on in each column ("mean over K of N
    subjects"), and a warning where that is fewer subjects than `min_subjects`; "" otherwise."""
    support = thin_headlines(grid, layout)
    if not support:
        return ""
    names = layout["names"]
    text = "; ".join(f"{names[c]}: mean over {k} of {n} subjects" for c, (k, n) in support.items())
    least = layout["min_class_answers"]
    text += f" (those with at least {least} right and {least} wrong test answers)."
    thin = [names[c] for c, (k, _) in support.items() if k < layout["min_subjects"]]
    if thin:
        text += (
            f" Warning: the headline rests on fewer than {layout['min_subjects']} subjects in "
            f"{', '.join(thin)}."
        )
    return text


def one_seed(grid: pd.DataFrame, method: str) -> bool:
    """Whether every cell of a trained `method` has one training seed: its intervals then carry
    no seed variance and are conditional on that seed."""
    cells = grid[grid["method"] == method]
    return trained(method) and len(cells) > 0 and bool((cells["seeds"] == 1).all())


def conditional_note(grid: pd.DataFrame, methods: list[str]) -> str:
    """What the intervals of trained methods are conditional on, a sentence per kind ("" if
    nothing): their one training seed, and the one split of training answers where they were
    not refitted on resamples of it."""
    kinds: dict[tuple, list[str]] = {}
    for method in methods:
        if not trained(method) or grid[grid["method"] == method].empty:
            continue
        fixed = ["one training seed"] if one_seed(grid, method) else []
        fixed += [] if resamples(grid, method) else ["one split of training answers"]
        if fixed:
            kinds.setdefault(tuple(fixed), []).append(title(method))
    return " ".join(
        f"{listed(titles)}: {'its' if len(titles) == 1 else 'their'} intervals are "
        f"conditional on {'its' if len(titles) == 1 else 'their'} {' and the '.join(fixed)}."
        for fixed, titles in kinds.items()
    )


def auroc_markdown(grid: pd.DataFrame, layout: dict) -> str:
    """One table per method of `layout` (`crossprobe.dag.grid_layout`): rows Model, columns
    Trained On; "—" where the method has no cell (a reason is given below the table)."""
    auroc = grid[grid["metric"] == layout["headline"]]
    names, columns = layout["names"], layout["columns"]
    support = subject_support(grid, layout)
    methods = layout["methods"]
    notes = " ".join(
        t for t in (interval_note(grid, methods), conditional_note(grid, methods)) if t
    )
    lines = ([support, ""] if support else []) + [
        "Each interval is that cell's own (compare cells with the paired contrasts below, not "
        f"by overlapping intervals). {notes}",
        "",
    ]
    for method in layout["methods"]:
        rows = auroc[auroc["method"] == method].set_index(["model", "trained_on"])
        seeds = ": mean over training seeds ± their SD" if trained(method) else ""
        if one_seed(grid, method):
            seeds = ": one training seed, the interval conditional on it"
        lines += [
            f"**{title(method)}** ({layout['headline_label']}{seeds} [95% CI]; "
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
        for m, where in layout.get("adapters_trained_elsewhere", {}).get(method, {}).items():
            lines.append(
                f"\n{names[m]} judging its own answers: an adapter trained elsewhere, {where}."
            )
        lines.append("")
    return "\n".join(lines)


def difference_text(row) -> str:
    """The difference with its simultaneous interval (the family's, see `evaluation.family`),
    or that it does not vary over the resamples."""
    if row["constant"]:
        return f"{row['difference']:+.3f} on every resample (not tested)"
    return f"{row['difference']:+.3f} [{row['sim_low']:+.3f}, {row['sim_high']:+.3f}]"


def p_text(p: float) -> str:
    return "—" if np.isnan(p) else f"{p:.3f}"


def contrasts_markdown(contrasts: pd.DataFrame, layout: dict) -> str:
    """Within each column: each estimator against the source judging itself."""
    names = layout["names"]
    within = contrasts[
        (contrasts["comparison"] == "within_column") & (contrasts["metric"] == layout["headline"])
    ]
    lines = [
        f"**Judging another model vs. judging itself** ({layout['headline_label']}; paired "
        "bootstrap over the column's test answers, the training seeds and, where a method has "
        "them, the training resamples; simultaneous 95% "
        "intervals over the column's comparisons and their max-t adjusted p)",
        "",
        "| Method | Trained On | Model | Model − Trained On itself | p (adjusted) | separated |",
        "|---|---|---|---|---|---|",
    ]
    for row in within.itertuples(index=False):
        row = row._asdict()
        lines.append(
            f"| {title(row['method'])} | {names[row['column']]} | {names[row['model']]} | "
            f"{difference_text(row)} | {p_text(row['p_adjusted'])} | "
            f"{'yes' if row['separated'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


NO_VALUE = "No cell has a value on the headline metric."
WINNER_COLUMNS = ["model", "trained_on", "best", "best_value", "other", "other_value"]
WINNER_COLUMNS += ["separated"]


def winners(grid: pd.DataFrame, contrasts: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per cell: the method with the highest value, and every other method against it (paired,
    max-t adjusted over the cell's comparisons): `separated` from the best (below it), or not.
    No rows when no cell has a value on `metric` (a per-subject headline on data without
    subjects)."""
    scored = grid[(grid["metric"] == metric) & grid["value"].notna()]
    paired = contrasts[(contrasts["comparison"] == "within_cell") & (contrasts["metric"] == metric)]
    rows = []
    for (model, source), cell in scored.groupby(["model", "trained_on"], sort=False):
        ranked = cell.sort_values("value", ascending=False)
        best = ranked.iloc[0]
        here = paired[(paired["model"] == model) & (paired["column"] == source)]
        # a cell with one method still gets its row, with no other method beside the best
        for other in list(ranked.iloc[1:].itertuples()) or [None]:
            separated = False
            if other is not None:
                pair = here[here[["a", "b"]].apply(set, axis=1) == {best["method"], other.method}]
                separated = bool(len(pair)) and bool(pair["separated"].iloc[0])
            rows.append(
                {
                    "model": model,
                    "trained_on": source,
                    "best": best["method"],
                    "best_value": best["value"],
                    "other": None if other is None else other.method,
                    "other_value": np.nan if other is None else other.value,
                    "separated": separated,
                }
            )
    return pd.DataFrame(rows, columns=WINNER_COLUMNS)


def winners_markdown(grid: pd.DataFrame, contrasts: pd.DataFrame, layout: dict) -> str:
    names = layout["names"]
    table = winners(grid, contrasts, layout["headline"])
    lines = [
        f"**Best method per cell** ({layout['headline_label']}; the highest point estimate, "
        "and each other method against it, paired, max-t adjusted over the cell's comparisons: "
        "a ranking only where it is separated)",
        "",
    ]
    if table.empty:
        return "\n".join(lines + [NO_VALUE]) + "\n"
    lines += [
        "| Model | Trained On | highest point estimate | not separated from it | below it |",
        "|---|---|---|---|---|",
    ]
    for (model, source), cell in table.groupby(["model", "trained_on"], sort=False):
        best = cell.iloc[0]
        others = cell[cell["other"].notna()]

        def listed(rows):
            return ", ".join(f"{title(r.other)} ({r.other_value:.3f})" for r in rows.itertuples())

        lines.append(
            f"| {names[model]} | {names[source]} | {title(best['best'])} "
            f"({best['best_value']:.3f}) | {listed(others[~others['separated']]) or '—'} | "
            f"{listed(others[others['separated']]) or '—'} |"
        )
    return "\n".join(lines) + "\n"


def consensus_markdown(consensus: pd.DataFrame, layout: dict) -> str:
    """Each off-diagonal cell on the test answers where its estimator gave the source's answer
    and where it did not: the cell's headline, the source judging itself, their difference."""
    names = layout["names"]
    rows = consensus[consensus["metric"] == layout["headline"]]
    lines = [
        f"**Where the estimator and the source agree, and where not** "
        f"({layout['headline_label']}; the column's test answers split by whether the estimator "
        "gave the source's answer; percentile 95% intervals per cell over the column's "
        "resampled test answers, training seeds averaged, conditional on the training split)",
        "",
    ]
    if rows.empty:
        lines.append(
            "No off-diagonal cell could be split: no column's questions were answered by another "
            "estimator, or no method has a diagonal to compare with."
        )
        return "\n".join(lines) + "\n"
    lines += [
        "| Method | Trained On | Model | answers | n | Model judging | Trained On itself "
        "| itself − Model |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows.itertuples(index=False):
        row = row._asdict()
        lines.append(
            f"| {title(row['method'])} | {names[row['trained_on']]} | {names[row['model']]} | "
            f"{'agreed' if row['subset'] == 'agree' else 'differed'} | {row['n']} | "
            f"{interval_text(row, 'value', 'ci_low', 'ci_high')} | "
            f"{interval_text(row, 'itself', 'itself_low', 'itself_high')} | "
            f"{interval_text(row, 'difference', 'difference_low', 'difference_high', '+')} |"
        )
    return "\n".join(lines) + "\n"


def interval_text(row: dict, value: str, low: str, high: str, sign: str = "") -> str:
    if pd.isna(row[value]):
        return "n/a"
    return f"{row[value]:{sign}.3f} [{row[low]:{sign}.3f}, {row[high]:{sign}.3f}]"
