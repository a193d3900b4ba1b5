"""The local demo: three party daemons compute statistics on Adult data.

The demo splits the UCI Adult census extract shipped in `parties/data`
into three datasets of unequal size (alice gets a plain CSV, bob a
gzipped CSV, carol a Parquet file), starts one daemon per party on
loopback, submits the job in `examples/adult-job.toml` (embedded below),
and prints each noisy result with its 95% interval beside the exact value
computed in the clear.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from parties.cli import format_query_rows, submit_and_watch
from parties.cluster import LocalCluster

SHARES = {"alice": 0.5, "bob": 0.3, "carol": 0.2}
JOB = {
    "name": "adult-demo",
    "parties": list(SHARES),
    "epsilon": 1.0,
    "delta": 1e-6,
    "mechanism": "binomial",
    "proofs": "range",
    "query": [
        {"name": "income_over_50k", "kind": "count", "dataset": "adult",
         "filter": {"column": "class", "op": "==", "value": ">50K"}},
        {"name": "mean_age", "kind": "mean", "dataset": "adult",
         "column": "age", "clip": [17, 90]},
        {"name": "hours_per_week", "kind": "histogram", "dataset": "adult",
         "column": "hours-per-week",
         "bins": {"start": 0, "width": 10, "count": 10}},
    ],
}


def load_adult() -> pa.Table:
    """Read the Adult extract shipped with the package."""
    source = resources.files("parties") / "data" / "adult.csv.gz"
    with resources.as_file(source) as path:
        return pacsv.read_csv(path)


def split_adult(table: pa.Table, directory: Path
                ) -> dict[str, tuple[Path, int]]:
    """Write the three parties' datasets; return paths and row counts."""
    paths = {}
    start = 0
    for i, (party, share) in enumerate(SHARES.items()):
        end = table.num_rows if i == len(SHARES) - 1 else start + round(
            share * table.num_rows)
        part = table.slice(start, end - start)
        start = end
        if party == "alice":
            path = directory / "alice-adult.csv"
            pacsv.write_csv(part, path)
        elif party == "bob":
            path = directory / "bob-adult.csv.gz"
            with pa.CompressedOutputStream(str(path), "gzip") as stream:
                pacsv.write_csv(part, stream)
        else:
            path = directory / "carol-adult.parquet"
            pq.write_table(part, path)
        paths[party] = (path, part.num_rows)
    return paths


def exact_values(table: pa.Table) -> dict:
    """Compute the job's statistics in the clear, for comparison only."""
    age = np.clip(table.column("age").to_numpy().astype(float), 17, 90)
    hours = table.column("hours-per-week").to_numpy().astype(float)
    income = np.array(table.column("class").to_pylist(), dtype=object)
    counts = np.bincount(np.floor(hours / 10).astype(int), minlength=10)
    return {
        "income_over_50k": int(np.sum(income == ">50K")),
        "mean_age": round(float(age.mean()), 2),
        "hours_per_week": [int(c) for c in counts[:10]],
    }


def run_demo(json_output: bool = False, keep: str | None = None) -> int:
    """Run the demo; return the process exit code."""
    started = time.monotonic()
    if keep:
        root = Path(keep)
        root.mkdir(parents=True, exist_ok=True)
        return _run(root, json_output, started)
    with tempfile.TemporaryDirectory(prefix="mpc-demo-") as tmp:
        return _run(Path(tmp), json_output, started)


def _say(text: str, json_output: bool) -> None:
    if not json_output:
        print(text, file=sys.stderr)


def _run(root: Path, json_output: bool, started: float) -> int:
    table = load_adult()
    data_dir = root / "data"
    data_dir.mkdir(exist_ok=True)
    parts = split_adult(table, data_dir)
    sizes = ", ".join(f"{p} {rows}" for p, (_, rows) in parts.items())
    _say(f"Adult census data: {table.num_rows} records split among "
         f"alice, bob and carol ({sizes}) in {root}", json_output)

    cluster = LocalCluster(root / "parties",
                           {p: {"adult": path}
                            for p, (path, _) in parts.items()},
                           proof_workers=1)
    cluster.setup()
    try:
        cluster.start_all()
        _say("daemons of alice, bob and carol serving on ports "
             + ", ".join(str(cluster.ports[p]) for p in cluster.party_ids)
             + " (mutual TLS, loopback)", json_output)
        job = asyncio.run(submit_and_watch(
            str(cluster.config_path("alice")), JOB, quiet=json_output))
    finally:
        cluster.stop_all()
    exact = exact_values(table)
    elapsed = time.monotonic() - started

    if json_output:
        print(json.dumps({"job": job, "exact": exact,
                          "elapsed_seconds": round(elapsed, 2)}, indent=2))
        return 0 if job["state"] == "completed" else 1
    if job["state"] != "completed":
        print(f"job {job['job_id']} aborted in phase {job['phase']}: "
              f"{job['reason']}")
        for party in cluster.party_ids:
            print(f"--- log of {party} ---\n{cluster.tail(party)}")
        return 1
    result = job["result"]
    print()
    print(f"verified: {'yes' if result['verified'] else 'NO'}  "
          f"(every input range-proven, reveal checked against the "
          f"commitments)")
    print(f"privacy: epsilon {result['epsilon']:g}, delta "
          f"{result['delta']:g}, binomial noise from each party")
    print()
    rows = format_query_rows(result["queries"], exact, result["verified"])
    for line in rows:
        print(line)
    print()
    print(f"finished in {elapsed:.1f} s")
    return 0
