"""Small statistics helpers.

`median` handles only odd lengths: complete the even case with

    dglsp complete examples/stats.py:27:31
"""

from __future__ import annotations

from collections.abc import Sequence


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean of a non-empty sequence."""
    if not values:
        raise ValueError("mean() of an empty sequence")
    return sum(values) / len(values)


def median(values: Sequence[float]) -> float:
    """The middle value; the mean of the two middle values when the length is even."""
    if not values:
        raise ValueError("median() of an empty sequence")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2 == 1:
        return ordered[middle]


def variance(values: Sequence[float]) -> float:
    """The population variance of a non-empty sequence."""
    centre = mean(values)
    return sum((value - centre) ** 2 for value in values) / len(values)
