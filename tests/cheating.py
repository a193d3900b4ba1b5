"""Cheating parties, as a test fixture.

`CheatingTransport` wraps one party's honest transport (a
`mpc.transport.MemoryTransport` or a `parties.transport.GrpcTransport`)
and changes what that party sends, following one cheating case from
`CASES`. The party's own state machine runs unchanged, so only the bytes
on the wire lie. `install` also taps the party twice. One tap records the
witness given to its prover, so a case can build a forged but well-made
proof. The other records the messages it receives, so a case can copy a
peer's bundle or wait for a peer's message.

This module is for tests only. The shipped daemon has no switch to
cheat: `tests/cheating_daemon.py` starts a normal daemon and swaps this
wrapper in for its transport.

Every tampered commit is also echoed consistently, so that the echo round
passes and the tampering is caught where the case means it to be (the
proofs), unless the case is equivocation itself. Cases that send a
message of the wrong kind wait until the recipient's own echo has arrived,
so the recipient is known to be in its echo phase when the bad message
lands.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from mpc import field as fp
from mpc.group import POINT_BYTES, Q, SCALAR_BYTES, random_scalar
from mpc.job import JobOutcome, Party
from mpc.parallel import prove_chunk
from mpc.proofs import COUNT_BYTES
from mpc.transport import (
    Message,
    Proposal,
    ProposeReply,
    Transport,
    TransportError,
)
from mpc.validity import ElementBound, InputStatement, make_commit_bundle
from mpc.wire import VECTOR_TAG
from parties import certs
from parties.proto_gen import peer_pb2, peer_pb2_grpc
from parties.transport import envelope_signing_bytes, make_channel

CASES = {
    "honest": "send every message unchanged",
    "wider-range": "commit to a value above the agreed range, with an "
    "honestly made proof for a wider range",
    "bad-challenge": "add 1 to the challenge share c0 of bit 0 of the "
                     "first range proof",
    "bad-response": "add 1 to the response z0 of bit 0 of the first range "
                    "proof",
    "copy-bundle": "send the victim's commit bundle as this party's own",
    "replay-bundle": "send this party's commit bundle of an earlier job",
    "equivocate": "send the victim a different, valid commit bundle",
    "short-share": "send the correction vector one element short",
    "skew-share": "add 1 to element 0 of the correction vector",
    "skew-reveal": "add 1 to element 0 of the revealed sum",
    "skew-reveal-blinding": "add 1 to blinding 0 of the revealed sum",
    "replay-echo": "send this party's echo of an earlier job",
    "unknown-phase": "send the echo under the phase name 'bogus'",
    "early-reveal": "send the echo under the phase name 'reveal'",
    "fake-start": "send a 'start' message though not the initiator",
    "twice-different": "send the echo, then a different echo",
    "duplicate": "send every message twice, byte for byte",
    "frame": "send the other peers an abort that names the victim",
    "impersonate": "send every message with the victim as sender "
    "(needs a forging sender, gRPC only)",
    "unpinned-client": "send every message with a certificate that the "
    "deployment does not pin (needs a stranger transport, gRPC only)",
}

BY_JOB_NAME = "by-job-name"
"""A case selector: a job named "cheat-CASE" or "cheat-CASE.VICTIM" runs
CASE (against VICTIM), every other job is honest."""

JOB_NAME_PREFIX = "cheat-"


class CheatSetupError(RuntimeError):
    """A cheating case that cannot run in this setting."""


@dataclasses.dataclass(frozen=True)
class Witness:
    """The arguments that the party's own prover received for one job."""

    ctx: Any
    statement: InputStatement
    values: list[int]
    blindings: list[int]
    noise: list[int]
    noise_blindings: list[int]


