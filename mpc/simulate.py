"""Research mode: run one job with every party and measure each phase.

`simulate` runs a job with all of its parties, either in this process
over the in-memory transport (`mpc.transport.MemoryNetwork`, with
optional latency and bandwidth), or as real local daemons
(`daemons=True`, handed to `parties.simulate`). Either way the protocol
is the job state machine of `mpc.job`, unchanged: the figures come from
wrappers around it, never from a second implementation.

In memory, each party runs its own asyncio event loop in its own
thread, so the CPU time of each party's event loop is measured
separately. The figures, per party and phase:

- wall time: from entering the phase (`Hooks.phase`) to entering the
  next one, or to the job's end. Between two phases a party also does
  the work that leads to the next: the input and noise are computed at
  the end of propose, and verification runs during share, so verify's
  wall time is only the wait left after share.
- CPU time: the CPU time of the party's event-loop thread during the
  phase (`time.thread_time`, which counts this thread only: message
  handling, encoding, sharing, the check, noise sampling) plus the CPU
  time of every proof call the party made through `run_cpu`, measured
  in the worker thread or process that ran it. A proof call counts to
  the phase the party was in when it was made, except verification,
  which counts to verify although it overlaps share. Other parties'
  work and interpreter overhead shared by all threads are not counted;
  with threads, the parties also wait for the GIL, which shows in wall
  time only.
- bytes and messages sent and received: message bodies, counted by a
  wrapper around each party's transport and handler. A proposal counts
  its job JSON, a reply its declaration and reason. Framing (job id,
  phase label, and over gRPC the envelope, signature and TLS) is not
  included.
- proof bytes: the length of each party's commit bundle, its commit
  message body, beside the size the statement predicts for each part
  (`proof_size_breakdown`).

With daemons, phase wall times come from each daemon's phase history,
bytes from the `traffic` of each party's own result, and CPU time only
as one total per party (the daemon process and its proof workers), as
`parties.simulate` explains.

`mpc` has no disk or network access of its own. With `daemons=True`,
or with a file path among the inputs, `parties.simulate` is imported
then, and it reads the files and starts the daemons.

Synthetic inputs come from a seeded numpy Generator (`synthetic_rng`):
they are test data, reproducible with `seed`, and never noise.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import math
import multiprocessing
import os
import textwrap
import threading
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mpc import job as jobs
from mpc import queries as qry
from mpc.group import POINT_BYTES, SCALAR_BYTES
from mpc.proofs import (
    COUNT_BYTES,
    one_hot_proof_size,
    range_proof_size,
    range_weights,
)
from mpc.spec import JobSpec, Query, parse_spec
from mpc.transport import (
    MemoryNetwork,
    Message,
    Proposal,
    ProposeReply,
    Transport,
)
from mpc.validity import ONE_HOT, InputStatement

PHASES = jobs.PHASES
ROW_PHASES = (*PHASES, "abort")
"""Phases of the report's rows; the "abort" row counts abort messages."""
MESSAGE_PHASE = {"start": "propose"}
"""The job phase of each message phase whose name differs."""
_EXTRA_TIMEOUT = 30.0


# Inputs.


@dataclass(frozen=True)
class Synthetic:
    """Parameters of synthetic records for one party: `n` rows per
    dataset.

    Every numeric column is uniform over [low, high], in integers when
    both bounds are integers. A histogram column with categories takes
    its categories uniformly. A column filtered on a text value takes
    that value or another, half and half. A vector query without a
    dataset gets a vector uniform within its bounds, a random one-hot
    vector, or its predicate's sample.
    """

    n: int = 1000
    low: float = 0.0
    high: float = 100.0

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) \
                or self.n < 0:
            raise ValueError(f"synthetic n must be an integer >= 0, got "
                             f"{self.n!r}")
        if not (math.isfinite(self.low) and math.isfinite(self.high)
                and self.low <= self.high):
            raise ValueError(
                f"synthetic low and high must be finite with low <= "
                f"high, got low={self.low!r}, high={self.high!r}")


def synthetic_rng(seed: int, party_index: int) -> np.random.Generator:
    """Return the seeded generator of one party's synthetic inputs."""
    return np.random.default_rng([seed, party_index])


def _column_kinds(spec: JobSpec, dataset: str) -> dict[str, Any]:
    """Return each column a job reads from a dataset, and its content:
    "numeric", a tuple of categories, or ("text", value)."""
    kinds: dict[str, Any] = {}
    for query in spec.queries:
        if query.dataset != dataset:
            continue
        if query.filter is not None:
            value = query.filter.value
            kinds.setdefault(
                query.filter.column,
                ("text", value) if isinstance(value, str) else "numeric")
        if query.kind == "histogram" and query.categories:
            kinds[query.column] = tuple(query.categories)
        elif query.column:
            kinds[query.column] = "numeric"
    return kinds


