"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def per_call(fn: Callable[[int], object], calls: int, repeats: int = 5
             ) -> float:
    """Return the median over `repeats` of the seconds per call of fn(i)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(calls):
            fn(i)
        times.append((time.perf_counter() - start) / calls)
    return median(times)