def case_of_job_name(name: str) -> tuple[str, str | None]:
    """Return the case and victim that a job name selects.

    "cheat-CASE.VICTIM" gives (CASE, VICTIM), "cheat-CASE" (CASE, None),
    and any other name ("honest", None).
    """
    if name.startswith(JOB_NAME_PREFIX):
        case, _, victim = name[len(JOB_NAME_PREFIX):].partition(".")
        if case in CASES:
            return case, victim or None
    return "honest", None


def _add_to_scalar(data: bytes, offset: int, amount: int = 1) -> bytes:
    """Add `amount` mod q to the 32-byte scalar at `offset`."""
    end = offset + SCALAR_BYTES
    value = (int.from_bytes(data[offset:end], "big") + amount) % Q
    return data[:offset] + value.to_bytes(SCALAR_BYTES, "big") + data[end:]


def _add_to_element(data: bytes, offset: int, amount: int = 1) -> bytes:
    """Add `amount` mod p to the little-endian u64 element at `offset`."""
    end = offset + 8
    value = (int.from_bytes(data[offset:end], "little") + amount) % fp.P
    return data[:offset] + value.to_bytes(8, "little") + data[end:]


def first_range_proof_offsets(bundle: bytes) -> tuple[int, int]:
    """Return the offsets of the challenge share c0 and of the response
    z0 of bit 0 in the first range proof of an encoded commit bundle."""
    size = int.from_bytes(bundle[:COUNT_BYTES], "big")
    proof = COUNT_BYTES + 2 * POINT_BYTES * size
    bits = int.from_bytes(bundle[proof:proof + COUNT_BYTES], "big")
    # Bit commitments, then per bit A0 || A1 || c0 || z0 || z1.
    c0 = proof + COUNT_BYTES + POINT_BYTES * bits + 2 * POINT_BYTES
    return c0, c0 + SCALAR_BYTES


def widened_statement(statement: InputStatement
                      ) -> tuple[int, InputStatement, int]:
    """Widen the bound of one element that no group constrains.

    Returns the element's index, the forged statement and a value inside
    the forged bound but above the agreed one. The forged bound keeps the
    agreed bit count when it can, so the forged proof decodes and fails
    only on verification.
    """
    grouped = {k for group in statement.groups for k in group.indices}
    free = [k for k in range(statement.size) if k not in grouped]
    if not free:
        raise CheatSetupError("every element is in a group constraint")
    index = free[0]
    bound = statement.bounds[index]
    bits = (bound.hi - bound.lo).bit_length()
    high = bound.lo + (1 << bits) - 1
    if high == bound.hi:
        high = bound.lo + (1 << (bits + 1)) - 1
    bounds = list(statement.bounds)
    bounds[index] = ElementBound(bound.lo, high)
    forged = InputStatement(tuple(bounds), statement.groups,
                            statement.noise_bounds)
    return index, forged, high


