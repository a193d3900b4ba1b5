"""Tests for mpc.dp: exact samplers, exact delta and noise plans.

Statistical tests use a chi-square goodness-of-fit test at a stated
false-failure rate ALPHA, with bins pooled until every expected count is
at least 5. Expected values come from scipy or exact rational arithmetic,
never from the code under test.
"""

from __future__ import annotations

import ast
import json
import math
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from mpc import dp

# Each statistical test fails by chance with probability ALPHA.
ALPHA = 1e-4
TRUNCATION_PROB = 2.0**-dp.TRUNCATION_LOG2


def _pooled_chi_square(
    samples: np.ndarray, lo: int, probs: np.ndarray
) -> tuple[float, int]:
    """Return (statistic, degrees of freedom) of a chi-square test.

    probs[i] is the probability of lo + i, except that probs[0] must
    include everything below lo and probs[-1] everything above
    lo + len(probs) - 1; samples are clipped into that range to match.
    Adjacent values are pooled left to right until each bin expects at
    least 5 samples, and a short last bin is merged into the previous.
    """
    n = samples.size
    counts = np.bincount(
        np.clip(samples, lo, lo + probs.size - 1) - lo, minlength=probs.size
    )
    observed: list[float] = []
    expected: list[float] = []
    obs_acc = exp_acc = 0.0
    for count, p in zip(counts, probs):
        obs_acc += count
        exp_acc += n * p
        if exp_acc >= 5:
            observed.append(obs_acc)
            expected.append(exp_acc)
            obs_acc = exp_acc = 0.0
    if exp_acc > 0 or obs_acc > 0:
        observed[-1] += obs_acc
        expected[-1] += exp_acc
    o, e = np.array(observed), np.array(expected)
    return float(np.sum((o - e) ** 2 / e)), len(observed) - 1


def _assert_fits(samples: np.ndarray, lo: int, probs: np.ndarray) -> None:
    assert math.isclose(float(np.sum(probs)), 1.0, rel_tol=1e-9)
    statistic, df = _pooled_chi_square(samples, lo, probs)
    threshold = stats.chi2.ppf(1 - ALPHA, df)
    assert statistic <= threshold, (statistic, df, threshold)


def _discrete_laplace_probs(scale: Fraction, k: int) -> np.ndarray:
    """Return the pmf on [-k, k] with both tails folded into the ends."""
    q = math.exp(-1 / float(scale))
    xs = np.arange(-k, k + 1)
    probs = (1 - q) / (1 + q) * q ** np.abs(xs)
    tail = q ** (k + 1) / (1 + q)  # P(X > k) = P(X < -k)
    probs[0] += tail
    probs[-1] += tail
    return probs


def _centred_binomial_probs(coins: int, k: int) -> np.ndarray:
    """Return the pmf of Binomial(coins, 1/2) - coins/2 on [-k, k]."""
    half = coins // 2
    probs = stats.binom.pmf(np.arange(half - k, half + k + 1), coins, 0.5)
    probs[0] += stats.binom.cdf(half - k - 1, coins, 0.5)
    probs[-1] += stats.binom.sf(half + k, coins, 0.5)
    return probs


def _brute_force_delta(coins: int, shift: int, epsilon: float) -> float:
    """Return sum_k max(0, P(k) - e^eps P(k - shift)) exactly.

    P(k) = C(coins, k) / 2^coins as Fractions; e^eps is the exact value of
    the float math.exp(epsilon).
    """
    e_eps = Fraction(math.exp(epsilon))
    total = Fraction(0)
    for k in range(0, coins + shift + 1):
        p = math.comb(coins, k) if k <= coins else 0
        p_shift = math.comb(coins, k - shift) if k >= shift else 0
        term = Fraction(p) - e_eps * p_shift
        if term > 0:
            total += term
    return float(total / 2**coins)


