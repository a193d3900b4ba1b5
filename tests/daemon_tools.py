"""Helpers for tests that drive real daemons through their control service.

Used by tests/test_faults.py and tests/test_load.py. Every wait here is
bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from parties.client import ControlClient, ControlError
from parties.cluster import LocalCluster

WAIT_LIMIT = 30.0
"""Default upper bound of every wait loop, in seconds."""


@contextlib.asynccontextmanager
async def clients(cluster: LocalCluster, parties: Iterable[str]
                  ) -> AsyncIterator[dict[str, ControlClient]]:
    """Open a control client to each party's daemon, closed at the end."""
    opened = {p: ControlClient.from_config_file(cluster.config_path(p))
              for p in parties}
    try:
        yield opened
    finally:
        for client in opened.values():
            await client.close()


async def wait_ended(client: ControlClient, job_id: str,
                     limit: float = WAIT_LIMIT) -> tuple[dict, float]:
    """Poll a party until a job is over; return it and when it ended."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            job = await client.job(job_id)
        except ControlError:
            job = None  # Not there yet, or the daemon is still starting.
        if job is not None and job["state"] != "running":
            return job, time.monotonic()
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} still running after {limit:g} s")


async def watch_to_end(client: ControlClient, job_id: str,
                       limit: float = WAIT_LIMIT) -> dict:
    """Follow a job's event stream until it completes or aborts."""
    async def follow() -> dict:
        async for event in client.watch(job_id):
            if event["state"] != "running":
                return event
        raise AssertionError(f"stream of job {job_id} ended early")

    return await asyncio.wait_for(follow(), limit)


async def budgets(opened: dict[str, ControlClient],
                  dataset: str = "adult") -> dict[str, dict]:
    """Return each party's budget figures for one dataset."""
    return {p: (await c.budget())[dataset] for p, c in opened.items()}


async def run_job(client: ControlClient, table: dict,
                  limit: float = WAIT_LIMIT) -> dict:
    """Submit a job and return it, as its initiator stored it, once over."""
    job_id = await client.submit(table)
    job, _ = await wait_ended(client, job_id, limit)
    return job


def process_state(pid: int) -> str:
    """Return a process's state letter (R, S, T, Z...), or "" if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return ""
    return stat.rsplit(")", 1)[1].split()[0]


def child_pids(pid: int) -> list[int]:
    """Return the ids of a process's children."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return children


def resources(pid: int) -> dict[str, int]:
    """Return a process's open file descriptors, threads and RSS (KiB)."""
    status = dict(
        line.split(":", 1)
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if ":" in line
    )
    return {
        "fds": len(list(Path(f"/proc/{pid}/fd").iterdir())),
        "threads": int(status["Threads"]),
        "rss_kib": int(status["VmRSS"].split()[0]),
    }
