"""Noise mechanisms named by key in a job, and the discrete Gaussian.

`mpc.dp` has the built-in mechanisms, "binomial" and
"discrete_laplace". Others are registered here with `register_mechanism`
and named in a job file by their key (`mechanism = "..."`). A mechanism
is a *planner*: given a query's sensitivity, budget and parties, it
returns a plan with the interface of `dp.NoisePlan` that the job uses:

- `epsilon`, `delta`: what the query spends, truncation included;
- `tail_bound`: T >= 1 with P(|sample| > T) <= 2^-40, which every party
  proves of its noise (the framework redraws a sample outside [-T, T]);
- `sample(size)`: `size` exact, untruncated samples of one party's noise,
  as ints, from a cryptographic RNG;
- `total_std()`, `interval95()`, `describe()`: the figures each result
  carries for the sum of all parties' noise.

The worked example registered here is the discrete Gaussian N_Z(0,
sigma^2), sampled exactly with the algorithm of Canonne, Kamath and
Steinke 2020 [CKS20], with its accounting in rho-zCDP converted to
(epsilon, delta). docs/plugins.md states the interface and derives the
accounting. No float is used in the sampler; floats appear only in the
accounting, which rounds sigma^2 up.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

import numpy as np

from mpc import dp

KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
BUILT_IN = (*dp.MECHANISMS, "none")
"""Keys taken by `mpc.dp` and by jobs without noise."""


class NoisePlanLike(Protocol):
    """The plan interface the job state machine and results use."""

    mechanism: str
    epsilon: float
    delta: float
    tail_bound: int
    num_parties: int

    def sample(self, size: int) -> list[int]:
        """Return `size` untruncated samples of one party's noise."""

    def total_std(self) -> float:
        """Return the std of the sum of all parties' noise."""

    def interval95(self) -> int:
        """Return h with P(|sum of all parties' noise| <= h) >= 0.95."""

    def describe(self) -> dict[str, object]:
        """Return the plan as a JSON-safe dict."""


Planner = Callable[..., NoisePlanLike]
"""planner(sensitivity=, epsilon=, delta=, num_parties=, colluding=,
elements=) -> plan.

Pre: adding or removing one record moves one element of the query by at
most `sensitivity` (an int >= 1); 0 < epsilon < inf; 0 < delta < 1 is
the query's share of the job's budget; 0 <= colluding <= num_parties - 1
parties may pool their own noise; `elements` >= 1 elements are
released. Post: with the honest parties' samples alone, each truncated
to [-tail_bound, tail_bound], the release is (epsilon, delta)-DP, and
plan.delta <= delta. Raises ValueError, naming the parameter, when the
budget cannot be met.
"""

_REGISTRY: dict[str, Planner] = {}


def register_mechanism(key: str, planner: Planner) -> None:
    """Make `planner` the mechanism named `key` in job files.

    Raises ValueError when the key is malformed, built in or already
    registered: a key names one mechanism for the life of the process.
    """
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise ValueError(
            f"mechanism key must be 1-64 lower-case letters, digits or "
            f"'_', starting with a letter; got {key!r}")
    if key in BUILT_IN or key in _REGISTRY:
        raise ValueError(f"mechanism {key!r} is already defined")
    if not callable(planner):
        raise TypeError(f"planner must be callable, got {planner!r}")
    _REGISTRY[key] = planner


def is_registered(key: str) -> bool:
    """Return whether `key` names a registered (not built-in) mechanism."""
    return key in _REGISTRY


def registered_mechanisms() -> tuple[str, ...]:
    """Return the registered keys, sorted."""
    return tuple(sorted(_REGISTRY))


def plan_noise(mechanism: str, sensitivity: int, epsilon: float,
               delta: float, num_parties: int, colluding: int | None = None,
               elements: int = 1) -> Any:
    """Plan a query's noise with a built-in or a registered mechanism.

    Built-in mechanisms go to `dp.plan_noise` with the same arguments.
    A registered planner's plan is checked for the interface above, and
    ValueError names what is missing.
    """
    planner = _REGISTRY.get(mechanism)
    if planner is None:
        return dp.plan_noise(mechanism, sensitivity, epsilon, delta,
                             num_parties, colluding, elements=elements)
    if colluding is None:
        colluding = num_parties - 1
    plan = planner(sensitivity=sensitivity, epsilon=epsilon, delta=delta,
                   num_parties=num_parties, colluding=colluding,
                   elements=elements)
    _check_plan(mechanism, plan, delta)
    return plan