def _numeric(rng: np.random.Generator, params: Synthetic,
             size: int) -> np.ndarray:
    low, high = params.low, params.high
    if float(low).is_integer() and float(high).is_integer():
        return rng.integers(int(low), int(high) + 1, size).astype(float)
    return rng.uniform(low, high, size)


def _synthetic_vector(query: Query, rng: np.random.Generator) -> list[int]:
    from mpc.predicates import predicate_sampler

    if query.predicate:
        sample = predicate_sampler(query.predicate)
        if sample is None:
            raise ValueError(
                f"predicate {query.predicate!r} of query {query.name!r} "
                "has no sampler for synthetic inputs; give the vector")
        return [int(v) for v in sample(query.length,
                                       query.predicate_args, rng)]
    if query.one_hot:
        vector = [0] * query.length
        vector[int(rng.integers(query.length))] = 1
        return vector
    low, high = query.scaled_clip()
    return [int(v) for v in rng.integers(low, high + 1, query.length)]


def synthetic_inputs(spec: JobSpec, params: Synthetic,
                     rng: np.random.Generator) -> dict[str, Any]:
    """Return one party's synthetic inputs for a job.

    The result maps each dataset to its columns ({column: array}) and
    each vector query without a dataset to its vector, the form
    `simulate` takes. A dataset that a vector query reads gets exactly
    `length` rows, one per element, uniform within the query's clip.
    """
    inputs: dict[str, Any] = {}
    for dataset in spec.datasets:
        vectors = [q for q in spec.queries
                   if q.kind == "vector" and q.dataset == dataset]
        rows = vectors[0].length if vectors else params.n
        columns: dict[str, Any] = {"row": np.arange(rows)}
        for column, kind in _column_kinds(spec, dataset).items():
            if kind == "numeric":
                columns[column] = _numeric(rng, params, rows)
            elif kind[0] == "text":
                choices = np.array([kind[1], f"not {kind[1]}"], dtype=object)
                columns[column] = rng.choice(choices, rows)
            else:
                columns[column] = rng.choice(np.array(kind, dtype=object),
                                             rows)
        for query in vectors:
            assert query.clip is not None
            columns[query.column] = rng.uniform(*query.clip, rows)
        inputs[dataset] = columns
    for query in spec.queries:
        if query.kind == "vector" and not query.dataset:
            inputs[query.name] = _synthetic_vector(query, rng)
    return inputs


class ArraySource(qry.TableSource):
    """A TableSource that converts numeric columns without a Python
    loop."""

    def numeric(self, dataset: str, column: str) -> np.ndarray:
        values = self._column(dataset, column)
        if values.dtype.kind not in "iuf":
            return super().numeric(dataset, column)
        out = values.astype(np.float64)
        out[~np.isfinite(out)] = np.nan
        return out


def _is_source(value: object) -> bool:
    return all(callable(getattr(value, name, None))
               for name in ("row_count", "numeric", "text"))


def _is_path(value: object) -> bool:
    return isinstance(value, (str, os.PathLike))


def normalise_inputs(spec: JobSpec, inputs: Mapping[str, Any]
                     ) -> dict[str, tuple[Any, dict[str, Any]]]:
    """Return each party's (DataSource or None, vectors by query name).

    A party's input is a DataSource, a path (when the job reads exactly
    one dataset), or a mapping whose values are tables ({column:
    array}) or paths by dataset name, and vectors by query name.
    Raises ValueError naming the party and the key that fits none.
    """
    out = {}
    for party, value in inputs.items():
        if party not in spec.parties:
            raise ValueError(
                f"inputs name party {party!r}, which is not in the job's "
                f"parties {list(spec.parties)}")
        if _is_source(value):
            out[party] = (value, {})
            continue
        if _is_path(value):
            if len(spec.datasets) != 1:
                raise ValueError(
                    f"party {party}: a bare path needs a job with exactly "
                    f"one dataset; this job reads {list(spec.datasets)}")
            value = {spec.datasets[0]: value}
        if not isinstance(value, Mapping):
            raise ValueError(
                f"party {party}: inputs must be a DataSource, a path or a "
                f"mapping, got {type(value).__name__}")
        tables, paths, vectors = {}, {}, {}
        vector_names = {q.name for q in spec.queries if q.kind == "vector"}
        for key, item in value.items():
            if isinstance(item, Mapping):
                tables[key] = {c: np.asarray(v) for c, v in item.items()}
            elif _is_path(item):
                paths[key] = item
            elif key in vector_names:
                vectors[key] = item
            else:
                raise ValueError(
                    f"party {party}: input {key!r} is not a table or a "
                    "path of a dataset, nor a vector query of the job; "
                    f"the job's vector queries: {sorted(vector_names)}")
        source = None
        if paths:
            from parties.simulate import file_source

            source = file_source(paths, tables)
        elif tables:
            source = ArraySource(tables)
        out[party] = (source, vectors)
    return out


