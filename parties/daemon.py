"""The party daemon: peer and control services over gRPC with mTLS.

The daemon runs the library's job state machine with the gRPC transport,
keeps jobs, phase history, results and the privacy-budget ledger in its
SQLite store, checks its policy when a job is proposed, and runs proof
generation and verification in a process pool so the event loop keeps
answering.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import ctypes
import json
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from mpc import job as jobs
from mpc.queries import QueryError, noise_plans
from mpc.spec import MAX_SPEC_BYTES, JobSpec, SpecError, parse_spec
from parties import config as cfg
from parties.proto_gen import control_pb2, control_pb2_grpc, peer_pb2
from parties.results import externalise_arrays
from parties.metrics import CountingHandler, CountingTransport, DaemonMetrics
from parties.source import ArrowSource
from parties.store import (
    JOB_ID_PATTERN,
    BudgetExceededError,
    JobExistsError,
    Store,
)
from parties.transport import (
    GrpcTransport,
    PinnedCertificates,
    authenticated_party,
    build_server,
)

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 3.0
DAEMON_INFO_FILE = "daemon.json"


def budget_charges(spec: JobSpec) -> dict[str, tuple[float, float]]:
    """Return the epsilon and delta a job spends on each dataset.

    Each query's noise plans say what it spends (its share of the job's
    budget, and for discrete Laplace the truncation delta); a dataset is
    charged the sum over the queries that read it.
    """
    charges: dict[str, tuple[float, float]] = {}
    for query, plans in zip(spec.queries, noise_plans(spec)):
        if not query.dataset:
            continue
        epsilon = sum(p.epsilon for p in plans if p is not None)
        delta = sum(p.delta for p in plans if p is not None)
        old = charges.get(query.dataset, (0.0, 0.0))
        charges[query.dataset] = (old[0] + epsilon, old[1] + delta)
    return charges


class DaemonHooks(jobs.Hooks):
    """Policy, budget ledger, store and progress for the state machine."""

    def __init__(
        self, config: cfg.PartyConfig, deployment: cfg.Deployment, store: Store
    ) -> None:
        super().__init__(source=ArrowSource(config.datasets))
        self.config = config
        self.deployment = deployment
        self.store = store
        self.watchers: dict[str, list[asyncio.Queue]] = {}
        self._inputs: dict[str, tuple[list[int], dict[str, int]]] = {}
        self._started: dict[str, float] = {}
        self.metrics: DaemonMetrics | None = None
        self._phase_at: dict[str, tuple[str, float]] = {}

    def _observe_phase(self, job_id: str, next_phase: str | None) -> None:
        """Record the time spent in a job's current phase, if any."""
        now = time.monotonic()
        previous = self._phase_at.pop(job_id, None)
        if previous is not None and self.metrics is not None:
            self.metrics.phase_seconds.labels(phase=previous[0]).observe(
                now - previous[1])
        if next_phase is not None:
            self._phase_at[job_id] = (next_phase, now)

    def _job_ended(self, job_id: str, outcome: str) -> None:
        self._observe_phase(job_id, None)
        if self.metrics is not None:
            self.metrics.jobs.labels(outcome=outcome).inc()
            self.metrics.update_budget(self.store.budget(self.config.policy))

    def admit(self, job_id: str, spec: JobSpec) -> dict:
        party = self.config.party_id
        policy = self.config.policy
        if not policy.allows_initiator(spec.initiator, self.deployment):
            raise jobs.Rejected(
                f"party {party} does not accept jobs from initiator "
                f"{spec.initiator!r} (policy.initiators)"
            )
        unknown = [p for p in spec.parties if p not in self.deployment.parties]
        if unknown:
            raise jobs.Rejected(
                f"parties {unknown} are not in party {party}'s deployment file"
            )
        if spec.mechanism == "none":
            raise jobs.Rejected(
                f"party {party} does not release results without noise; "
                "noise-free jobs are for in-memory experiments"
            )
        for dataset in spec.datasets:
            if dataset not in self.config.datasets:
                raise jobs.Rejected(
                    f"dataset {dataset!r} not found on party {party}"
                )
            if dataset not in policy.max_epsilon:
                raise jobs.Rejected(
                    f"party {party}'s policy allows no queries on dataset "
                    f"{dataset!r} (policy.max_epsilon)"
                )
        if any(q.kind == "vector" and not q.dataset for q in spec.queries):
            raise jobs.Rejected(
                f"party {party} has no in-memory vectors; a vector query "
                "to a daemon names a dataset and a column"
            )

        # Compute the input now, so bad data rejects the job before any
        # budget is reserved or any proof is made.
        try:
            self._inputs[job_id] = super().input_array(job_id, spec)
            declaration = {"max_records": self.max_records(spec)}
        except (QueryError, ValueError, OSError) as exc:
            raise jobs.Rejected(f"party {party}: {exc}") from None

        try:
            charges = budget_charges(spec)
        except (ValueError, ArithmeticError) as exc:
            self._inputs.pop(job_id, None)
            raise jobs.Rejected(f"party {party}: {exc}") from None
        try:
            self.store.create_job(job_id, spec.initiator, spec.to_json())
        except JobExistsError:
            # A proposal this party saw before, perhaps before a restart:
            # admitting it again would reserve budget twice.
            self._inputs.pop(job_id, None)
            raise jobs.Rejected(
                f"party {party} already has job {job_id}; a job id is "
                "never admitted twice"
            ) from None
        try:
            self.store.reserve_budget(job_id, charges, policy)
        except BudgetExceededError as exc:
            self._inputs.pop(job_id, None)
            self.store.abort_job(job_id, f"rejected: {exc}", [], "propose")
            raise jobs.Rejected(f"party {party}: {exc}") from None
        self._started[job_id] = time.monotonic()
        return declaration

    def input_array(
        self, job_id: str, spec: JobSpec
    ) -> tuple[np.ndarray, dict[str, int]]:
        cached = self._inputs.pop(job_id, None)
        if cached is not None:
            return cached
        return super().input_array(job_id, spec)

    def _notify(self, job_id: str, event: dict) -> None:
        for queue in self.watchers.get(job_id, []):
            queue.put_nowait(event)

    def _elapsed(self, job_id: str) -> float:
        started = self._started.get(job_id)
        return time.monotonic() - started if started else 0.0

    def phase(self, job_id: str, phase: str, detail: str = "") -> None:
        self._observe_phase(job_id, phase)
        self.store.record_phase(job_id, phase, detail)
        self._notify(
            job_id, {"phase": phase, "state": "running", "detail": detail}
        )

    def before_reveal(self, job_id: str) -> None:
        self.store.spend_budget(job_id)

    def completed(self, job_id: str, result: dict) -> None:
        # Long vectors go to .npy files; the stored JSON stays small.
        externalise_arrays(result, self.config.state_dir)
        result = dict(result, elapsed_seconds=round(self._elapsed(job_id), 3))
        self.store.complete_job(job_id, result)
        self._job_ended(job_id, "completed")
        log.info("job %s completed in %.2f s", job_id, self._elapsed(job_id))
        self._notify(
            job_id, {"phase": "done", "state": "completed", "result": result}
        )
        self._started.pop(job_id, None)

    def aborted(
        self,
        job_id: str,
        phase: str,
        reason: str,
        culprits: list[str],
        revealed: bool,
    ) -> None:
        self._inputs.pop(job_id, None)
        self.store.abort_job(job_id, reason, culprits, phase)
        if not revealed:
            self.store.release_budget(job_id)
        self._job_ended(job_id, "aborted")
        if self.metrics is not None and phase == "verify":
            for culprit in culprits:
                self.metrics.proof_failures.labels(peer=culprit).inc()
        self._notify(
            job_id,
            {
                "phase": phase,
                "state": "aborted",
                "reason": reason,
                "culprits": culprits,
            },
        )
        self._started.pop(job_id, None)


