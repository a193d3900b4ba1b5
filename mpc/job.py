"""The job state machine: propose, commit, echo, share, verify, reveal,
check.

One `Party` object per party runs every job that party takes part in. It
is the transport's `Handler`: incoming proposals and messages reach it,
and it routes each message to its job. The same code runs over the
in-memory transport and over gRPC.

Each phase waits for one message from every peer until the job's phase
deadline, measured on the event loop's monotonic clock. A message for
the next phase is kept until this party reaches it; a repeated message
with the same body is ignored (replays after a restart are idempotent),
and a second, different message for the same phase aborts the job naming
its sender. So does a message that no honest peer could send yet: one
for a later phase, for an unknown phase, or a start from a party other
than the initiator. An abort is sent to the peers, names its phase and,
where known, the parties at fault.

With proofs off (semi-honest mode) only propose, share and reveal run,
on numpy arrays (`mpc.fastpath`): each share and reveal is folded into a
running sum as it arrives, so a party keeps one vector, not one per peer.
With proofs on and more than one CPU worker, bundles are made and
verified in chunks of elements on all workers (`mpc.parallel`).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mpc import dp, fastpath, parallel
from mpc import field as fp
from mpc import queries as qry
from mpc import sharing, wire
from mpc.group import H, Q, base_mul, random_scalar, sum_points
from mpc.proofs import ProofContext, ProofError
from mpc.spec import JobSpec, SpecError, spec_from_json
from mpc.transport import (
    JOB_ID_BYTES,
    Message,
    Proposal,
    ProposeReply,
    Transport,
    TransportError,
)
from mpc.validity import (
    CommitBundle,
    InputStatement,
    unmet_group,
)

log = logging.getLogger(__name__)

PHASES = ("propose", "commit", "echo", "share", "verify", "reveal", "check")
MESSAGE_PHASES = ("start", "commit", "echo", "share", "reveal", "abort")
ABORT_SEND_TIMEOUT = 2.0
MAX_REASON_CHARS = 1000
"""Longest rejection reason sent to a peer or logged."""
MAX_RECORDS_LIMIT = 1 << 40
FINISHED_JOBS_KEPT = 256

# The last message phase that a party has sent in each of its phases.
_MESSAGE_PHASE_OF = {
    "propose": "start", "commit": "commit", "echo": "echo",
    "share": "share", "verify": "share", "reveal": "reveal",
    "check": "reveal",
}

RunCpu = Callable[..., Awaitable[Any]]


class Rejected(Exception):
    """A proposal that this party's checks reject; the text is the reason."""


class JobAborted(Exception):
    """A job that stopped before its result was verified."""

    def __init__(self, phase: str, reason: str,
                 culprits: list[str] | tuple[str, ...] = ()) -> None:
        named = f" (parties at fault: {', '.join(culprits)})" if culprits \
            else ""
        super().__init__(f"job aborted in phase {phase}: {reason}{named}")
        self.phase = phase
        self.reason = reason
        self.culprits = list(culprits)


@dataclass
class JobOutcome:
    """How a job ended on one party."""

    job_id: str
    state: str
    result: dict | None = None
    phase: str = ""
    reason: str = ""
    culprits: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "job_id": self.job_id, "state": self.state,
            "result": self.result, "phase": self.phase,
            "reason": self.reason, "culprits": self.culprits,
        }


class Hooks:
    """What a party's runtime provides to the state machine.

    The daemon overrides these to check its policy, keep the budget
    ledger and store results; the defaults suit in-memory experiments.
    """

    def __init__(self, source: qry.DataSource | None = None,
                 vectors: dict[str, list[int]] | None = None) -> None:
        self.source = source
        self.vectors = vectors or {}

    def admit(self, job_id: str, spec: JobSpec) -> dict:
        """Check a job against policy and reserve its budget.

        Returns this party's declaration (its record bound per dataset)
        or raises Rejected with the reason.
        """
        return {"max_records": self.max_records(spec)}

    def max_records(self, spec: JobSpec) -> dict[str, int]:
        """Return the declared record bound of each dataset of a job."""
        bounds = {}
        for dataset in spec.datasets:
            if self.source is None:
                raise Rejected(f"dataset {dataset!r} not found")
            try:
                rows = self.source.row_count(dataset)
            except (KeyError, ValueError) as exc:
                raise Rejected(str(exc)) from None
            bounds[dataset] = qry.default_max_records(rows)
        return bounds

    def inputs(self, job_id: str, spec: JobSpec
               ) -> tuple[list[int], dict[str, int]]:
        """Return this party's input vector and the dropped-record counts.

        Raises ValueError (or QueryError) when the data cannot serve the
        job; the job then aborts naming this party.
        """
        values, dropped = self.input_array(job_id, spec)
        return values.tolist(), dropped

    def input_array(self, job_id: str, spec: JobSpec
                    ) -> tuple[np.ndarray, dict[str, int]]:
        """Return this party's input vector as an int64 array, and the
        dropped-record counts, with no Python loop over vector elements.

        A vector query reads its dataset column, one row per element, or
        takes `vectors[query.name]`. Raises as `inputs` does.
        """
        return fastpath.input_array(spec, self.source, self.vectors)

    def phase(self, job_id: str, phase: str, detail: str = "") -> None:
        """Record that a job entered a phase."""

    def before_reveal(self, job_id: str) -> None:
        """Make the job's budget spent, durably, before the reveal."""

    def completed(self, job_id: str, result: dict) -> None:
        """Store a verified (or, with proofs off, unverified) result."""

    def aborted(self, job_id: str, phase: str, reason: str,
                culprits: list[str], revealed: bool) -> None:
        """Record an abort; release the budget unless revealed."""


