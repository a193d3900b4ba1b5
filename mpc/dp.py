"""Discrete differential-privacy noise: exact samplers, exact accounting.

Released values are integers (already fixed-point scaled). Each of m
parties adds its own noise share to every released element, and up to t
of them may collude, so the noise of the m - t honest parties alone must
give the guarantee. Two mechanisms are offered:

* ``"binomial"`` for (epsilon, delta)-DP, the default. Party j adds
  Binomial(N_j, 1/2) - N_j/2, counted from random bits of the OS CSPRNG.
  Sums of binomials are binomial, so the honest parties together add
  Binomial((m - t) N_j, 1/2), centred. Its delta is computed exactly from
  the distribution (``binomial_delta``), not from a closed-form bound.
* ``"discrete_laplace"`` (two-sided geometric) for pure epsilon-DP,
  sampled exactly with the samplers of Canonne, Kamath and Steinke,
  "The Discrete Gaussian for Differential Privacy", NeurIPS 2020
  (arXiv:2004.00010).

Each sample is truncated to [-T, T] by rejection, with truncation
probability at most 2^-TRUNCATION_LOG2, so that a party can commit to its
noise and prove its range. ``truncation_delta`` gives what truncation adds
to delta. The protocol note is docs/dp.md.

No function here uses floating-point noise, ``random`` or numpy.random.
Floats appear only in accounting (delta, tail bounds, std, intervals),
never in a sampler.
"""

from __future__ import annotations

import math
import os
import secrets
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

TRUNCATION_LOG2 = 40
"""Each sample leaves [-T, T] with probability at most 2^-TRUNCATION_LOG2."""

MECHANISMS = ("binomial", "discrete_laplace")

INTERVAL_LEVEL = 0.95
"""Coverage of ``NoisePlan.interval95``."""

SCALE_DENOMINATOR = 10**6
"""Discrete Laplace scales are rounded up to a multiple of 1/10^6."""

_TRUNCATION_PROB = 2.0**-TRUNCATION_LOG2
_LOG_TRUNCATION_PROB = -TRUNCATION_LOG2 * math.log(2.0)

# Binomial pmfs are evaluated on a window around n/2 that leaves out mass
# at most e^-_WINDOW_LOG_MASS on each side (Hoeffding's inequality).
_WINDOW_LOG_MASS = 100.0
_WINDOW_MASS = math.exp(-_WINDOW_LOG_MASS)

# Random words drawn per call of os.urandom while counting coins (2 MiB).
_CHUNK_WORDS = 1 << 18

# Largest FFT used to convolve discrete Laplace pmfs for interval95.
_MAX_FFT_POINTS = 1 << 22

# Coin counts above 2^34 are rejected by the accounting functions: the pmf
# window of n coins has about 14 sqrt(n) entries (1.8 million at 2^34),
# and sampling that many coins per element would take minutes anyway.
_MAX_COINS = 1 << 34
MAX_SAMPLED_COINS = 1 << 30
"""Most binomial coins one party samples per element: 128 MiB of random
bits, about half a second on a 2-core VM, which keeps a job's noise
well within a phase deadline."""

_POPCOUNT_BYTE = np.array([bin(i).count("1") for i in range(256)], np.uint8)


# Parameter checks ---------------------------------------------------------


def _require_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"{name} must be an integer, got {type(value).__name__} "
            f"{value!r}"
        )
    if value < minimum:
        raise ValueError(
            f"{name} must be an integer >= {minimum}, got {value}"
        )
    return int(value)


def _require_real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(
            f"{name} must be a real number, got {type(value).__name__} "
            f"{value!r}"
        )
    return float(value)


def _check_epsilon(epsilon: object) -> float:
    eps = _require_real("epsilon", epsilon)
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(
            f"epsilon must be a finite number > 0, got {epsilon!r}"
        )
    return eps


def _check_delta(delta: object, allow_zero: bool, context: str) -> float:
    d = _require_real("delta", delta)
    if allow_zero and not 0 <= d < 1:
        raise ValueError(f"delta must be in [0, 1){context}, got {delta!r}")
    if not allow_zero and not 0 < d < 1:
        raise ValueError(f"delta must be in (0, 1){context}, got {delta!r}")
    return d