def _job_info(record: Any) -> control_pb2.JobInfo:
    return control_pb2.JobInfo(
        job_id=record.job_id,
        state=record.state,
        phase=record.phase or "",
        reason=record.reason or "",
        culprits=list(record.culprits or []),
        result_json=json.dumps(record.result) if record.result else "",
        spec_json=record.spec_json or "",
        initiator=record.initiator or "",
        history=[
            control_pb2.PhaseEvent(
                phase=h.phase, at=h.at, detail=h.detail or ""
            )
            for h in record.phases
        ],
    )


class ControlServicer(control_pb2_grpc.ControlServicer):
    """The control service: submit and watch jobs, read results and budget.

    Only the party's own certificate may call it.
    """

    def __init__(self, daemon: Daemon | None) -> None:
        self.daemon = daemon  # Set once the daemon is built.

    async def _authorise(self, context: grpc.aio.ServicerContext) -> None:
        caller = await authenticated_party(context, self.daemon.pinned)
        if caller != self.daemon.config.party_id:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"party {caller!r} may not control the daemon of party "
                f"{self.daemon.config.party_id!r}",
            )

    async def SubmitJob(self, request, context):
        await self._authorise(context)
        party = self.daemon.config.party_id
        if len(request.spec_json) > MAX_SPEC_BYTES:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"invalid job: more than {MAX_SPEC_BYTES} bytes")
        try:
            table = json.loads(request.spec_json)
            if isinstance(table, dict):
                table.setdefault(
                    "phase_timeout", self.daemon.config.phase_timeout
                )
            spec = parse_spec(table, initiator=party)
            run = self.daemon.party.start(spec)
        except (ValueError, RecursionError) as exc:
            # SpecError, JSONDecodeError, deep nesting, huge integers.
            message = str(exc) if isinstance(exc, SpecError) else (
                f"not valid JSON ({type(exc).__name__})")
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"invalid job: {message}"
            )
        except jobs.Rejected as exc:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION, f"job rejected: {exc}"
            )
        log.info(
            "job %s submitted with parties %s",
            run.job_hex,
            ", ".join(spec.parties),
        )
        return control_pb2.SubmitJobResponse(job_id=run.job_hex)

    async def WatchJob(self, request, context):
        await self._authorise(context)
        await _check_job_id(request.job_id, context)
        hooks = self.daemon.hooks
        queue: asyncio.Queue = asyncio.Queue()
        hooks.watchers.setdefault(request.job_id, []).append(queue)
        try:
            record = self.daemon.store.get_job(request.job_id)
            if record is None:
                await context.abort(
                    grpc.StatusCode.NOT_FOUND,
                    f"job {request.job_id} not found",
                )
            seen = {item.phase for item in record.phases}
            for item in record.phases:
                yield control_pb2.JobEvent(
                    job_id=record.job_id,
                    phase=item.phase,
                    state="running",
                    detail=item.detail or "",
                )
            if record.state != "running":
                yield _final_event(record)
                return
            while True:
                event = await queue.get()
                if event["state"] == "running" and event["phase"] in seen:
                    continue  # Already sent from the stored history.
                yield control_pb2.JobEvent(
                    job_id=request.job_id,
                    phase=event["phase"],
                    state=event["state"],
                    detail=event.get("detail", ""),
                    reason=event.get("reason", ""),
                    culprits=event.get("culprits", []),
                    result_json=json.dumps(event["result"])
                    if "result" in event
                    else "",
                )
                if event["state"] != "running":
                    return
        finally:
            queues = hooks.watchers.get(request.job_id, [])
            if queue in queues:
                queues.remove(queue)
            if not queues:
                hooks.watchers.pop(request.job_id, None)

    async def GetJob(self, request, context):
        await self._authorise(context)
        await _check_job_id(request.job_id, context)
        record = self.daemon.store.get_job(request.job_id)
        if record is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"job {request.job_id} not found"
            )
        return _job_info(record)

    async def ListJobs(self, request, context):
        await self._authorise(context)
        if request.limit < 0:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"limit must be >= 0 (0 for the default), got "
                f"{request.limit}")
        limit = request.limit or 50
        return control_pb2.ListJobsResponse(
            jobs=[_job_info(r) for r in self.daemon.store.list_jobs(limit)]
        )

    async def GetBudget(self, request, context):
        await self._authorise(context)
        budget = self.daemon.store.budget(self.daemon.config.policy)
        return control_pb2.GetBudgetResponse(budget_json=json.dumps(budget))


