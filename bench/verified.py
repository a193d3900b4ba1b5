"""Verified jobs: range proofs over vectors, prove, verify and end to end.

Each case is three parties with n values each in a b-bit range (a vector
query with clip [0, 2^b - 1]) and discrete Laplace noise (epsilon 1).
Binomial noise for a sensitivity of 2^b - 1 would need far more coins
than can be drawn. Per case:

- prove and verify: one party's bundle made and verified by
  `mpc.parallel` in a process pool of PROOF_WORKERS processes, as a
  daemon with that many proof workers does, in this process;
- end to end: three daemons (`mpc serve`) with PROOF_WORKERS workers
  each, on 127.0.0.1 with mutual TLS, a job submitted by the initiator's
  client, from submit to the completed event; with several runs, the
  jobs run one after another on the same daemons, and only the first
  opens the channels;
- proof bytes: the size of one party's commit bundle.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.semi import _run_job
from bench.stats import median
from mpc import dp, parallel
from mpc import queries as qry
from mpc.group import random_scalar
from mpc.proofs import ProofContext
from mpc.spec import parse_spec
from parties.client import ControlClient
from parties.cluster import LocalCluster

PARTIES = ("alice", "bob", "carol")
PROOF_WORKERS = os.cpu_count() or 1


def job_table(n: int, bits: int) -> dict:
    return {
        "name": f"verified-{n}-{bits}",
        "parties": list(PARTIES),
        "epsilon": 1.0,
        "mechanism": "discrete_laplace",
        "proofs": "range",
        "phase_timeout": 600.0,
        "query": [{"name": "v", "kind": "vector", "dataset": "vec",
                   "column": "x", "length": n,
                   "clip": [0, (1 << bits) - 1]}],
    }


def _statement_and_witness(n: int, bits: int):
    spec = parse_spec(job_table(n, bits), PARTIES[0])
    plans = qry.noise_plans(spec)
    statement = qry.statement(spec, {"vec": n},
                              qry.element_noise_plans(spec, plans))
    rng = np.random.default_rng(5)
    values = rng.integers(0, 1 << bits, n).tolist()
    noise = [int(e) for e in dp.sample_noise(plans[0][0], n)]
    return (spec, statement, values, [random_scalar() for _ in range(n)],
            noise, [random_scalar() for _ in range(n)])


async def _prove_verify(n: int, bits: int, pool) -> dict:
    loop = asyncio.get_running_loop()

    async def run_cpu(fn, *args):
        return await loop.run_in_executor(pool, fn, *args)

    spec, statement, values, blindings, noise, noise_blindings = (
        _statement_and_witness(n, bits))
    ctx = ProofContext(job_id=bytes(16), spec_digest=spec.digest(),
                       party_id=PARTIES[0], round="commit")
    started = time.perf_counter()
    bundle = await parallel.make_bundle(
        run_cpu, PROOF_WORKERS, ctx, statement, values, blindings, noise,
        noise_blindings)
    proved = time.perf_counter()
    await parallel.verify_bundle(run_cpu, PROOF_WORKERS, ctx, statement,
                                 bundle)
    verified = time.perf_counter()
    bit_count = sum(parallel._element_weights(statement))
    return {"prove_seconds": proved - started,
            "verify_seconds": verified - proved,
            "proof_bytes": len(bundle), "bits_per_party": bit_count}


async def _end_to_end(root: Path, n: int, bits: int, runs: int) -> dict:
    rng = np.random.default_rng(9)
    datasets = {}
    for party in PARTIES:
        path = root / f"{party}.parquet"
        pq.write_table(pa.table({"x": rng.integers(0, 1 << bits, n)}), path)
        datasets[party] = {"vec": path}
    cluster = LocalCluster(root / "cluster", datasets, max_epsilon=1e9,
                           phase_timeout=600.0,
                           proof_workers=PROOF_WORKERS, max_delta=0.5)
    cluster.setup()
    try:
        cluster.start_all()
        times = []
        async with ControlClient.from_config_file(
                cluster.config_path(PARTIES[0])) as client:
            # No warm-up job: opening the channels (tens of ms) is
            # small beside the proofs, and a job costs as much as a run.
            for _ in range(runs):
                elapsed, result = await _run_job(client, job_table(n, bits))
                if not result["verified"]:
                    raise RuntimeError("result not verified")
                times.append(elapsed)
        # The initiator's phase times show whether verification (a task
        # from the end of echo) overlapped the share phase.
        return {"seconds": median(times), "runs": times,
                "initiator_phases": result.get("timings", {})}
    finally:
        cluster.stop_all()


def run_case(n: int, bits: int, runs: int, timeout: float) -> dict:
    """Measure one verified case, recording a failure or timeout in it."""
    case: dict = {"n": n, "bits": bits}
    pool = concurrent.futures.ProcessPoolExecutor(
        PROOF_WORKERS, mp_context=multiprocessing.get_context("spawn"))
    try:
        case["proofs"] = asyncio.run(asyncio.wait_for(
            _prove_verify(n, bits, pool), timeout))
    except (asyncio.TimeoutError, TimeoutError):
        case["proofs"] = {"status": f"timed out after {timeout:g} s"}
    except Exception as exc:
        case["proofs"] = {"status": f"failed: {exc}"[:300]}
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    with tempfile.TemporaryDirectory(prefix=f"verified-{n}-{bits}-") as tmp:
        try:
            case["e2e"] = asyncio.run(asyncio.wait_for(
                _end_to_end(Path(tmp), n, bits, runs), timeout))
            case["e2e"]["status"] = "ok"
        except (asyncio.TimeoutError, TimeoutError):
            case["e2e"] = {"status": f"timed out after {timeout:g} s"}
        except Exception as exc:
            case["e2e"] = {"status": f"failed: {exc}"[:300]}
    return case