# Statistics.


def proof_size_breakdown(statement: InputStatement) -> dict[str, int]:
    """Return the bytes of each part of a commit bundle for `statement`.

    The sizes follow the encodings of `mpc.validity` and `mpc.proofs`.
    A bundle has two counts and 2n points. A range proof of k bits
    takes 4 + 195k bytes, and there is one per element, one per noise
    bound and one per bounded sum. A one-hot proof of n members takes
    4 + 162n + 32 bytes. Post: "total" is the length of every bundle
    made for `statement`.
    """
    def range_bytes(lo: int, hi: int) -> int:
        return range_proof_size(len(range_weights(lo, hi)))

    groups = 0
    for group in statement.groups:
        if group.kind == ONE_HOT:
            groups += one_hot_proof_size(len(group.indices))
        else:
            groups += range_bytes(group.lo, group.hi)
    parts = {
        "counts": 2 * COUNT_BYTES,
        "commitments": 2 * POINT_BYTES * statement.size,
        "range_proofs": sum(range_bytes(b.lo, b.hi)
                            for b in statement.bounds),
        "group_proofs": groups,
        "noise_proofs": sum(range_bytes(-t, t)
                            for t in statement.noise_bounds),
    }
    parts["total"] = sum(parts.values())
    return parts


@dataclass
class PhaseRow:
    """One party's figures in one phase; None where not measured."""

    party: str
    phase: str
    wall_s: float | None = None
    cpu_s: float | None = None
    proof_cpu_s: float | None = None
    """The part of cpu_s spent in proof calls (`run_cpu`)."""
    bytes_sent: int | None = None
    bytes_received: int | None = None
    messages_sent: int | None = None
    messages_received: int | None = None


@dataclass
class PartyTotals:
    """One party's whole-job figures and outcome."""

    party: str
    state: str
    wall_s: float | None = None
    cpu_s: float | None = None
    bytes_sent: int | None = None
    bytes_received: int | None = None
    proof_bytes: int | None = None
    reason: str = ""
    culprits: list[str] = field(default_factory=list)


@dataclass
class SimulationReport:
    """What a simulation measured, and the job's result.

    `result` is the initiator's result (None when the job aborted), with
    each query's value, std, 95% interval and noise description.
    `phases` has one PhaseRow per party and phase, `parties` one
    PartyTotals per party. `proof_sizes` is each party's predicted
    bundle size by part. `exact` is the noise-free value of each query,
    computed in the clear from the same inputs, for comparison.
    """

    mode: str
    spec: JobSpec
    result: dict | None
    phases: list[PhaseRow]
    parties: list[PartyTotals]
    outcomes: dict[str, dict]
    proof_sizes: dict[str, dict[str, int]] = field(default_factory=dict)
    exact: list[dict] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def completed(self) -> bool:
        """Whether every party completed the job."""
        return all(o.get("state") == "completed"
                   for o in self.outcomes.values())

    def rows(self, party: str | None = None) -> list[dict]:
        """Return the phase rows as dicts (for a DataFrame), optionally
        of one party."""
        return [dataclasses.asdict(r) for r in self.phases
                if party is None or r.party == party]

    def row(self, party: str, phase: str) -> PhaseRow | None:
        """Return one party's row of one phase, or None."""
        for r in self.phases:
            if r.party == party and r.phase == phase:
                return r
        return None

    def to_dict(self) -> dict:
        """Return the report as JSON-safe data."""
        return _json_safe({
            "mode": self.mode,
            "job": self.spec.name,
            "parties": list(self.spec.parties),
            "completed": self.completed,
            "settings": self.settings,
            "wall_s": self.wall_s,
            "result": self.result,
            "exact": self.exact,
            "phases": self.rows(),
            "totals": [dataclasses.asdict(t) for t in self.parties],
            "proof_sizes": self.proof_sizes,
            "outcomes": self.outcomes,
            "notes": self.notes,
        })

    def table(self) -> str:
        """Return the report as text tables."""
        return format_report(self)

    def __str__(self) -> str:
        return self.table()


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.size > qry.INLINE_VECTOR_LIMIT:
            return {"omitted": "array", "length": int(value.size)}
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class _Recorder:
    """Thread-safe figures of every party of one in-memory run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.traffic: dict[tuple[str, str, str], list[int]] = {}
        self.entries: dict[str, list[tuple[str, float, float]]] = {}
        self.ends: dict[str, tuple[float, float]] = {}
        self.proof_cpu: dict[tuple[str, str], float] = {}
        self.bundles: dict[str, int] = {}

    def count(self, party: str, message_phase: str, direction: str,
              size: int) -> None:
        phase = MESSAGE_PHASE.get(message_phase, message_phase)
        with self._lock:
            slot = self.traffic.setdefault((party, phase, direction), [0, 0])
            slot[0] += size
            slot[1] += 1

    def bundle(self, party: str, size: int) -> None:
        with self._lock:
            self.bundles.setdefault(party, size)

    def enter(self, party: str, phase: str) -> None:
        """Record that `party` entered `phase`; call on its loop thread."""
        with self._lock:
            self.entries.setdefault(party, []).append(
                (phase, time.monotonic(), time.thread_time()))

    def end(self, party: str) -> None:
        """Record the party's end; call on its loop thread."""
        with self._lock:
            self.ends.setdefault(party,
                                 (time.monotonic(), time.thread_time()))

    def current(self, party: str) -> str:
        with self._lock:
            entries = self.entries.get(party)
            return entries[-1][0] if entries else "propose"

    def add_cpu(self, party: str, phase: str, seconds: float) -> None:
        with self._lock:
            key = (party, phase)
            self.proof_cpu[key] = self.proof_cpu.get(key, 0.0) + seconds


