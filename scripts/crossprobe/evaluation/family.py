"""Family-wise error control for the paired contrasts of `evaluation.column`: bootstrap
p-values, Holm's step-down adjustment and max-t simultaneous intervals per declared family
(within a column: one metric; within a cell: one metric), and the one `separated` verdict the
tables, figures and findings use."""

import numpy as np


def p_value(draws: np.ndarray) -> float:
    """Two-sided bootstrap p-value of "no difference": twice the smaller share of resampled
    differences on either side of 0 (+1 in numerator and denominator, never 0)."""
    values = draws[1:][~np.isnan(draws[1:])]
    if not len(values) or np.isnan(draws[0]):
        return float("nan")
    below, above = (values <= 0).sum(), (values >= 0).sum()
    return float(min(1.0, 2 * (min(below, above) + 1) / (len(values) + 1)))


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of a family's p-values (NaN stay NaN, outside the family)."""
    p = np.asarray(p, dtype=float)
    adjusted = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def simultaneous(rows: list[dict], ci: float) -> list[tuple[float, float]]:
    """Intervals that hold for every contrast of a family at once (coverage `ci`): each
    difference +- q x its bootstrap SD, q the `ci` quantile over resamples of the largest
    standardised deviation in the family (max-t)."""
    draws = np.stack([r["draws"] for r in rows])
    centre, spread = draws[:, :1], np.nanstd(draws[:, 1:], axis=1, ddof=1)
    scale = np.where(spread > 0, spread, np.inf)[:, None]
    deviation = np.nanmax(np.abs(draws[:, 1:] - centre) / scale, axis=0)
    deviation = deviation[~np.isnan(deviation)]
    q = float(np.quantile(deviation, ci)) if len(deviation) else float("nan")
    return [
        (r["difference"] - q * sd, r["difference"] + q * sd)
        for r, sd in zip(rows, spread, strict=True)
    ]


def adjust(rows: list[dict], ci: float) -> list[dict]:
    """Each contrast's family (within the column: one metric; within a cell: one metric), its
    bootstrap p-value, Holm's adjustment over the family, simultaneous intervals, and
    `separated` (Holm-adjusted p below 1 - ci and the simultaneous interval clear of 0): the only
    test the tables, figures and findings use."""
    families: dict = {}
    for row in rows:
        scope = row["column"] if row["comparison"] == "within_column" else row["model"]
        key = f"{row['comparison']}/{row['metric']}/{scope}"
        families.setdefault(key, []).append(row)
    for key, members in families.items():
        p = [p_value(r["draws"]) for r in members]
        for row, raw, adjusted, (low, high) in zip(
            members, p, holm(p), simultaneous(members, ci), strict=True
        ):
            row.update(
                family=key,
                family_size=len(members),
                p_value=raw,
                p_holm=adjusted,
                sim_low=low,
                sim_high=high,
                # both adjusted views agree, so a verdict never sits beside an interval across 0
                separated=bool(adjusted < 1 - ci and (low > 0 or high < 0)),
            )
    for row in rows:
        del row["draws"]
    return rows