def _brute_force_delta_other_direction(
    coins: int, shift: int, epsilon: float
) -> float:
    """Return sum_k max(0, P(k - shift) - e^eps P(k)) exactly."""
    e_eps = Fraction(math.exp(epsilon))
    total = Fraction(0)
    for k in range(0, coins + shift + 1):
        p = math.comb(coins, k) if k <= coins else 0
        p_shift = math.comb(coins, k - shift) if k >= shift else 0
        term = Fraction(p_shift) - e_eps * p
        if term > 0:
            total += term
    return float(total / 2**coins)


# sample_binomial ----------------------------------------------------------


def test_sample_binomial_matches_pmf():
    # 200,000 samples of 80 coins, chi-square at ALPHA.
    coins, n = 80, 200_000
    samples = dp.sample_binomial(coins, n)
    assert samples.dtype == np.int64
    assert samples.shape == (n,)
    _assert_fits(samples, -coins // 2, _centred_binomial_probs(coins, 40))


def test_sample_binomial_large_coins_matches_pmf():
    # 4,000 samples of 200,002 coins (std about 224), chi-square at ALPHA
    # over values within 8 std, both tails folded into the end bins.
    coins, n = 200_002, 4_000
    samples = dp.sample_binomial(coins, n)
    k = 8 * 224
    _assert_fits(samples, -k, _centred_binomial_probs(coins, k))


@pytest.mark.parametrize(
    ("coins", "chunk_words"),
    [
        (64 * 7 + 5, 3),  # one sample spans three draws plus a partial word
        (64 * 7, 3),  # the same without a partial word
        (64 * 2 + 5, 7),  # two samples per draw, last word partial
        (37, 1),  # a single partial word per sample
    ],
)
def test_count_random_ones_chunking_matches_pmf(coins, chunk_words):
    # 20,000 samples per case, chi-square at ALPHA.
    n = 20_000
    counts = dp._count_random_ones(coins, n, chunk_words)
    probs = stats.binom.pmf(np.arange(coins + 1), coins, 0.5)
    _assert_fits(counts, 0, probs)


def test_count_random_ones_zero_coins_or_size():
    assert dp._count_random_ones(0, 5, 4).tolist() == [0] * 5
    assert dp._count_random_ones(100, 0, 4).size == 0


def test_popcount_table_matches_bitwise_count():
    words = np.frombuffer(bytes(range(256)) * 8, dtype=np.uint64)
    words = words.reshape(16, 16)
    expected = [sum(bin(int(w)).count("1") for w in row) for row in words]
    assert dp._popcount_rows_by_table(words).tolist() == expected
    assert dp._popcount_rows(words).tolist() == expected


def test_sample_binomial_fifty_million_coins_is_fast():
    # Measured at about 0.02 s per sample on a 2-core VM. The bound is
    # loose so that a slower machine still passes.
    start = time.perf_counter()
    samples = dp.sample_binomial(50_000_000, 4)
    assert time.perf_counter() - start < 2.0
    assert np.all(np.abs(samples) <= 25_000_000)


@pytest.mark.parametrize("coins", [-2, 3, 81])
def test_sample_binomial_rejects_bad_coins(coins):
    with pytest.raises(ValueError, match="coins"):
        dp.sample_binomial(coins, 1)


def test_sample_binomial_rejects_negative_size():
    with pytest.raises(ValueError, match="size must be an integer >= 0"):
        dp.sample_binomial(10, -1)


# sample_discrete_laplace --------------------------------------------------


@pytest.mark.parametrize(
    "scale", [Fraction(7, 3), Fraction(2, 5), Fraction(10)]
)
def test_sample_discrete_laplace_matches_pmf(scale):
    # 30,000 samples per scale, chi-square at ALPHA.
    n = 30_000
    samples = np.array(dp.sample_discrete_laplace(scale, n))
    k = math.ceil(40 * scale)
    _assert_fits(samples, -k, _discrete_laplace_probs(scale, k))


def test_sample_discrete_laplace_accepts_int_scale():
    samples = dp.sample_discrete_laplace(3, 10)
    assert len(samples) == 10
    assert all(isinstance(v, int) for v in samples)


def test_sample_discrete_laplace_rejects_float_scale():
    with pytest.raises(TypeError, match="scale must be a Fraction or int"):
        dp.sample_discrete_laplace(2.5, 1)


@pytest.mark.parametrize("scale", [Fraction(0), Fraction(-1, 2), -3])
def test_sample_discrete_laplace_rejects_nonpositive_scale(scale):
    with pytest.raises(ValueError, match="scale must be > 0"):
        dp.sample_discrete_laplace(scale, 1)


def test_bernoulli_exp_neg_matches_probability():
    # 40,000 draws each of Bernoulli(exp(-gamma)), two-sided binomial test
    # at ALPHA: covers gamma = 0, gamma < 1, gamma = 1 and gamma > 1.
    n = 40_000
    for numerator, denominator in [(0, 1), (1, 3), (1, 1), (7, 2)]:
        hits = sum(
            dp._bernoulli_exp_neg(numerator, denominator) for _ in range(n)
        )
        p = math.exp(-numerator / denominator)
        if p == 1.0:
            assert hits == n
            continue
        pvalue = stats.binomtest(hits, n, p).pvalue
        assert pvalue > ALPHA, (numerator, denominator, hits)


# sample_noise -------------------------------------------------------------


def test_sample_noise_binomial_truncated_matches_pmf():
    # Tail bound 3 on Binomial(80, 1/2) - 40 truncates about 30% of the
    # mass, so rejection runs often. 20,000 samples, chi-square at ALPHA
    # against the pmf conditioned on [-3, 3].
    plan = dp.NoisePlan("binomial", 1, 1.0, 1e-6, 1, 0, 80, None, 3)
    samples = np.array(dp.sample_noise(plan, 20_000))
    assert np.all(np.abs(samples) <= 3)
    probs = stats.binom.pmf(np.arange(37, 44), 80, 0.5)
    _assert_fits(samples, -3, probs / probs.sum())


def test_sample_noise_laplace_truncated_matches_pmf():
    # Tail bound 3 on scale 2 truncates about 18% of the mass. 20,000
    # samples, chi-square at ALPHA against the pmf conditioned on [-3, 3].
    plan = dp.NoisePlan(
        "discrete_laplace", 1, 0.5, 0.0, 1, 0, 0, Fraction(2), 3
    )
    samples = np.array(dp.sample_noise(plan, 20_000))
    assert np.all(np.abs(samples) <= 3)
    probs = np.exp(-np.abs(np.arange(-3, 4)) / 2)
    _assert_fits(samples, -3, probs / probs.sum())


def test_sample_noise_stays_in_tail_bound():
    plan = dp.plan_noise("binomial", 37, 0.17, 1e-6, 3)
    samples = dp.sample_noise(plan, 50)
    assert len(samples) == 50
    assert all(isinstance(v, int) for v in samples)
    assert max(abs(v) for v in samples) <= plan.tail_bound


# binomial_delta -----------------------------------------------------------


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 0.5, 1.0, 2.5])
@pytest.mark.parametrize("shift", [1, 2, 5])
def test_binomial_delta_matches_brute_force(shift, epsilon):
    for coins in list(range(0, 41)) + [80, 121]:
        expected = _brute_force_delta(coins, shift, epsilon)
        got = dp.binomial_delta(coins, shift, epsilon)
        assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-300), (
            coins, got, expected,
        )


