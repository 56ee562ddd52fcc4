"""Family-wise error control for the paired contrasts of `evaluation.column`, per declared
family (within a column: its comparisons with the source judging itself, per metric; within a
cell: its comparisons between methods, per metric), from the same bootstrap draws:

- max-t: each contrast's difference standardised by its bootstrap SD; the distribution over
  resamples of the family's largest standardised deviation gives both the single-step adjusted
  p-value (`p_adjusted`: the share of resamples whose largest deviation reaches the contrast's
  own) and the simultaneous intervals (difference +- q SD). q is the order statistic at which the
  adjusted p-value crosses 1 - ci, so `separated` (p_adjusted < 1 - ci) and "the simultaneous
  interval excludes 0" are one and the same, row by row. Unlike Holm on bootstrap p-values,
  whose floor 2 / (B + 1) times the family size decides verdicts in large families, its
  resolution does not depend on the family's size.
- equivalence: the two one-sided tests at level 1 - ci over the whole family, by the
  simultaneous (2 ci - 1) interval (the same max-t at that level) inside +-margin.
- `p_value` (each contrast alone) and `p_holm` (Holm over the family, recomputable from the
  table by `family`) are reported beside it; they decide nothing.
"""

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


class MaxT:
    """The max-t distribution of a family's contrasts: `draws` (contrasts x (1 + resamples),
    column 0 the sample itself). Contrasts without a value stay out of it; a resample where any
    of the others is undefined is dropped (and counted)."""

    def __init__(self, draws: np.ndarray):
        draws = np.atleast_2d(np.asarray(draws, dtype=float))
        self.centre = draws[:, 0]
        self.sd = np.nanstd(draws[:, 1:], axis=1, ddof=1)
        self.valid = ~np.isnan(self.centre) & (self.sd > 0)
        resampled = draws[self.valid, 1:]
        kept = ~np.isnan(resampled).any(axis=0)
        self.dropped = int((~kept).sum())
        deviation = np.abs(resampled[:, kept] - self.centre[self.valid, None])
        self.largest = np.sort((deviation / self.sd[self.valid, None]).max(axis=0, initial=0.0))

    def p_adjusted(self) -> np.ndarray:
        """Per contrast: (1 + the resamples whose largest deviation reaches its |t|) / (1 + all)."""
        p = np.full(len(self.centre), np.nan)
        t = np.abs(self.centre[self.valid]) / self.sd[self.valid]
        reaching = len(self.largest) - np.searchsorted(self.largest, t, side="left")
        p[self.valid] = (1 + reaching) / (1 + len(self.largest))
        return p

    def quantile(self, level: float) -> float:
        """The multiplier of the simultaneous intervals at `level`: the largest deviation that
        fewer than (1 - level)(B + 1) - 1 resamples may reach, so that |t| > q exactly when the
        adjusted p-value is below 1 - level (inf when there are too few resamples)."""
        allowed = int(np.ceil((1 - level) * (len(self.largest) + 1) - 1e-9)) - 2  # resamples
        if allowed < 0 or allowed >= len(self.largest):
            return float("inf")
        return float(self.largest[len(self.largest) - 1 - allowed])

    def intervals(self, level: float) -> list[tuple[float, float]]:
        q = self.quantile(level)
        return [
            (c - q * s, c + q * s) if ok else (np.nan, np.nan)
            for c, s, ok in zip(self.centre, self.sd, self.valid, strict=True)
        ]


def family_key(row: dict) -> str:
    """The one key of a contrast's family: within a column its comparisons with the source
    judging itself, per metric; within a cell (estimator and column) its comparisons between
    methods, per metric."""
    if row["comparison"] == "within_column":
        return f"within_column/{row['metric']}/on~{row['column']}"
    return f"within_cell/{row['metric']}/{row['model']}/on~{row['column']}"


def adjust(rows: list[dict], ci: float) -> list[dict]:
    """Each contrast's family, its raw and Holm-adjusted bootstrap p-values (reported), its
    single-step max-t adjusted p-value and simultaneous interval (one and the same test), the
    family-wise equivalence interval, the resamples dropped, and `separated`: the only verdict
    the tables, figures and findings use."""
    families: dict = {}
    for row in rows:
        families.setdefault(family_key(row), []).append(row)
    for key, members in families.items():
        draws = np.stack([r["draws"] for r in members])
        maxt = MaxT(draws)
        raw = [p_value(r["draws"]) for r in members]
        adjusted = maxt.p_adjusted()
        simultaneous = maxt.intervals(ci)
        equivalence = maxt.intervals(2 * ci - 1)
        for i, row in enumerate(members):
            low, high = simultaneous[i]
            row.update(
                family=key,
                family_size=len(members),
                p_value=raw[i],
                p_holm=holm(raw)[i],
                p_adjusted=adjusted[i],
                sim_low=low,
                sim_high=high,
                tost_low=equivalence[i][0],
                tost_high=equivalence[i][1],
                draws_dropped=int(np.isnan(row["draws"][1:]).sum()) + maxt.dropped,
                separated=bool(adjusted[i] < 1 - ci),
            )
    for row in rows:
        del row["draws"]
    return rows
