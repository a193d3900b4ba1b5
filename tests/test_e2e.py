"""End to end: real party daemons over mutual TLS on 127.0.0.1.

Each daemon is its own process started with `mpc serve`; jobs are
submitted with the `mpc` command line or the control client, exactly as
an operator would.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import pyarrow.csv as pacsv
import pytest

from parties.certs import create_identity
from parties.client import ControlClient
from parties.cluster import LocalCluster
from parties.demo import load_adult
from parties.proto_gen import control_pb2, control_pb2_grpc
from parties.transport import make_channel

pytestmark = pytest.mark.e2e

PARTIES = ("alice", "bob", "carol")
ROWS = {"alice": 3000, "bob": 1500, "carol": 700}
PHASE_TIMEOUT = 4.0

JOB_FILE = """
name = "e2e"
parties = ["alice", "bob", "carol"]
epsilon = 1.0
delta = 1e-6

[[query]]
name = "rich"
kind = "count"
dataset = "adult"
filter = { column = "class", op = "==", value = ">50K" }

[[query]]
name = "age"
kind = "mean"
dataset = "adult"
column = "age"
clip = [17, 90]

[[query]]
name = "hours"
kind = "histogram"
dataset = "adult"
column = "hours-per-week"
bins = { start = 0, width = 10, count = 10 }
"""


@pytest.fixture(scope="module")
def adult_parts(tmp_path_factory):
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
def cluster(tmp_path_factory, adult_parts):
    root = tmp_path_factory.mktemp("cluster")
    cluster = LocalCluster(
        root, {p: {"adult": path} for p, (path, _) in adult_parts.items()},
        phase_timeout=PHASE_TIMEOUT,
    )
    cluster.setup()
    cluster.start_all()
    yield cluster
    cluster.stop_all()


def mpc(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "parties.cli", *args],
        capture_output=True, text=True, timeout=timeout,
    )


def submit(cluster: LocalCluster, job_text: str, tmp_path: Path,
           party: str = "alice") -> dict:
    job_file = tmp_path / "job.toml"
    job_file.write_text(job_text)
    done = mpc("job", "submit", str(job_file), "--config",
               str(cluster.config_path(party)), "--json")
    assert done.stdout, done.stderr
    return json.loads(done.stdout)


def test_cli_job_matches_clear_values(cluster, adult_parts, tmp_path):
    job = submit(cluster, JOB_FILE, tmp_path)

    assert job["state"] == "completed", job["reason"]
    result = job["result"]
    assert result["verified"] is True
    rich, age, hours = result["queries"]
    income = np.concatenate([np.array(part.column("class").to_pylist())
                             for _, part in adult_parts.values()])
    exact_rich = int(np.sum(income == ">50K"))
    tail = rich["noise"][0]["tail_bound"] * len(PARTIES)
    assert abs(rich["value"] - exact_rich) <= tail
    ages = np.concatenate([part.column("age").to_numpy()
                           for _, part in adult_parts.values()])
    assert abs(age["value"] - np.clip(ages, 17, 90).mean()) < 2.0
    assert len(hours["values"]) == 10
    assert sum(hours["values"]) == pytest.approx(sum(ROWS.values()),
                                                 abs=10 * tail)


def test_every_party_stores_same_result(cluster, tmp_path):
    job = submit(cluster, JOB_FILE, tmp_path)
    job_id = job["job_id"]

    for party in PARTIES:
        shown = mpc("job", "show", job_id, "--config",
                    str(cluster.config_path(party)), "--json")
        stored = json.loads(shown.stdout)
        assert stored["state"] == "completed"
        assert stored["result"]["queries"] == job["result"]["queries"]


def test_budget_is_spent_on_every_party(cluster, tmp_path):
    before = json.loads(mpc("budget", "--config",
                            str(cluster.config_path("bob")),
                            "--json").stdout)
    submit(cluster, JOB_FILE, tmp_path)
    after = json.loads(mpc("budget", "--config",
                           str(cluster.config_path("bob")),
                           "--json").stdout)

    spent = (after["adult"]["spent_epsilon"]
             - before["adult"]["spent_epsilon"])
    assert spent == pytest.approx(1.0)
    assert after["adult"]["reserved_epsilon"] == 0


def test_invalid_job_file_fails_before_traffic(cluster, tmp_path):
    job_file = tmp_path / "bad.toml"
    job_file.write_text(JOB_FILE.replace("epsilon = 1.0", "epsilon = -1"))

    done = mpc("job", "submit", str(job_file), "--config",
               str(cluster.config_path("alice")))

    assert done.returncode != 0
    assert "epsilon" in done.stderr


async def _call_budget(address: str, key: bytes, cert: bytes,
                       root: bytes, expected_id: str) -> None:
    channel = make_channel(address, expected_id, key, cert, root)
    try:
        stub = control_pb2_grpc.ControlStub(channel)
        await stub.GetBudget(control_pb2.GetBudgetRequest(), timeout=5)
    finally:
        await channel.close()


def test_unknown_certificate_is_rejected(cluster, tmp_path):
    # A fresh key and certificate named after a real party, not pinned.
    key_path, cert_path = create_identity("alice", tmp_path)
    pinned = (cluster.root / "certs" / "alice.crt").read_bytes()
    address = f"127.0.0.1:{cluster.ports['alice']}"

    with pytest.raises(grpc.aio.AioRpcError) as error:
        asyncio.run(_call_budget(address, key_path.read_bytes(),
                                 cert_path.read_bytes(), pinned, "alice"))

    assert error.value.code() in (grpc.StatusCode.UNAVAILABLE,
                                  grpc.StatusCode.UNAUTHENTICATED,
                                  grpc.StatusCode.PERMISSION_DENIED)


def test_other_party_cannot_use_control_service(cluster):
    bob_dir = cluster.root / "bob"
    pinned = (cluster.root / "certs" / "alice.crt").read_bytes()
    address = f"127.0.0.1:{cluster.ports['alice']}"

    with pytest.raises(grpc.aio.AioRpcError) as error:
        asyncio.run(_call_budget(
            address, (bob_dir / "bob.key").read_bytes(),
            (bob_dir / "bob.crt").read_bytes(), pinned, "alice"))

    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def _submit_and_kill(cluster: LocalCluster, table: dict,
                           victim: str) -> tuple[dict, float]:
    """Kill `victim` once the job reaches its commit phase."""
    async with ControlClient.from_config_file(
            cluster.config_path("alice")) as client:
        job_id = await client.submit(table)
        killed_at = None
        async for event in client.watch(job_id):
            if event["phase"] == "commit" and killed_at is None:
                cluster.kill(victim)
                killed_at = time.monotonic()
        assert killed_at is not None
        return await client.job(job_id), time.monotonic() - killed_at


def test_killed_party_aborts_job_and_others_continue(cluster, tmp_path):
    import tomllib

    table = tomllib.loads(JOB_FILE)

    job, elapsed = asyncio.run(_submit_and_kill(cluster, table, "carol"))

    assert job["state"] == "aborted"
    assert job["culprits"] == ["carol"]
    assert elapsed < PHASE_TIMEOUT + 2.0
    bob_job = json.loads(mpc("job", "show", job["job_id"], "--config",
                             str(cluster.config_path("bob")),
                             "--json").stdout)
    assert bob_job["state"] == "aborted"

    # alice and bob go on serving new jobs.
    two_party = JOB_FILE.replace('"bob", "carol"]', '"bob"]')
    after = submit(cluster, two_party, tmp_path)
    assert after["state"] == "completed", after["reason"]

    # carol restarts with its store intact and serves again.
    cluster.start("carol")
    cluster.wait_ready("carol")
    carol_job = json.loads(mpc("job", "show", job["job_id"], "--config",
                               str(cluster.config_path("carol")),
                               "--json").stdout)
    assert carol_job["state"] == "aborted"
    again = submit(cluster, JOB_FILE, tmp_path)
    assert again["state"] == "completed", again["reason"]


def test_second_daemon_on_same_config_refused(cluster, tmp_path):
    second = mpc("serve", "--config", str(cluster.config_path("alice")),
                 timeout=60)

    assert second.returncode != 0
    assert "already serving" in second.stderr
    job = submit(cluster, JOB_FILE, tmp_path)
    assert job["state"] == "completed", job["reason"]
