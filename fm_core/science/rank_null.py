"""The exact null distribution of Spearman's rho for small rankings, and of its mean over
independent seeds: how large a mean per-seed rho must be before it says more than chance.

Used where a verdict ranks a few regimes (5) within each of a few seeds (3), too few for
the normal approximation (at n = 5 a single rho takes only 21 values). Everything is
exact: the n! rankings are enumerated and convolved over the seeds in fractions.
"""
from __future__ import annotations

import itertools
import math
from fractions import Fraction

__all__ = ["spearman_null", "mean_rho_p", "mean_rho_line", "TIE"]

# Rounding room when a float rho is compared with the exact values of the null
TIE = Fraction(1, 10**9)


def spearman_null(n: int) -> dict[int, int]:
    """The exact distribution of Spearman's statistic at ``n`` pairs under no association
    (no ties): ``{S: how many of the n! rankings give it}``, S the sum of squared rank
    differences (rho = 1 - 6 S / (n (n^2 - 1)))."""
    counts: dict[int, int] = {}
    for perm in itertools.permutations(range(n)):
        s = sum((p - i) ** 2 for i, p in enumerate(perm))
        counts[s] = counts.get(s, 0) + 1
    return counts


def _total_null(n: int, k: int) -> dict[int, Fraction]:
    """The exact distribution of S summed over ``k`` independent seeds (k-fold convolution
    of :func:`spearman_null`), as probabilities."""
    one = {s: Fraction(c, math.factorial(n)) for s, c in spearman_null(n).items()}
    total = {0: Fraction(1)}
    for _ in range(k):
        nxt: dict[int, Fraction] = {}
        for a, pa in total.items():
            for b, pb in one.items():
                nxt[a + b] = nxt.get(a + b, 0) + pa * pb
        total = nxt
    return total


def _mean_rho(total_s: int, n: int, k: int) -> Fraction:
    return 1 - Fraction(6 * total_s, n * (n * n - 1) * k)


def mean_rho_p(mean_rho: float, n: int, k: int) -> float:
    """Exact one-sided p of a mean per-seed rho at least ``mean_rho`` under no association
    (each of the ``k`` seeds an independent uniform ranking of its ``n`` regimes); NaN for
    a NaN rho. Exact for untied ranks; with ties only near."""
    if math.isnan(mean_rho):
        return float("nan")
    return float(sum(p for s, p in _total_null(n, k).items() if _mean_rho(s, n, k) >= Fraction(mean_rho) - TIE))


def mean_rho_line(n: int, k: int, alpha: float) -> float:
    """The smallest mean per-seed rho (over ``k`` seeds of ``n`` regimes each) whose exact
    one-sided p under no association (:func:`mean_rho_p`) is at most ``alpha``."""
    dist = _total_null(n, k)
    tail, line = Fraction(0), None
    for s in sorted(dist):  # the largest rho first
        tail += dist[s]
        if tail > Fraction(alpha):
            break
        line = _mean_rho(s, n, k)
    return float(line) if line is not None else float("inf")

