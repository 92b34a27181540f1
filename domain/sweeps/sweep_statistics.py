"""The statistics of a sweep's report: mean ± sample standard deviation, and a paired gain with
its 95% confidence interval from Student's t (a small table: no scipy on the request path).

For n paired seeds with differences d_1..d_n (a configuration minus its baseline, same seed):
mean d̄, sample standard deviation s_d (n − 1 in the denominator), and the interval
d̄ ± t_{0.975, n−1} · s_d / √n. With one seed there is no interval (s_d needs two values).

Several configurations compared with their bases make a family of paired t tests
(t = d̄ / (s_d / √n), two-sided p from Student's t with n − 1 degrees of freedom). ``holm_adjusted``
corrects them by Holm–Bonferroni's step-down (Holm 1979): with m tests ordered by p, the k-th
smallest (k = 1..m) is tested at α / (m − k + 1) while every smaller one was rejected; the first
not rejected and all after it are kept. Each gain's adjusted interval is d̄ ± t_{1 − α_k/2, n−1} ·
s_d / √n at the level α_k its step used (from the first kept one on, that step's level), so an
adjusted interval excludes 0 exactly when Holm rejects "no gain". Student's t distribution is
computed here (the regularized incomplete beta function), to keep scipy off the request path.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Annotated

from pydantic import Field

ALPHA = 0.05
CONFIDENCE = 1 - ALPHA
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


CORRECTION = "Holm–Bonferroni"


@dataclass(frozen=True)
class PairedGain:
    """Final top-1 minus the baseline's on one split, paired by seed, with its 95% confidence interval
    and, once ``holm_adjusted`` saw its family, the Holm-corrected interval and decision."""

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
    split: Annotated[str, Field(description="The split the gain is measured on: test or val.")] = "val"
    p_value: Annotated[
        float | None, Field(description="Two-sided p of the paired t test of no gain (null with one seed).")
    ] = None
    family_size: Annotated[
        int, Field(description="Configurations in the Holm family this gain was corrected in (0: not corrected).")
    ] = 0
    adjusted_alpha: Annotated[
        float | None, Field(description="The level Holm's step tested this gain at: 0.05 / (m − k + 1).")
    ] = None
    adjusted_low: Annotated[float | None, Field(description="The Holm-adjusted interval's lower end.")] = None
    adjusted_high: float | None = None
    beats_baseline: Annotated[
        bool, Field(description="Holm rejects no gain: the adjusted interval is above 0 (at least 2 seeds).")
    ] = False


def t_quantile_975(dof: int) -> float:
    """t_{0.975, dof} from ``T_975`` (the next smaller tabulated dof between rows)."""
    if dof < 1:
        raise ValueError("a t quantile needs at least 1 degree of freedom")
    if dof > max(T_975):
        return Z_975
    return T_975[max(d for d in T_975 if d <= dof)]


def _continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (Lentz's method, Numerical Recipes 6.4)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return result


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _continued_fraction(a, b, x) / a
    return 1 - math.exp(log_front) * _continued_fraction(b, a, 1 - x) / b


def t_two_sided_p(t: float, dof: int) -> float:
    """P(|T| ≥ |t|) for Student's t with ``dof`` degrees of freedom."""
    if dof < 1:
        raise ValueError("a t test needs at least 1 degree of freedom")
    if math.isinf(t):
        return 0.0
    return _incomplete_beta(dof / 2, 0.5, dof / (dof + t * t))


def t_quantile(probability: float, dof: int) -> float:
    """t_{probability, dof} for probability in [0.5, 1): the inverse of the t distribution, by bisection."""
    if not 0.5 <= probability < 1:
        raise ValueError(f"a t quantile here needs 0.5 ≤ probability < 1, not {probability}")
    tail = 2 * (1 - probability)  # the two-sided p of the quantile
    low, high = 0.0, 1.0
    while t_two_sided_p(high, dof) > tail:
        low, high = high, high * 2
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if t_two_sided_p(middle, dof) > tail else (low, middle)
        if high - low < 1e-12:
            break
    return (low + high) / 2


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        return Summary(None, None, 0)
    return Summary(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None, len(values))


def paired_gain(pairs: Mapping[int, tuple[float, float]], split: str = "val") -> PairedGain | None:
    """seed -> (value, baseline value) on ``split``; None without a pair. Not yet corrected (``holm_adjusted``)."""
    if not pairs:
        return None
    seeds = sorted(pairs)
    diffs = [pairs[s][0] - pairs[s][1] for s in seeds]
    mean = statistics.fmean(diffs)
    if len(diffs) < 2:
        return PairedGain(mean, None, 1, None, None, None, seeds, split)
    std = statistics.stdev(diffs)
    half = t_quantile_975(len(diffs) - 1) * std / math.sqrt(len(diffs))
    t = mean / (std / math.sqrt(len(diffs))) if std > 0 else math.copysign(math.inf, mean) if mean else 0.0
    p_value = t_two_sided_p(t, len(diffs) - 1) if t else 1.0
    return PairedGain(mean, std, len(diffs), half, mean - half, mean + half, seeds, split, p_value)


def holm_adjusted(gains: Sequence[PairedGain], alpha: float = ALPHA) -> list[PairedGain]:
    """The family ``gains`` (each with at least 2 seeds) corrected by Holm's step-down (rules in the
    module docstring), in the order given."""
    if any(g.n < 2 or g.p_value is None or g.std is None for g in gains):
        raise ValueError("every gain in a Holm family needs at least 2 paired seeds (a p value)")
    m = len(gains)
    order = sorted(range(m), key=lambda i: (gains[i].p_value or 0.0, i))
    adjusted: list[PairedGain | None] = [None] * m
    rejecting = True
    level = alpha
    for step, index in enumerate(order):  # step k − 1
        gain = gains[index]
        if rejecting:
            level = alpha / (m - step)
            rejecting = (gain.p_value or 0.0) <= level
        half = t_quantile(1 - level / 2, gain.n - 1) * (gain.std or 0.0) / math.sqrt(gain.n)
        adjusted[index] = replace(
            gain,
            family_size=m,
            adjusted_alpha=level,
            adjusted_low=gain.mean - half,
            adjusted_high=gain.mean + half,
            beats_baseline=rejecting and gain.mean > 0,
        )
    return [g for g in adjusted if g is not None]
