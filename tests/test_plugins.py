"""Plug-in predicates (mpc.predicates) and mechanisms (mpc.mechanisms).

The statistical tests use a chi-square goodness-of-fit test with bins
pooled until every expected count is at least 5, at a false-failure rate
ALPHA each. Expected probabilities come from the discrete Gaussian pmf
computed here with numpy over a range wide enough that the mass left
out is below 1e-30, never from the code under test.
"""

from __future__ import annotations

import asyncio
import functools
import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from mpc import dp, mechanisms, predicates
from mpc import job as jobs
from mpc import queries as qry
from mpc.job import Hooks, run_in_memory
from mpc.spec import SpecError, parse_spec, spec_from_json
from mpc.validity import (
    BOUNDED_SUM,
    ElementBound,
    GroupConstraint,
    make_commit_bundle,
)

# Each statistical test fails by chance with probability ALPHA.
ALPHA = 1e-4
PARTIES = ["alice", "bob", "carol"]


def multi_hot_job(k=3, length=8, **options):
    table = {
        "parties": PARTIES, "mechanism": "none",
        "query": [{"name": "count", "kind": "vector", "length": 1,
                   "clip": [0, 5]},
                  {"name": "tags", "kind": "vector", "length": length,
                   "predicate": "at_most_k_ones",
                   "predicate_args": {"k": k}}],
        **options,
    }
    return parse_spec(table, PARTIES[0])


def hooks_for(vectors):
    return {p: Hooks(vectors={"count": [1], "tags": vectors[p]})
            for p in PARTIES}


# Predicates: parsing and statements.


def test_predicate_job_parses_and_round_trips():
    spec = multi_hot_job()

    query = spec.queries[1]
    assert query.predicate == "at_most_k_ones"
    assert query.predicate_args == {"k": 3}
    assert query.clip == (0.0, 1.0)
    assert spec_from_json(spec.to_json()) == spec


@pytest.mark.parametrize("args, words", [
    ({"k": 0}, "predicate_args.k must be in [1, 8]"),
    ({"k": 9}, "predicate_args.k must be in [1, 8]"),
    ({"k": "3"}, "predicate_args.k must be an integer"),
    ({}, "predicate_args.k must be an integer"),
    ({"k": 2, "j": 1}, "unknown keys ['j']"),
])
def test_predicate_rejects_bad_args(args, words):
    table = {"parties": PARTIES, "mechanism": "none", "query": [
        {"kind": "vector", "length": 8, "predicate": "at_most_k_ones",
         "predicate_args": args}]}

    with pytest.raises(SpecError, match="query\\[0\\].predicate") as info:
        parse_spec(table)

    assert words in str(info.value)


@pytest.mark.parametrize("query, words", [
    ({"kind": "vector", "length": 4, "predicate": "no_such_predicate"},
     "unknown predicate 'no_such_predicate'"),
    ({"kind": "vector", "length": 4, "predicate": "at_most_k_ones",
      "predicate_args": {"k": 1}, "clip": [0, 1]}, "leave out clip"),
    ({"kind": "vector", "length": 4, "predicate": "at_most_k_ones",
      "predicate_args": {"k": 1}, "scale": 2}, "scale must be 0"),
    ({"kind": "vector", "length": 4, "predicate_args": {"k": 1}},
     "predicate is missing: set it to a non-empty string"),
    ({"kind": "count", "dataset": "d", "predicate": "at_most_k_ones"},
     "only vector queries take a predicate"),
])
def test_predicate_misuse_is_rejected(query, words):
    table = {"parties": PARTIES, "mechanism": "none", "query": [query]}

    with pytest.raises(SpecError) as info:
        parse_spec(table)

    assert words in str(info.value)


def test_predicate_statement_is_offset_within_the_input():
    spec = multi_hot_job(k=2, length=5)

    statement = qry.statement(spec, {}, [None] * spec.num_elements)

    assert statement.bounds == (ElementBound(0, 5),) + (
        ElementBound(0, 1),) * 5
    assert statement.groups == (
        GroupConstraint(BOUNDED_SUM, (1, 2, 3, 4, 5), 0, 2),)


def test_register_predicate_rejects_taken_or_bad_keys():
    with pytest.raises(ValueError, match="already registered"):
        predicates.register_predicate("at_most_k_ones",
                                      predicates.at_most_k_ones)
    with pytest.raises(ValueError, match="lower-case"):
        predicates.register_predicate("Bad-Key", predicates.at_most_k_ones)


