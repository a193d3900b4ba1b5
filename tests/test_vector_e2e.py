"""End to end: vector queries over datasets, with real daemons.

Three daemons (`mpc serve`, one process each) on 127.0.0.1 with mutual
TLS run a job with proofs off over a vector of 200,000 elements, read
from Parquet and .npy files. A vector is 1.6 MB, so every correction
share and reveal travels by DeliverStream in 1 MiB chunks. The revealed
sum, stored as a .npy file beside each daemon's store, equals the plain
sum up to the noise bound.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from parties.client import ControlClient, ControlError
from parties.cluster import LocalCluster
from parties.results import load_vector

pytestmark = pytest.mark.e2e

PARTIES = ("alice", "bob", "carol")
N = 200_000


@pytest.fixture(scope="module")
def vectors():
    rng = np.random.default_rng(11)
    return {p: rng.integers(-3, 4, N, dtype=np.int64) for p in PARTIES}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, vectors):
    data = tmp_path_factory.mktemp("vectors")
    datasets = {}
    for party in PARTIES:
        if party == "carol":
            path = data / f"{party}.npy"
            np.save(path, vectors[party])
            datasets[party] = {"vec": {"path": path}}
        else:
            path = data / f"{party}.parquet"
            pq.write_table(pa.table({"value": vectors[party]}), path)
            datasets[party] = {"vec": path}
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster"), datasets,
                           max_epsilon=100.0, phase_timeout=30.0)
    cluster.setup()
    cluster.start_all()
    yield cluster
    cluster.stop_all()


def job(length: int = N, **query) -> dict:
    return {
        "name": "vector-e2e", "parties": list(PARTIES), "epsilon": 1.0,
        "delta": 5e-6, "proofs": "none", "phase_timeout": 30.0,
        "query": [{"name": "v", "kind": "vector", "dataset": "vec",
                   "column": "value", "length": length, "clip": [-3, 3],
                   **query}],
    }


async def submit(cluster, table) -> dict:
    async with ControlClient.from_config_file(
            cluster.config_path("alice")) as client:
        job_id = await client.submit(table)
        async for event in client.watch(job_id):
            if event["state"] != "running":
                return event
    raise AssertionError("no final event")


def test_dataset_vector_job_sum(cluster, vectors):
    event = asyncio.run(submit(cluster, job()))
    assert event["state"] == "completed", event["reason"]
    (query,) = event["result"]["queries"]
    # The stored result names a .npy file instead of holding the values.
    assert "values" not in query
    assert query["length"] == N
    assert len(json.dumps(event["result"])) < 20_000
    noisy = load_vector(query)
    exact = sum(vectors.values())
    bound = len(PARTIES) * query["noise"][0]["tail_bound"]
    assert noisy.shape == (N,)
    assert np.abs(noisy - exact).max() <= bound
    # Every party stored the same sum.
    for party in ("bob", "carol"):
        async def peer_result(party=party):
            async with ControlClient.from_config_file(
                    cluster.config_path(party)) as client:
                return await client.job(event["job_id"])
        record = asyncio.run(peer_result())
        assert record["state"] == "completed"
        assert np.array_equal(load_vector(record["result"]["queries"][0]),
                              noisy)


def test_wrong_length_rejected(cluster):
    # The initiator's own check rejects it before any traffic.
    with pytest.raises(ControlError, match="needs exactly 199999"):
        asyncio.run(submit(cluster, job(length=N - 1)))


def test_in_memory_vector_rejected(cluster):
    table = job()
    del table["query"][0]["dataset"], table["query"][0]["column"]
    with pytest.raises(ControlError, match="in-memory"):
        asyncio.run(submit(cluster, table))