async def _check_job_id(job_id: str, context: Any) -> None:
    """Abort a control call whose job id is not 32 lower-case hex digits."""
    if not JOB_ID_PATTERN.fullmatch(job_id):
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"invalid job id {job_id[:40]!r}: expected 32 hex digits")


def _final_event(record: Any) -> control_pb2.JobEvent:
    return control_pb2.JobEvent(
        job_id=record.job_id,
        phase="done" if record.state == "completed" else record.phase or "",
        state=record.state,
        reason=record.reason or "",
        culprits=list(record.culprits or []),
        result_json=json.dumps(record.result) if record.result else "",
    )


SERVICE_NAMES = (
    peer_pb2.DESCRIPTOR.services_by_name["Peer"].full_name,
    control_pb2.DESCRIPTOR.services_by_name["Control"].full_name,
)


def _add_services(server: grpc.aio.Server, control: ControlServicer,
                  health: health_aio.HealthServicer) -> None:
    """Add the control, health and reflection services to a server."""
    control_pb2_grpc.add_ControlServicer_to_server(control, server)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"]
         .full_name, reflection.SERVICE_NAME),
        server,
    )


PR_SET_PDEATHSIG = 1  # From <linux/prctl.h>.


def _end_with_daemon(daemon_pid: int) -> None:
    """Make a proof worker end when its daemon ends, even by SIGKILL.

    Without this, a daemon killed with SIGKILL (or by the out-of-memory
    killer) leaves its workers running until someone kills them. Linux
    sends the signal when the thread that started the worker ends. A
    pool without max_tasks_per_child starts its workers in `submit`, so
    from the event loop's thread, which lives as long as the daemon.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            log.warning("cannot tie proof worker %d to its daemon",
                        os.getpid())
    if os.getppid() != daemon_pid:
        os._exit(1)  # The daemon ended before the line above ran.


def _warm_up() -> int:
    # Importing the proof modules and building the table of multiples of
    # H in each worker before the first job keeps the first commit phase
    # from paying for them.
    import mpc.validity  # noqa: F401
    from mpc.group import H_MULTIPLES

    H_MULTIPLES.prepare()

    return os.getpid()


@dataclass
class Daemon:
    """A running party daemon."""

    config: cfg.PartyConfig
    deployment: cfg.Deployment
    store: Store
    hooks: DaemonHooks
    party: jobs.Party
    transport: GrpcTransport
    server: grpc.aio.Server
    port: int
    pool: concurrent.futures.ProcessPoolExecutor
    pinned: PinnedCertificates
    lock: Any = None
    """The open lock file of the state directory."""

    async def stop(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Abort running jobs, stop serving and close the store."""
        log.info("party %s stopping", self.config.party_id)
        for run in self.party.jobs.values():
            if run.task is not None and not run.task.done():
                run.task.cancel()
        tasks = [
            r.task for r in self.party.jobs.values() if r.task is not None
        ]
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        await self.server.stop(grace)
        await self.transport.close()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.store.close()
        if self.lock is not None:
            self.lock.close()