@pytest.mark.parametrize(("shift", "epsilon"), [(1, 1.0), (3, 0.3), (2, 2.0)])
def test_binomial_delta_symmetric_direction(shift, epsilon):
    # The shift -s gives the same delta as +s, because P(k) = P(n - k).
    for coins in [1, 2, 7, 30, 64, 101]:
        forward = _brute_force_delta(coins, shift, epsilon)
        backward = _brute_force_delta_other_direction(coins, shift, epsilon)
        assert math.isclose(forward, backward, rel_tol=1e-12)
        assert math.isclose(
            dp.binomial_delta(coins, shift, epsilon), backward, rel_tol=1e-9
        )


@pytest.mark.parametrize("epsilon", [0.1, 1.0, 3.0])
def test_binomial_delta_monotone_in_shift(epsilon):
    # A record may move an element by less than the sensitivity, so the
    # delta for a smaller shift must not be larger.
    for coins in [2, 9, 80, 1000, 10**5, 2_676_366]:
        deltas = [dp.binomial_delta(coins, s, epsilon) for s in range(1, 60)]
        for s, (before, after) in enumerate(zip(deltas, deltas[1:]), 2):
            assert after >= before * (1 - 1e-12), (coins, s, before, after)


@pytest.mark.parametrize(
    ("shift", "epsilon"), [(1, 1.0), (1, 0.1), (5, 0.5), (37, 0.17)]
)
def test_binomial_delta_monotone_in_coins(shift, epsilon):
    coins = list(range(2, 3000, 2))
    coins += [int(c) & ~1 for c in np.geomspace(3000, 5e7, 200)]
    deltas = [dp.binomial_delta(n, shift, epsilon) for n in coins]
    # Tolerances: float rounding near delta = 1, and the 4e-44 window
    # mass binomial_delta adds once coins exceed about 200.
    for n, (before, after) in zip(coins[1:], zip(deltas, deltas[1:])):
        assert after <= before * (1 + 1e-12) + 1e-40, (n, before, after)


