"""Small statistics helpers.

`median` uses `middle` but never computes it: complete the missing line with

    dglsp complete examples/stats.py:27:29
"""

# The hole is on purpose, so the linter must not flag the name it leaves undefined.
# ruff: noqa: F821

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
    if len(ordered) % 2 == 1:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def variance(values: Sequence[float]) -> float:
    """The population variance of a non-empty sequence."""
    centre = mean(values)
    return sum((value - centre) ** 2 for value in values) / len(values)