class _RecordingHooks(jobs.Hooks):
    """The default in-memory Hooks, recording phase entries and the end."""

    def __init__(self, party_id: str, recorder: _Recorder,
                 source: qry.DataSource | None,
                 vectors: dict[str, Any]) -> None:
        super().__init__(source=source, vectors=vectors)
        self.party_id = party_id
        self.recorder = recorder

    def phase(self, job_id: str, phase: str, detail: str = "") -> None:
        self.recorder.enter(self.party_id, phase)

    def completed(self, job_id: str, result: dict) -> None:
        self.recorder.end(self.party_id)

    def aborted(self, job_id: str, phase: str, reason: str,
                culprits: list[str], revealed: bool) -> None:
        self.recorder.end(self.party_id)


def timed_call(fn: Any, *args: Any) -> tuple[Any, float, bool]:
    """Run fn(*args); return (result or exception, CPU s, raised).

    The CPU time is that of the thread (or worker process) that ran fn.
    This is a module-level function so that a process pool can run it.
    """
    start = time.thread_time()
    try:
        return fn(*args), time.thread_time() - start, False
    except Exception as exc:  # The caller raises it again.
        return exc, time.thread_time() - start, True


def _run_cpu_for(party: str, executor: concurrent.futures.Executor,
                 recorder: _Recorder) -> jobs.RunCpu:
    async def run_cpu(fn: Any, *args: Any) -> Any:
        name = getattr(fn, "__name__", "")
        phase = "verify" if "verify" in name else recorder.current(party)
        loop = asyncio.get_running_loop()
        value, seconds, raised = await loop.run_in_executor(
            executor, timed_call, fn, *args)
        recorder.add_cpu(party, phase, seconds)
        if raised:
            raise value
        return value

    return run_cpu


async def _on_loop(loop: asyncio.AbstractEventLoop,
                   coro: Coroutine[Any, Any, Any]) -> Any:
    """Await `coro` on `loop`, from this or another thread's loop."""
    if asyncio.get_running_loop() is loop:
        return await coro
    return await asyncio.wrap_future(
        asyncio.run_coroutine_threadsafe(coro, loop))


class _LoopHandler:
    """Hands a party's incoming traffic to its own loop, counting it."""

    def __init__(self, party_id: str, party: jobs.Party,
                 loop: asyncio.AbstractEventLoop,
                 recorder: _Recorder) -> None:
        self.party_id = party_id
        self.party = party
        self.loop = loop
        self.recorder = recorder

    async def on_propose(self, proposal: Proposal) -> ProposeReply:
        self.recorder.count(self.party_id, "propose", "received",
                            len(proposal.spec))
        reply = await _on_loop(self.loop, self.party.on_propose(proposal))
        self.recorder.count(self.party_id, "propose", "sent",
                            len(reply.declaration) + len(reply.reason))
        return reply

    async def on_message(self, message: Message) -> None:
        self.recorder.count(self.party_id, message.phase, "received",
                            len(message.body))
        await _on_loop(self.loop, self.party.on_message(message))


