"""Ratios of two ways of doing one thing, measured as alternated pairs: the median and its spread.

A shared machine's load moves single timings (two runs of the sweep benchmark once gave ratios of
0.703 and 0.556 because its solo side, timed after the group, moved from 97.6 s to 119.3 s). So
every benchmark that prints a ratio runs its two sides in pairs, the order flipped each round
(a b, b a, a b, ...), takes one ratio per pair, and prints the median of those ratios with their
spread (min-max, and the quartiles from five pairs on): a ratio is believed only as far as its
spread allows.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Ratio:
    """The per-pair ratios second/first of one benchmark."""

    ratios: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    def describe(self) -> str:
        """``0.612 (median of 5 pairs; min 0.580, q1 0.601, q3 0.630, max 0.660)``."""
        n = len(self.ratios)
        if n == 1:
            return f"{self.ratios[0]:.3f} (1 pair: no spread; run more rounds)"
        spread = [f"min {min(self.ratios):.3f}"]
        if n >= 5:
            q1, _, q3 = statistics.quantiles(self.ratios, n=4)
            spread += [f"q1 {q1:.3f}", f"q3 {q3:.3f}"]
        spread.append(f"max {max(self.ratios):.3f}")
        return f"{self.median:.3f} (median of {n} pairs; {', '.join(spread)})"


def paired_ratio(first: Sequence[float], second: Sequence[float]) -> Ratio:
    """second[i] / first[i] for each pair i (costs such as seconds, or rates such as images/s)."""
    if len(first) != len(second) or not first:
        raise ValueError(f"need pairs: {len(first)} first and {len(second)} second measurements")
    return Ratio(tuple(b / a for a, b in zip(first, second, strict=True)))


def alternate(first: Callable[[int], T], second: Callable[[int], T], rounds: int) -> tuple[list[T], list[T]]:
    """Run ``first(round)`` and ``second(round)`` ``rounds`` times, the order flipped every round;
    their results, each in round order."""
    firsts: list[T] = []
    seconds: list[T] = []
    for round_ in range(rounds):
        if round_ % 2 == 0:
            firsts.append(first(round_))
            seconds.append(second(round_))
        else:
            seconds.append(second(round_))
            firsts.append(first(round_))
    return firsts, seconds