@dataclass(frozen=True)
class FinishedJob:
    """The record a party keeps of a job after it ends."""

    outcome: JobOutcome
    parties: frozenset[str]


async def run_in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run CPU work in the event loop's default thread pool."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def load_peer_json(body: bytes) -> Any:
    """Parse JSON from a peer, raising ValueError for anything invalid.

    Deep nesting raises RecursionError and an over-long integer a
    ValueError inside json; both must end as a clean rejection.
    """
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def sample_noise_vector(
        draws: list[tuple[dp.NoisePlan | None, int]]) -> list[int]:
    """Sample one party's noise for each (plan, element count) in order.

    A missing plan (a job without noise) gives zeros.
    """
    noise: list[int] = []
    for plan, size in draws:
        if plan is None:
            noise.extend([0] * size)
        else:
            noise.extend(int(e) for e in dp.sample_noise(plan, size))
    return noise


class Party:
    """One party's runtime: the Handler of its transport."""

    def __init__(self, party_id: str, hooks: Hooks,
                 run_cpu: RunCpu = run_in_thread) -> None:
        self.party_id = party_id
        self.hooks = hooks
        self.run_cpu = run_cpu
        self.transport: Transport | None = None
        self.cpu_workers = 1
        """Processes behind `run_cpu`; above 1, a bundle is proven and
        verified in that many chunks at once."""
        self.jobs: dict[bytes, JobRun] = {}
        """The jobs running now; a run leaves once its task is done."""
        self.finished: collections.OrderedDict[bytes, FinishedJob] = (
            collections.OrderedDict())
        """The most recent finished jobs, oldest first, at most
        `finished_limit`, so that a late or repeated message or proposal
        for one of them is recognised."""
        self.finished_limit = FINISHED_JOBS_KEPT

    def _launch(self, run: JobRun) -> None:
        """Run a job, and retire it from `jobs` when it ends."""
        self.jobs[run.job_id] = run
        run.task = asyncio.ensure_future(run.run())
        run.task.add_done_callback(lambda _task: self._retire(run))

    def _retire(self, run: JobRun) -> None:
        if self.jobs.get(run.job_id) is run:
            del self.jobs[run.job_id]
        outcome = run.outcome or JobOutcome(
            run.job_hex, "aborted", phase=run.phase,
            reason="job task ended without an outcome")
        self.finished[run.job_id] = FinishedJob(
            outcome, frozenset(run.spec.parties))
        self.finished.move_to_end(run.job_id)
        while len(self.finished) > self.finished_limit:
            self.finished.popitem(last=False)

    def outcome(self, job_id: bytes) -> JobOutcome | None:
        """Return a recently finished job's outcome, or None."""
        finished = self.finished.get(job_id)
        return finished.outcome if finished is not None else None

    # The initiator's side.

    async def submit(self, spec: JobSpec) -> JobOutcome:
        """Propose a job to every party, run it and return its outcome."""
        run = self.start(spec)
        return await run.task

    def start(self, spec: JobSpec) -> JobRun:
        """Start a job as its initiator and return its run.

        Raises Rejected when this party's own checks reject the job,
        before any traffic.
        """
        if self.party_id not in spec.parties:
            raise Rejected(
                f"party {self.party_id!r} is not among the job's parties "
                f"{list(spec.parties)}"
            )
        if spec.initiator != self.party_id:
            raise Rejected(
                f"job initiator is {spec.initiator!r}, not "
                f"{self.party_id!r}"
            )
        job_id = os.urandom(JOB_ID_BYTES)
        declaration = self.hooks.admit(job_id.hex(), spec)
        run = JobRun(self, job_id, spec, declaration)
        self._launch(run)
        return run

    # The Handler interface.

    async def on_propose(self, proposal: Proposal) -> ProposeReply:
        job_id = proposal.job_id
        if len(job_id) != JOB_ID_BYTES:
            raise ValueError(f"job id must be {JOB_ID_BYTES} bytes")
        existing = self.jobs.get(job_id)
        if existing is not None:
            # A repeated proposal gets the same reply and is not
            # admitted (nor its budget reserved) a second time.
            if (existing.spec_json != proposal.spec
                    or existing.spec.initiator != proposal.initiator):
                raise ValueError("job id already used by another job")
            return existing.reply
        finished = self.finished.get(job_id)
        if finished is not None:
            return ProposeReply(accepted=False, reason=(
                f"job {job_id.hex()} already {finished.outcome.state} on "
                f"party {self.party_id}; a job id is used once"))
        try:
            spec = spec_from_json(proposal.spec)
            if spec.initiator != proposal.initiator:
                raise Rejected(
                    f"spec names initiator {spec.initiator!r} but the "
                    f"proposal came from {proposal.initiator!r}"
                )
            if self.party_id not in spec.parties:
                raise Rejected(
                    f"party {self.party_id!r} is not among the job's "
                    "parties"
                )
            declaration = self.hooks.admit(job_id.hex(), spec)
        except (Rejected, SpecError) as exc:
            reason = str(exc)[:MAX_REASON_CHARS]
            log.info("job %s from %s rejected: %s", job_id.hex(),
                     proposal.initiator, reason)
            return ProposeReply(accepted=False, reason=reason)
        run = JobRun(self, job_id, spec, declaration)
        run.reply = ProposeReply(
            accepted=True, declaration=_canonical(declaration)
        )
        self._launch(run)
        return run.reply

    async def on_message(self, message: Message) -> None:
        run = self.jobs.get(message.job_id)
        finished = self.finished.get(message.job_id)
        if run is None and finished is not None:
            if (message.sender not in finished.parties
                    or message.sender == self.party_id):
                raise ValueError(
                    f"party {message.sender!r} is not a peer in job "
                    f"{message.job_id.hex()}")
            return  # The job is over; a late message changes nothing.
        if run is None:
            raise ValueError(
                f"unknown job {message.job_id.hex()}: this party did not "
                "accept it"
            )
        run.deliver(message)


