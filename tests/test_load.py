"""Load: concurrent jobs, a budget race, and a long run of small jobs.

Three real daemons over mutual TLS on 127.0.0.1, one cluster for the
module. Every wait is bounded in time and every loop in count.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pyarrow.csv as pacsv
import pytest
from daemon_tools import (
    budgets,
    clients,
    resources,
    run_job,
    wait_ended,
    watch_to_end,
)

from mpc.job import FINISHED_JOBS_KEPT
from parties.cluster import LocalCluster
from parties.demo import load_adult

pytestmark = pytest.mark.e2e

PARTIES = ("alice", "bob", "carol")
ROWS = {"alice": 1200, "bob": 800, "carol": 500}
CAP = 1000.0
# Dataset "scarce" is the same file, but carol's cap on it is small, so
# that the budget race plays out on her.
SCARCE_CAP = 2.0

CONCURRENT_JOBS = 10
SEQUENTIAL_JOBS = 1000
WARM_UP_JOBS = 50
SEQUENTIAL_EPSILON = 0.01
# Growth allowed in each daemon between the warm-up and the end of the
# sequential jobs. The resident memory still grows a little while the
# party's record of recently finished jobs fills up (mpc.job
# FINISHED_JOBS_KEPT, a few KiB a job) and SQLite's page cache warms. Over
# the second half it must be nearly flat. Keeping every finished run, as
# the daemon once did, grows it by about 10 KiB a job with these jobs.
MAX_GROWTH = {"fds": 5, "threads": 2, "rss_kib": 16 * 1024}
MAX_SECOND_HALF_RSS_GROWTH_KIB = 3 * 1024


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    table = load_adult()
    directory = tmp_path_factory.mktemp("data")
    parts, start = {}, 0
    for party, rows in ROWS.items():
        part = table.slice(start, rows)
        start += rows
        path = directory / f"{party}.csv"
        pacsv.write_csv(part, path)
        parts[party] = (path, part)
    return parts


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, data):
    cluster = LocalCluster(
        tmp_path_factory.mktemp("cluster"),
        {p: {"adult": path, "scarce": path} for p, (path, _) in data.items()},
        max_epsilon=CAP, phase_timeout=60.0,
    )
    cluster.setup()
    config = cluster.config_path("carol")
    text = config.read_text()
    capped = text.replace(f"scarce = {CAP!r}", f"scarce = {SCARCE_CAP!r}")
    assert capped != text
    config.write_text(capped)
    cluster.start_all()
    yield cluster
    cluster.stop_all()


def count_table(name: str, epsilon: float, delta: float = 1e-9,
                proofs: str = "range", timeout: float = 60.0,
                dataset: str = "adult") -> dict:
    return {
        "name": name, "parties": list(PARTIES), "epsilon": epsilon,
        "delta": delta, "proofs": proofs, "phase_timeout": timeout,
        "query": [{
            "name": "rich", "kind": "count", "dataset": dataset,
            "filter": {"column": "class", "op": "==", "value": ">50K"},
        }],
    }


async def test_load_concurrent_jobs_match_clear_values(cluster, data):
    table = count_table("concurrent", epsilon=1.0, delta=1e-8)
    table["query"].append({"name": "age", "kind": "sum", "dataset": "adult",
                           "column": "age", "clip": [17, 90]})
    rich = sum(int(np.sum(np.array(part.column("class").to_pylist())
                          == ">50K")) for _, part in data.values())
    age = sum(int(np.clip(part.column("age").to_numpy(), 17, 90).sum())
              for _, part in data.values())

    async with clients(cluster, PARTIES) as opened:
        before = await budgets(opened)
        started = time.monotonic()
        # Each daemon initiates some of the jobs and joins the others.
        initiators = [PARTIES[i % 3] for i in range(CONCURRENT_JOBS)]
        job_ids = await asyncio.gather(*(
            opened[p].submit(dict(table, name=f"concurrent-{i}"))
            for i, p in enumerate(initiators)))
        finals = await asyncio.gather(*(
            watch_to_end(opened[p], job_id, 120.0)
            for p, job_id in zip(initiators, job_ids)))
        elapsed = time.monotonic() - started
        stored = {
            p: await asyncio.gather(*(wait_ended(opened[p], j)
                                      for j in job_ids))
            for p in PARTIES
        }
        after = await budgets(opened)

    print(f"\n{CONCURRENT_JOBS} concurrent jobs with proofs took "
          f"{elapsed:.1f} s")
    for job_id, final in zip(job_ids, finals):
        assert final["state"] == "completed", final["reason"]
        result = final["result"]
        assert result["verified"] is True
        for query, exact in zip(result["queries"], (rich, age)):
            error = abs(query["value"] - exact)
            # Each party's noise is proven within its tail bound; and a
            # miscounted input would stand out from the noise.
            assert error <= len(PARTIES) * query["noise"][0]["tail_bound"]
            assert error <= 8 * query["std"], (query["name"], error)
        for party in PARTIES:
            job = next(j for j, _ in stored[party]
                       if j["job_id"] == job_id)
            assert job["state"] == "completed"
            assert job["result"]["queries"] == result["queries"]
    for party in PARTIES:
        spent = after[party]["spent_epsilon"] - before[party]["spent_epsilon"]
        assert spent == pytest.approx(CONCURRENT_JOBS * 1.0)
        assert after[party]["reserved_epsilon"] == 0


async def test_load_budget_race_spends_once(cluster):
    async with clients(cluster, PARTIES) as opened:
        before = await budgets(opened, "scarce")
        # Each job requests 60% of what carol has left: one fits, not two.
        epsilon = round(0.6 * before["carol"]["remaining_epsilon"], 6)
        assert epsilon > 0.1
        tables = {p: count_table(f"race-{p}", epsilon, dataset="scarce")
                  for p in ("alice", "bob")}
        job_ids = await asyncio.gather(*(
            opened[p].submit(t) for p, t in tables.items()))
        jobs = {}
        for initiator, job_id in zip(tables, job_ids):
            jobs[initiator], _ = await wait_ended(opened[initiator], job_id,
                                                  90.0)
        after = await budgets(opened, "scarce")

    states = sorted(j["state"] for j in jobs.values())
    assert states == ["aborted", "completed"], jobs
    rejected = next(j for j in jobs.values() if j["state"] == "aborted")
    assert rejected["phase"] == "propose"
    assert rejected["culprits"] == ["carol"]
    assert "party carol rejected the job" in rejected["reason"]
    assert "budget" in rejected["reason"]
    for party in PARTIES:
        spent = after[party]["spent_epsilon"] - before[party]["spent_epsilon"]
        assert spent == pytest.approx(epsilon), party
        assert after[party]["reserved_epsilon"] == 0, party
    assert after["carol"]["remaining_epsilon"] == pytest.approx(
        before["carol"]["remaining_epsilon"] - epsilon)


async def test_load_sequential_jobs_hold_resources_steady(cluster):
    pids = {p: cluster.processes[p].pid for p in PARTIES}
    table = count_table("sequential", SEQUENTIAL_EPSILON, proofs="none",
                        timeout=10.0)
    async with clients(cluster, PARTIES) as opened:
        before = await budgets(opened)

        async def run(count: int, offset: int) -> None:
            for i in range(offset, offset + count):
                initiator = PARTIES[i % 3]
                job_id = await opened[initiator].submit(table)
                final = await watch_to_end(opened[initiator], job_id)
                assert final["state"] == "completed", final["reason"]

        await run(WARM_UP_JOBS, 0)
        await asyncio.sleep(0.5)  # Let the last job finish everywhere.
        warm = {p: resources(pid) for p, pid in pids.items()}
        started = time.monotonic()
        half = SEQUENTIAL_JOBS // 2
        await run(half - WARM_UP_JOBS, WARM_UP_JOBS)
        await asyncio.sleep(0.5)
        middle = {p: resources(pid) for p, pid in pids.items()}
        await run(SEQUENTIAL_JOBS - half, half)
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.5)
        end = {p: resources(pid) for p, pid in pids.items()}
        last = await run_job(opened["alice"], table)
        assert last["state"] == "completed"
        after = await budgets(opened)

    per_job = elapsed / (SEQUENTIAL_JOBS - WARM_UP_JOBS)
    print(f"\n{SEQUENTIAL_JOBS - WARM_UP_JOBS} sequential jobs after the "
          f"warm-up took {elapsed:.1f} s ({1000 * per_job:.1f} ms a job); "
          f"finished runs kept per party: {FINISHED_JOBS_KEPT}")
    for party in PARTIES:
        print(f"{party}: after warm-up {warm[party]}, half-way "
              f"{middle[party]}, at the end {end[party]}")
    for party in PARTIES:
        for name, bound in MAX_GROWTH.items():
            growth = end[party][name] - warm[party][name]
            assert growth <= bound, (party, name, warm[party], end[party])
        growth = end[party]["rss_kib"] - middle[party]["rss_kib"]
        assert growth <= MAX_SECOND_HALF_RSS_GROWTH_KIB, (
            party, middle[party], end[party])
        spent = after[party]["spent_epsilon"] - before[party]["spent_epsilon"]
        assert spent == pytest.approx((SEQUENTIAL_JOBS + 1)
                                      * SEQUENTIAL_EPSILON)
        assert after[party]["reserved_epsilon"] == 0