class CheatingTransport(Transport):
    """One party's transport that lies for one cheating case.

    `case` is a key of CASES or BY_JOB_NAME. `victim` is the peer a case
    copies from, impersonates or equivocates to. `forger` (for
    impersonate) sends a message under whatever sender it names;
    `stranger` (for unpinned-client) is a transport holding an identity
    the deployment does not pin.
    """

    def __init__(self, inner: Transport, party: Party, case: str,
                 victim: str | None = None,
                 forger: Transport | None = None,
                 stranger: Transport | None = None) -> None:
        if case != BY_JOB_NAME and case not in CASES:
            raise ValueError(f"unknown cheating case {case!r}")
        self.inner = inner
        self.party = party
        self.party_id = inner.party_id
        self.case = case
        self.victim = victim
        self.forger = forger
        self.stranger = stranger
        self.witnesses: dict[bytes, Witness] = {}
        self.received: dict[tuple[bytes, str, str], bytes] = {}
        self._arrived = asyncio.Event()
        self._run_cpu = party.run_cpu
        self.sent: dict[tuple[bytes, str], bytes] = {}
        """The honest body of each (job id, phase) this party sent."""
        self._order: list[bytes] = []
        self._forged: dict[bytes, asyncio.Future] = {}

    # Taps on the party.

    def install(self) -> CheatingTransport:
        """Make this the party's transport and tap its prover and inbox."""
        self.party.transport = self
        run_cpu = self.party.run_cpu
        on_message = self.party.on_message

        async def tapped_run_cpu(fn: Callable[..., Any], *args: Any) -> Any:
            if fn is prove_chunk:
                ctx, statement, start, *witness = args
                if start != 0 or len(witness[0]) != statement.size:
                    raise RuntimeError("the cheating harness needs the "
                                       "whole input in one chunk: run the "
                                       "party with one proof worker")
                self.witnesses[ctx.job_id] = Witness(ctx, statement,
                                                     *witness)
            return await run_cpu(fn, *args)

        async def tapped_on_message(message: Message) -> None:
            self.received[(message.job_id, message.sender,
                           message.phase)] = message.body
            self._arrived.set()
            self._arrived = asyncio.Event()
            await on_message(message)

        self._run_cpu = run_cpu
        self.party.run_cpu = tapped_run_cpu
        self.party.on_message = tapped_on_message
        return self

    async def _wait_for(self, job_id: bytes, sender: str, phase: str
                        ) -> bytes:
        """Wait until `sender`'s `phase` message of a job has arrived."""
        key = (job_id, sender, phase)
        while key not in self.received:
            await self._arrived.wait()
        return self.received[key]

    # The Transport interface.

    def case_for(self, job_id: bytes) -> tuple[str, str | None]:
        """Return the case and victim of a job."""
        if self.case != BY_JOB_NAME:
            return self.case, self.victim
        run = self.party.jobs.get(job_id)
        if run is None:
            return "honest", None
        case, victim = case_of_job_name(run.spec.name)
        return case, victim or self.victim

    async def propose(self, recipient: str, proposal: Proposal,
                      timeout: float) -> ProposeReply:
        return await self.inner.propose(recipient, proposal, timeout)

    async def send(self, recipient: str, message: Message,
                   timeout: float) -> None:
        if message.job_id not in self._order:
            self._order.append(message.job_id)
        case, _ = self.case_for(message.job_id)
        tamper = getattr(self, "_" + case.replace("-", "_"))
        await tamper(recipient, message, timeout)
        self.sent[(message.job_id, message.phase)] = message.body

    async def close(self, *args: Any, **kwargs: Any) -> None:
        for transport in (self.inner, self.forger, self.stranger):
            close = getattr(transport, "close", None)
            if close is not None:
                await close(*args, **kwargs)

    # Helpers.

    async def _forward(self, recipient: str, message: Message,
                       timeout: float, **changes: Any) -> None:
        await self.inner.send(recipient,
                              dataclasses.replace(message, **changes),
                              timeout)

    def _spec(self, job_id: bytes) -> Any:
        return self.party.jobs[job_id].spec

    def _earlier(self, job_id: bytes, phase: str) -> bytes | None:
        """Return what this party sent for `phase` in an earlier job."""
        for earlier in reversed(self._order[:self._order.index(job_id)]):
            body = self.sent.get((earlier, phase))
            if body is not None:
                return body
        return None

    async def _once(self, job_id: bytes,
                    make: Callable[[], Awaitable[bytes]]) -> bytes:
        """Make the forged bundle of a job once, for every recipient."""
        future = self._forged.get(job_id)
        if future is None:
            future = asyncio.ensure_future(make())
            self._forged[job_id] = future
        return await asyncio.shield(future)

    def _echo_for(self, message: Message, bundle: bytes) -> bytes:
        """Rewrite an echo so it reports `bundle` as this party's own."""
        spec = self._spec(message.job_id)
        index = spec.parties.index(self.party_id)
        start = index * hashlib.sha256().digest_size
        digest = hashlib.sha256(bundle).digest()
        body = message.body
        return body[:start] + digest + body[start + len(digest):]

    async def _consistent(self, recipient: str, message: Message,
                          timeout: float,
                          make: Callable[[], Awaitable[bytes]]) -> None:
        """Send a forged commit bundle and echo it consistently."""
        if message.phase == "commit":
            bundle = await self._once(message.job_id, make)
            await self._forward(recipient, message, timeout, body=bundle)
        elif message.phase == "echo" and message.job_id in self._forged:
            bundle = await self._once(message.job_id, make)
            await self._forward(recipient, message, timeout,
                                body=self._echo_for(message, bundle))
        else:
            await self._forward(recipient, message, timeout)

    def _witness(self, job_id: bytes) -> Witness:
        try:
            return self.witnesses[job_id]
        except KeyError:
            raise CheatSetupError("the party's prover never ran") from None

    # The cases: one method each, named after the case.

    async def _honest(self, recipient: str, message: Message,
                      timeout: float) -> None:
        await self._forward(recipient, message, timeout)

    async def _wider_range(self, recipient: str, message: Message,
                           timeout: float) -> None:
        async def make() -> bytes:
            witness = self._witness(message.job_id)
            index, forged, value = widened_statement(witness.statement)
            values = list(witness.values)
            values[index] = value
            return await self._run_cpu(
                make_commit_bundle, witness.ctx, forged, values,
                witness.blindings, witness.noise, witness.noise_blindings)

        await self._consistent(recipient, message, timeout, make)

    async def _tampered_scalar(self, recipient: str, message: Message,
                               timeout: float, which: int) -> None:
        async def make() -> bytes:
            offset = first_range_proof_offsets(message.body)[which]
            return _add_to_scalar(message.body, offset)

        await self._consistent(recipient, message, timeout, make)

    async def _bad_challenge(self, recipient: str, message: Message,
                             timeout: float) -> None:
        await self._tampered_scalar(recipient, message, timeout, 0)

    async def _bad_response(self, recipient: str, message: Message,
                            timeout: float) -> None:
        await self._tampered_scalar(recipient, message, timeout, 1)

    async def _copy_bundle(self, recipient: str, message: Message,
                           timeout: float) -> None:
        victim = self._need_victim(message.job_id)

        async def make() -> bytes:
            return await asyncio.wait_for(
                self._wait_for(message.job_id, victim, "commit"), timeout)

        await self._consistent(recipient, message, timeout, make)

    async def _replay_bundle(self, recipient: str, message: Message,
                             timeout: float) -> None:
        earlier = self._earlier(message.job_id, "commit")
        if earlier is None:  # The first job: record an honest bundle.
            await self._forward(recipient, message, timeout)
            return

        async def make() -> bytes:
            return earlier

        await self._consistent(recipient, message, timeout, make)

    async def _equivocate(self, recipient: str, message: Message,
                          timeout: float) -> None:
        victim = self._need_victim(message.job_id)
        if message.phase == "abort":
            # The cheater's own echo check blames the victim, and an abort
            # that arrived before an honest party's own check would be
            # trusted for its culprits (a known gap, checked by
            # test_memory_abort_cannot_frame_honest_party). Staying silent
            # keeps this case about the honest parties' own checks.
            return
        if message.phase != "commit" or recipient != victim:
            await self._forward(recipient, message, timeout)
            return
        witness = self._witness(message.job_id)
        other = await self._run_cpu(
            make_commit_bundle, witness.ctx, witness.statement,
            witness.values, [random_scalar() for _ in witness.values],
            witness.noise, [random_scalar() for _ in witness.noise])
        await self._forward(recipient, message, timeout, body=other)

    async def _short_share(self, recipient: str, message: Message,
                           timeout: float) -> None:
        body = message.body
        if message.phase == "share" and body[:1] == VECTOR_TAG:
            spec = self._spec(message.job_id)
            split = 1 + 8 * spec.num_elements
            values, blindings = body[1:split], body[split:]
            body = (VECTOR_TAG + values[:-8]
                    + blindings[:len(blindings) - SCALAR_BYTES])
        await self._forward(recipient, message, timeout, body=body)

    async def _skew_share(self, recipient: str, message: Message,
                          timeout: float) -> None:
        body = message.body
        if message.phase == "share" and body[:1] == VECTOR_TAG:
            body = _add_to_element(body, 1)
        await self._forward(recipient, message, timeout, body=body)

    async def _skew_reveal(self, recipient: str, message: Message,
                           timeout: float) -> None:
        body = message.body
        if message.phase == "reveal":
            body = _add_to_element(body, 0)
        await self._forward(recipient, message, timeout, body=body)

    async def _skew_reveal_blinding(self, recipient: str, message: Message,
                                    timeout: float) -> None:
        body = message.body
        if message.phase == "reveal":
            spec = self._spec(message.job_id)
            body = _add_to_scalar(body, 8 * spec.num_elements)
        await self._forward(recipient, message, timeout, body=body)

    async def _replay_echo(self, recipient: str, message: Message,
                           timeout: float) -> None:
        earlier = self._earlier(message.job_id, "echo")
        if message.phase == "echo" and earlier is not None:
            await self._forward(recipient, message, timeout, body=earlier)
            return
        await self._forward(recipient, message, timeout)

    async def _at_echo(self, recipient: str, message: Message,
                       timeout: float) -> None:
        """Wait until the recipient is known to be in its echo phase."""
        await asyncio.wait_for(
            self._wait_for(message.job_id, recipient, "echo"), timeout)

    async def _unknown_phase(self, recipient: str, message: Message,
                             timeout: float) -> None:
        if message.phase == "echo":
            await self._at_echo(recipient, message, timeout)
            await self._forward(recipient, message, timeout, phase="bogus")
            return
        await self._forward(recipient, message, timeout)

    async def _early_reveal(self, recipient: str, message: Message,
                            timeout: float) -> None:
        if message.phase == "echo":
            await self._at_echo(recipient, message, timeout)
            await self._forward(recipient, message, timeout, phase="reveal")
            return
        await self._forward(recipient, message, timeout)

    async def _fake_start(self, recipient: str, message: Message,
                          timeout: float) -> None:
        if message.phase == "echo":
            spec = self._spec(message.job_id)
            if spec.initiator == self.party_id:
                raise CheatSetupError(
                    "fake-start needs a cheater other than the initiator")
            await self._at_echo(recipient, message, timeout)
            await self._forward(recipient, message, timeout, phase="start",
                                body=b'{"declarations": {}}')
        await self._forward(recipient, message, timeout)

    async def _twice_different(self, recipient: str, message: Message,
                               timeout: float) -> None:
        await self._forward(recipient, message, timeout)
        if message.phase == "echo":
            changed = bytes([message.body[0] ^ 1]) + message.body[1:]
            await self._forward(recipient, message, timeout, body=changed)

    async def _duplicate(self, recipient: str, message: Message,
                         timeout: float) -> None:
        await self._forward(recipient, message, timeout)
        await self._forward(recipient, message, timeout)

    async def _frame(self, recipient: str, message: Message,
                     timeout: float) -> None:
        victim = self._need_victim(message.job_id)
        if message.phase == "commit" and recipient != victim:
            body = json.dumps({"phase": "commit", "reason": "framed",
                               "culprits": [victim]}).encode()
            await self._forward(recipient, message, timeout, phase="abort",
                                body=body)
        await self._forward(recipient, message, timeout)

    async def _impersonate(self, recipient: str, message: Message,
                           timeout: float) -> None:
        if self.forger is None:
            raise CheatSetupError("impersonate needs a forging sender")
        victim = self._need_victim(message.job_id)
        await self.forger.send(
            recipient, dataclasses.replace(message, sender=victim), timeout)

    async def _unpinned_client(self, recipient: str, message: Message,
                               timeout: float) -> None:
        if self.stranger is None:
            raise CheatSetupError("unpinned-client needs a stranger "
                                  "transport")
        await self.stranger.send(recipient, message, timeout)

    def _need_victim(self, job_id: bytes) -> str:
        case, victim = self.case_for(job_id)
        if victim is None:
            raise CheatSetupError(f"case {case!r} needs a victim")
        return victim