def _canonical(data: dict) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


class JobRun:
    """The state of one job on one party."""

    def __init__(self, party: Party, job_id: bytes, spec: JobSpec,
                 declaration: dict) -> None:
        self.party = party
        self.job_id = job_id
        self.job_hex = job_id.hex()
        self.spec = spec
        self.spec_json = spec.to_json().encode()
        self.own_declaration = declaration
        self.peers = [p for p in spec.parties if p != party.party_id]
        self.is_initiator = spec.initiator == party.party_id
        self.reply = ProposeReply(accepted=True)
        self.task: asyncio.Future = None  # type: ignore[assignment]
        self.phase = "propose"
        self.revealed = False
        self.outcome: JobOutcome | None = None
        self.timings: dict[str, float] = {}
        self._slots: dict[tuple[str, str], asyncio.Future] = {}
        self._abort = asyncio.get_running_loop().create_future()
        self._bytes_in = 0
        self.traffic: dict[str, dict[str, int]] = {"sent": {},
                                                   "received": {}}
        """Message body bytes by direction and message phase."""
        # With proofs off, shares and reveals are folded into running
        # sums on arrival (`mpc.fastpath`); a fold returns what the slot
        # keeps in the body's place.
        self.array_round = fastpath.ArrayRound(
            party.party_id, spec.parties, spec.num_elements,
        ) if spec.proofs == "none" else None
        self.folds = self.array_round.folds if self.array_round else {}

    # Incoming messages.

    def _slot(self, phase: str, sender: str) -> asyncio.Future:
        key = (phase, sender)
        if key not in self._slots:
            self._slots[key] = asyncio.get_running_loop().create_future()
        return self._slots[key]

    def deliver(self, message: Message) -> None:
        """Keep a message for its phase, enforcing one message per phase."""
        sender, phase = message.sender, message.phase
        if sender not in self.spec.parties or sender == self.party.party_id:
            raise ValueError(
                f"party {sender!r} is not a peer in job {self.job_hex}"
            )
        if self.outcome is not None:
            return  # The job is over; a late message changes nothing.
        problem = self._misplaced(sender, phase)
        if problem:
            self._fail(JobAborted(self.phase, problem, [sender]))
            return
        if phase == "abort":
            if not self._abort.done():
                self._abort.set_result((sender, message.body))
            return
        slot = self._slot(phase, sender)
        if not slot.done():
            self._bytes_in += len(message.body)
            received = self.traffic["received"]
            received[phase] = received.get(phase, 0) + len(message.body)
            body = message.body
            fold = self.folds.get(phase)
            if fold is not None:
                try:
                    body = fold(sender, body, message.body_sha256)
                except ValueError as exc:
                    self._fail(JobAborted(
                        phase, f"party {sender} sent a malformed {phase}: "
                        f"{exc}", [sender]))
                    return
            slot.set_result(body)
            return
        if slot.result() != message.body:
            self._fail(JobAborted(
                phase, f"party {sender} sent two different {phase} "
                "messages", [sender],
            ))

    def _misplaced(self, sender: str, phase: str) -> str:
        """Return why a message of `phase` from a peer cannot come from
        an honest peer at this point of the job, or "" when it can.

        A peer sends its message of a phase only after it has received
        this party's message of the phase before, and this party sends
        that message when it enters its phase. So an honest peer's message
        is at most one message phase ahead of this party.
        """
        if phase == "abort":
            return ""
        if phase not in MESSAGE_PHASES:
            return (f"party {sender} sent a message for unknown phase "
                    f"{phase[:32]!r}")
        if phase == "start" and sender != self.spec.initiator:
            return (f"party {sender} sent a start message, but only the "
                    f"initiator {self.spec.initiator} starts the job")
        order = (["start", "commit", "echo", "share", "reveal"]
                 if self.spec.proofs != "none"
                 else ["start", "share", "reveal"])
        if phase not in order:
            return (f"party {sender} sent a {phase} message, which a job "
                    "with proofs off does not have")
        current = _MESSAGE_PHASE_OF.get(self.phase, order[-1])
        reached = order.index(current) if current in order else len(order)
        if order.index(phase) > reached + 1:
            return (f"party {sender} sent a {phase} message while this "
                    f"party is in phase {self.phase}; no honest party "
                    "can be that far ahead")
        return ""

    def _fail(self, error: JobAborted) -> None:
        if not self._abort.done():
            self._abort.set_result(error)

    async def _collect(self, phase: str, senders: list[str],
                       timeout: float | None = None) -> dict[str, bytes]:
        """Wait for one message of `phase` from each sender.

        Aborts at the deadline (the phase timeout unless `timeout` says
        otherwise) naming the parties that did not answer, or at once
        when a peer reports an abort.
        """
        slots = {s: self._slot(phase, s) for s in senders}
        pending = set(slots.values())
        loop = asyncio.get_running_loop()
        if timeout is None:
            timeout = self.spec.phase_timeout
        deadline = loop.time() + timeout
        while pending:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            done, pending = await asyncio.wait(
                pending | {self._abort}, timeout=remaining,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if self._abort in done:
                self._raise_abort()
            pending.discard(self._abort)
        missing = [s for s, f in slots.items() if not f.done()]
        if missing:
            raise JobAborted(
                "propose" if phase == "start" else phase,
                f"no {phase} message from {', '.join(missing)} within "
                f"{timeout:g} s",
                missing,
            )
        return {s: f.result() for s, f in slots.items()}

    def _raise_abort(self) -> None:
        value = self._abort.result()
        if isinstance(value, JobAborted):
            raise value
        sender, body = value
        try:
            info = load_peer_json(body)
            phase = str(info.get("phase", self.phase))[:32]
            reason = str(info.get("reason", ""))[:500]
            culprits = [c for c in info.get("culprits", [])
                        if c in self.spec.parties]
        except (ValueError, AttributeError, TypeError):
            phase, reason, culprits = self.phase, "no reason given", []
        raise JobAborted(
            phase, f"party {sender} aborted the job: {reason}",
            culprits, ) from None

    # Outgoing messages.

    async def _send(self, recipient: str, phase: str, body: bytes) -> None:
        transport = self.party.transport
        assert transport is not None
        message = Message(self.job_id, self.party.party_id, phase, body)
        sent = self.traffic["sent"]
        sent[phase] = sent.get(phase, 0) + len(body)
        try:
            await transport.send(recipient, message,
                                 self.spec.phase_timeout)
        except TransportError as exc:
            raise JobAborted(
                self.phase,
                f"party {recipient} did not accept the {phase} message: "
                f"{exc.reason}",
                [recipient],
            ) from None

    async def _broadcast(self, phase: str, body: bytes | dict[str, bytes]
                         ) -> None:
        """Send a body (or one body per peer) to every peer at once."""
        sends = [
            self._send(peer, phase,
                       body[peer] if isinstance(body, dict) else body)
            for peer in self.peers
        ]
        results = await asyncio.gather(*sends, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            if not isinstance(failure, JobAborted):
                raise failure
        if failures:
            culprits = sorted({c for f in failures for c in f.culprits})
            raise JobAborted(self.phase, failures[0].reason, culprits)

    # The phases.

    def _enter(self, phase: str, detail: str = "") -> None:
        self.phase = phase
        self._phase_started = time.monotonic()
        log.info("job %s phase %s with peers %s%s", self.job_hex, phase,
                 ", ".join(self.peers), f": {detail}" if detail else "")
        self.party.hooks.phase(self.job_hex, phase, detail)

    def _leave(self) -> None:
        self.timings[self.phase] = round(
            time.monotonic() - self._phase_started, 6
        )

    async def run(self) -> JobOutcome:
        """Run the job to its end and return its outcome; never raises."""
        try:
            await self._run_phases()
        except JobAborted as exc:
            await self._abort_job(exc)
        except asyncio.CancelledError:
            await self._abort_job(JobAborted(self.phase, "job cancelled"))
        except Exception as exc:  # A bug must not hang the peers.
            log.exception("job %s failed in phase %s", self.job_hex,
                          self.phase)
            await self._abort_job(JobAborted(
                self.phase,
                f"internal error on party {self.party.party_id}: "
                f"{type(exc).__name__}",
            ))
        assert self.outcome is not None
        return self.outcome

    async def _abort_job(self, exc: JobAborted) -> None:
        self.outcome = JobOutcome(
            self.job_hex, "aborted", phase=exc.phase, reason=exc.reason,
            culprits=exc.culprits,
        )
        log.warning("job %s aborted in phase %s: %s; culprits: %s",
                    self.job_hex, exc.phase, exc.reason,
                    ", ".join(exc.culprits) or "none named")
        self.party.hooks.aborted(self.job_hex, exc.phase, exc.reason,
                                 exc.culprits, self.revealed)
        body = _canonical({"phase": exc.phase, "reason": exc.reason,
                           "culprits": exc.culprits})
        transport = self.party.transport
        if transport is None:
            return
        notify = [p for p in self.peers if p not in exc.culprits]
        message = Message(self.job_id, self.party.party_id, "abort", body)
        await asyncio.gather(
            *(transport.send(p, message, ABORT_SEND_TIMEOUT)
              for p in notify),
            return_exceptions=True,
        )

    async def _run_phases(self) -> None:
        self._enter("propose", f"parties {', '.join(self.spec.parties)}")
        declarations = await self._propose()
        statements, plans = self._statements(declarations)
        self._leave()
        verified = self.spec.proofs != "none"
        if not verified:
            await fastpath.run_semi_honest(self, plans)
            return

        # The commit phase starts before the inputs are read and the
        # noise is sampled, so its time includes them: binomial noise
        # for a wide clip range takes seconds.
        self._enter("commit")
        values, dropped = self._inputs()
        noise, noise_blindings = await self._noise(plans)
        if verified:
            blindings = [random_scalar() for _ in values]
            bundles = await self._commit(statements, values, blindings,
                                         noise, noise_blindings)
            await self._echo(bundles)
            verification = asyncio.ensure_future(
                self._verify(statements, bundles)
            )
            # A failed proof aborts at once, not after the share phase.
            verification.add_done_callback(self._verified)
        else:
            blindings = None
        try:
            kept, received = await self._share(values, blindings)
            if verified:
                self._enter("verify")
                await verification
                self._leave()
        finally:
            if verified and not verification.done():
                verification.cancel()
        reveals = await self._reveal(kept, received, noise,
                                     noise_blindings if verified else None)
        totals = self._check(reveals, bundles if verified else None)
        self._complete(totals, plans, dropped, verified)

    def _verified(self, verification: asyncio.Future) -> None:
        if not verification.cancelled() and isinstance(
                verification.exception(), JobAborted):
            self._fail(verification.exception())

    async def _propose(self) -> dict[str, dict]:
        """Collect every party's declaration; the initiator then starts."""
        if not self.is_initiator:
            # The initiator waits up to a phase timeout for the other
            # parties' replies before it starts the job (or reports which
            # party did not answer), so this wait allows for that too.
            body = (await self._collect(
                "start", [self.spec.initiator],
                timeout=2 * self.spec.phase_timeout,
            ))[self.spec.initiator]
            return self._check_start(body)

        proposal = Proposal(self.job_id, self.party.party_id,
                            self.spec_json)
        transport = self.party.transport
        assert transport is not None

        async def ask(peer: str) -> tuple[str, ProposeReply | str]:
            try:
                return peer, await transport.propose(
                    peer, proposal, self.spec.phase_timeout)
            except TransportError as exc:
                return peer, exc.reason

        declarations = {self.party.party_id: self.own_declaration}
        problems, culprits = [], []
        for peer, reply in await asyncio.gather(*map(ask, self.peers)):
            if isinstance(reply, str):
                problems.append(f"party {peer} did not answer: {reply}")
            elif not reply.accepted:
                problems.append(f"party {peer} rejected the job: "
                                f"{reply.reason}")
            else:
                try:
                    declarations[peer] = self._parse_declaration(
                        reply.declaration)
                    continue
                except ValueError as exc:
                    problems.append(f"party {peer} sent an invalid "
                                    f"declaration: {exc}")
            culprits.append(peer)
        if problems:
            raise JobAborted("propose", "; ".join(problems), culprits)
        ordered = {p: declarations[p] for p in self.spec.parties}
        self._statements(ordered)  # Rejects a job that cannot fit.
        await self._broadcast("start", _canonical(
            {"declarations": ordered}))
        return ordered

    def _parse_declaration(self, data: bytes | dict) -> dict:
        info = load_peer_json(data) if isinstance(data, bytes) else data
        if not isinstance(info, dict):
            raise ValueError("declaration is not an object")
        bounds = info.get("max_records")
        if not isinstance(bounds, dict) or set(bounds) != set(
                self.spec.datasets):
            raise ValueError(
                f"declaration must bound exactly the datasets "
                f"{list(self.spec.datasets)}"
            )
        for name, n in bounds.items():
            if isinstance(n, bool) or not isinstance(n, int) or not (
                    1 <= n <= MAX_RECORDS_LIMIT):
                raise ValueError(
                    f"record bound of dataset {name!r} must be an integer "
                    f"in [1, {MAX_RECORDS_LIMIT}], got {n!r}"
                )
        return {"max_records": dict(bounds)}

    def _check_start(self, body: bytes) -> dict[str, dict]:
        initiator = self.spec.initiator
        try:
            info = load_peer_json(body)
            raw = info["declarations"]
            # The start message is canonical JSON, whose keys are sorted,
            # so the parties are compared as sets, not in job order.
            if not isinstance(raw, dict) or set(raw) != set(
                    self.spec.parties):
                raise ValueError("declarations do not cover exactly the "
                                 "job's parties")
            declarations = {p: self._parse_declaration(raw[p])
                            for p in self.spec.parties}
        except (ValueError, KeyError, TypeError) as exc:
            raise JobAborted("propose", f"invalid start message from "
                             f"initiator: {exc}", [initiator]) from None
        if declarations[self.party.party_id] != self.own_declaration:
            raise JobAborted(
                "propose",
                "the initiator altered this party's declaration",
                [initiator],
            )
        return declarations

    def _statements(self, declarations: dict[str, dict]
                    ) -> tuple[dict[str, InputStatement],
                               list[list[dp.NoisePlan | None]]]:
        plans = qry.noise_plans(self.spec)
        if self.spec.proofs == "none":
            # No statements to prove: check the field fit per query, so
            # a vector of 10^7 elements costs no loop over its elements.
            try:
                qry.check_field_fit_queries(
                    self.spec, {p: declarations[p]["max_records"]
                                for p in self.spec.parties}, plans)
            except qry.QueryError as exc:
                raise JobAborted("propose", str(exc)) from None
            self.plans = plans
            return {}, plans
        per_element = qry.element_noise_plans(self.spec, plans)
        try:
            statements = {
                p: qry.statement(self.spec,
                                 declarations[p]["max_records"],
                                 per_element)
                for p in self.spec.parties
            }
            qry.check_field_fit(list(statements.values()))
        except qry.QueryError as exc:
            raise JobAborted("propose", str(exc)) from None
        self.plans = plans
        return statements, plans

    def _inputs(self) -> tuple[list[int], dict[str, int]]:
        try:
            return self.party.hooks.inputs(self.job_hex, self.spec)
        except ValueError as exc:
            raise JobAborted(
                "commit", f"party {self.party.party_id} cannot compute its "
                f"input: {exc}", [self.party.party_id],
            ) from None

    async def _noise(self, plans: list[list[dp.NoisePlan | None]]
                     ) -> tuple[list[int], list[int]]:
        # Sampling up to 2^30 coins per element takes most of a second,
        # so it runs with the proofs, off the event loop.
        draws = []
        for query, groups in zip(self.spec.queries, plans):
            sizes = [1, 1] if query.kind == "mean" else [query.num_elements]
            draws.extend(zip(groups, sizes))
        noise = await self.party.run_cpu(sample_noise_vector, draws)
        return noise, [random_scalar() for _ in noise]

    def _context(self, party_id: str) -> ProofContext:
        return ProofContext(job_id=self.job_id,
                            spec_digest=self.spec.digest(),
                            party_id=party_id, round="commit")

    async def _commit(self, statements: dict[str, InputStatement],
                      values: list[int], blindings: list[int],
                      noise: list[int], noise_blindings: list[int]
                      ) -> dict[str, bytes]:
        own = self.party.party_id
        statement = statements[own]
        self._check_own_input(statement, values)
        # In chunks of elements on every worker. With one worker, this is
        # still the faster path: the proofs go straight to bytes.
        bundle = await parallel.make_bundle(
            self.party.run_cpu, self.party.cpu_workers, self._context(own),
            statement, values, blindings, noise, noise_blindings,
        )
        await self._broadcast("commit", bundle)
        bundles = await self._collect("commit", self.peers)
        bundles[own] = bundle
        self._leave()
        return {p: bundles[p] for p in self.spec.parties}

    def _check_own_input(self, statement: InputStatement,
                         values: list[int]) -> None:
        """Abort, naming this party, when its input breaks its bounds or
        a group constraint of its statement."""
        own = self.party.party_id
        for k, (value, bound) in enumerate(zip(values, statement.bounds)):
            if not bound.lo <= value <= bound.hi:
                raise JobAborted(
                    "commit",
                    f"party {own}'s input element {k} is outside its "
                    f"declared range [{bound.lo}, {bound.hi}]",
                    [own],
                )
        problem = unmet_group(statement, values)
        if problem:
            raise JobAborted("commit", f"party {own}'s input breaks its "
                             f"statement: {problem}", [own])

    async def _echo(self, bundles: dict[str, bytes]) -> None:
        """Check that every party received the same commit messages."""
        self._enter("echo")
        digests = [hashlib.sha256(bundles[p]).digest()
                   for p in self.spec.parties]
        await self._broadcast("echo", wire.encode_digests(digests))
        echoes = await self._collect("echo", self.peers)
        own = self.party.party_id
        proven: set[str] = set()
        unclear: list[tuple[str, str]] = []
        for sender, body in echoes.items():
            try:
                theirs = wire.decode_digests(body, len(digests))
            except wire.WireError as exc:
                raise JobAborted("echo", f"party {sender} sent a malformed "
                                 f"echo: {exc}", [sender]) from None
            for party, mine, seen in zip(self.spec.parties, digests,
                                         theirs):
                if mine == seen:
                    continue
                if party in (own, sender):
                    # This party sent one commit message to everyone, and
                    # the sender reports the digest of its own message. So
                    # the sender's echo is false, or it equivocated.
                    proven.add(sender)
                else:
                    unclear.append((sender, party))
        # A mismatch on a third party's commit message means that party
        # equivocated or the sender's echo is false. Blame the third party
        # unless the sender is already proven at fault.
        # NOTE: a sender that lies about one third party only gets that
        # party named here, since the commit messages carry no signature
        # this party could show to the others.
        culprits = proven | {party for sender, party in unclear
                             if sender not in proven}
        if culprits:
            raise JobAborted(
                "echo", "parties received different commit messages "
                "(equivocation, or a false echo)", sorted(culprits),
            )
        self._leave()

    async def _verify(self, statements: dict[str, InputStatement],
                      bundles: dict[str, bytes]) -> None:
        # The peers' bundles share the workers: each bundle gets just
        # enough chunks of elements to keep them all busy. Bigger chunks
        # are cheaper per bit, since a multi-scalar multiplication over
        # twice the points costs about 10% fewer instructions per point.
        chunks = -(-self.party.cpu_workers // max(1, len(self.peers)))

        async def check(peer: str) -> tuple[str, str]:
            try:
                self.decoded[peer] = await parallel.verify_bundle(
                    self.party.run_cpu, chunks, self._context(peer),
                    statements[peer], bundles[peer],
                )
                return peer, ""
            except ProofError as exc:
                return peer, str(exc)

        self.decoded: dict[str, CommitBundle] = {}
        own = self.party.party_id
        # Only the commitments of this party's own bundle are needed.
        self.decoded[own] = parallel.commitments_of(bundles[own],
                                                    statements[own])
        results = await asyncio.gather(*map(check, self.peers))
        failed = {peer: reason for peer, reason in results if reason}
        if failed:
            detail = "; ".join(f"party {p}: {r}" for p, r in failed.items())
            raise JobAborted("verify", f"proof verification failed: "
                             f"{detail}", sorted(failed))

    async def _share(self, values: list[int], blindings: list[int] | None
                     ) -> tuple[sharing.Share, dict[str, sharing.Share]]:
        self._enter("share")
        length = len(values)
        kept, sent = sharing.split(
            self.party.party_id, list(self.spec.parties),
            fp.encode_signed(values), blindings,
        )
        await self._broadcast(
            "share", {p: wire.encode_share(s) for p, s in sent.items()})
        bodies = await self._collect("share", self.peers)
        received = {}
        for sender, body in bodies.items():
            try:
                received[sender] = wire.decode_share(
                    body, length, blindings is not None)
                expects_vector = sharing.correction_recipient(
                    sender, list(self.spec.parties)) == self.party.party_id
                if received[sender].is_seed == expects_vector:
                    raise wire.WireError(
                        "sent a seed where a vector was due, or the reverse")
            except wire.WireError as exc:
                raise JobAborted("share", f"party {sender} sent a malformed "
                                 f"share: {exc}", [sender]) from None
        self._leave()
        return kept, received

    async def _reveal(self, kept: sharing.Share,
                      received: dict[str, sharing.Share], noise: list[int],
                      noise_blindings: list[int] | None
                      ) -> dict[str, tuple[np.ndarray, list[int]]]:
        self._enter("reveal")
        length = len(noise)
        with_blindings = noise_blindings is not None
        total = fp.encode_signed(noise)
        blinding_total = list(noise_blindings or [])
        for share in [kept, *received.values()]:
            vector, blindings = sharing.open_share(share, length,
                                                   with_blindings)
            total = fp.add(total, vector)
            if with_blindings:
                blinding_total = [(a + b) % Q for a, b in
                                  zip(blinding_total, blindings)]

        # Nothing is revealed in a job that a peer or a check aborted.
        if self._abort.done():
            self._raise_abort()
        # The budget is spent once this party's noisy share leaves it.
        self.party.hooks.before_reveal(self.job_hex)
        self.revealed = True
        body = wire.encode_reveal(total, blinding_total)
        await self._broadcast("reveal", body)
        bodies = await self._collect("reveal", self.peers)
        reveals = {self.party.party_id: (total, blinding_total)}
        for sender, data in bodies.items():
            try:
                reveals[sender] = wire.decode_reveal(data, length,
                                                     with_blindings)
            except wire.WireError as exc:
                raise JobAborted("reveal", f"party {sender} sent a "
                                 f"malformed reveal: {exc}",
                                 [sender]) from None
        self._leave()
        return reveals

    def _check(self, reveals: dict[str, tuple[np.ndarray, list[int]]],
               bundles: dict[str, bytes] | None) -> list[int]:
        """Sum the reveals and check them against the commitments.

        For every element k: Y_k*H + T_k*G must equal the sum of all
        parties' input and noise commitments, where Y_k is the revealed
        total and T_k the revealed blinding total.
        """
        length = self.spec.num_elements
        totals_field = fp.sum_vectors([v for v, _ in reveals.values()],
                                      length)
        totals = [int(t) for t in fp.decode_signed(totals_field)]
        if bundles is None:
            return totals
        self._enter("check")
        blinding_totals = [0] * length
        for _, blindings in reveals.values():
            blinding_totals = [(a + b) % Q for a, b in
                               zip(blinding_totals, blindings)]
        for k in range(length):
            expected = sum_points(
                [b.commitments[k] for b in self.decoded.values()]
                + [b.noise_commitments[k] for b in self.decoded.values()]
            )
            revealed = base_mul(blinding_totals[k]) + H * (totals[k] % Q)
            if revealed != expected:
                raise JobAborted(
                    "check",
                    f"the revealed sums do not open the commitments of "
                    f"element {k}; a wrong share or reveal cannot be "
                    "traced to one party",
                )
        self._leave()
        return totals

    def _complete(self, totals: list[int],
                  plans: list[list[dp.NoisePlan | None]],
                  dropped: dict[str, int], verified: bool) -> None:
        result = {
            "job_id": self.job_hex,
            "name": self.spec.name,
            "parties": list(self.spec.parties),
            "initiator": self.spec.initiator,
            "epsilon": self.spec.epsilon,
            "delta": self.spec.delta,
            "mechanism": self.spec.mechanism,
            "proofs": self.spec.proofs,
            "verified": verified,
            "queries": qry.decode_results(self.spec, totals, plans),
            "timings": self.timings,
            "traffic": self.traffic,
            "local": {"party": self.party.party_id, "dropped": dropped},
        }
        self.outcome = JobOutcome(self.job_hex, "completed", result=result,
                                  phase="check" if verified else "reveal")
        log.info("job %s completed (%s)", self.job_hex,
                 "verified" if verified else "unverified, proofs off")
        self.party.hooks.completed(self.job_hex, result)


async def run_in_memory(spec: JobSpec, hooks: dict[str, Hooks],
                        latency: float = 0.0, bandwidth: float = 0.0,
                        run_cpu: RunCpu = run_in_thread
                        ) -> dict[str, JobOutcome]:
    """Run one job with every party in this process.

    `spec.initiator` starts the job. Returns each party's outcome.
    """
    from mpc.transport import MemoryNetwork

    network = MemoryNetwork(latency=latency, bandwidth=bandwidth)
    parties = {}
    for party_id in spec.parties:
        party = Party(party_id, hooks[party_id], run_cpu)
        party.transport = network.attach(party_id, party)
        parties[party_id] = party
    started = parties[spec.initiator].start(spec)
    outcomes = {spec.initiator: await started.task}
    for party_id, party in parties.items():
        if party_id == spec.initiator:
            continue
        run = party.jobs.get(started.job_id)
        outcome = await run.task if run else party.outcome(started.job_id)
        outcomes[party_id] = outcome or JobOutcome(
            started.job_hex, "aborted", phase="propose",
            reason="this party never received the job")
    return outcomes