def validate_privacy_parameters(
    epsilon: float, delta: float, mechanism: str
) -> None:
    """Check a privacy budget for one mechanism, raising on a bad value.

    Allowed: mechanism in MECHANISMS and 0 < epsilon < inf, with
    0 < delta < 1 for "binomial" and 0 <= delta < 1 for
    "discrete_laplace". A discrete Laplace plan still reports the
    truncation delta (``truncation_delta``) when delta == 0, because
    bounded noise cannot give pure epsilon-DP: its delta is at least the
    probability of the truncated tail.

    Raises TypeError for a non-numeric epsilon or delta and ValueError,
    naming the parameter and its value, for NaN, infinity or a value out
    of range, and for an unknown mechanism.
    """
    if mechanism not in MECHANISMS:
        raise ValueError(
            f"mechanism must be one of {', '.join(map(repr, MECHANISMS))},"
            f" got {mechanism!r}"
        )
    _check_epsilon(epsilon)
    if mechanism == "binomial":
        _check_delta(
            delta, False,
            " for the binomial mechanism (use 'discrete_laplace' for pure "
            "epsilon-DP)",
        )
    else:
        _check_delta(delta, True, " for the discrete Laplace mechanism")


def _check_parties(num_parties: int, colluding: int | None) -> int:
    m = _require_int("num_parties", num_parties, 1)
    if colluding is None:
        return m - 1
    t = _require_int("colluding", colluding, 0)
    if t > m - 1:
        raise ValueError(
            f"colluding must be in [0, num_parties - 1] = [0, {m - 1}], "
            f"got {t}: at least one party must be honest"
        )
    return t


def truncation_delta(
    epsilon: float, num_parties: int, elements: int = 1
) -> float:
    """Return the delta added by truncating every sample to [-T, T].

    Rejection sampling turns each sample into its distribution conditioned
    on [-T, T], at total variation distance at most p = 2^-40 from the
    untruncated one. Over all num_parties * elements samples of a query
    the released vector is therefore within eta = num_parties * elements
    * p of the untruncated mechanism, and an (epsilon, delta)-DP mechanism
    moved by eta in total variation is (epsilon, delta + (1 + e^epsilon)
    eta)-DP. Counting every party and every element is conservative: only
    the honest parties' samples of the one element a record changes
    matter.

    Post: the result is (1 + e^epsilon) * num_parties * elements * 2^-40.
    """
    eps = _check_epsilon(epsilon)
    m = _require_int("num_parties", num_parties, 1)
    n = _require_int("elements", elements, 1)
    return (1.0 + math.exp(eps)) * m * n * _TRUNCATION_PROB


def truncation_message(delta: float, d_trunc: float, num_parties: int,
                       elements: int) -> str:
    """Return the error for a delta that the truncation alone uses up."""
    return (
        f"delta={delta!r} must exceed the truncation delta {d_trunc:.3g} "
        f"for {num_parties} parties and {elements} elements. That delta "
        "grows as e^epsilon, so lower epsilon, raise delta, or choose "
        "mechanism \"discrete_laplace\" (pure epsilon-DP with delta = 0)"
    )


# Noise plans --------------------------------------------------------------