def _pairs_sum_to_at_most(length, args):
    # Elements in [0, 5]; each consecutive pair sums to at most `cap`.
    cap = args["cap"]
    groups = [GroupConstraint(BOUNDED_SUM, (i, i + 1), 0, cap)
              for i in range(0, length - 1, 2)]
    return predicates.PredicateStatement((ElementBound(0, 5),) * length,
                                         groups)


predicates.register_predicate("test_pairs_sum_to_at_most",
                              _pairs_sum_to_at_most)


def test_registered_predicate_runs_in_a_job():
    table = {"parties": PARTIES, "mechanism": "none", "query": [
        {"name": "v", "kind": "vector", "length": 4,
         "predicate": "test_pairs_sum_to_at_most",
         "predicate_args": {"cap": 6}}]}
    spec = parse_spec(table, PARTIES[0])
    vectors = {"alice": [1, 5, 3, 3], "bob": [0, 0, 5, 1],
               "carol": [2, 2, 0, 5]}
    hooks = {p: Hooks(vectors={"v": vectors[p]}) for p in PARTIES}

    outcomes = asyncio.run(run_in_memory(spec, hooks))

    result = outcomes["alice"].result
    assert outcomes["alice"].state == "completed", outcomes["alice"].reason
    assert result["verified"] is True
    assert result["queries"][0]["values"] == [3, 7, 8, 9]


# Predicates: the protocol.


def test_at_most_k_ones_honest_inputs_verify():
    spec = multi_hot_job(k=3)
    vectors = {"alice": [1, 1, 1, 0, 0, 0, 0, 0],
               "bob": [0, 0, 0, 0, 0, 0, 0, 0],
               "carol": [0, 1, 0, 0, 0, 0, 1, 0]}

    outcomes = asyncio.run(run_in_memory(spec, hooks_for(vectors)))

    for party in PARTIES:
        outcome = outcomes[party]
        assert outcome.state == "completed", outcome.reason
        assert outcome.result["verified"] is True
        assert outcome.result["queries"][1]["values"] == [
            1, 2, 1, 0, 0, 0, 1, 0]


def test_at_most_k_ones_rejects_extra_one():
    spec = multi_hot_job(k=3)
    vectors = {p: [1, 0, 0, 0, 0, 0, 0, 0] for p in PARTIES}
    vectors["bob"] = [1, 1, 0, 1, 0, 1, 0, 0]

    outcomes = asyncio.run(run_in_memory(spec, hooks_for(vectors)))

    for party in PARTIES:
        assert outcomes[party].state == "aborted"
        assert outcomes[party].phase == "commit"
        assert outcomes[party].culprits == ["bob"]
    assert "sums outside its declared range [0, 3]" in \
        outcomes["bob"].reason


def test_at_most_k_ones_forged_proof_names_cheater(monkeypatch):
    # The honest parties do not tell the cheater why they abort, so it
    # waits out its phase deadline: keep that short.
    spec = multi_hot_job(k=3, phase_timeout=2.0)
    vectors = {p: [0, 0, 0, 0, 0, 0, 0, 1] for p in PARTIES}
    vectors["bob"] = [1, 1, 1, 1, 0, 0, 0, 0]
    # Bob skips his own check and forces his prover through, so his
    # bundle claims a sum in [0, 3] for a sum of 4.
    monkeypatch.setattr(jobs.JobRun, "_check_own_input",
                        lambda self, statement, values: None)
    make_bundle = jobs.parallel.make_bundle

    async def forced_for_bob(run_cpu, chunks, ctx, *args):
        if ctx.party_id == "bob":
            return make_commit_bundle(ctx, *args, _unchecked=True)
        return await make_bundle(run_cpu, chunks, ctx, *args)

    monkeypatch.setattr(jobs.parallel, "make_bundle", forced_for_bob)
    outcomes = asyncio.run(run_in_memory(spec, hooks_for(vectors)))

    for party in ("alice", "carol"):
        assert outcomes[party].state == "aborted"
        assert outcomes[party].phase == "verify"
        assert outcomes[party].culprits == ["bob"]
        assert "bounded-sum proof 0" in outcomes[party].reason


# The discrete Gaussian: exact pmf, computed independently.


def discrete_gaussian_pmf(sigma2: float, bound: int) -> np.ndarray:
    """P(x) for x in [-bound, bound], normalised over a range whose
    left-out mass is below 1e-30."""
    wide = max(bound, int(12 * math.sqrt(sigma2)) + 20)
    xs = np.arange(-wide, wide + 1, dtype=np.float64)
    weights = np.exp(-xs * xs / (2 * sigma2))
    pmf = weights / weights.sum()
    return pmf[wide - bound: wide + bound + 1]


