"""Family-wise error control for the paired contrasts of `evaluation.column`, per declared
family (within a column: its comparisons with the source judging itself, per metric; within a
cell: its comparisons between methods, per metric), from the same bootstrap draws. Error is
controlled within each family, not across families.

- max-t: each contrast's difference standardised by its bootstrap SD; the distribution over
  the family's B' resamples of its largest standardised deviation gives the single-step
  adjusted p-value (`p_adjusted`: (1 + the resamples whose largest deviation reaches the
  contrast's own) / (B' + 1)) and the simultaneous intervals (difference +- q SD, q the
  (B' + 1)(1 - alpha)-th order statistic, rounded up). Both come from one integer count, so
  `separated`, p_adjusted <= alpha and "the simultaneous interval excludes 0" are one and the
  same on every row, at any B' (the exact Monte Carlo rule; with B' = 999 or 1999 the order
  statistic is exactly the (B' + 1)(1 - alpha)-th). Unlike Holm on bootstrap p-values, whose
  floor 2 / (B + 1) times the family size decides verdicts in large families, its resolution
  does not depend on the family's size.
- a contrast whose difference does not vary over the resamples (bootstrap SD at most
  `CONSTANT_SD`, e.g. two cells with the same scores) is `constant`: no test, no interval.
- equivalence (read by the findings): the family's simultaneous interval inside +-margin, the
  two one-sided tests at level at most 1 - ci over the whole family.
- `p_value` (each contrast alone) and `p_holm` (Holm over the family, recomputable from the
  table by `family`) are reported beside it; they decide nothing.
"""

import math
from fractions import Fraction

import numpy as np

CONSTANT_SD = 1e-12  # a difference's bootstrap SD below this is rounding, not sampling variation


def allowed_reaching(resamples: int, ci: float) -> int:
    """m = floor((B' + 1) alpha), alpha = 1 - ci as written (0.95: exactly 1/20): a contrast is
    separated when at most m - 1 of the B' resamples reach it, i.e. p = (1 + reaching) /
    (B' + 1) <= alpha, in integers (1 - 0.95 is 0.050000000000000044 in floats)."""
    return math.floor((resamples + 1) * (1 - Fraction(str(ci))))


def alpha(ci: float) -> float:
    """The level 1 - ci, as the float nearest its decimal (0.95: 0.05): p_adjusted <= alpha
    exactly where `allowed_reaching` separates."""
    return float(1 - Fraction(str(ci)))


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
    column 0 the sample itself). Contrasts without a value or without variation stay out of
    it; a resample where any of the others is undefined is dropped (`kept` is False)."""

    def __init__(self, draws: np.ndarray):
        draws = np.atleast_2d(np.asarray(draws, dtype=float))
        self.centre = draws[:, 0]
        defined = ~np.isnan(draws[:, 1:]).all(axis=1)
        self.sd = np.full(len(draws), np.nan)
        self.sd[defined] = np.nanstd(draws[defined, 1:], axis=1, ddof=1)
        self.constant = ~np.isnan(self.centre) & (self.sd <= CONSTANT_SD)
        self.valid = ~np.isnan(self.centre) & (self.sd > CONSTANT_SD)
        resampled = draws[self.valid, 1:]
        self.kept = ~np.isnan(resampled).any(axis=0)
        deviation = np.abs(resampled[:, self.kept] - self.centre[self.valid, None])
        self.largest = np.sort((deviation / self.sd[self.valid, None]).max(axis=0, initial=0.0))

    def test(self, ci: float) -> dict[str, np.ndarray]:
        """Per contrast: `p_adjusted`, the simultaneous interval (`low`, `high`) and `separated`,
        from one count. The largest deviations are compared on each contrast's own scale
        (times its SD, a monotone map), so "at most m - 1 resamples reach |d|" and "|d| is
        beyond the half-width" are the same comparison of the same floats."""
        size = len(self.largest)
        allowed = allowed_reaching(size, ci)
        out = {
            "p_adjusted": np.full(len(self.centre), np.nan),
            "low": np.full(len(self.centre), np.nan),
            "high": np.full(len(self.centre), np.nan),
            "separated": np.zeros(len(self.centre), dtype=bool),
        }
        if not self.valid.any():
            return out
        scaled = self.largest[None, :] * self.sd[self.valid, None]  # rows non-decreasing
        observed = np.abs(self.centre[self.valid])
        reaching = size - np.array(
            [np.searchsorted(row, d, side="left") for row, d in zip(scaled, observed, strict=True)]
        )
        # the (size + 1 - allowed)-th order statistic; unbounded when too few resamples for the
        # level (allowed 0: none may reach, and the sample itself always does)
        half = scaled[:, size - allowed] if allowed else np.full(len(scaled), np.inf)
        out["p_adjusted"][self.valid] = (1 + reaching) / (1 + size)
        out["low"][self.valid] = self.centre[self.valid] - half
        out["high"][self.valid] = self.centre[self.valid] + half
        out["separated"][self.valid] = reaching + 1 <= allowed
        return out


def family_key(row: dict) -> str:
    """The one key of a contrast's family: within a column its comparisons with the source
    judging itself, per metric; within a cell (estimator and column) its comparisons between
    methods, per metric."""
    if row["comparison"] == "within_column":
        return f"within_column/{row['metric']}/on~{row['column']}"
    return f"within_cell/{row['metric']}/{row['model']}/on~{row['column']}"


def adjust(rows: list[dict], ci: float) -> list[dict]:
    """Each contrast's family, its raw and Holm-adjusted bootstrap p-values (reported), its
    single-step max-t adjusted p-value and simultaneous interval (one and the same test),
    whether it is constant over the resamples (then untested), the resamples left out of its
    test (undefined for it or for another contrast of the family), and `separated`: the only
    verdict the tables, figures and findings use."""
    families: dict = {}
    for row in rows:
        families.setdefault(family_key(row), []).append(row)
    for key, members in families.items():
        maxt = MaxT(np.stack([r["draws"] for r in members]))
        tested = maxt.test(ci)
        raw = [
            np.nan if c else p_value(r["draws"])
            for r, c in zip(members, maxt.constant, strict=True)
        ]
        adjusted_holm = holm(raw)
        for i, row in enumerate(members):
            row.update(
                family=key,
                family_size=len(members),
                p_value=raw[i],
                p_holm=adjusted_holm[i],
                p_adjusted=tested["p_adjusted"][i],
                sim_low=tested["low"][i],
                sim_high=tested["high"][i],
                constant=bool(maxt.constant[i]),
                draws_dropped=int((np.isnan(row["draws"][1:]) | ~maxt.kept).sum()),
                separated=bool(tested["separated"][i]),
            )
    for row in rows:
        del row["draws"]
    return rows