@dataclass(frozen=True)
class NoisePlan:
    """The noise every party adds to each element of one query.

    ``delta`` is the total delta of the query, truncation included. For
    the binomial mechanism it is the requested budget, which the chosen
    coins meet. For the discrete Laplace mechanism it is the truncation
    delta. ``elements`` is the number of released elements that the
    truncation delta was counted for.
    """

    mechanism: str
    sensitivity: int
    epsilon: float
    delta: float
    num_parties: int
    colluding: int
    coins_per_party: int
    scale: Fraction | None
    tail_bound: int
    elements: int = 1

    def __post_init__(self) -> None:
        validate_privacy_parameters(self.epsilon, self.delta, self.mechanism)
        _require_int("sensitivity", self.sensitivity, 1)
        _check_parties(self.num_parties, self.colluding)
        _require_int("tail_bound", self.tail_bound, 0)
        _require_int("elements", self.elements, 1)
        coins = _require_int("coins_per_party", self.coins_per_party, 0)
        if self.mechanism == "binomial":
            if coins < 2 or coins % 2:
                raise ValueError(
                    f"coins_per_party must be even and >= 2 for the "
                    f"binomial mechanism, got {coins}"
                )
            if self.scale is not None:
                raise ValueError(
                    f"scale must be None for the binomial mechanism, got "
                    f"{self.scale!r}"
                )
        else:
            if coins != 0:
                raise ValueError(
                    f"coins_per_party must be 0 for the discrete Laplace "
                    f"mechanism, got {coins}"
                )
            if not isinstance(self.scale, Fraction) or self.scale <= 0:
                raise ValueError(
                    f"scale must be a positive Fraction for the discrete "
                    f"Laplace mechanism, got {self.scale!r}"
                )

    def truncation_delta(self) -> float:
        """Return the part of ``delta`` due to truncation at tail_bound."""
        return truncation_delta(self.epsilon, self.num_parties, self.elements)

    def total_std(self) -> float:
        """Return the std of the sum of all m parties' noise.

        This is the std of the untruncated noise: binomial
        sqrt(m N_j / 4), discrete Laplace sqrt(m * 2q / (1 - q)^2) with
        q = exp(-1/scale). Truncation removes mass at most 2^-40 per
        sample beyond T. For the discrete Laplace noise the tests find
        the truncated std within a relative 1e-8 of this value.
        """
        m = self.num_parties
        if self.mechanism == "binomial":
            return math.sqrt(m * self.coins_per_party) / 2
        assert self.scale is not None
        q = math.exp(-1 / float(self.scale))
        one_minus_q = -math.expm1(-1 / float(self.scale))
        return math.sqrt(m * 2 * q) / one_minus_q

    def interval95(self) -> int:
        """Return h with P(|total noise| <= h) >= 0.95, all parties honest.

        Binomial: the smallest h for the exact Binomial(m N_j, 1/2) total,
        centred, with its tail allowed to be 0.05 minus m * 2^-40 so that
        the bound also holds for the truncated samples. Discrete Laplace:
        the smallest h for the numerical convolution of the m truncated
        pmfs, when it fits in 2^22 FFT points. Beyond that the pmfs are
        convolved in blocks of width w, and h is an upper bound at most
        m w above the smallest.
        """
        m = self.num_parties
        if self.mechanism == "binomial":
            tail = (1 - INTERVAL_LEVEL) - m * _TRUNCATION_PROB
            return _binomial_central_bound(m * self.coins_per_party, tail)
        assert self.scale is not None
        return _discrete_laplace_interval(
            self.scale, self.tail_bound, m, INTERVAL_LEVEL, _MAX_FFT_POINTS
        )

    def describe(self) -> dict[str, object]:
        """Return the plan as a JSON-safe dict (str, int, float, None)."""
        scale = None
        if self.scale is not None:
            scale = f"{self.scale.numerator}/{self.scale.denominator}"
        return {
            "mechanism": self.mechanism,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "truncation_delta": self.truncation_delta(),
            "sensitivity": self.sensitivity,
            "coins_per_party": self.coins_per_party,
            "scale": scale,
            "tail_bound": self.tail_bound,
            "total_std": self.total_std(),
            "interval95": self.interval95(),
            "num_parties": self.num_parties,
            "colluding": self.colluding,
            "elements": self.elements,
        }


