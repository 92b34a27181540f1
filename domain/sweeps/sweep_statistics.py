"""The statistics of a sweep's report: mean ± sample standard deviation, and a paired gain with
its 95% confidence interval from Student's t (a small table: no scipy on the request path).

For n paired seeds with differences d_1..d_n (a configuration minus its baseline, same seed):
mean d̄, sample standard deviation s_d (n − 1 in the denominator), and the interval
d̄ ± t_{0.975, n−1} · s_d / √n. With one seed there is no interval (s_d needs two values).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

CONFIDENCE = 0.95
# Two-sided 95% quantiles of Student's t, t_{0.975, dof}; between rows the next smaller dof is used
# (a slightly wider, conservative interval); past the last row, the normal quantile.
T_975: dict[int, float] = {
    1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 6: 2.4469, 7: 2.3646, 8: 2.3060,
    9: 2.2622, 10: 2.2281, 11: 2.2010, 12: 2.1788, 13: 2.1604, 14: 2.1448, 15: 2.1314, 16: 2.1199,
    17: 2.1098, 18: 2.1009, 19: 2.0930, 20: 2.0860, 21: 2.0796, 22: 2.0739, 23: 2.0687, 24: 2.0639,
    25: 2.0595, 26: 2.0555, 27: 2.0518, 28: 2.0484, 29: 2.0452, 30: 2.0423, 40: 2.0211, 50: 2.0086,
    60: 2.0003, 80: 1.9901, 100: 1.9840, 120: 1.9799,
}  # fmt: skip
Z_975 = 1.9600


@dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation of n values (std null below 2 values, both null at 0)."""

    mean: float | None
    std: float | None
    n: int


@dataclass(frozen=True)
class PairedGain:
    """Final val top-1 minus the baseline's, paired by seed, with its 95% confidence interval."""

    mean: Annotated[float, Field(description="Mean difference in percentage points.")]
    std: Annotated[
        float | None, Field(description="Sample standard deviation of the differences (null with one seed).")
    ]
    n: Annotated[int, Field(description="Seeds paired with the baseline.")]
    half_width: Annotated[
        float | None, Field(description="t_{0.975, n-1} · std / √n; null with one seed (no interval).")
    ]
    low: float | None
    high: float | None
    seeds: list[int]

    @property
    def beats_baseline(self) -> bool:
        return self.n >= 2 and self.low is not None and self.low > 0


def t_quantile_975(dof: int) -> float:
    """t_{0.975, dof} from ``T_975`` (the next smaller tabulated dof between rows)."""
    if dof < 1:
        raise ValueError("a t quantile needs at least 1 degree of freedom")
    if dof > max(T_975):
        return Z_975
    return T_975[max(d for d in T_975 if d <= dof)]


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        return Summary(None, None, 0)
    return Summary(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None, len(values))


def paired_gain(pairs: Mapping[int, tuple[float, float]]) -> PairedGain | None:
    """seed -> (value, baseline value); None without a pair."""
    if not pairs:
        return None
    seeds = sorted(pairs)
    diffs = [pairs[s][0] - pairs[s][1] for s in seeds]
    mean = statistics.fmean(diffs)
    if len(diffs) < 2:
        return PairedGain(mean, None, 1, None, None, None, seeds)
    std = statistics.stdev(diffs)
    half = t_quantile_975(len(diffs) - 1) * std / math.sqrt(len(diffs))
    return PairedGain(mean, std, len(diffs), half, mean - half, mean + half, seeds)
