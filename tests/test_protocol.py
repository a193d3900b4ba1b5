"""The job state machine over the in-memory transport, 2 to 7 parties."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from mpc import job as jobs
from mpc.job import Hooks, Party, run_in_memory
from mpc.queries import TableSource
from mpc.spec import parse_spec
from mpc.transport import MemoryNetwork
from mpc.validity import make_commit_bundle

PARTY_IDS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"]


def vector_job(parties, length=4, clip=(-50, 50), **options):
    table = {
        "parties": parties, "mechanism": "none",
        "query": [{"name": "v", "kind": "vector", "length": length,
                   "clip": list(clip)}],
        **options,
    }
    return parse_spec(table, parties[0])


def random_vectors(parties, length, low, high, seed=7):
    rng = np.random.default_rng(seed)
    return {p: [int(v) for v in rng.integers(low, high + 1, length)]
            for p in parties}


def run(coro):
    return asyncio.run(coro)


# Party lists of 2 to 7 parties in sorted order, and two in another
# order: the start message is canonical JSON with sorted keys, which must
# not break a job whose party list is ordered otherwise.
PARTY_LISTS = [PARTY_IDS[:n] for n in range(2, 8)] + [
    ["carol", "alice", "bob"], [f"p{i}" for i in range(11)]]


@pytest.mark.parametrize(
    "parties", PARTY_LISTS,
    ids=[f"{n} parties" for n in range(2, 8)] + ["reversed",
                                                 "p10 before p2"],
)
def test_vector_job_equals_plain_sum(parties):
    spec = vector_job(parties)
    vectors = random_vectors(parties, 4, -50, 50)
    hooks = {p: Hooks(vectors={"v": vectors[p]}) for p in parties}

    outcomes = run(run_in_memory(spec, hooks))

    expected = [sum(vectors[p][k] for p in parties) for k in range(4)]
    for party in parties:
        outcome = outcomes[party]
        assert outcome.state == "completed", outcome.reason
        assert outcome.result["verified"] is True
        assert outcome.result["queries"][0]["values"] == expected


@pytest.mark.parametrize(
    "names",
    [["alice", "bob"], ["alice", "bob", "carol", "dave"]],
    ids=["missing", "extra"],
)
def test_start_naming_other_parties_rejected(names):
    spec = vector_job(["carol", "alice", "bob"])
    declarations = {name: {"max_records": {}} for name in names}
    body = jobs._canonical({"declarations": declarations})

    async def check_start():
        job = jobs.JobRun(Party("bob", Hooks()), bytes(16), spec,
                          {"max_records": {}})
        job._check_start(body)

    with pytest.raises(jobs.JobAborted) as info:
        run(check_start())
    assert info.value.culprits == ["carol"]
    assert "do not cover exactly the job's parties" in info.value.reason


def test_input_reading_counts_as_commit_time():
    parties = PARTY_IDS[:2]
    spec = vector_job(parties)

    class SlowInputs(Hooks):
        def inputs(self, job_hex, spec):
            time.sleep(0.3)
            return super().inputs(job_hex, spec)

    # Only the initiator is slow: the parties share one event loop here,
    # so a sleep in one party's inputs would stall the others' phases.
    hooks = {"alice": SlowInputs(vectors={"v": [1, 2, 3, 4]}),
             "bob": Hooks(vectors={"v": [1, 2, 3, 4]})}
    outcomes = run(run_in_memory(spec, hooks))

    timings = outcomes["alice"].result["timings"]
    assert timings["commit"] >= 0.3
    assert timings["propose"] < 0.3


@pytest.mark.parametrize("num_parties", [2, 3, 5])
def test_semi_honest_job_equals_plain_sum(num_parties):
    parties = PARTY_IDS[:num_parties]
    spec = vector_job(parties, length=1000, clip=(-10**6, 10**6),
                      proofs="none")
    vectors = random_vectors(parties, 1000, -10**6, 10**6)
    hooks = {p: Hooks(vectors={"v": vectors[p]}) for p in parties}

    outcomes = run(run_in_memory(spec, hooks))

    expected = np.sum([vectors[p] for p in parties], axis=0).tolist()
    outcome = outcomes[parties[-1]]
    assert outcome.state == "completed", outcome.reason
    assert outcome.result["verified"] is False
    assert outcome.result["queries"][0]["values"] == expected


def census_sources(sizes, seed=3):
    rng = np.random.default_rng(seed)
    sources = {}
    for party, n in sizes.items():
        ages = rng.integers(10, 95, n).astype(float)
        ages[:3] = np.nan  # Missing values are dropped and counted.
        income = rng.choice([">50K", "<=50K"], n)
        sources[party] = TableSource({"adult": {
            "age": ages, "class": np.array(income, dtype=object)}})
    return sources


def census_job(parties, mechanism="none", **options):
    table = {
        "parties": parties, "mechanism": mechanism,
        "query": [
            {"name": "rich", "kind": "count", "dataset": "adult",
             "filter": {"column": "class", "value": ">50K"}},
            {"name": "age_sum", "kind": "sum", "dataset": "adult",
             "column": "age", "clip": [17, 90]},
            {"name": "age_mean", "kind": "mean", "dataset": "adult",
             "column": "age", "clip": [17, 90]},
            {"name": "ages", "kind": "histogram", "dataset": "adult",
             "column": "age", "bins": {"start": 0, "width": 10,
                                       "count": 10}},
        ],
        **options,
    }
    return parse_spec(table, parties[0])


def test_census_queries_equal_clear_values():
    sizes = {"alice": 300, "bob": 120, "carol": 45}
    sources = census_sources(sizes)
    spec = census_job(list(sizes))
    hooks = {p: Hooks(sources[p]) for p in sizes}

    outcome = run(run_in_memory(spec, hooks))["bob"]

    assert outcome.state == "completed", outcome.reason
    ages = np.concatenate([sources[p].tables["adult"]["age"]
                           for p in sizes])
    income = np.concatenate([sources[p].tables["adult"]["class"]
                             for p in sizes])
    present = ages[~np.isnan(ages)]
    clipped = np.clip(present, 17, 90)
    rich, age_sum, age_mean, ages_hist = outcome.result["queries"]
    assert rich["value"] == int(np.sum(income == ">50K"))
    assert age_sum["value"] == clipped.sum()
    assert age_mean["value"] == pytest.approx(clipped.mean())
    assert ages_hist["values"] == np.bincount(
        (present // 10).astype(int), minlength=10)[:10].tolist()
    assert outcome.result["local"]["dropped"]["age_sum"] == 3


def test_census_job_with_noise_is_near_clear_values():
    sizes = {"alice": 300, "bob": 200, "carol": 100}
    sources = census_sources(sizes)
    spec = census_job(list(sizes), mechanism="binomial", epsilon=1.0,
                      delta=1e-6)
    hooks = {p: Hooks(sources[p]) for p in sizes}

    outcomes = run(run_in_memory(spec, hooks))

    results = [o.result for o in outcomes.values()]
    assert all(o.state == "completed" for o in outcomes.values())
    # Every party computes the same noisy result.
    assert all(r["queries"] == results[0]["queries"] for r in results)
    rich = results[0]["queries"][0]
    income = np.concatenate([sources[p].tables["adult"]["class"]
                             for p in sizes])
    exact = int(np.sum(income == ">50K"))
    # The noise is truncated at each party's tail bound.
    bound = 3 * rich["noise"][0]["tail_bound"]
    assert abs(rich["value"] - exact) <= bound
    assert rich["interval95"][0] < rich["value"] < rich["interval95"][1]


def test_out_of_range_input_aborts_naming_party():
    parties = PARTY_IDS[:4]
    spec = vector_job(parties, clip=(0, 10))
    vectors = {p: [1, 2, 3, 4] for p in parties}
    vectors["carol"] = [1, 2, 11, 4]
    hooks = {p: Hooks(vectors={"v": vectors[p]}) for p in parties}

    outcomes = run(run_in_memory(spec, hooks))

    for party in parties:
        assert outcomes[party].state == "aborted"
        assert outcomes[party].culprits == ["carol"]
        assert outcomes[party].phase == "commit"


def test_forged_range_proof_aborts_naming_party(monkeypatch):
    parties = PARTY_IDS[:3]
    spec = vector_job(parties, clip=(0, 10))
    vectors = {p: [1, 2, 3, 4] for p in parties}
    vectors["bob"] = [1, 2, 50, 4]
    hooks = {p: Hooks(vectors={"v": vectors[p]}) for p in parties}
    # Let every party skip its own range check, so bob's out-of-range
    # input reaches the prover, which is forced to prove it anyway.

    async def forced_bundle(run_cpu, chunks, *args):
        return make_commit_bundle(*args, _unchecked=True)

    monkeypatch.setattr(jobs.parallel, "make_bundle", forced_bundle)
    monkeypatch.setattr(jobs.JobRun, "_check_own_input",
                        lambda self, statement, values: None)

    outcomes = run(run_in_memory(spec, hooks))

    for party in ("alice", "carol"):
        assert outcomes[party].state == "aborted"
        assert outcomes[party].phase == "verify"
        assert outcomes[party].culprits == ["bob"]
    assert outcomes["bob"].state == "aborted"


def test_silent_party_aborts_within_deadline():
    parties = PARTY_IDS[:3]
    spec = vector_job(parties, phase_timeout=1.0)
    vectors = {p: [1, 2, 3, 4] for p in parties}

    class SilentAtShare(Hooks):
        def phase(self, job_id, phase, detail=""):
            if phase == "share":
                network.down.add("carol")

    network = MemoryNetwork()

    async def scenario():
        runtimes = {}
        for p in parties:
            hooks = (SilentAtShare if p == "carol" else Hooks)(
                vectors={"v": vectors[p]})
            runtimes[p] = Party(p, hooks)
            runtimes[p].transport = network.attach(p, runtimes[p])
        started = time.monotonic()
        outcome = await runtimes["alice"].submit(spec)
        return outcome, time.monotonic() - started

    outcome, elapsed = run(scenario())

    assert outcome.state == "aborted"
    assert outcome.culprits == ["carol"]
    assert outcome.phase == "share"
    assert elapsed < spec.phase_timeout + 1.0


def test_rejecting_party_aborts_at_propose():
    parties = PARTY_IDS[:3]
    spec = vector_job(parties)

    class Rejecting(Hooks):
        def admit(self, job_id, spec):
            raise jobs.Rejected("dataset not shared with this initiator")

    hooks = {p: Hooks(vectors={"v": [0] * 4}) for p in parties}
    hooks["carol"] = Rejecting()

    outcomes = run(run_in_memory(spec, hooks))

    assert outcomes["alice"].state == "aborted"
    assert outcomes["alice"].phase == "propose"
    assert outcomes["alice"].culprits == ["carol"]
    assert "not shared" in outcomes["alice"].reason
    assert outcomes["bob"].state == "aborted"