def pooled_chi_square(samples, lo, probs):
    """Chi-square statistic and degrees of freedom, with the outer bins
    taking all mass beyond them and bins pooled to expect >= 5 each."""
    n = samples.size
    counts = np.bincount(np.clip(samples, lo, lo + probs.size - 1) - lo,
                         minlength=probs.size)
    observed, expected, obs_acc, exp_acc = [], [], 0.0, 0.0
    for count, p in zip(counts, probs):
        obs_acc += count
        exp_acc += n * p
        if exp_acc >= 5:
            observed.append(obs_acc)
            expected.append(exp_acc)
            obs_acc = exp_acc = 0.0
    observed[-1] += obs_acc
    expected[-1] += exp_acc
    o, e = np.array(observed), np.array(expected)
    return float(np.sum((o - e) ** 2 / e)), len(observed) - 1


@pytest.mark.parametrize("sigma2", [Fraction(1, 2), Fraction(37, 4)])
def test_discrete_gaussian_sampler_fits_its_pmf(sigma2):
    # 20,000 samples, chi-square at ALPHA: sigma^2 = 1/2 exercises t = 1
    # in the sampler, 37/4 a rational sigma^2 with t = 4.
    samples = np.array(mechanisms.sample_discrete_gaussian(sigma2, 20_000))
    bound = int(8 * math.sqrt(sigma2)) + 2
    probs = discrete_gaussian_pmf(float(sigma2), bound)
    below = discrete_gaussian_pmf(float(sigma2), 10 * bound)
    # Fold the (tiny) mass beyond the bound into the outer bins.
    outside = (1.0 - below[9 * bound: 11 * bound + 1].sum()) / 2
    probs[0] += outside
    probs[-1] += outside

    statistic, df = pooled_chi_square(samples, -bound, probs)

    assert statistic < stats.chi2.ppf(1 - ALPHA, df)


def test_discrete_gaussian_sampler_rejects_float_sigma2():
    with pytest.raises(TypeError, match="Fraction or int"):
        mechanisms.sample_discrete_gaussian(2.5, 3)


@pytest.mark.parametrize("sigma2", [Fraction(1, 2), Fraction(37, 4),
                                    Fraction(40_000)])
def test_discrete_gaussian_tail_bound_holds(sigma2):
    bound = mechanisms.discrete_gaussian_tail_bound(sigma2)
    pmf = discrete_gaussian_pmf(float(sigma2), 3 * bound)

    tail = pmf[:2 * bound].sum() + pmf[4 * bound + 1:].sum()

    assert tail <= 2.0**-40
    assert bound <= 8 * math.sqrt(sigma2) + 6


# The discrete Gaussian: accounting.


def exact_delta(sigma2: float, shift: int, epsilon: float) -> float:
    """delta(epsilon) of N_Z(0, sigma2) against a shift, by the
    hockey-stick divergence sum_x max(0, P(x) - e^epsilon P(x - s))."""
    wide = int(40 * math.sqrt(sigma2)) + 40 + shift
    xs = np.arange(-wide, wide + 1, dtype=np.float64)
    log_norm = np.log(np.exp(-xs * xs / (2 * sigma2)).sum())
    log_p = -xs * xs / (2 * sigma2) - log_norm
    log_q = -(xs - shift) ** 2 / (2 * sigma2) - log_norm
    return float(np.maximum(0.0, np.exp(log_p)
                            - np.exp(epsilon + log_q)).sum())


@pytest.mark.parametrize("epsilon, delta, sensitivity", [
    (1.0, 1e-6, 1), (0.3, 1e-8, 3), (2.0, 1e-5, 10)])
def test_discrete_gaussian_plan_meets_its_budget(epsilon, delta,
                                                 sensitivity):
    plan = mechanisms.plan_discrete_gaussian(
        sensitivity=sensitivity, epsilon=epsilon, delta=delta,
        num_parties=3, colluding=2)
    delta_mech = delta - plan.truncation_delta()

    spent = mechanisms.zcdp_to_epsilon(plan.rho, delta_mech)

    assert plan.delta == delta
    assert spent <= epsilon
    assert spent >= 0.999 * epsilon  # sigma^2 is not wastefully large
    assert math.isclose(plan.rho, sensitivity**2 / (2 * float(plan.sigma2)))
    # The zCDP conversion is an upper bound: the exact delta at epsilon
    # of one sample is below what the plan allows.
    assert exact_delta(float(plan.sigma2), sensitivity, epsilon) <= \
        delta_mech