def plan_noise(
    mechanism: str,
    sensitivity: int,
    epsilon: float,
    delta: float,
    num_parties: int,
    colluding: int | None = None,
    elements: int = 1,
) -> NoisePlan:
    """Choose the noise each party adds so the query is (epsilon, delta)-DP.

    Pre: adding or removing one record changes at most one element of
    the query, by at most sensitivity >= 1. The budget passes
    validate_privacy_parameters(epsilon, delta, mechanism). Also
    0 <= colluding <= num_parties - 1 (default num_parties - 1), and
    elements >= 1 is the number of released elements of the query.

    Binomial: with d_trunc = truncation_delta(epsilon, num_parties,
    elements), the honest parties' Binomial((m - t) N_j, 1/2) noise meets
    binomial_delta <= delta - d_trunc. N_j is ceil(N / (m - t)) rounded
    up to even, with N = min_binomial_coins(sensitivity, epsilon, delta -
    d_trunc). Post: plan.delta == delta.

    Discrete Laplace: every party adds a full sample of scale s >=
    sensitivity / epsilon, because one honest party's sample alone must
    give epsilon-DP. This overshoots the noise when colluding < m - 1.
    Post: plan.delta == d_trunc, and ValueError if 0 < delta < d_trunc.

    Post (both): each party's sample lies in [-plan.tail_bound,
    plan.tail_bound] and leaves it with probability at most 2^-40.
    """
    validate_privacy_parameters(epsilon, delta, mechanism)
    sens = _require_int("sensitivity", sensitivity, 1)
    m = _require_int("num_parties", num_parties, 1)
    t = _check_parties(m, colluding)
    n = _require_int("elements", elements, 1)
    eps = float(epsilon)
    d_trunc = truncation_delta(eps, m, n)

    if mechanism == "discrete_laplace":
        if 0 < delta < d_trunc:
            raise ValueError(
                f"delta={delta!r} is below the truncation delta {d_trunc:.3g}"
                f" for {m} parties and {n} elements. Pass delta=0 or at "
                f"least {d_trunc:.3g}"
            )
        scale = _laplace_scale(sens, eps)
        return NoisePlan(
            mechanism, sens, eps, d_trunc, m, t, 0, scale,
            discrete_laplace_tail_bound(scale), n,
        )

    delta_mech = float(delta) - d_trunc
    if delta_mech <= 0:
        raise ValueError(truncation_message(delta, d_trunc, m, n))

    # Split the required coins over the m - t honest parties. The check
    # after rounding guards the split against delta not being monotone.
    honest = m - t
    total = min_binomial_coins(sens, eps, delta_mech)
    coins = -(-total // honest)
    coins += coins % 2
    while binomial_delta(honest * coins, sens, eps) > delta_mech:
        coins += 2
    if coins > MAX_SAMPLED_COINS:
        raise ValueError(
            f"sensitivity={sens}, epsilon={eps:.6g} need {coins} binomial "
            f"coins per party and element, more than {MAX_SAMPLED_COINS} "
            "(2^30), whose random bits take seconds to draw; raise "
            "epsilon, narrow the clip bounds, or use 'discrete_laplace'"
        )
    return NoisePlan(
        mechanism, sens, eps, float(delta), m, t, coins, None,
        binomial_tail_bound(coins), n,
    )


def split_budget(
    epsilon: float, delta: float, weights: list[float]
) -> list[tuple[float, float]]:
    """Split (epsilon, delta) over queries in proportion to weights.

    Sequential composition: query i gets (epsilon w_i / W, delta w_i / W)
    with W = sum(weights). Pre: 0 < epsilon < inf, 0 <= delta < 1, every
    weight finite and > 0. Post: the shares sum (exactly, by math.fsum)
    to at most epsilon and at most delta: where rounding would exceed
    the budget, shares are lowered by one ulp at a time.
    """
    eps = _check_epsilon(epsilon)
    d = _check_delta(delta, True, "")
    if not weights:
        raise ValueError("weights must not be empty")
    ws = [_require_real(f"weights[{i}]", w) for i, w in enumerate(weights)]
    for i, w in enumerate(ws):
        if not (math.isfinite(w) and w > 0):
            raise ValueError(
                f"weights[{i}] must be a finite number > 0, got {w!r}"
            )
    total = math.fsum(ws)
    eps_shares = _proportional(eps, ws, total)
    delta_shares = _proportional(d, ws, total)
    return list(zip(eps_shares, delta_shares))


def _proportional(budget: float, ws: list[float], total: float) -> list[float]:
    shares = [budget * (w / total) for w in ws]
    i = 0
    while math.fsum(shares) > budget:
        shares[i] = math.nextafter(shares[i], 0.0)
        i = (i + 1) % len(shares)
    return shares


# Binomial mechanism: exact accounting -------------------------------------


def _binomial_window(n: int) -> tuple[int, int]:
    # Hoeffding: P(X - n/2 <= -u) <= exp(-2 u^2 / n) <= e^-_WINDOW_LOG_MASS.
    u = math.ceil(math.sqrt(n * _WINDOW_LOG_MASS / 2)) + 1
    return max(0, n // 2 - u), min(n, (n + 1) // 2 + u)


def _binomial_log_pmf(n: int, lo: int, hi: int) -> np.ndarray:
    """Return log P(X = k) for X ~ Binomial(n, 1/2), k = lo, ..., hi.

    Pre: lo <= n // 2 <= hi, and [lo, hi] contains all but a negligible
    part of the mass, because the result is normalised over the window.
    The log-pmf is built from the exact ratios P(k) / P(k - 1) =
    (n - k + 1) / k, summed outwards from the mode, so it needs no lgamma
    of large arguments and loses no digits to cancellation.
    """
    ks = np.arange(lo + 1, hi + 1, dtype=np.float64)
    ratios = np.log1p((n - 2 * ks + 1) / ks)
    mode = n // 2 - lo
    log_w = np.empty(hi - lo + 1)
    log_w[mode] = 0.0
    log_w[mode + 1:] = np.cumsum(ratios[mode:])
    log_w[:mode] = -np.cumsum(ratios[:mode][::-1])[::-1]
    return log_w - math.log(float(np.sum(np.exp(log_w))))


def binomial_delta(coins: int, sensitivity: int, epsilon: float) -> float:
    """Return the exact delta of Binomial(coins, 1/2) noise.

    For X ~ Binomial(coins, 1/2) with pmf P and an integer shift s =
    sensitivity, this is the hockey-stick divergence
    sum_k max(0, P(k) - e^epsilon P(k - s)), the smallest delta for which
    adding X is (epsilon, delta)-DP against that shift. The shift -s gives
    the same value because P(k) = P(coins - k). A query whose element
    moves by any integer in [-s, s] is covered too, because the value is
    non-decreasing in s (checked by the tests, not proven here).

    Pre: 0 <= coins <= 2^34, sensitivity >= 1, 0 <= epsilon < inf.
    Post: 0 <= result <= 1. The result is the exact value up to float
    rounding plus at most 4e-44, the bound on the mass outside the window
    of k evaluated, which is added rather than dropped. The log-pmf it
    sums was measured within 2e-13 of exact values for coins up to 1e10.
    """
    n = _require_int("coins", coins, 0)
    s = _require_int("sensitivity", sensitivity, 1)
    eps = _require_real("epsilon", epsilon)
    if not (math.isfinite(eps) and eps >= 0):
        raise ValueError(
            f"epsilon must be a finite number >= 0, got {epsilon!r}"
        )
    if n > _MAX_COINS:
        raise ValueError(f"coins must be at most 2^34, got {n}")

    # Evaluate P on the window and s further below it, so P(k - s) is
    # known for every k of the window.
    lo, hi = _binomial_window(n)
    base = max(0, lo - s)
    log_p = _binomial_log_pmf(n, base, hi)

    # Privacy loss L(k) = log P(k) - log P(k - s) for k in [lo, hi], which
    # is +inf where k - s < 0. Only k with L(k) > epsilon contribute, each
    # P(k) (1 - e^(epsilon - L(k))).
    log_pk = log_p[lo - base:]
    log_pks = np.full_like(log_pk, -np.inf)
    # log_pk[i] is k = lo + i, and k - s is log_p[i + lo - s - base].
    skip = base - (lo - s)  # i below this have k - s < 0
    if skip < log_pk.size:
        log_pks[skip:] = log_p[: log_pk.size - skip]
    with np.errstate(invalid="ignore"):
        loss = log_pk - log_pks
    hit = loss > eps
    terms = np.exp(log_pk[hit]) * -np.expm1(eps - loss[hit])
    result = float(np.sum(terms))
    if lo > 0:
        # Terms with k < lo are at most P(X < lo).
        result += _WINDOW_MASS
    return min(1.0, result)


def min_binomial_coins(sensitivity: int, epsilon: float, delta: float) -> int:
    """Return the smallest even N with binomial_delta(N, s, eps) <= delta.

    Pre: sensitivity >= 1, 0 < epsilon < inf, 0 < delta < 1.
    Post: N is even, N >= 2, binomial_delta(N) <= delta and
    binomial_delta(N - 2) > delta when N > 2.

    The search doubles N until delta is met and then bisects over even
    N, which finds the smallest N when binomial_delta decreases in N. It
    does in every range the tests sweep, but that is not proven, so
    plan_noise re-checks the coin count it actually uses.
    """
    s = _require_int("sensitivity", sensitivity, 1)
    validate_privacy_parameters(epsilon, delta, "binomial")
    eps, target = float(epsilon), float(delta)

    def meets(half: int) -> bool:
        return binomial_delta(2 * half, s, eps) <= target

    # A Gaussian with the same variance, N/4, needs about this many coins;
    # the exact count has stayed within a factor of two of it in every
    # range the tests sweep. Far beyond the cap, fail at once instead of
    # spending seconds on the search.
    estimate = 4 * (s * math.sqrt(2 * math.log(1.25 / target)) / eps) ** 2
    if estimate > 16 * _MAX_COINS:
        raise ValueError(
            f"sensitivity={s}, epsilon={epsilon!r}, delta={delta!r} "
            f"need about {estimate:.3g} binomial coins, more than 2^34. "
            "Raise epsilon or delta, lower the sensitivity, or use "
            "'discrete_laplace'"
        )

    # Bracket in units of two coins: meets(high) and not meets(low),
    # starting well below the estimate.
    low, high = 0, max(1, int(estimate / 16))
    if meets(high):
        high, low = 1, 0
    while not meets(high):
        low, high = high, 2 * high
        if 2 * high > _MAX_COINS:
            raise ValueError(
                f"sensitivity={s}, epsilon={epsilon!r}, delta={delta!r} "
                f"need more than 2^34 binomial coins. Raise epsilon or "
                f"delta, lower the sensitivity, or use 'discrete_laplace'"
            )
    while high - low > 1:
        mid = (low + high) // 2
        if meets(mid):
            high = mid
        else:
            low = mid
    return 2 * high


def _binomial_central_bound(coins: int, tail: float) -> int:
    """Return the smallest h with P(|X - coins/2| > h) <= tail.

    X ~ Binomial(coins, 1/2) and coins is even. By symmetry the two-sided
    tail is 2 P(X < coins/2 - h), summed from the pmf. The bound on the
    window's missing mass is added, so the result never undershoots.
    """
    half = coins // 2
    lo, hi = _binomial_window(coins)
    p = np.exp(_binomial_log_pmf(coins, lo, hi))[: half - lo]
    # below[i] = P(lo <= X <= lo + i - 1), for i = 0 .. half - lo.
    below = np.concatenate(([0.0], np.cumsum(p)))
    if lo > 0:
        below += _WINDOW_MASS
    # P(|X - half| > h) = 2 P(X <= half - h - 1) = 2 below[half - h - lo].
    ok = np.nonzero(2 * below <= tail)[0]
    if ok.size == 0:
        return half
    return min(half, half - lo - int(ok[-1]))


def binomial_tail_bound(coins: int) -> int:
    """Return the smallest T with P(|X - coins/2| > T) <= 2^-40.

    X ~ Binomial(coins, 1/2). Pre: coins even, 2 <= coins <= 2^34.
    Post: 0 <= T <= coins/2.
    """
    n = _require_int("coins", coins, 2)
    if n % 2 or n > _MAX_COINS:
        raise ValueError(f"coins must be even and at most 2^34, got {n}")
    return _binomial_central_bound(n, _TRUNCATION_PROB)


# Binomial mechanism: sampler ----------------------------------------------


def _popcount_rows(words: np.ndarray) -> np.ndarray:
    """Return the number of set bits in each row of a 2-D uint64 array."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(words).sum(axis=1, dtype=np.int64)
    return _popcount_rows_by_table(words)


def _popcount_rows_by_table(words: np.ndarray) -> np.ndarray:
    as_bytes = np.ascontiguousarray(words).view(np.uint8)
    return _POPCOUNT_BYTE[as_bytes].sum(axis=1, dtype=np.int64)


def _random_words(count: int) -> np.ndarray:
    return np.frombuffer(os.urandom(8 * count), dtype=np.uint64)


def _count_random_ones(coins: int, size: int, chunk_words: int) -> np.ndarray:
    """Return `size` counts of set bits among `coins` fresh random bits.

    Each count is Binomial(coins, 1/2): every bit comes from os.urandom
    and is used once. Random bytes are drawn at most chunk_words words at
    a time, so memory stays O(chunk_words) whatever coins and size are.
    """
    full, rem = divmod(coins, 64)
    rem_mask = np.uint64((1 << rem) - 1)
    out = np.zeros(size, dtype=np.int64)
    words_per_sample = full + (rem > 0)
    if size == 0 or words_per_sample == 0:
        return out

    if words_per_sample <= chunk_words:
        # Many samples per draw: one row of words per sample, the last
        # word masked down to the `rem` remaining coins.
        rows = chunk_words // words_per_sample
        for start in range(0, size, rows):
            stop = min(size, start + rows)
            words = _random_words((stop - start) * words_per_sample)
            words = words.reshape(stop - start, words_per_sample)
            counts = _popcount_rows(words[:, :full])
            if rem:
                counts += _popcount_rows(words[:, full:] & rem_mask)
            out[start:stop] = counts
        return out

    # One sample spans several draws: accumulate its count chunk by chunk.
    for i in range(size):
        count = 0
        left = full
        while left:
            step = min(left, chunk_words)
            count += int(_popcount_rows(_random_words(step)[None, :])[0])
            left -= step
        if rem:
            last = _random_words(1)[None, :] & rem_mask
            count += int(_popcount_rows(last)[0])
        out[i] = count
    return out


def sample_binomial(coins: int, size: int) -> np.ndarray:
    """Sample Binomial(coins, 1/2) - coins/2 exactly, `size` times.

    Each sample counts the ones among `coins` bits from os.urandom, so
    it has exactly the centred binomial distribution, and no float is
    used. The work is coins * size random bits, drawn in chunks of 2 MiB
    (about 20 ms per sample at 5e7 coins on a 2-core VM).

    Pre: coins even, 0 <= coins <= 2^34, size >= 0.
    Post: int64 array of shape (size,), values in [-coins/2, coins/2].
    """
    n = _require_int("coins", coins, 0)
    count = _require_int("size", size, 0)
    if n % 2 or n > _MAX_COINS:
        raise ValueError(
            f"coins must be even and at most 2^34 so the centred sample is"
            f" an integer, got {n}"
        )
    return _count_random_ones(n, count, _CHUNK_WORDS) - n // 2


# Discrete Laplace mechanism -----------------------------------------------


def _laplace_scale(sensitivity: int, epsilon: float) -> Fraction:
    # Rational arithmetic on the float's exact value, rounded up, so
    # sensitivity / scale <= epsilon is exactly true.
    exact = Fraction(sensitivity) / Fraction(epsilon)
    return Fraction(math.ceil(exact * SCALE_DENOMINATOR), SCALE_DENOMINATOR)


def _require_scale(scale: object) -> Fraction:
    if isinstance(scale, bool) or not isinstance(scale, (Fraction, int)):
        raise TypeError(
            f"scale must be a Fraction or int, got {type(scale).__name__} "
            f"{scale!r}. A float scale would make the sampler inexact"
        )
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    return Fraction(scale)


def _discrete_laplace_log_tail(scale: float, bound: int) -> float:
    # log P(|X| > bound) = log(2 q^(bound + 1) / (1 + q)), q = e^(-1/scale).
    return (
        math.log(2.0) - (bound + 1) / scale - math.log1p(math.exp(-1 / scale))
    )


def discrete_laplace_tail_bound(scale: Fraction) -> int:
    """Return the smallest T with P(|X| > T) <= 2^-40.

    X has the discrete Laplace distribution P(x) = (1 - q)/(1 + q) q^|x|,
    q = exp(-1/scale), whose two-sided tail is P(|X| > T) =
    2 q^(T + 1) / (1 + q). Pre: scale > 0. Post: T >= 0.
    """
    s = float(_require_scale(scale))
    bound = max(
        0,
        math.ceil(
            s * (math.log(2.0) - _LOG_TRUNCATION_PROB
                 - math.log1p(math.exp(-1 / s)))
        ) - 1,
    )
    # The closed form above is solved in floats, so step to the smallest
    # bound that passes the tail check.
    while _discrete_laplace_log_tail(s, bound) > _LOG_TRUNCATION_PROB:
        bound += 1
    while (
        bound > 0
        and _discrete_laplace_log_tail(s, bound - 1) <= _LOG_TRUNCATION_PROB
    ):
        bound -= 1
    return bound


def _bernoulli(numerator: int, denominator: int) -> bool:
    """Return True with probability numerator / denominator (<= 1)."""
    return secrets.randbelow(denominator) < numerator


def _bernoulli_exp_neg_unit(numerator: int, denominator: int) -> bool:
    # The Bernoulli(exp(-gamma)) sampler of Canonne, Kamath and Steinke
    # 2020 for gamma in [0, 1], after von Neumann. It draws A_k ~
    # Bernoulli(gamma / k) for k = 1, 2, ... until one fails, and
    # P(the first failure is at an odd k) = e^-gamma.
    k = 1
    while _bernoulli(numerator, denominator * k):
        k += 1
    return k % 2 == 1


def _bernoulli_exp_neg(numerator: int, denominator: int) -> bool:
    """Return True with probability exp(-numerator / denominator).

    This is the Bernoulli(exp(-gamma)) sampler of Canonne, Kamath and
    Steinke 2020 (arXiv:2004.00010). For gamma > 1 it needs
    floor(gamma) successes of Bernoulli(e^-1) and then one of
    Bernoulli(e^-(gamma - floor(gamma))). Pre: numerator >= 0,
    denominator >= 1.
    """
    while numerator > denominator:
        if not _bernoulli_exp_neg_unit(1, 1):
            return False
        numerator -= denominator
    return _bernoulli_exp_neg_unit(numerator, denominator)


def _sample_discrete_laplace_one(t: int, s: int) -> int:
    """Sample the discrete Laplace distribution of scale t / s.

    This is the discrete Laplace sampler of Canonne, Kamath and Steinke
    2020 (arXiv:2004.00010), in its notation. A uniform U < t, kept with
    probability e^(-U/t), and a geometric V give X = U + t V, geometric
    with ratio e^(-1/t). Y = floor(X / s) is then geometric with ratio
    e^(-s/t), and a random sign (rejecting -0) makes it two-sided.
    """
    while True:
        u = secrets.randbelow(t)
        if not _bernoulli_exp_neg(u, t):
            continue
        v = 0
        while _bernoulli_exp_neg(1, 1):
            v += 1
        y = (u + t * v) // s
        negative = secrets.randbelow(2) == 1
        if negative and y == 0:
            continue
        return -y if negative else y


def sample_discrete_laplace(scale: Fraction, size: int) -> list[int]:
    """Sample the discrete Laplace distribution exactly, `size` times.

    P(x) = (1 - q)/(1 + q) q^|x| for every integer x, q = exp(-1/scale).
    The sampler uses only `secrets` and integer arithmetic on the
    numerator and denominator of scale, so the output distribution is
    exact. Its running time depends on the values drawn, so it is not
    constant-time.

    Pre: scale is a Fraction or int > 0 (not a float), size >= 0.
    Post: a list of `size` ints.
    """
    exact = _require_scale(scale)
    count = _require_int("size", size, 0)
    t, s = exact.numerator, exact.denominator
    return [_sample_discrete_laplace_one(t, s) for _ in range(count)]


def _geometric_range_sum(
    log_q: float, first: np.ndarray, last: np.ndarray
) -> np.ndarray:
    # sum_{x=first}^{last} q^x for 0 <= first <= last, without cancellation.
    return (
        np.exp(first * log_q)
        * -np.expm1((last - first + 1) * log_q)
        / -math.expm1(log_q)
    )


def _discrete_laplace_interval(
    scale: Fraction, bound: int, parties: int, level: float,
    max_points: int,
) -> int:
    """Return h with P(|Z| <= h) >= level, Z a sum of truncated samples.

    Z is the sum of `parties` independent discrete Laplace samples of the
    given scale, each conditioned on [-bound, bound]. The pmf of each
    sample is grouped in blocks of w consecutive values, w = 1 unless the
    convolution would need more than max_points FFT points. With B_i the
    block index of sample i, S = sum B_i and Z = w S - parties * bound + R
    for some R in [0, parties (w - 1)], so a range of S bounds |Z| from
    above. The result is the smallest h for w = 1, and at most
    parties * w larger otherwise.
    """
    # Mass of each block [-bound + b w, -bound + (b + 1) w - 1], clipped.
    width = max(1, math.ceil(parties * (2 * bound + 1) / max_points))
    blocks = (2 * bound) // width + 1
    lows = -bound + width * np.arange(blocks, dtype=np.float64)
    highs = np.minimum(lows + width - 1, bound)
    log_q = -1 / float(scale)
    zero = np.zeros_like(lows)
    # Negative part [lows, min(highs, -1)] and non-negative part
    # [max(lows, 0), highs] of each block, as sums of q^|x|.
    neg_first = np.maximum(-highs, 1)
    neg_last = np.maximum(-lows, neg_first)
    neg = np.where(
        lows < 0, _geometric_range_sum(log_q, neg_first, neg_last), zero
    )
    pos_first = np.maximum(lows, 0)
    pos_last = np.maximum(highs, pos_first)
    pos = np.where(
        highs >= 0, _geometric_range_sum(log_q, pos_first, pos_last), zero
    )
    pmf = neg + pos
    pmf /= pmf.sum()

    # Distribution of S by FFT: the m-th power of the block pmf's
    # transform.
    support = parties * (blocks - 1) + 1
    size = 1 << (support - 1).bit_length()
    spectrum = np.fft.rfft(pmf, size) ** parties
    pmf_s = np.clip(np.fft.irfft(spectrum, size)[:support], 0.0, None)
    pmf_s /= pmf_s.sum()
    below = np.concatenate(([0.0], np.cumsum(pmf_s)))  # P(S < i)

    def covered(h: int) -> float:
        # P(S in [ceil((mT - h)/w), floor((h + mT - m(w - 1))/w)]).
        first = max(0, -((h - parties * bound) // width))
        last = min(
            support - 1,
            (h + parties * bound - parties * (width - 1)) // width,
        )
        return float(below[last + 1] - below[first]) if last >= first else 0.0

    low, high = -1, parties * bound + parties * width
    while high - low > 1:
        mid = (low + high) // 2
        if covered(mid) >= level:
            high = mid
        else:
            low = mid
    return min(high, parties * bound)


# Noise for one party ------------------------------------------------------


def sample_noise(plan: NoisePlan, size: int) -> list[int]:
    """Sample one party's noise for `size` elements of a query.

    Each value has the plan's distribution conditioned on [-T, T], T =
    plan.tail_bound. Values outside are rejected and drawn again, which
    happens with probability at most 2^-40 per value.

    Pre: size >= 0. Post: `size` ints, each in [-T, T]. A plan of a
    mechanism registered in `mpc.mechanisms` draws with its own `sample`.
    """
    count = _require_int("size", size, 0)
    bound = plan.tail_bound

    def draw(k: int) -> list[int]:
        if not isinstance(plan, NoisePlan):
            return [int(v) for v in plan.sample(k)]
        if plan.mechanism == "binomial":
            return [int(v) for v in sample_binomial(plan.coins_per_party, k)]
        assert plan.scale is not None
        return sample_discrete_laplace(plan.scale, k)

    noise = draw(count)
    while True:
        outside = [i for i, v in enumerate(noise) if abs(v) > bound]
        if not outside:
            return noise
        for i, v in zip(outside, draw(len(outside))):
            noise[i] = v
