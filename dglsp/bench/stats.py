"""Percentiles of repeated measurements, the one summary every bench figure uses."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


def percentile(samples: Iterable[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("percentile of no samples")
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(samples: Iterable[float], digits: int = 3) -> dict[str, float]:
    """{"p50", "p95", "n"}: what every figure in a report is (n = how many samples)."""
    values = list(samples)
    return {
        "p50": round(percentile(values, 50), digits),
        "p95": round(percentile(values, 95), digits),
        "n": len(values),
    }


class Stopwatch:
    """Milliseconds since the last `lap()` (or since creation)."""

    def __init__(self) -> None:
        self._mark = time.perf_counter()

    def lap(self) -> float:
        now = time.perf_counter()
        elapsed, self._mark = (now - self._mark) * 1000, now
        return elapsed


@contextmanager
def timed(into: list[float]) -> Iterator[None]:
    """Append the block's wall time in milliseconds to `into`."""
    started = time.perf_counter()
    try:
        yield
    finally:
        into.append((time.perf_counter() - started) * 1000)