class ForgingGrpcSender(Transport):
    """Sends envelopes over mutual TLS under any sender id.

    It presents this party's own certificate and signs with its own key,
    but puts `message.sender` in the envelope as given, which the honest
    `GrpcTransport` rejects with ValueError. `peers` maps each party id to its
    address and pinned certificate PEM.
    """

    def __init__(self, party_id: str, key_pem: bytes, cert_pem: bytes,
                 peers: dict[str, tuple[str, bytes]]) -> None:
        self.party_id = party_id
        self._key_pem = key_pem
        self._cert_pem = cert_pem
        self._key = certs.load_private_key_pem(key_pem)
        self._peers = dict(peers)
        self._channels: dict[str, Any] = {}

    async def send(self, recipient: str, message: Message,
                   timeout: float) -> None:
        channel = self._channels.get(recipient)
        if channel is None:
            address, root_pem = self._peers[recipient]
            channel = make_channel(address, recipient, self._key_pem,
                                   self._cert_pem, root_pem)
            self._channels[recipient] = channel
        signed = envelope_signing_bytes(message.job_id, message.sender,
                                        message.phase, message.body)
        envelope = peer_pb2.Envelope(
            job_id=message.job_id, sender=message.sender,
            phase=message.phase, body=message.body,
            signature=certs.sign(self._key, signed))
        try:
            await peer_pb2_grpc.PeerStub(channel).Deliver(envelope,
                                                          timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            raise TransportError(
                recipient, f"{exc.code().name}: {exc.details()}") from None

    async def propose(self, recipient: str, proposal: Proposal,
                      timeout: float) -> ProposeReply:
        raise TransportError(recipient, "a forging sender only sends")

    async def close(self, grace: float | None = 1.0) -> None:
        channels = list(self._channels.values())
        self._channels.clear()
        for channel in channels:
            await channel.close(grace)


# Running jobs in one process.


async def run_job(parties: dict[str, Party], spec: Any,
                  honest: list[str], timeout: float = 30.0
                  ) -> dict[str, JobOutcome]:
    """Start a job on its initiator and return the honest outcomes.

    Waits at most `timeout` seconds for every party in `honest`, then
    cancels whatever the other parties still run, so a cheater left
    waiting for a deadline costs no time.
    """
    run = parties[spec.initiator].start(spec)

    async def outcome(party_id: str) -> JobOutcome:
        party = parties[party_id]
        while True:
            job = party.jobs.get(run.job_id)
            if job is not None:
                return await asyncio.shield(job.task)
            # A party may drop a job from `jobs` once it has ended.
            ended = getattr(party, "outcome", None)
            if callable(ended) and ended(run.job_id) is not None:
                return ended(run.job_id)
            await asyncio.sleep(0.01)

    try:
        done = await asyncio.wait_for(
            asyncio.gather(*map(outcome, honest)), timeout)
    finally:
        for party in parties.values():
            job = party.jobs.get(run.job_id)
            if job is not None and not job.task.done():
                job.task.cancel()
                await asyncio.gather(job.task, return_exceptions=True)
    return dict(zip(honest, done))


__all__ = [
    "BY_JOB_NAME", "CASES", "CheatSetupError", "CheatingTransport",
    "ForgingGrpcSender",
    "JOB_NAME_PREFIX", "Witness", "case_of_job_name",
    "first_range_proof_offsets", "run_job", "widened_statement",
]
