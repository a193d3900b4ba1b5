"""Simulation with one real local daemon per party, and input files.

The in-memory run is `mpc.simulate`. This module adds what needs disk,
processes or the network:

- `file_source`: a party's CSV or Parquet files as a DataSource;
- `daemon_report`: the same job run by one real daemon per party
  (`LocalCluster`: mutual TLS on 127.0.0.1, a process pool for proofs),
  measured from what the daemons expose.

With daemons, the figures are:

- wall time per phase: from each daemon's phase history (`mpc job
  show`), from entering a phase to entering the next, or to the job's
  end;
- bytes sent and received per phase: the `traffic` of each party's own
  result, message bodies by phase as its state machine sent and
  received them. Proposals and their replies travel by the transport's
  propose call, which the state machine does not count, so the propose
  row counts the start message only;
- CPU time: one total per party for the job, read from /proc before
  submitting and after every party finished: the daemon process and
  its proof workers (user plus system time). It includes whatever else
  the daemon did meanwhile, such as health checks; it is None where
  /proc is not available. Per phase, CPU is not measured.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mpc import job as jobs
from mpc import queries as qry
from mpc import simulate as sim
from mpc.spec import JobSpec, _spec_to_table
from parties.config import DatasetConfig
from parties.source import ArrowSource

POLL_INTERVAL = 0.1
DAEMON_EPSILON_CAP = 1e6
"""Every simulated daemon's epsilon cap per dataset: high enough for any
job, since a simulation spends no real budget."""

DAEMON_NOTE = (
    "as daemons: wall = from entering a phase to entering the next, from "
    "each daemon's phase history; bytes = message bodies from each "
    "party's result, proposals and replies not included; cpu = one total "
    "per party (daemon process and proof workers, from /proc), not per "
    "phase")


# Files.


def _format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(".npy"):
        return "npy"
    return "csv"


class _Routed:
    """A DataSource that routes each dataset to the source that contains
    it."""

    def __init__(self, sources: dict[str, Any]) -> None:
        self.sources = sources

    def _source(self, dataset: str) -> Any:
        if dataset not in self.sources:
            raise qry.QueryError(
                f"dataset {dataset!r} not found; available: "
                f"{sorted(self.sources)}")
        return self.sources[dataset]

    def row_count(self, dataset: str) -> int:
        return self._source(dataset).row_count(dataset)

    def numeric(self, dataset: str, column: str) -> np.ndarray:
        return self._source(dataset).numeric(dataset, column)

    def text(self, dataset: str, column: str) -> np.ndarray:
        return self._source(dataset).text(dataset, column)


def file_source(paths: Mapping[str, str | os.PathLike],
                tables: Mapping[str, Mapping[str, Any]] | None = None
                ) -> Any:
    """Return a DataSource over dataset files, and in-memory tables.

    `paths` maps a dataset name to a CSV (optionally .gz), Parquet or
    .npy file, read as a daemon reads it (`parties.source.ArrowSource`,
    missing values dropped and counted); `tables` maps further datasets
    to {column: array}.
    """
    configs = {
        name: DatasetConfig(name, Path(path), _format(Path(path)), "drop")
        for name, path in paths.items()
    }
    files = ArrowSource(configs)
    if not tables:
        return files
    routes: dict[str, Any] = {name: files for name in configs}
    memory = sim.ArraySource({k: dict(v) for k, v in tables.items()})
    routes.update({name: memory for name in tables})
    return _Routed(routes)


def _write_table(columns: Mapping[str, Any], path: Path) -> Path:
    arrays = {}
    for name, values in columns.items():
        array = np.asarray(values)
        arrays[name] = pa.array(array.tolist() if array.dtype == object
                                else array)
    pq.write_table(pa.table(arrays), path)
    return path


def _daemon_datasets(spec: JobSpec, raw_inputs: Mapping[str, Any],
                     folder: Path) -> dict[str, dict[str, Path]]:
    """Return each party's dataset files, writing tables to Parquet."""
    folder.mkdir(parents=True, exist_ok=True)
    datasets: dict[str, dict[str, Path]] = {}
    for party in spec.parties:
        value = raw_inputs[party]
        if isinstance(value, (str, os.PathLike)):
            if len(spec.datasets) != 1:
                raise ValueError(
                    f"party {party}: a bare path needs a job with exactly "
                    f"one dataset; this job reads {list(spec.datasets)}")
            value = {spec.datasets[0]: value}
        if not isinstance(value, Mapping):
            raise ValueError(
                f"party {party}: daemons read files; give paths or tables "
                f"by dataset name, not a {type(value).__name__}")
        files = {}
        for name, item in value.items():
            if isinstance(item, (str, os.PathLike)):
                files[name] = Path(item).resolve()
            elif isinstance(item, Mapping):
                files[name] = _write_table(
                    item, folder / f"{party}-{name}.parquet")
            else:
                raise ValueError(
                    f"party {party}: input {name!r} is a vector held in "
                    "memory, which daemons cannot read; run in memory")
        missing = [d for d in spec.datasets if d not in files]
        if missing:
            raise ValueError(f"party {party} has no data for datasets "
                             f"{missing}")
        datasets[party] = files
    return datasets