def test_zcdp_conversion_inverts():
    rho = mechanisms.epsilon_to_zcdp(1.0, 1e-6)

    assert math.isclose(mechanisms.zcdp_to_epsilon(rho, 1e-6), 1.0,
                        rel_tol=1e-12)


def test_discrete_gaussian_figures_match_convolution():
    plan = mechanisms.plan_discrete_gaussian(
        sensitivity=1, epsilon=2.0, delta=1e-4, num_parties=3, colluding=2)
    bound = plan.tail_bound
    pmf = discrete_gaussian_pmf(float(plan.sigma2), bound)
    pmf /= pmf.sum()  # conditioned on [-T, T], as the samples are
    total = functools.reduce(np.convolve, [pmf] * 3)
    centre = 3 * bound
    xs = np.arange(-centre, centre + 1)
    mass = [total[centre - h: centre + h + 1].sum() for h in range(centre)]

    assert plan.interval95() == next(h for h, m in enumerate(mass)
                                     if m >= 0.95)
    assert math.isclose(plan.total_std(),
                        math.sqrt((total * xs * xs).sum()), rel_tol=1e-9)


def test_discrete_gaussian_job_needs_delta():
    table = {"parties": PARTIES, "epsilon": 1.0,
             "mechanism": "discrete_gaussian",
             "query": [{"kind": "count", "dataset": "d"}]}

    with pytest.raises(SpecError, match="delta must be a number"):
        parse_spec(table)


def test_discrete_gaussian_job_completes_in_memory():
    table = {"parties": PARTIES, "epsilon": 1.0, "delta": 1e-6,
             "mechanism": "discrete_gaussian",
             "query": [{"name": "n", "kind": "count", "dataset": "d"},
                       {"name": "tags", "kind": "vector", "length": 4,
                        "predicate": "at_most_k_ones",
                        "predicate_args": {"k": 2}}]}
    spec = parse_spec(table, PARTIES[0])
    rows = {"alice": 40, "bob": 25, "carol": 35}
    hooks = {p: Hooks(source=qry.TableSource({"d": {"x": np.zeros(n)}}),
                      vectors={"tags": [1, 0, 0, 1]})
             for p, n in rows.items()}

    outcomes = asyncio.run(run_in_memory(spec, hooks))

    result = outcomes["alice"].result
    assert outcomes["alice"].state == "completed", outcomes["alice"].reason
    assert result["verified"] is True
    count = result["queries"][0]
    noise = count["noise"][0]
    assert noise["mechanism"] == "discrete_gaussian"
    assert abs(count["value"] - 100) <= 3 * noise["tail_bound"]
    assert count["std"] == noise["total_std"] > 0


# The mechanism registry.


@pytest.mark.parametrize("key", ["binomial", "none", "discrete_gaussian"])
def test_register_mechanism_rejects_taken_keys(key):
    with pytest.raises(ValueError, match="already defined"):
        mechanisms.register_mechanism(key,
                                      mechanisms.plan_discrete_gaussian)


class _BadPlan:
    mechanism = "test_zero_tail"
    epsilon = 1.0
    delta = 1e-6
    tail_bound = 0
    num_parties = 3

    def sample(self, size):
        return [0] * size

    def total_std(self):
        return 0.0

    def interval95(self):
        return 0

    def describe(self):
        return {}


mechanisms.register_mechanism("test_zero_tail", lambda **_: _BadPlan())


def test_registered_mechanism_plan_is_checked():
    with pytest.raises(ValueError, match="tail_bound 0"):
        mechanisms.plan_noise("test_zero_tail", 1, 1.0, 1e-6, 3, 2)


def test_unknown_mechanism_is_rejected_by_the_spec():
    table = {"parties": PARTIES, "epsilon": 1.0, "delta": 1e-6,
             "mechanism": "gaussian-ish",
             "query": [{"kind": "count", "dataset": "d"}]}

    with pytest.raises(SpecError, match="registered mechanism"):
        parse_spec(table)


def test_registered_plan_samples_through_dp():
    plan = mechanisms.plan_noise("discrete_gaussian", 1, 1.0, 1e-6, 3, 2)

    noise = dp.sample_noise(plan, 50)

    assert len(noise) == 50
    assert all(abs(v) <= plan.tail_bound for v in noise)