def test_binomial_delta_known_value():
    # Exact rational computation gives 9.8336130003e-07 for 80 coins.
    assert math.isclose(
        dp.binomial_delta(80, 1, 1.0), 9.8336130003234e-07, rel_tol=1e-9
    )
    assert dp.binomial_delta(80, 1, 1.0) <= 1e-6
    assert dp.binomial_delta(78, 1, 1.0) > 1e-6


def test_binomial_delta_large_coins_matches_scipy():
    # scipy 1.17's logpmf was measured about 1e-9 off in log at a million
    # coins, so the tolerance is loose and only catches gross errors.
    coins, shift, epsilon = 2_676_366, 37, 0.17
    ks = np.arange(coins // 2 - 20_000, coins // 2 + shift + 1)
    log_p = stats.binom.logpmf(ks, coins, 0.5)
    log_ps = stats.binom.logpmf(ks - shift, coins, 0.5)
    loss = log_p - log_ps
    hit = loss > epsilon
    expected = np.sum(np.exp(log_p[hit]) * -np.expm1(epsilon - loss[hit]))
    got = dp.binomial_delta(coins, shift, epsilon)
    assert math.isclose(got, expected, rel_tol=1e-6)


def test_binomial_log_pmf_matches_exact():
    coins = 1000
    log_p = dp._binomial_log_pmf(coins, 0, coins)
    for k in [0, 1, 250, 437, 500, 999, 1000]:
        exact = Fraction(math.comb(coins, k), 2**coins)
        expected = math.log(exact.numerator) - math.log(exact.denominator)
        assert math.isclose(log_p[k], expected, rel_tol=1e-12, abs_tol=1e-9)


def test_binomial_delta_rejects_bad_arguments():
    with pytest.raises(ValueError, match="coins must be an integer >= 0"):
        dp.binomial_delta(-1, 1, 1.0)
    with pytest.raises(ValueError, match="sensitivity"):
        dp.binomial_delta(10, 0, 1.0)
    with pytest.raises(ValueError, match="epsilon"):
        dp.binomial_delta(10, 1, math.nan)
    with pytest.raises(TypeError, match="coins must be an integer"):
        dp.binomial_delta(10.0, 1, 1.0)


# min_binomial_coins -------------------------------------------------------


def test_min_binomial_coins_known_value():
    # eps = 1, delta = 1e-6, sensitivity 1: 80 coins, as brute force shows.
    assert dp.min_binomial_coins(1, 1.0, 1e-6) == 80
    assert _brute_force_delta(80, 1, 1.0) <= 1e-6
    assert _brute_force_delta(78, 1, 1.0) > 1e-6


@pytest.mark.parametrize(
    ("shift", "epsilon", "delta"),
    [(1, 1.0, 1e-6), (1, 5.0, 0.1), (4, 0.5, 1e-9), (37, 0.17, 1e-6)],
)
def test_min_binomial_coins_is_smallest_even(shift, epsilon, delta):
    coins = dp.min_binomial_coins(shift, epsilon, delta)
    assert coins % 2 == 0
    assert dp.binomial_delta(coins, shift, epsilon) <= delta
    if coins > 2:
        assert dp.binomial_delta(coins - 2, shift, epsilon) > delta


def test_min_binomial_coins_large_epsilon_needs_two():
    assert dp.min_binomial_coins(1, 20.0, 0.3) == 2


# plan_noise ---------------------------------------------------------------


def test_plan_noise_binomial_tail_bound():
    plan = dp.plan_noise("binomial", 37, 0.17, 1e-6, 3)
    n, bound = plan.coins_per_party, plan.tail_bound

    def tail(t: int) -> float:
        return 2 * stats.binom.cdf(n // 2 - t - 1, n, 0.5)

    assert tail(bound) <= TRUNCATION_PROB
    assert tail(bound - 1) > TRUNCATION_PROB


def test_binomial_tail_bound_small_coins():
    # Two coins: values -1, 0, 1, so no truncation is needed at T = 1,
    # and at T = 0 a quarter of the mass lies on each side.
    assert dp.binomial_tail_bound(2) == 1
    assert dp.binomial_tail_bound(80) <= 40


@pytest.mark.parametrize(
    "scale", [Fraction(1, 3), Fraction(1), Fraction(217647059, 10**6)]
)
def test_discrete_laplace_tail_bound(scale):
    bound = dp.discrete_laplace_tail_bound(scale)
    law = stats.dlaplace(1 / float(scale))
    assert 2 * law.sf(bound) <= TRUNCATION_PROB
    assert 2 * law.sf(bound - 1) > TRUNCATION_PROB


def test_plan_noise_colluding_split():
    epsilon, delta, sens, m = 0.5, 1e-7, 4, 5
    d_mech = delta - dp.truncation_delta(epsilon, m)
    total = dp.min_binomial_coins(sens, epsilon, d_mech)
    for t in range(m):
        plan = dp.plan_noise("binomial", sens, epsilon, delta, m, t)
        honest = m - t
        coins = plan.coins_per_party
        assert plan.colluding == t
        assert coins % 2 == 0
        assert honest * coins >= total
        assert coins - math.ceil(total / honest) <= 1
        assert dp.binomial_delta(honest * coins, sens, epsilon) <= d_mech
        assert plan.delta == delta


def test_plan_noise_default_colluding_is_all_but_one():
    plan = dp.plan_noise("binomial", 1, 1.0, 1e-6, 4)
    assert plan.colluding == 3
    # One honest party must add all the noise on its own.
    d_mech = 1e-6 - dp.truncation_delta(1.0, 4)
    assert plan.coins_per_party == dp.min_binomial_coins(1, 1.0, d_mech)


def test_plan_noise_laplace_full_sample_per_party():
    for t in range(3):
        plan = dp.plan_noise("discrete_laplace", 37, 0.17, 0, 3, t)
        assert plan.scale is not None
        assert plan.scale >= Fraction(37) / Fraction(0.17)
        assert plan.scale - Fraction(37) / Fraction(0.17) < Fraction(1, 10**6)
        assert plan.coins_per_party == 0
        assert plan.delta == dp.truncation_delta(0.17, 3)
        assert plan.tail_bound == dp.discrete_laplace_tail_bound(plan.scale)


def test_plan_noise_laplace_accepts_delta_above_truncation():
    plan = dp.plan_noise("discrete_laplace", 2, 1.0, 1e-6, 3)
    assert plan.delta == dp.truncation_delta(1.0, 3)


def test_plan_noise_laplace_rejects_delta_below_truncation():
    with pytest.raises(ValueError, match="below the truncation delta"):
        dp.plan_noise("discrete_laplace", 2, 1.0, 1e-13, 3)


def test_plan_noise_binomial_rejects_delta_below_truncation():
    with pytest.raises(ValueError, match="must exceed the truncation delta"):
        dp.plan_noise("binomial", 2, 1.0, 1e-12, 3, elements=10)


def test_plan_noise_large_epsilon_says_what_to_change():
    # At epsilon 50 the truncation delta is about 1e10, far above 1.
    with pytest.raises(ValueError) as info:
        dp.plan_noise("binomial", 1, 50.0, 1e-6, 3)
    assert "lower epsilon, raise delta, or choose mechanism " \
           '"discrete_laplace"' in str(info.value)


def test_plan_noise_sensitivity_37_is_fast():
    # Measured at about 0.05 s on a 2-core VM, for about 2.7 million
    # coins. The bound leaves room for slower machines.
    start = time.perf_counter()
    plan = dp.plan_noise("binomial", 37, 0.17, 1e-6, 3)
    assert time.perf_counter() - start < 1.0
    assert plan.coins_per_party > 1_000_000


def test_plan_noise_total_std_binomial_exact():
    plan = dp.plan_noise("binomial", 5, 0.5, 1e-6, 4, 1)
    expected = stats.binom.std(4 * plan.coins_per_party, 0.5)
    assert math.isclose(plan.total_std(), expected, rel_tol=1e-12)


def test_plan_noise_total_std_laplace_matches_truncated_pmf():
    # total_std ignores truncation, so compare it with the std of the
    # truncated pmf, computed independently with scipy.
    plan = dp.plan_noise("discrete_laplace", 3, 0.7, 0, 3)
    bound = plan.tail_bound
    xs = np.arange(-bound, bound + 1)
    pmf = stats.dlaplace.pmf(xs, 1 / float(plan.scale))
    pmf /= pmf.sum()
    variance = float(np.sum(pmf * xs.astype(float) ** 2))
    expected = math.sqrt(3 * variance)
    assert math.isclose(plan.total_std(), expected, rel_tol=1e-8)


@pytest.mark.parametrize("mechanism", ["binomial", "discrete_laplace"])
def test_plan_noise_total_std_matches_simulation(mechanism):
    # 20,000 elements, noise summed over 3 parties. The sample variance has
    # relative std sqrt((kurtosis - 1) / n), at most sqrt(5 / n) = 1.6%,
    # because the kurtosis is about 3 for the binomial sum and about 4 for
    # the sum of three discrete Laplace samples. The threshold is 5 such
    # stds (7.9%). With the sample variance close to normal at this n,
    # the false-failure rate is about 6e-7, below ALPHA.
    n, m = 20_000, 3
    plan = dp.plan_noise(mechanism, 2, 1.0, 1e-6, m)
    totals = sum(np.array(dp.sample_noise(plan, n)) for _ in range(m))
    variance = float(np.var(totals))
    ratio = variance / plan.total_std() ** 2
    assert abs(ratio - 1) < 5 * math.sqrt(5 / n)


def test_plan_noise_interval95_binomial_exact():
    plan = dp.plan_noise("binomial", 3, 0.8, 1e-6, 3, 1)
    total = 3 * plan.coins_per_party
    h = plan.interval95()

    def covered(width: int) -> float:
        half = total // 2
        return stats.binom.cdf(half + width, total, 0.5) - stats.binom.cdf(
            half - width - 1, total, 0.5
        )

    assert covered(h) >= 0.95
    assert covered(h - 1) < 0.95


def _laplace_total_pmf(scale: Fraction, bound: int, m: int) -> np.ndarray:
    xs = np.arange(-bound, bound + 1)
    pmf = np.exp(-np.abs(xs) / float(scale))
    pmf /= pmf.sum()
    total = pmf
    for _ in range(m - 1):
        total = np.convolve(total, pmf)
    return total


def _smallest_central_width(pmf: np.ndarray, level: float) -> int:
    centre = pmf.size // 2
    for h in range(centre + 1):
        if pmf[centre - h:centre + h + 1].sum() >= level:
            return h
    raise AssertionError("no width reaches the level")


def test_plan_noise_interval95_laplace_exact():
    plan = dp.plan_noise("discrete_laplace", 3, 1.0, 0, 3)
    assert plan.scale is not None
    total = _laplace_total_pmf(plan.scale, plan.tail_bound, 3)
    assert plan.interval95() == _smallest_central_width(total, 0.95)


def test_discrete_laplace_interval_blocks_bound_from_above():
    # With few FFT points the pmf is grouped in blocks of width w, and the
    # width returned may exceed the exact one by at most m * w.
    scale, m = Fraction(5, 2), 4
    bound = dp.discrete_laplace_tail_bound(scale)
    exact = _smallest_central_width(
        _laplace_total_pmf(scale, bound, m), 0.95
    )
    for max_points in [64, 256, 1000]:
        width = math.ceil(m * (2 * bound + 1) / max_points)
        got = dp._discrete_laplace_interval(scale, bound, m, 0.95, max_points)
        assert exact <= got <= exact + m * width, (max_points, got, exact)


@pytest.mark.parametrize("mechanism", ["binomial", "discrete_laplace"])
def test_plan_noise_interval95_matches_simulation(mechanism):
    # 20,000 totals over 3 parties. The count inside [-h, h] is binomial
    # with p >= 0.95, so the coverage falls below 0.95 - 4.3 std (std =
    # 0.0015) with probability below ALPHA (normal approximation).
    n, m = 20_000, 3
    plan = dp.plan_noise(mechanism, 2, 1.0, 1e-6, m)
    totals = sum(np.array(dp.sample_noise(plan, n)) for _ in range(m))
    coverage = float(np.mean(np.abs(totals) <= plan.interval95()))
    assert coverage >= 0.95 - 4.3 * math.sqrt(0.95 * 0.05 / n)


def test_plan_noise_describe_is_json_safe():
    binomial = dp.plan_noise("binomial", 2, 1.0, 1e-6, 3).describe()
    laplace = dp.plan_noise("discrete_laplace", 2, 1.0, 0, 3).describe()
    for described in (binomial, laplace):
        assert json.loads(json.dumps(described)) == described
        for key in (
            "mechanism", "epsilon", "delta", "sensitivity", "coins_per_party",
            "scale", "tail_bound", "total_std", "interval95", "num_parties",
            "colluding",
        ):
            assert key in described
    assert binomial["scale"] is None
    assert laplace["scale"] == "2/1"


@pytest.mark.parametrize(
    ("epsilon", "message"),
    [
        (math.nan, "epsilon must be a finite number > 0, got nan"),
        (math.inf, "epsilon must be a finite number > 0, got inf"),
        (0.0, "epsilon must be a finite number > 0, got 0.0"),
        (-1.0, "epsilon must be a finite number > 0, got -1.0"),
    ],
)
def test_plan_noise_rejects_bad_epsilon(epsilon, message):
    for mechanism in dp.MECHANISMS:
        with pytest.raises(ValueError, match=message):
            dp.plan_noise(mechanism, 1, epsilon, 1e-6, 3)


@pytest.mark.parametrize("delta", [math.nan, math.inf, 0.0, -1e-6, 1.0])
def test_plan_noise_binomial_rejects_bad_delta(delta):
    with pytest.raises(ValueError, match=r"delta must be in \(0, 1\)"):
        dp.plan_noise("binomial", 1, 1.0, delta, 3)


@pytest.mark.parametrize("delta", [math.nan, math.inf, -1e-6, 1.0])
def test_plan_noise_laplace_rejects_bad_delta(delta):
    with pytest.raises(ValueError, match=r"delta must be in \[0, 1\)"):
        dp.plan_noise("discrete_laplace", 1, 1.0, delta, 3)


def test_plan_noise_rejects_unknown_mechanism():
    with pytest.raises(ValueError, match="mechanism must be one of .*'gaus"):
        dp.plan_noise("gaussian", 1, 1.0, 1e-6, 3)


def test_plan_noise_rejects_bad_parties():
    with pytest.raises(
        ValueError,
        match=r"colluding must be in \[0, num_parties - 1\] = \[0, 2\], got 3",
    ):
        dp.plan_noise("binomial", 1, 1.0, 1e-6, 3, 3)
    with pytest.raises(ValueError, match="colluding must be an integer >= 0"):
        dp.plan_noise("binomial", 1, 1.0, 1e-6, 3, -1)
    with pytest.raises(ValueError, match="num_parties must be an integer"):
        dp.plan_noise("binomial", 1, 1.0, 1e-6, 0)


def test_plan_noise_rejects_bad_sensitivity():
    with pytest.raises(ValueError, match="sensitivity must be an integer"):
        dp.plan_noise("binomial", 0, 1.0, 1e-6, 3)
    with pytest.raises(TypeError, match="sensitivity must be an integer"):
        dp.plan_noise("binomial", 1.5, 1.0, 1e-6, 3)
    with pytest.raises(TypeError, match="sensitivity must be an integer"):
        dp.plan_noise("binomial", True, 1.0, 1e-6, 3)


def test_plan_noise_rejects_string_epsilon():
    with pytest.raises(TypeError, match="epsilon must be a real number"):
        dp.plan_noise("binomial", 1, "1.0", 1e-6, 3)


# NoisePlan ----------------------------------------------------------------


def test_noise_plan_rejects_inconsistent_fields():
    with pytest.raises(ValueError, match="coins_per_party must be even"):
        dp.NoisePlan("binomial", 1, 1.0, 1e-6, 3, 2, 81, None, 10)
    with pytest.raises(ValueError, match="scale must be None"):
        dp.NoisePlan("binomial", 1, 1.0, 1e-6, 3, 2, 80, Fraction(1), 10)
    with pytest.raises(ValueError, match="scale must be a positive Fraction"):
        dp.NoisePlan("discrete_laplace", 1, 1.0, 0.0, 3, 2, 0, 2.5, 10)
    with pytest.raises(ValueError, match="coins_per_party must be 0"):
        dp.NoisePlan("discrete_laplace", 1, 1.0, 0.0, 3, 2, 8, Fraction(1), 9)


# truncation_delta and split_budget ---------------------------------------


def test_truncation_delta_formula():
    got = dp.truncation_delta(1.0, 3, 7)
    assert got == (1 + math.e) * 3 * 7 * TRUNCATION_PROB


def test_plan_noise_reports_truncation_delta():
    plan = dp.plan_noise("binomial", 1, 1.0, 1e-6, 3, elements=5)
    assert plan.elements == 5
    assert plan.truncation_delta() == dp.truncation_delta(1.0, 3, 5)
    assert plan.describe()["truncation_delta"] == plan.truncation_delta()


def test_split_budget_proportional():
    shares = dp.split_budget(1.0, 1e-6, [1.0, 2.0, 1.0])
    assert shares == [(0.25, 2.5e-7), (0.5, 5e-7), (0.25, 2.5e-7)]


def test_split_budget_never_exceeds_budget():
    for n in range(1, 40):
        shares = dp.split_budget(0.7, 1e-7, [1.0 / (i + 3) for i in range(n)])
        assert math.fsum(e for e, _ in shares) <= 0.7
        assert math.fsum(d for _, d in shares) <= 1e-7
        assert all(e > 0 for e, _ in shares)


def test_split_budget_rejects_bad_weights():
    with pytest.raises(ValueError, match="weights must not be empty"):
        dp.split_budget(1.0, 1e-6, [])
    with pytest.raises(ValueError, match=r"weights\[1\] must be a finite"):
        dp.split_budget(1.0, 1e-6, [1.0, 0.0])
    with pytest.raises(ValueError, match=r"weights\[0\] must be a finite"):
        dp.split_budget(1.0, 1e-6, [math.nan])
    with pytest.raises(ValueError, match="epsilon must be a finite"):
        dp.split_budget(math.inf, 1e-6, [1.0])


# Randomness sources -------------------------------------------------------


def test_module_never_imports_random():
    source = Path(dp.__file__).read_text()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
            assert "random" not in names
            assert "numpy.random" not in names
        if isinstance(node, ast.ImportFrom):
            assert node.module not in ("random", "numpy.random")
            assert not (
                node.module == "numpy"
                and any(alias.name == "random" for alias in node.names)
            )
        if isinstance(node, ast.Attribute) and node.attr == "random":
            assert not (
                isinstance(node.value, ast.Name)
                and node.value.id in ("np", "numpy")
            ), "mpc/dp.py uses numpy.random"