def _check_plan(key: str, plan: object, delta: float) -> None:
    for name in ("sample", "total_std", "interval95", "describe"):
        if not callable(getattr(plan, name, None)):
            raise ValueError(
                f"mechanism {key!r} returned a plan without {name}()")
    bound = getattr(plan, "tail_bound", None)
    if isinstance(bound, bool) or not isinstance(bound, int) or bound < 1:
        raise ValueError(
            f"mechanism {key!r} returned tail_bound {bound!r}; it must be "
            "an int >= 1")
    for name in ("epsilon", "delta"):
        value = getattr(plan, name, None)
        if not isinstance(value, float) or not math.isfinite(value):
            raise ValueError(
                f"mechanism {key!r} returned {name} {value!r}; it must be "
                "a finite float")
    if plan.delta > delta:  # type: ignore[attr-defined]
        raise ValueError(
            f"mechanism {key!r} spends delta "
            f"{plan.delta!r} above its share {delta!r}")  # type: ignore


# The discrete Gaussian --------------------------------------------------

SIGMA2_DENOMINATOR = 10**6
"""sigma^2 is rounded up to a multiple of 1/10^6."""

MAX_SIGMA2 = 1 << 40
"""Largest sigma^2 planned (sigma about 10^6, tail bound about 7.8e6):
the accounting sums the pmf over [-T, T] in numpy, a few tenths of a
second at this size."""

_MAX_FFT_POINTS = 1 << 22
_PMF_CHUNK = 1 << 20
_TRUNCATION_PROB = 2.0**-dp.TRUNCATION_LOG2
# Relative margin on sigma^2 against rounding in the float accounting.
_ACCOUNTING_MARGIN = 1e-9


def zcdp_to_epsilon(rho: float, delta: float) -> float:
    """Return the epsilon that rho-zCDP gives at a delta.

    epsilon = rho + 2 sqrt(rho ln(1/delta)), derived in docs/plugins.md
    from the Renyi divergence bound D_a <= rho a by Hoelder's inequality
    and the best order a = 1 + sqrt(ln(1/delta) / rho).
    Pre: rho >= 0, 0 < delta < 1.
    """
    if not rho >= 0 or not 0 < delta < 1:
        raise ValueError(
            f"need rho >= 0 and 0 < delta < 1, got rho={rho!r}, "
            f"delta={delta!r}")
    return rho + 2 * math.sqrt(rho * math.log(1 / delta))


def epsilon_to_zcdp(epsilon: float, delta: float) -> float:
    """Return the largest rho with zcdp_to_epsilon(rho, delta) <= epsilon.

    rho = (sqrt(L + epsilon) - sqrt(L))^2 with L = ln(1/delta), computed
    as (epsilon / (sqrt(L + epsilon) + sqrt(L)))^2 to avoid cancellation.
    """
    log_term = math.log(1 / delta)
    root = epsilon / (math.sqrt(log_term + epsilon) + math.sqrt(log_term))
    return root * root


def discrete_gaussian_rho(sensitivity: int, sigma2: Fraction) -> float:
    """Return rho = s^2 / (2 sigma^2), the zCDP of one sample.

    Adding one N_Z(0, sigma^2) sample to a value that one record moves by
    at most s gives rho-zCDP (docs/plugins.md derives it).
    """
    return float(Fraction(sensitivity * sensitivity) / (2 * sigma2))


def _require_sigma2(sigma2: object) -> Fraction:
    if isinstance(sigma2, bool) or not isinstance(sigma2, (Fraction, int)):
        raise TypeError(
            f"sigma2 must be a Fraction or int, got "
            f"{type(sigma2).__name__} {sigma2!r}; a float would make the "
            "sampler inexact")
    if sigma2 <= 0:
        raise ValueError(f"sigma2 must be > 0, got {sigma2}")
    return Fraction(sigma2)


def _sample_discrete_gaussian_one(n: int, d: int, t: int) -> int:
    # [CKS20]: draw Y from the discrete Laplace of scale t and keep it
    # with probability exp(-(|Y| - sigma^2/t)^2 / (2 sigma^2)); with
    # sigma^2 = n/d that exponent is (|Y| d t - n)^2 / (2 n d t^2).
    while True:
        y = dp.sample_discrete_laplace(Fraction(t), 1)[0]
        numerator = (abs(y) * d * t - n) ** 2
        denominator = 2 * n * d * t * t
        # The exact Bernoulli(exp(-gamma)) sampler of mpc.dp.
        if dp._bernoulli_exp_neg(numerator, denominator):
            return y


