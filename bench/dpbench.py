"""Samples per second of the exact DP samplers (mpc.dp, mpc.fastpath).

Each sampler is run for batches until about `seconds` have passed, and
the rate is the median over batches.
"""

from __future__ import annotations

import time
from fractions import Fraction

from bench.stats import median
from mpc import dp, fastpath


def _rate(draw, size: int, seconds: float) -> float:
    rates = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(rates) < 3:
        started = time.perf_counter()
        draw(size)
        rates.append(size / (time.perf_counter() - started))
        if len(rates) >= 50:
            break
    return median(rates)


def measure(seconds: float = 1.0) -> list[dict]:
    """Return one row per sampler and parameter."""
    rows = []
    for sensitivity in (1, 100):
        plan = dp.plan_noise("binomial", sensitivity, 1.0, 1e-6, 3)
        coins = plan.coins_per_party
        size = max(1000, min(1_000_000, 2 * 10**8 // coins))
        rows.append({
            "sampler": "binomial (dp.sample_binomial, vectorised)",
            "parameter": f"sensitivity {sensitivity}: {coins} coins",
            "samples_per_second": _rate(
                lambda k, c=coins: dp.sample_binomial(c, k), size, seconds),
        })
        rows.append({
            "sampler": "binomial, truncated (fastpath.binomial_noise)",
            "parameter": f"sensitivity {sensitivity}: {coins} coins",
            "samples_per_second": _rate(
                lambda k, p=plan: fastpath.binomial_noise(p, k), size,
                seconds),
        })
    for scale in (1, 100, 65535):
        rows.append({
            "sampler": "discrete Laplace (dp.sample_discrete_laplace)",
            "parameter": f"scale {scale}",
            "samples_per_second": _rate(
                lambda k, s=Fraction(scale): dp.sample_discrete_laplace(s, k),
                2000, seconds),
        })
    return rows
