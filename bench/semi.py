"""Semi-honest secure sums: this framework's daemons against MPyC.

For each (n, m) case every party i gets the same random int64 vector of
n values in {0, 1} in both systems: a Parquet file with one int64 column
for this framework and a .npy file for MPyC.

- This framework: m real daemons (`mpc serve`, one process each) on
  127.0.0.1 with mutual TLS, a job with `proofs = "none"`, binomial
  noise (epsilon 1, delta DELTA) and a vector query over the Parquet
  column. Time is the initiator's client from submit to the completed
  event, after one warm-up job that opens the channels. Peak memory is
  the largest VmHWM of the daemons. Bytes are each daemon's TCP
  bytes_sent during the job (TLS included), and the minimum is 8n for
  the one correction vector plus 8n per recipient of the reveal.
- MPyC 0.11: `python -m bench.mpyc_sum ... -M m`, which runs its m
  parties as local processes without TLS; time is party 0's from the
  first input to the opened sum (connections are made before). Peak
  memory and bytes are MPyC's own figures per party.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench import netstat
from bench.stats import median
from parties.client import ControlClient
from parties.cluster import LocalCluster, free_port

DELTA = 1e-3
"""Large enough for the truncation delta of 10^7 elements and 8 parties."""
CLIP = (0, 1)
MPYC_BITS = 16
REPO = Path(__file__).resolve().parent.parent


def party_ids(m: int) -> list[str]:
    return [f"p{i}" for i in range(m)]


def write_vectors(directory: Path, n: int, m: int, seed: int = 1
                  ) -> list[np.ndarray]:
    """Write each party's vector as Parquet and .npy; return them."""
    rng = np.random.default_rng(seed)
    vectors = []
    for i in range(m):
        vector = rng.integers(CLIP[0], CLIP[1] + 1, n, dtype=np.int64)
        pq.write_table(pa.table({"x": vector}), directory / f"party-{i}.parquet")
        np.save(directory / f"party-{i}.npy", vector)
        vectors.append(vector)
    return vectors


def job_table(n: int, m: int) -> dict:
    return {
        "name": f"bench-{n}-{m}",
        "parties": party_ids(m),
        "epsilon": 1.0,
        "delta": DELTA,
        "mechanism": "binomial",
        "proofs": "none",
        "phase_timeout": 300.0,
        "query": [{"name": "v", "kind": "vector", "dataset": "vec",
                   "column": "x", "length": n, "clip": list(CLIP)}],
    }


async def _run_job(client: ControlClient, table: dict) -> tuple[float, dict]:
    started = time.perf_counter()
    job_id = await client.submit(table)
    final = None
    async for event in client.watch(job_id):
        if event["state"] != "running":
            final = event
            break
    elapsed = time.perf_counter() - started
    if final is None or final["state"] != "completed":
        reason = final["reason"] if final else "no final event"
        raise RuntimeError(f"job {job_id} did not complete: {reason}")
    return elapsed, final["result"]


def _check_result(result: dict, vectors: list[np.ndarray]) -> float:
    """Return the largest |noisy - exact| over the elements; raise if it
    exceeds the noise bound m*T."""
    (query,) = result["queries"]
    exact = np.sum(vectors, axis=0)
    if "values_file" in query:
        noisy = np.load(query["values_file"])
    else:
        noisy = np.asarray(query["values"])
    bound = len(vectors) * query["noise"][0]["tail_bound"]
    worst = float(np.max(np.abs(noisy - exact)))
    if worst > bound:
        raise RuntimeError(f"result off by {worst}, beyond the bound {bound}")
    return worst


async def _ours(root: Path, n: int, m: int, runs: int,
                vectors: list[np.ndarray]) -> dict:
    ids = party_ids(m)
    cluster = LocalCluster(
        root / "cluster",
        {p: {"vec": root / "data" / f"party-{i}.parquet"}
         for i, p in enumerate(ids)},
        max_epsilon=1e9, phase_timeout=300.0, proof_workers=1,
        max_delta=0.5,
    )
    cluster.setup()
    try:
        cluster.start_all()
        pids = [cluster.processes[p].pid for p in ids]
        times, sent, cpu, worst = [], [], [], 0.0
        async with ControlClient.from_config_file(
                cluster.config_path(ids[0])) as client:
            await _run_job(client, job_table(n, m))  # warm-up
            for _ in range(runs):
                before = netstat.socket_bytes()
                cpu_before = sum(netstat.cpu_seconds(p) for p in pids)
                elapsed, result = await _run_job(client, job_table(n, m))
                cpu.append(sum(netstat.cpu_seconds(p) for p in pids)
                           - cpu_before)
                after = netstat.socket_bytes()
                times.append(elapsed)
                by_pid = netstat.sent_by_pid(before, after, pids)
                sent.append(max(by_pid.values()) if by_pid else None)
                worst = max(worst, _check_result(result, vectors))
                phases = result.get("timings", {})
        rss = [netstat.peak_rss(pid) for pid in pids]
        minimum = 8 * n * m
        sent_ok = [s for s in sent if s is not None]
        return {
            "status": "ok",
            "seconds": median(times),
            "runs": times,
            "peak_rss_bytes": max(r for r in rss if r is not None),
            "bytes_sent_per_party": median(sent_ok) if sent_ok else None,
            "min_bytes_per_party": minimum,
            "bytes_ratio": (median(sent_ok) / minimum) if sent_ok else None,
            "max_abs_noise": worst,
            "cpu_seconds_all_daemons": median(cpu),
            "initiator_phases": phases,
        }
    finally:
        cluster.stop_all()