# Measurements of daemons.


def _proc_cpu(pid: int) -> tuple[int, float] | None:
    """Return (parent pid, user + system CPU seconds) of a process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks


def tree_cpu_seconds(pid: int) -> float | None:
    """Return the CPU seconds of a process and all its descendants.

    Read from /proc (Linux); None where it cannot be read. A descendant
    that already exited is counted only if its parent waited for it.
    """
    own = _proc_cpu(pid)
    if own is None:
        return None
    children: dict[int, list[int]] = {}
    cpu: dict[int, float] = {pid: own[1]}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != pid:
            info = _proc_cpu(int(entry))
            if info is not None:
                children.setdefault(info[0], []).append(int(entry))
                cpu[int(entry)] = info[1]
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        total += cpu.get(current, 0.0)
        stack.extend(children.get(current, []))
    return total


def _phase_walls(history: list[dict]) -> tuple[dict[str, float], float]:
    """Return each phase's wall seconds from a phase history, and the
    whole job's."""
    marks: list[tuple[str, float]] = []
    for event in history:
        at = datetime.datetime.fromisoformat(event["at"]).timestamp()
        if not marks or marks[-1][0] != event["phase"]:
            marks.append((event["phase"], at))
    if not history:
        return {}, 0.0
    end = datetime.datetime.fromisoformat(history[-1]["at"]).timestamp()
    walls: dict[str, float] = {}
    for (phase, t0), (_, t1) in zip(marks, [*marks[1:], ("", end)]):
        walls[phase] = walls.get(phase, 0.0) + t1 - t0
    return walls, end - marks[0][1]


async def _run_job(cluster: Any, spec: JobSpec, timeout: float
                   ) -> dict[str, dict]:
    """Submit the job to the initiator's daemon; return every party's
    job record once all have finished."""
    from parties.cli import submit_and_watch
    from parties.client import ControlClient, ControlError

    table = _spec_to_table(spec)
    first = await asyncio.wait_for(submit_and_watch(
        str(cluster.config_path(spec.initiator)), table, quiet=True),
        timeout)
    jobs_by_party = {spec.initiator: first}
    deadline = time.monotonic() + timeout
    for party in spec.parties:
        if party == spec.initiator:
            continue
        async with ControlClient.from_config_file(
                cluster.config_path(party)) as client:
            while True:
                try:
                    record = await client.job(first["job_id"])
                except ControlError:
                    # The daemon has no record of the job: it never
                    # admitted it.
                    record = {"state": "aborted", "phase": "propose",
                              "reason": "this party never received the "
                              "job", "culprits": [], "history": [],
                              "result": None, "job_id": first["job_id"]}
                if record["state"] != "running" or \
                        time.monotonic() > deadline:
                    break
                await asyncio.sleep(POLL_INTERVAL)
        jobs_by_party[party] = record
    return jobs_by_party


def _traffic_by_phase(result: dict | None
                      ) -> dict[str, dict[str, int]] | None:
    """Return a result's `traffic` by direction and job phase, or None
    when the result has none (an aborted job)."""
    traffic = (result or {}).get("traffic")
    if traffic is None:
        return None
    by_phase: dict[str, dict[str, int]] = {"sent": {}, "received": {}}
    for direction, bucket in by_phase.items():
        for message_phase, size in (traffic.get(direction) or {}).items():
            phase = sim.MESSAGE_PHASE.get(message_phase, message_phase)
            bucket[phase] = bucket.get(phase, 0) + size
    return by_phase