def sample_discrete_gaussian(sigma2: Fraction, size: int) -> list[int]:
    """Sample N_Z(0, sigma^2) exactly, `size` times.

    P(x) is proportional to exp(-x^2 / (2 sigma^2)) for every integer x.
    The sampler of [CKS20] uses `secrets` and integer arithmetic only,
    and docs/plugins.md shows why its output has this law. Its running
    time depends on the values drawn, so it is not constant-time.

    Pre: sigma2 a Fraction or int > 0 (not a float), size >= 0.
    Post: a list of `size` ints.
    """
    exact = _require_sigma2(sigma2)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"size must be an integer >= 0, got {size!r}")
    n, d = exact.numerator, exact.denominator
    t = math.isqrt(n // d) + 1  # floor(sigma) + 1
    return [_sample_discrete_gaussian_one(n, d, t) for _ in range(size)]


def _tail_upper_bound(sigma: float, bound: int) -> float:
    # P(|X| > T) <= sigma sqrt(2 pi) erfc(T / (sigma sqrt 2)) / Z_low,
    # with Z_low = max(1, sigma sqrt(2 pi) - 1) <= Z (docs/plugins.md).
    mass = sigma * math.sqrt(2 * math.pi)
    tail = mass * math.erfc(bound / (sigma * math.sqrt(2)))
    return tail / max(1.0, mass - 1.0)


def discrete_gaussian_tail_bound(sigma2: Fraction) -> int:
    """Return a T >= 1 with P(|X| > T) <= 2^-40 for X ~ N_Z(0, sigma^2).

    T is the smallest integer for which an upper bound on the tail
    (the integral of the Gaussian beyond T over a lower bound on the
    normaliser) is at most 2^-40, so the true tail is smaller still.
    """
    sigma = math.sqrt(float(_require_sigma2(sigma2)))
    low, high = 0, max(2, math.ceil(10 * sigma) + 10)
    while _tail_upper_bound(sigma, high) > _TRUNCATION_PROB:
        high *= 2
    while high - low > 1:
        mid = (low + high) // 2
        if _tail_upper_bound(sigma, mid) <= _TRUNCATION_PROB:
            high = mid
        else:
            low = mid
    return max(1, high)


def _truncated_blocks(sigma2: float, bound: int, width: int
                      ) -> tuple[np.ndarray, float]:
    """Return the block masses and the variance of N_Z(0, sigma2)
    conditioned on [-bound, bound].

    Block b holds the mass of [-bound + b width, -bound + (b+1) width -
    1], clipped to bound.
    """
    blocks = (2 * bound) // width + 1
    masses = np.zeros(blocks)
    total = second = 0.0
    for start in range(-bound, bound + 1, _PMF_CHUNK):
        xs = np.arange(start, min(start + _PMF_CHUNK, bound + 1),
                       dtype=np.float64)
        weights = np.exp(-xs * xs / (2 * sigma2))
        index = ((xs + bound) // width).astype(np.int64)
        first = int(index[0])
        part = np.bincount(index - first, weights=weights)
        masses[first:first + part.size] += part
        total += float(weights.sum())
        second += float((xs * xs * weights).sum())
    return masses / total, second / total


def _sum_interval(block_pmf: np.ndarray, bound: int, width: int,
                  parties: int, level: float) -> int:
    """Return h with P(|Z| <= h) >= level for Z a sum of `parties`
    independent samples whose block masses are `block_pmf`.

    With B_i the block of sample i and S their sum, Z = width S -
    parties bound + R for an R in [0, parties (width - 1)], so a range
    of S bounds |Z|. The result is the smallest such h for width 1, and
    at most parties * width above it otherwise.
    """
    blocks = block_pmf.size
    support = parties * (blocks - 1) + 1
    size = 1 << (support - 1).bit_length()
    spectrum = np.fft.rfft(block_pmf, size) ** parties
    pmf_s = np.clip(np.fft.irfft(spectrum, size)[:support], 0.0, None)
    pmf_s /= pmf_s.sum()
    below = np.concatenate(([0.0], np.cumsum(pmf_s)))  # P(S < i)
    span = parties * bound

    def covered(h: int) -> float:
        first = max(0, -((h - span) // width))
        last = min(support - 1, (h + span - parties * (width - 1)) // width)
        return float(below[last + 1] - below[first]) if last >= first \
            else 0.0

    low, high = -1, span + parties * width
    while high - low > 1:
        mid = (low + high) // 2
        if covered(mid) >= level:
            high = mid
        else:
            low = mid
    return min(high, span)


@dataclass(frozen=True)
class DiscreteGaussianPlan:
    """Every party adds one N_Z(0, sigma2) sample to each element.

    One honest party's sample alone gives rho-zCDP with rho =
    sensitivity^2 / (2 sigma2), hence (epsilon, delta - truncation
    delta)-DP; the other parties' samples are independent of the data,
    so adding them is post-processing. `delta` is the query's delta,
    truncation included.
    """

    sensitivity: int
    epsilon: float
    delta: float
    num_parties: int
    colluding: int
    sigma2: Fraction
    tail_bound: int
    elements: int = 1
    mechanism: str = "discrete_gaussian"

    @property
    def rho(self) -> float:
        """zCDP parameter of one sample."""
        return discrete_gaussian_rho(self.sensitivity, self.sigma2)

    def truncation_delta(self) -> float:
        """Return the part of `delta` due to truncation at tail_bound."""
        return dp.truncation_delta(self.epsilon, self.num_parties,
                                   self.elements)

    def sample(self, size: int) -> list[int]:
        """Return `size` untruncated N_Z(0, sigma2) samples."""
        return sample_discrete_gaussian(self.sigma2, size)

    @functools.cached_property
    def _figures(self) -> tuple[float, int]:
        """(total std, interval95) of the sum of all parties' truncated
        samples, computed once per plan."""
        m, bound = self.num_parties, self.tail_bound
        width = max(1, math.ceil(m * (2 * bound + 1) / _MAX_FFT_POINTS))
        block_pmf, variance = _truncated_blocks(float(self.sigma2), bound,
                                                width)
        half = _sum_interval(block_pmf, bound, width, m, dp.INTERVAL_LEVEL)
        return math.sqrt(m * variance), half

    def total_std(self) -> float:
        """Return the std of the sum of the m parties' truncated noise."""
        return self._figures[0]

    def interval95(self) -> int:
        """Return h with P(|total noise| <= h) >= 0.95, all honest."""
        return self._figures[1]

    def describe(self) -> dict[str, object]:
        """Return the plan as a JSON-safe dict."""
        return {
            "mechanism": self.mechanism,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "truncation_delta": self.truncation_delta(),
            "sensitivity": self.sensitivity,
            "sigma2": f"{self.sigma2.numerator}/{self.sigma2.denominator}",
            "rho": self.rho,
            "accounting": "rho-zCDP per sample, epsilon = rho + "
                          "2 sqrt(rho ln(1/(delta - truncation_delta)))",
            "coins_per_party": None,
            "scale": None,
            "tail_bound": self.tail_bound,
            "total_std": self.total_std(),
            "interval95": self.interval95(),
            "num_parties": self.num_parties,
            "colluding": self.colluding,
            "elements": self.elements,
        }


def plan_discrete_gaussian(*, sensitivity: int, epsilon: float,
                           delta: float, num_parties: int, colluding: int,
                           elements: int = 1) -> DiscreteGaussianPlan:
    """Choose sigma^2 so that one honest party's sample gives the budget.

    With d_trunc = dp.truncation_delta(epsilon, num_parties, elements)
    and L = ln(1 / (delta - d_trunc)), the largest rho meeting epsilon
    is rho* = (sqrt(L + epsilon) - sqrt(L))^2, so sigma^2 >= s^2 /
    (2 rho*), rounded up (with a relative margin of 1e-9 against float
    rounding) to a multiple of 1/10^6.

    Post: zcdp_to_epsilon(plan.rho, delta - d_trunc) <= epsilon,
    plan.delta == delta. Raises ValueError when delta <= d_trunc or
    sigma^2 would exceed MAX_SIGMA2.
    """
    dp.validate_privacy_parameters(epsilon, delta, "binomial")
    if isinstance(sensitivity, bool) or not isinstance(sensitivity, int) \
            or sensitivity < 1:
        raise ValueError(
            f"sensitivity must be an integer >= 1, got {sensitivity!r}")
    if not 0 <= colluding <= num_parties - 1:
        raise ValueError(
            f"colluding must be in [0, {num_parties - 1}], got {colluding}")
    eps = float(epsilon)
    d_trunc = dp.truncation_delta(eps, num_parties, elements)
    delta_mech = float(delta) - d_trunc
    if delta_mech <= 0:
        raise ValueError(
            dp.truncation_message(delta, d_trunc, num_parties, elements))

    # Step 1: the largest rho that meets epsilon at delta_mech.
    rho_max = epsilon_to_zcdp(eps, delta_mech)
    sigma2_needed = sensitivity**2 / (2 * rho_max) * (
        1 + _ACCOUNTING_MARGIN)

    # Step 2: sigma^2 rounded up to a rational, checked in floats.
    sigma2 = Fraction(math.ceil(sigma2_needed * SIGMA2_DENOMINATOR),
                      SIGMA2_DENOMINATOR)
    if sigma2 > MAX_SIGMA2:
        raise ValueError(
            f"sensitivity={sensitivity}, epsilon={eps:.6g} need "
            f"sigma^2 = {float(sigma2):.4g}, above the supported 2^40; "
            "raise epsilon, narrow the clip bounds, or use 'binomial' or "
            "'discrete_laplace'")
    rho = discrete_gaussian_rho(sensitivity, sigma2)
    if zcdp_to_epsilon(rho, delta_mech) > eps:
        raise ValueError(
            f"accounting check failed: rho={rho!r} gives more than "
            f"epsilon={eps!r}")
    return DiscreteGaussianPlan(
        sensitivity, eps, float(delta), num_parties, colluding, sigma2,
        discrete_gaussian_tail_bound(sigma2), elements,
    )


register_mechanism("discrete_gaussian", plan_discrete_gaussian)