def _mpyc_once(root: Path, m: int, timeout: float) -> dict:
    out = Path(tempfile.mkdtemp(dir=root, prefix="mpyc-"))
    port = free_port()
    command = [sys.executable, str(REPO / "bench" / "mpyc_sum.py"),
               "-M", str(m), "-B", str(port), "--no-log"]
    env = dict(os.environ, MPYC_BENCH_DATA=str(root / "data"),
               MPYC_BENCH_OUT=str(out), MPYC_BENCH_BITS=str(MPYC_BITS))
    started = time.perf_counter()
    # MPyC starts parties 1 .. m-1 itself, in the same process group, so
    # a timeout ends the whole group.
    process = subprocess.Popen(command, cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    wall = time.perf_counter() - started
    deadline = time.monotonic() + 30
    files = [out / f"party-{i}.json" for i in range(m)]
    while not all(f.exists() for f in files) and time.monotonic() < deadline:
        time.sleep(0.1)
    if process.returncode or not all(f.exists() for f in files):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        raise RuntimeError(f"MPyC failed ({process.returncode}): "
                           f"{stderr[-500:]}")
    infos = [json.loads(f.read_text()) for f in files]
    return {"seconds": infos[0]["seconds"], "wall": wall,
            "bytes": max(i["bytes_sent"] for i in infos),
            "rss": max(i["max_rss_bytes"] for i in infos),
            "sum_total": infos[0]["sum_total"]}


def _mpyc(root: Path, m: int, runs: int, timeout: float,
          vectors: list[np.ndarray]) -> dict:
    results = []
    for _ in range(runs):
        started = time.monotonic()
        try:
            results.append(_mpyc_once(root, m, timeout))
        except subprocess.TimeoutExpired:
            if not results:
                raise
            break  # Keep the runs that finished within the case's time.
        timeout -= time.monotonic() - started
        if timeout <= 0:
            break
    exact = int(np.sum(vectors))
    if any(r["sum_total"] != exact for r in results):
        raise RuntimeError("MPyC's sum differs from the plain sum")
    return {
        "status": "ok",
        "seconds": median([r["seconds"] for r in results]),
        "runs": [r["seconds"] for r in results],
        "wall_seconds": median([r["wall"] for r in results]),
        "peak_rss_bytes": max(r["rss"] for r in results),
        "bytes_sent_per_party": median([r["bytes"] for r in results]),
    }


MEMORY_BUDGET = 16e9
"""Largest estimated total memory of one case's processes, in bytes: the
machine has 24 GB and other work runs beside the benchmark."""


def estimated_memory(system: str, n: int, m: int) -> float:
    """Estimate the memory of m parties' processes, in bytes.

    From peak RSS at n = 10^6, m = 3 on the benchmark machine: about 130
    MB per daemon plus 140 bytes per element for this framework, and
    about 100 MB plus 340 bytes per element per MPyC party.
    """
    if system == "ours":
        return m * (130e6 + 140 * n)
    return m * (100e6 + 340 * n)


def run_case(n: int, m: int, runs: int, timeout: float,
             with_mpyc: bool) -> dict:
    """Measure one (n, m) case in both systems.

    A failure or timeout is recorded in the case, so one case cannot
    stop the grid.
    """
    case: dict = {"n": n, "m": m}
    with tempfile.TemporaryDirectory(prefix=f"bench-{n}-{m}-") as tmp:
        root = Path(tmp)
        (root / "data").mkdir()
        vectors = write_vectors(root / "data", n, m)
        try:
            if estimated_memory("ours", n, m) > MEMORY_BUDGET:
                raise MemoryError("not run: estimated memory "
                                  f"{estimated_memory('ours', n, m) / 1e9:.0f}"
                                  " GB")
            case["ours"] = asyncio.run(asyncio.wait_for(
                _ours(root, n, m, runs, vectors), timeout))
        except (asyncio.TimeoutError, TimeoutError):
            case["ours"] = {"status": f"timed out after {timeout:g} s"}
        except MemoryError as exc:
            case["ours"] = {"status": str(exc)}
        except Exception as exc:  # Recorded, so one case cannot stop all.
            case["ours"] = {"status": f"failed: {exc}"[:300]}
        if not with_mpyc:
            case["mpyc"] = {"status": "not run"}
        elif estimated_memory("mpyc", n, m) > MEMORY_BUDGET:
            case["mpyc"] = {"status": "not run: estimated memory "
                            f"{estimated_memory('mpyc', n, m) / 1e9:.0f} GB"}
        else:
            try:
                case["mpyc"] = _mpyc(root, m, runs, timeout, vectors)
            except subprocess.TimeoutExpired:
                case["mpyc"] = {"status": f"timed out after {timeout:g} s"}
            except Exception as exc:
                case["mpyc"] = {"status": f"failed: {exc}"[:300]}
    ours, theirs = case["ours"], case["mpyc"]
    if ours.get("status") == "ok" and theirs.get("status") == "ok":
        case["speedup"] = theirs["seconds"] / ours["seconds"]
    return case


if __name__ == "__main__":
    n, m = int(sys.argv[1]), int(sys.argv[2])
    print(json.dumps(run_case(n, m, 3, 600.0, "--no-mpyc" not in sys.argv),
                     indent=2, default=str))
    os._exit(0)