def _daemon_rows(spec: JobSpec, records: dict[str, dict],
                 cpu: dict[str, float | None]
                 ) -> tuple[list[sim.PhaseRow], list[sim.PartyTotals]]:
    rows, totals = [], []
    peers = spec.num_parties - 1
    for party in spec.parties:
        record = records[party]
        walls, whole = _phase_walls(record.get("history") or [])
        traffic = _traffic_by_phase(record.get("result"))
        sent = traffic["sent"] if traffic else {}
        received = traffic["received"] if traffic else {}
        for phase in sim.ROW_PHASES:
            if phase not in walls and phase not in sent | received:
                continue
            rows.append(sim.PhaseRow(
                party, phase, wall_s=sim.rounded(walls.get(phase)),
                bytes_sent=sent.get(phase, 0) if traffic else None,
                bytes_received=received.get(phase, 0) if traffic
                else None))

        commit = sent.get("commit")
        totals.append(sim.PartyTotals(
            party, record["state"], wall_s=sim.rounded(whole),
            cpu_s=sim.rounded(cpu.get(party)),
            bytes_sent=sum(sent.values()) if traffic else None,
            bytes_received=sum(received.values()) if traffic else None,
            proof_bytes=commit // peers if commit and peers else None,
            reason=record.get("reason", ""),
            culprits=list(record.get("culprits") or [])))
    return rows, totals


def daemon_report(spec: JobSpec, raw_inputs: Mapping[str, Any],
                  synthetic_parties: list[str], seed: int,
                  keep: str | os.PathLike | None,
                  timeout: float) -> sim.SimulationReport:
    """Run a job with one local daemon per party and report on it.

    `raw_inputs` gives each party's datasets as paths or tables (written
    to Parquet). The daemons listen on 127.0.0.1 only and stop before
    this returns. With `keep`, their keys, configs, logs and data stay
    in that folder; otherwise a temporary folder is removed. Raises
    ValueError when an input cannot be given to a daemon and
    RuntimeError when a daemon does not start.
    """
    if keep is not None:
        Path(keep).mkdir(parents=True, exist_ok=True)
        return _daemon_report_in(Path(keep), spec, raw_inputs,
                                 synthetic_parties, seed, timeout)
    with tempfile.TemporaryDirectory(prefix="mpc-simulate-") as folder:
        return _daemon_report_in(Path(folder), spec, raw_inputs,
                                 synthetic_parties, seed, timeout)


def _daemon_report_in(root: Path, spec: JobSpec,
                      raw_inputs: Mapping[str, Any],
                      synthetic_parties: list[str], seed: int,
                      timeout: float) -> sim.SimulationReport:
    from parties.cluster import LocalCluster

    datasets = _daemon_datasets(spec, raw_inputs, root / "data")
    hooks = {p: jobs.Hooks(source=file_source(files))
             for p, files in datasets.items()}
    cluster = LocalCluster(root / "parties", datasets,
                           max_epsilon=DAEMON_EPSILON_CAP,
                           phase_timeout=spec.phase_timeout)
    cluster.setup()
    with cluster:
        cluster.start_all()
        pids = {p: cluster.processes[p].pid for p in spec.parties}
        before = {p: tree_cpu_seconds(pid) for p, pid in pids.items()}
        started = time.monotonic()
        records = asyncio.run(_run_job(cluster, spec, timeout))
        elapsed = time.monotonic() - started
        after = {p: tree_cpu_seconds(pid) for p, pid in pids.items()}
    cpu = {p: None if before[p] is None or after[p] is None
           else after[p] - before[p] for p in spec.parties}
    rows, totals = _daemon_rows(spec, records, cpu)
    return sim.SimulationReport(
        mode="daemons", spec=spec,
        result=records[spec.initiator].get("result"),
        phases=rows, parties=totals,
        outcomes={p: {k: records[p].get(k) for k in
                      ("job_id", "state", "phase", "reason", "culprits",
                       "result")} for p in spec.parties},
        proof_sizes=sim.predicted_proof_sizes(spec, hooks),
        exact=sim.exact_results(spec, hooks),
        settings={"seed": seed, "synthetic_parties": synthetic_parties,
                  "proof_workers": "1 process per daemon",
                  "folder": str(root)},
        wall_s=round(elapsed, 6), notes=[DAEMON_NOTE])
