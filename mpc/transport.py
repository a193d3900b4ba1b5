"""The transport interface that drives the job state machine.

The same state machine runs over the in-memory transport below (protocol
tests, simulations with many parties in one process) and over the gRPC
transport of the daemon (`parties.transport`). A transport carries two
kinds of traffic between parties:

- `propose`: a request from the initiator with a reply, used once per
  party at the start of a job;
- `send`: a one-way `Message` for the later phases.

Incoming traffic is handed to a `Handler`: the party's runtime, which
routes messages to the job they belong to. The transport authenticates the
sender; a `Message.sender` that reaches a handler is the party that sent
it.
"""

from __future__ import annotations

import abc
import asyncio
from dataclasses import dataclass, field
from typing import Protocol

JOB_ID_BYTES = 16


@dataclass(frozen=True)
class Message:
    """One protocol message of a job phase."""

    job_id: bytes
    sender: str
    phase: str
    body: bytes
    body_sha256: bytes = field(default=b"", compare=False)
    """The SHA-256 of `body` when the receiving transport has computed and
    checked it (a streamed body), so the job need not hash it again.
    Empty otherwise."""


@dataclass(frozen=True)
class Proposal:
    """A job proposal: the canonical job specification, as JSON bytes."""

    job_id: bytes
    initiator: str
    spec: bytes


@dataclass(frozen=True)
class ProposeReply:
    """A party's answer to a proposal.

    `declaration` carries the party's public statement parameters when it
    accepts (JSON bytes), and `reason` says why when it rejects.
    """

    accepted: bool
    reason: str = ""
    declaration: bytes = b""


class TransportError(Exception):
    """Sending to a peer failed; `party` names the peer."""

    def __init__(self, party: str, reason: str) -> None:
        super().__init__(f"sending to party {party!r} failed: {reason}")
        self.party = party
        self.reason = reason


class Handler(Protocol):
    """What a transport hands incoming traffic to."""

    async def on_propose(self, proposal: Proposal) -> ProposeReply: ...

    async def on_message(self, message: Message) -> None: ...


class Transport(abc.ABC):
    """Sends a party's traffic to its peers."""

    party_id: str

    @abc.abstractmethod
    async def send(
        self, recipient: str, message: Message, timeout: float
    ) -> None:
        """Deliver `message` to `recipient` or raise TransportError."""

    @abc.abstractmethod
    async def propose(
        self, recipient: str, proposal: Proposal, timeout: float
    ) -> ProposeReply:
        """Send a proposal and return the reply, or raise TransportError."""


@dataclass
class TrafficCounter:
    """Bytes and messages sent and received by one party."""

    bytes_sent: int = 0
    bytes_received: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    per_peer_sent: dict[str, int] = field(default_factory=dict)


class MemoryNetwork:
    """Routes traffic between parties in one process.

    `latency` (seconds) and `bandwidth` (bytes per second, 0 for no limit)
    emulate a wide-area link for every message.
    """

    def __init__(self, latency: float = 0.0, bandwidth: float = 0.0) -> None:
        self.latency = latency
        self.bandwidth = bandwidth
        self._handlers: dict[str, Handler] = {}
        self.down: set[str] = set()
        self.traffic: dict[str, TrafficCounter] = {}

    def attach(self, party_id: str, handler: Handler) -> MemoryTransport:
        """Register a party's handler and return its transport."""
        self._handlers[party_id] = handler
        self.traffic[party_id] = TrafficCounter()
        return MemoryTransport(self, party_id)

    async def _delay(self, size: int) -> None:
        delay = self.latency
        if self.bandwidth:
            delay += size / self.bandwidth
        if delay:
            await asyncio.sleep(delay)

    def _handler(self, sender: str, recipient: str) -> Handler:
        handler = self._handlers.get(recipient)
        if handler is None:
            raise TransportError(recipient, "no such party on this network")
        if recipient in self.down or sender in self.down:
            raise TransportError(recipient, "party is unreachable")
        return handler

    def _count(self, sender: str, recipient: str, size: int) -> None:
        out = self.traffic[sender]
        out.bytes_sent += size
        out.messages_sent += 1
        out.per_peer_sent[recipient] = (
            out.per_peer_sent.get(recipient, 0) + size
        )
        incoming = self.traffic[recipient]
        incoming.bytes_received += size
        incoming.messages_received += 1


class MemoryTransport(Transport):
    """One party's end of a MemoryNetwork."""

    def __init__(self, network: MemoryNetwork, party_id: str) -> None:
        self.network = network
        self.party_id = party_id

    async def send(
        self, recipient: str, message: Message, timeout: float
    ) -> None:
        handler = self.network._handler(self.party_id, recipient)
        size = len(message.body) + len(message.job_id) + len(message.phase)
        self.network._count(self.party_id, recipient, size)
        try:
            await asyncio.wait_for(
                self._deliver(handler, message, size), timeout
            )
        except asyncio.TimeoutError:
            raise TransportError(recipient, "timed out") from None

    async def _deliver(
        self, handler: Handler, message: Message, size: int
    ) -> None:
        await self.network._delay(size)
        await handler.on_message(message)

    async def propose(
        self, recipient: str, proposal: Proposal, timeout: float
    ) -> ProposeReply:
        handler = self.network._handler(self.party_id, recipient)
        size = len(proposal.spec) + len(proposal.job_id)
        self.network._count(self.party_id, recipient, size)
        try:
            await asyncio.wait_for(self.network._delay(size), timeout)
            return await asyncio.wait_for(
                handler.on_propose(proposal), timeout
            )
        except asyncio.TimeoutError:
            raise TransportError(recipient, "timed out") from None