class _CountingTransport(Transport):
    """A party's transport that counts what it sends."""

    def __init__(self, inner: Transport, recorder: _Recorder) -> None:
        self.inner = inner
        self.recorder = recorder
        self.party_id = inner.party_id

    async def send(self, recipient: str, message: Message,
                   timeout: float) -> None:
        self.recorder.count(self.party_id, message.phase, "sent",
                            len(message.body))
        if message.phase == "commit":
            self.recorder.bundle(self.party_id, len(message.body))
        await self.inner.send(recipient, message, timeout)

    async def propose(self, recipient: str, proposal: Proposal,
                      timeout: float) -> ProposeReply:
        self.recorder.count(self.party_id, "propose", "sent",
                            len(proposal.spec))
        reply = await self.inner.propose(recipient, proposal, timeout)
        self.recorder.count(self.party_id, "propose", "received",
                            len(reply.declaration) + len(reply.reason))
        return reply


class _PartyLoop:
    """An event loop running in its own thread."""

    def __init__(self, party_id: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self._serve, name=f"mpc-simulate-{party_id}",
            daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, Any]
               ) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        async def cancel_rest() -> None:
            rest = [t for t in asyncio.all_tasks()
                    if t is not asyncio.current_task()]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        try:
            self.submit(cancel_rest()).result(timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            if not self.thread.is_alive():
                self.loop.close()


# The in-memory run.


def as_spec(job: Mapping[str, Any] | JobSpec) -> JobSpec:
    if isinstance(job, JobSpec):
        spec = job
    elif isinstance(job, Mapping):
        spec = parse_spec(dict(job), initiator=list(job["parties"])[0]
                          if isinstance(job.get("parties"), list)
                          and job["parties"] else "")
    else:
        raise TypeError(
            f"job must be a job table (dict) or a JobSpec, got "
            f"{type(job).__name__}")
    if not spec.initiator:
        spec = dataclasses.replace(spec, initiator=spec.parties[0])
    return spec


def _party_inputs(spec: JobSpec, inputs: Mapping[str, Any] | None,
                  synthetic: Synthetic | Mapping[str, Synthetic] | None,
                  seed: int) -> tuple[dict[str, Any], list[str]]:
    """Return every party's raw inputs, synthetic where none are given,
    and the parties whose inputs are synthetic."""
    all_inputs = dict(inputs or {})
    synthetic_parties = []
    for index, party in enumerate(spec.parties):
        if party in all_inputs:
            continue
        if isinstance(synthetic, Mapping):
            params = synthetic.get(party, Synthetic())
        else:
            params = synthetic or Synthetic()
        all_inputs[party] = synthetic_inputs(spec, params,
                                             synthetic_rng(seed, index))
        synthetic_parties.append(party)
    return all_inputs, synthetic_parties


def exact_results(spec: JobSpec, hooks: Mapping[str, jobs.Hooks]
                  ) -> list[dict] | None:
    """Decode the sum of every party's input with no noise."""
    try:
        total: np.ndarray | None = None
        for party_hooks in hooks.values():
            values, _ = party_hooks.inputs("exact", spec)
            vector = np.asarray(values, dtype=np.int64)
            total = vector if total is None else total + vector
    except ValueError:
        return None
    plans = [[None] * len(qry.sensitivities(q)) for q in spec.queries]
    assert total is not None
    return qry.decode_results(spec, total, plans)


def predicted_proof_sizes(spec: JobSpec, hooks: Mapping[str, jobs.Hooks]
                 ) -> dict[str, dict[str, int]]:
    if spec.proofs == "none":
        return {}
    try:
        plans = qry.element_noise_plans(spec, qry.noise_plans(spec))
        return {
            party: proof_size_breakdown(qry.statement(
                spec, party_hooks.max_records(spec), plans))
            for party, party_hooks in hooks.items()
        }
    except (ValueError, jobs.Rejected):
        return {}


def _rows_from_recorder(spec: JobSpec, recorder: _Recorder
                        ) -> tuple[list[PhaseRow], dict[str, dict]]:
    rows: list[PhaseRow] = []
    totals: dict[str, dict] = {}
    for party in spec.parties:
        entries = recorder.entries.get(party, [])
        end = recorder.ends.get(party)
        marks = entries + ([("", *end)] if end else [])
        spans: dict[str, tuple[float, float]] = {}
        for (phase, t0, c0), (_, t1, c1) in zip(marks, marks[1:]):
            wall, cpu = spans.get(phase, (0.0, 0.0))
            spans[phase] = (wall + t1 - t0, cpu + c1 - c0)
        sent = received = 0
        for phase in ROW_PHASES:
            out = recorder.traffic.get((party, phase, "sent"))
            into = recorder.traffic.get((party, phase, "received"))
            proof = recorder.proof_cpu.get((party, phase))
            if phase not in spans and not (out or into or proof):
                continue
            wall, loop_cpu = spans.get(phase, (None, None))
            cpu = None if loop_cpu is None and proof is None \
                else (loop_cpu or 0.0) + (proof or 0.0)
            rows.append(PhaseRow(
                party, phase, rounded(wall), rounded(cpu), rounded(proof),
                out[0] if out else 0, into[0] if into else 0,
                out[1] if out else 0, into[1] if into else 0))
            sent += out[0] if out else 0
            received += into[0] if into else 0
        whole = None if not entries or end is None else (
            end[0] - entries[0][1],
            end[1] - entries[0][2] + sum(
                s for (p, _), s in recorder.proof_cpu.items()
                if p == party))
        totals[party] = {
            "wall_s": rounded(whole[0]) if whole else None,
            "cpu_s": rounded(whole[1]) if whole else None,
            "bytes_sent": sent, "bytes_received": received,
            "proof_bytes": recorder.bundles.get(party),
        }
    return rows, totals


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _run_memory(spec: JobSpec, raw_inputs: dict[str, Any],
                latency: float, bandwidth: float, processes: int,
                timeout: float) -> tuple[dict[str, jobs.JobOutcome],
                                         _Recorder,
                                         dict[str, jobs.Hooks], float]:
    recorder = _Recorder()
    normal = normalise_inputs(spec, raw_inputs)
    network = MemoryNetwork(latency=latency, bandwidth=bandwidth)
    shared = _process_pool(processes) if processes else None
    loops = {p: _PartyLoop(p) for p in spec.parties}
    executors: dict[str, concurrent.futures.Executor] = {}
    hooks: dict[str, jobs.Hooks] = {}
    parties: dict[str, jobs.Party] = {}
    try:
        # Step 1: one Party per id, on its own loop, behind wrappers that
        # count its traffic and time its proof calls.
        for party_id in spec.parties:
            source, vectors = normal[party_id]
            executors[party_id] = shared or \
                concurrent.futures.ThreadPoolExecutor(
                    2, thread_name_prefix=f"mpc-simulate-{party_id}-cpu")
            hooks[party_id] = _RecordingHooks(party_id, recorder, source,
                                              vectors)
            party = jobs.Party(party_id, hooks[party_id], _run_cpu_for(
                party_id, executors[party_id], recorder))
            handler = _LoopHandler(party_id, party, loops[party_id].loop,
                                   recorder)
            party.transport = _CountingTransport(
                network.attach(party_id, handler), recorder)
            parties[party_id] = party

        # Step 2: the initiator starts the job; every party runs it.
        started = time.monotonic()
        try:
            outcomes = _drive(spec, parties, loops, timeout)
        except concurrent.futures.TimeoutError:
            raise RuntimeError(
                f"the simulated job did not end within {timeout:g} s; "
                "raise the job's phase_timeout or the timeout") from None
        elapsed = time.monotonic() - started
    finally:
        for loop in loops.values():
            loop.close()
        for executor in {id(e): e for e in executors.values()}.values():
            executor.shutdown(wait=True)
    return outcomes, recorder, hooks, elapsed


def _process_pool(processes: int) -> concurrent.futures.Executor:
    """Start a spawn process pool and wait until its workers run, so
    that their start-up does not count to the first phase that proves.
    """
    pool = concurrent.futures.ProcessPoolExecutor(
        processes, mp_context=multiprocessing.get_context("spawn"))
    try:
        for started in [pool.submit(time.sleep, 0.2)
                        for _ in range(processes)]:
            started.result()
    except concurrent.futures.BrokenExecutor:
        pool.shutdown()
        raise RuntimeError(
            "proof worker processes did not start; with processes > 0 "
            "the calling script must start its work under "
            "`if __name__ == \"__main__\":`, as spawned workers import "
            "it") from None
    return pool


def _drive(spec: JobSpec, parties: dict[str, jobs.Party],
           loops: dict[str, _PartyLoop], timeout: float
           ) -> dict[str, jobs.JobOutcome]:
    initiator = spec.initiator

    async def start() -> tuple[bytes | None, jobs.JobOutcome]:
        try:
            run = parties[initiator].start(spec)
        except jobs.Rejected as exc:
            return None, jobs.JobOutcome("", "aborted", phase="propose",
                                         reason=str(exc),
                                         culprits=[initiator])
        return run.job_id, await run.task

    async def outcome_of(party: jobs.Party, job_id: bytes
                         ) -> jobs.JobOutcome | None:
        run = party.jobs.get(job_id)
        return await run.task if run else party.outcome(job_id)

    job_id, first = loops[initiator].submit(start()).result(timeout)
    outcomes = {initiator: first}
    for party_id, party in parties.items():
        if party_id == initiator:
            continue
        outcome = None
        if job_id is not None:
            outcome = loops[party_id].submit(
                outcome_of(party, job_id)).result(timeout)
        outcomes[party_id] = outcome or jobs.JobOutcome(
            first.job_id, "aborted", phase="propose",
            reason="this party never received the job")
    return outcomes


def _memory_report(spec: JobSpec, raw_inputs: dict[str, Any],
                   synthetic_parties: list[str], latency: float,
                   bandwidth: float, processes: int, seed: int,
                   timeout: float) -> SimulationReport:
    outcomes, recorder, hooks, elapsed = _run_memory(
        spec, raw_inputs, latency, bandwidth, processes, timeout)
    rows, totals = _rows_from_recorder(spec, recorder)
    first = outcomes[spec.initiator]
    return SimulationReport(
        mode="memory",
        spec=spec,
        result=first.result,
        phases=rows,
        parties=[
            PartyTotals(p, outcomes[p].state, reason=outcomes[p].reason,
                        culprits=list(outcomes[p].culprits), **totals[p])
            for p in spec.parties
        ],
        outcomes={p: o.to_dict() for p, o in outcomes.items()},
        proof_sizes=predicted_proof_sizes(spec, hooks),
        exact=exact_results(spec, hooks),
        settings={
            "latency_s": latency, "bandwidth_bytes_per_s": bandwidth,
            "proof_workers": f"{processes} processes" if processes
            else "2 threads per party",
            "seed": seed, "synthetic_parties": synthetic_parties,
        },
        wall_s=round(elapsed, 6),
        notes=[MEMORY_NOTE],
    )


MEMORY_NOTE = (
    "in memory: wall = from entering a phase to entering the next; cpu = "
    "the party's event-loop thread CPU in the phase plus the CPU of its "
    "proof calls (verification counted under verify although it overlaps "
    "share); bytes = message bodies, proposals and replies included")


# The public entry points.


def simulate(job: Mapping[str, Any] | JobSpec,
             inputs: Mapping[str, Any] | None = None, *,
             synthetic: Synthetic | Mapping[str, Synthetic] | None = None,
             seed: int = 0, latency: float = 0.0, bandwidth: float = 0.0,
             daemons: bool = False, processes: int = 0,
             keep: str | Path | None = None,
             timeout: float | None = None) -> SimulationReport:
    """Run a job with every party and return what it measured.

    `job` is a job table (as read from a job file; the first party
    starts it) or a JobSpec. `inputs` maps a party to a DataSource, a
    path, or a mapping of dataset names to tables ({column: array}) or
    paths and of vector query names to vectors; see normalise_inputs.
    A party without inputs gets synthetic ones (`synthetic`, one
    Synthetic for all parties or one per party; default Synthetic()),
    drawn from synthetic_rng(seed, party index).

    In memory, `latency` (seconds) and `bandwidth` (bytes per second, 0
    for no limit) delay every message, and `processes` > 0 runs proof
    calls in a process pool of that size instead of two threads per
    party. `daemons=True` starts one real daemon per party on loopback
    instead (see parties.simulate; `keep` keeps its folder), where
    latency and bandwidth do not apply.

    Synchronous, and safe to call while an event loop runs in this
    thread (as in Jupyter): the parties run on their own threads.
    Raises ValueError for bad inputs or settings; an aborted job is
    reported, not raised.
    """
    spec = as_spec(job)
    if latency < 0 or bandwidth < 0 or not (
            math.isfinite(latency) and math.isfinite(bandwidth)):
        raise ValueError(
            f"latency and bandwidth must be finite and >= 0, got "
            f"latency={latency!r}, bandwidth={bandwidth!r}")
    if daemons and (latency or bandwidth):
        raise ValueError("latency and bandwidth emulation apply in memory "
                         "only; leave them at 0 with daemons=True")
    if isinstance(processes, bool) or not isinstance(processes, int) \
            or processes < 0:
        raise ValueError(f"processes must be an integer >= 0, got "
                         f"{processes!r}")
    if timeout is None:
        timeout = spec.phase_timeout * (len(PHASES) + 2) + _EXTRA_TIMEOUT
    raw_inputs, synthetic_parties = _party_inputs(spec, inputs, synthetic,
                                                  seed)
    if daemons:
        from parties.simulate import daemon_report

        return _in_thread(daemon_report, spec, raw_inputs,
                          synthetic_parties, seed, keep, timeout)
    return _memory_report(spec, raw_inputs, synthetic_parties, latency,
                          bandwidth, processes, seed, timeout)


async def simulate_async(job: Mapping[str, Any] | JobSpec,
                         inputs: Mapping[str, Any] | None = None,
                         **options: Any) -> SimulationReport:
    """`simulate` for `await`: the same, run in a worker thread."""
    return await asyncio.to_thread(simulate, job, inputs, **options)


def _in_thread(fn: Any, *args: Any) -> Any:
    """Run fn(*args) in a fresh thread, so that fn may call asyncio.run
    even when this thread runs an event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


# Text output.


def _cell(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _query_lines(report: SimulationReport) -> list[str]:
    exact = {q["name"]: q for q in report.exact or []}
    header = (f"{'query':<24} {'value':>12} {'95% interval':>24} "
              f"{'noise std':>10} {'exact':>12}")
    lines = [header, "-" * len(header)]
    for query in (report.result or {}).get("queries", []):
        truth = exact.get(query["name"], {})
        noise = next((n for n in query.get("noise") or [] if n), None)
        std = query.get("std")
        if "value" in query:
            items = [(query["name"], query["value"],
                      query.get("interval95"), truth.get("value"))]
        else:
            values = list(query.get("values", []))[:8]
            intervals = query.get("intervals95") or [None] * len(values)
            truths = list(truth.get("values", []))[:8] or \
                [None] * len(values)
            items = [(f"{query['name']}[{k}]", v, i, t) for k, (v, i, t)
                     in enumerate(zip(values, intervals, truths))]
            if "values" not in query or len(query.get("values", [])) > 8:
                items.append((f"{query['name']}[...]", None, None, None))
        for name, value, interval, true in items:
            span = "-" if not interval else \
                f"[{_num(interval[0])}, {_num(interval[1])}]"
            lines.append(f"{name:<24} {_num(value):>12} {span:>24} "
                         f"{_num(std):>10} {_num(true):>12}")
        if noise:
            lines.append(f"{'':<24} noise: {noise.get('mechanism')}, "
                         f"epsilon {noise.get('epsilon'):.4g}, delta "
                         f"{noise.get('delta'):.3g}, tail bound "
                         f"{noise.get('tail_bound')}")
    return lines


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, np.integer)) or float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.3f}"


def _heading_lines(report: SimulationReport) -> list[str]:
    spec, settings = report.spec, report.settings
    state = "completed" if report.completed else "ABORTED"
    where = "in memory" if report.mode == "memory" else "as daemons"
    if report.mode == "memory":
        rate = settings.get("bandwidth_bytes_per_s") or 0
        link = f"{rate:,.0f} B/s" if rate else "unlimited"
        where += (f" (latency {settings.get('latency_s', 0):g} s, "
                  f"bandwidth {link})")
    lines = [
        f"job {spec.name}: {spec.num_parties} parties {where}, {state} in "
        f"{report.wall_s:.3f} s; mechanism {spec.mechanism}, proofs "
        f"{spec.proofs}",
    ]
    for totals in report.parties:
        if totals.state != "completed":
            culprits = ", ".join(totals.culprits) or "none named"
            lines.append(f"  {totals.party}: {totals.state}: "
                         f"{totals.reason} (parties at fault: {culprits})")
    return lines


def _phase_lines(report: SimulationReport) -> list[str]:
    header = (f"{'party':<12} {'phase':<8} {'wall s':>9} {'cpu s':>9} "
              f"{'proof cpu':>9} {'sent B':>12} {'recv B':>12} "
              f"{'msgs':>9}")
    lines = [header, "-" * len(header)]
    for party in report.parties:
        for row in report.phases:
            if row.party != party.party:
                continue
            msgs = "-" if row.messages_sent is None else \
                f"{row.messages_sent}/{row.messages_received}"
            lines.append(
                f"{row.party:<12} {row.phase:<8} {_cell(row.wall_s):>9} "
                f"{_cell(row.cpu_s):>9} {_cell(row.proof_cpu_s):>9} "
                f"{_cell(row.bytes_sent):>12} "
                f"{_cell(row.bytes_received):>12} {msgs:>9}")
        lines.append(
            f"{party.party:<12} {'total':<8} {_cell(party.wall_s):>9} "
            f"{_cell(party.cpu_s):>9} {'':>9} "
            f"{_cell(party.bytes_sent):>12} "
            f"{_cell(party.bytes_received):>12}")
    return lines


def _proof_lines(report: SimulationReport) -> list[str]:
    lines = ["commit bundle (proof) bytes per party:"]
    for totals in report.parties:
        parts = report.proof_sizes.get(totals.party, {})
        detail = ", ".join(f"{k} {v:,}" for k, v in parts.items()
                           if k != "total")
        line = f"  {totals.party}: {_cell(totals.proof_bytes)}"
        lines.append(f"{line} ({detail})" if detail else line)
    return lines


def format_report(report: SimulationReport) -> str:
    """Render a report as a heading, a phase table, the proof sizes and
    a query table."""
    lines = _heading_lines(report)
    lines += ["", *_phase_lines(report)]
    if any(t.proof_bytes for t in report.parties):
        lines += ["", *_proof_lines(report)]
    if report.result:
        lines += ["", *_query_lines(report)]

    for note in report.notes:
        lines += ["", *textwrap.wrap(f"note: {note}", 79,
                                     subsequent_indent="  ")]
    return "\n".join(lines)