LOCK_FILE = "daemon.lock"


def _lock_state_dir(state_dir: Path) -> Any:
    """Lock the state directory for this daemon, or raise RuntimeError.

    A second daemon on the same config must fail before it touches the
    store, because its recovery would mark the running daemon's jobs
    aborted and release their budget. The lock is released when the
    process exits, however it exits.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    handle = open(state_dir / LOCK_FILE, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        info = state_dir / DAEMON_INFO_FILE
        owner = info.read_text() if info.exists() else "unknown"
        raise RuntimeError(
            f"another daemon is already serving state directory "
            f"{state_dir} ({owner}); stop it first"
        ) from None
    return handle


async def start_daemon(config_path: str | Path) -> Daemon:
    """Load a party's config, recover its store and start serving."""
    config = cfg.load_party_config(config_path)
    deployment = cfg.load_deployment(config.deployment_path)
    deployment.peer(config.party_id)
    lock = _lock_state_dir(config.state_dir)
    store = Store(config.state_dir)
    for job_id in store.recover():
        log.warning(
            "job %s was running when the daemon stopped; marked aborted",
            job_id,
        )

    key_pem = config.key_path.read_bytes()
    cert_pem = config.certificate_path.read_bytes()
    peers = {
        p.party_id: (p.address, p.certificate_pem)
        for p in deployment.parties.values()
    }
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=config.proof_workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_end_with_daemon,
        initargs=(os.getpid(),),
    )
    loop = asyncio.get_running_loop()
    warm = [
        loop.run_in_executor(pool, _warm_up)
        for _ in range(config.proof_workers)
    ]

    async def run_cpu(fn: Callable[..., Any], *args: Any) -> Any:
        return await loop.run_in_executor(pool, fn, *args)

    hooks = DaemonHooks(config, deployment, store)
    party = jobs.Party(config.party_id, hooks, run_cpu)
    party.cpu_workers = config.proof_workers
    transport = GrpcTransport(config.party_id, key_pem, cert_pem, peers)
    party.transport = transport
    handler: Any = party
    bound = 0
    if config.metrics_listen:
        metrics = DaemonMetrics(config.party_id)
        hooks.metrics = metrics
        metrics.update_budget(store.budget(config.policy))
        party.transport = CountingTransport(transport, metrics)
        handler = CountingHandler(party, metrics)
        host, metrics_port = cfg.split_address(config.metrics_listen)
        bound = metrics.serve(host.strip("[]"), metrics_port)
        log.info("party %s serves Prometheus metrics on %s:%d",
                 config.party_id, host, bound)
    control = ControlServicer(None)
    health = health_aio.HealthServicer()
    server, port = build_server(
        config.party_id, key_pem, cert_pem, peers, config.listen, handler,
        extra_servicers=lambda srv: _add_services(srv, control, health),
    )
    daemon = Daemon(config, deployment, store, hooks, party, transport,
                    server, port, pool, PinnedCertificates(peers), lock)
    control.daemon = daemon
    await server.start()
    await asyncio.gather(*warm)
    for service in ("", *SERVICE_NAMES):
        await health.set(service, health_pb2.HealthCheckResponse.SERVING)
    info = {
        "party_id": config.party_id,
        "pid": os.getpid(),
        "port": port,
        "listen": config.listen,
        "metrics_port": bound,
    }
    (config.state_dir / DAEMON_INFO_FILE).write_text(json.dumps(info))
    log.info(
        "party %s listening on port %d with %d proof workers; peers: %s",
        config.party_id,
        port,
        config.proof_workers,
        ", ".join(p for p in deployment.parties if p != config.party_id),
    )
    return daemon


async def serve(config_path: str | Path) -> None:
    """Run a daemon until SIGINT or SIGTERM."""
    daemon = await start_daemon(config_path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await daemon.stop()
    log.info("party %s stopped", daemon.config.party_id)
