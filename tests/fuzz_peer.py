"""A scripted party and log tools for tests/test_fuzz.py.

`ScriptedPeer` runs one party of a LocalCluster deployment inside the
test's own event loop instead of as a daemon. It is the real state
machine (`mpc.job.Party`) behind a real gRPC server with that party's
pinned key and certificate, on the port the deployment gives it. Its
input is all zeros and it declares 64 records per dataset, so it needs
no data. Before a message leaves it, `bodies` can put any bytes in the
place of the body of a phase, and `renames` can send it under another
phase. `commit_mutation` can change its commit bundle while its echo
still reports the changed bundle, so the peers see one consistent (but
malformed) bundle and decode it in their verify phase. Every body it
sends and receives is kept, so a test can look for them in the daemons'
logs.

The log tools read what a daemon wrote since a mark, list the exceptions
of the tracebacks in it, and look for runs of hex or base64, or Python
bytes literals, that decode to a piece of a message body.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import binascii
import dataclasses
import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mpc.job import Hooks, Party
from mpc.spec import JobSpec
from mpc.transport import Message, Proposal, ProposeReply, Transport
from parties import config as cfg
from parties.cluster import LocalCluster
from parties.transport import GrpcTransport, build_server

BodyFactory = Callable[[str, Message], bytes]
"""A function of (recipient, honest message) that returns the body a
scripted peer sends instead."""

DECLARED_RECORDS = 64


class ZeroHooks(Hooks):
    """An input of zeros and a fixed record bound: no data needed."""

    def max_records(self, spec: JobSpec) -> dict[str, int]:
        return {dataset: DECLARED_RECORDS for dataset in spec.datasets}

    def input_array(self, job_id: str, spec: JobSpec
                    ) -> tuple[np.ndarray, dict[str, int]]:
        return np.zeros(spec.num_elements, dtype=np.int64), {}


def identity(cluster: LocalCluster, party_id: str) -> tuple[bytes, bytes]:
    """Return a cluster party's key and certificate PEM."""
    directory = cluster.root / party_id
    return ((directory / f"{party_id}.key").read_bytes(),
            (directory / f"{party_id}.crt").read_bytes())


def peers_of(cluster: LocalCluster) -> dict[str, tuple[str, bytes]]:
    """Return every party's address and pinned certificate."""
    deployment = cfg.load_deployment(cluster.root / "deployment.toml")
    return {p.party_id: (p.address, p.certificate_pem)
            for p in deployment.parties.values()}


class _ScriptedTransport(Transport):
    """Sends through the real gRPC transport, changing bodies on the way."""

    def __init__(self, peer: ScriptedPeer, inner: GrpcTransport) -> None:
        self.peer = peer
        self.inner = inner
        self.party_id = inner.party_id

    async def send(self, recipient: str, message: Message,
                   timeout: float) -> None:
        message = self.peer._rewrite(recipient, message)
        self.peer.sent.append((message.phase, message.body))
        await self.inner.send(recipient, message, timeout)

    async def propose(self, recipient: str, proposal: Proposal,
                      timeout: float) -> ProposeReply:
        return await self.inner.propose(recipient, proposal, timeout)

    async def close(self, grace: float | None = 1.0) -> None:
        await self.inner.close(grace)


class ScriptedPeer:
    """One deployment party run in-process, with scripted message bodies.

    Use as `async with ScriptedPeer(cluster, "dave") as peer:`; the
    cluster must not run that party's daemon.
    """

    def __init__(self, cluster: LocalCluster, party_id: str) -> None:
        self.cluster = cluster
        self.party_id = party_id
        self.bodies: dict[str, BodyFactory] = {}
        """Phase -> body factory, for messages this peer sends."""
        self.commit_mutation: Callable[[bytes], bytes] | None = None
        """Changes this peer's commit bundle, once per job, for every
        recipient; its echo then reports the changed bundle."""
        self.renames: dict[str, str] = {}
        """Phase -> phase name to send this peer's message under."""
        self.declaration: bytes | None = None
        """A declaration to reply to every proposal with, instead of the
        honest one (the proposal is still admitted)."""
        self.sent: list[tuple[str, bytes]] = []
        self.received: list[tuple[str, bytes]] = []
        """(phase, body) of every message sent and received."""
        self._forged: dict[bytes, bytes] = {}
        self.party = Party(party_id, ZeroHooks())
        self._server = None

    async def __aenter__(self) -> ScriptedPeer:
        key_pem, cert_pem = identity(self.cluster, self.party_id)
        peers = peers_of(self.cluster)
        inner = GrpcTransport(self.party_id, key_pem, cert_pem, peers)
        self.party.transport = _ScriptedTransport(self, inner)
        self._server, _ = build_server(
            self.party_id, key_pem, cert_pem, peers,
            peers[self.party_id][0], self)
        await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        tasks = [run.task for run in self.party.jobs.values()
                 if run.task is not None and not run.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=3.0)
        await self.party.transport.close(0)
        await self._server.stop(0)

    # The Handler interface of the server.

    async def on_propose(self, proposal: Proposal) -> ProposeReply:
        reply = await self.party.on_propose(proposal)
        if self.declaration is not None and reply.accepted:
            return ProposeReply(accepted=True,
                                declaration=self.declaration)
        return reply

    async def on_message(self, message: Message) -> None:
        self.received.append((message.phase, message.body))
        await self.party.on_message(message)

    # Scripting.

    def start(self, spec: JobSpec) -> str:
        """Start a job with this peer as its initiator; return its id."""
        return self.party.start(spec).job_hex

    def _rewrite(self, recipient: str, message: Message) -> Message:
        phase, job_id = message.phase, message.job_id
        if phase == "commit" and self.commit_mutation is not None:
            if job_id not in self._forged:
                self._forged[job_id] = self.commit_mutation(message.body)
            return dataclasses.replace(message, body=self._forged[job_id])
        if phase == "echo" and job_id in self._forged:
            parties = self.party.jobs[job_id].spec.parties
            start = 32 * parties.index(self.party_id)
            digest = hashlib.sha256(self._forged[job_id]).digest()
            body = message.body
            return dataclasses.replace(
                message, body=body[:start] + digest + body[start + 32:])
        make = self.bodies.get(phase)
        if make is not None:
            message = dataclasses.replace(message,
                                          body=make(recipient, message))
        if phase in self.renames:
            message = dataclasses.replace(message,
                                          phase=self.renames[phase])
        return message


# Logs.


class LogMark:
    """The size of every daemon log at one moment."""

    def __init__(self, cluster: LocalCluster, parties: list[str]) -> None:
        self.cluster = cluster
        self.offsets = {p: _size(cluster.log_path(p)) for p in parties}

    def text(self, party_id: str) -> str:
        """Return what a daemon logged since the mark."""
        with open(self.cluster.log_path(party_id), "rb") as handle:
            handle.seek(self.offsets[party_id])
            return handle.read().decode("utf-8", "replace")

    def texts(self) -> dict[str, str]:
        return {p: self.text(p) for p in self.offsets}

    def grown(self, party_id: str) -> int:
        """Return how many bytes a daemon logged since the mark."""
        return _size(self.cluster.log_path(party_id)) - self.offsets[
            party_id]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit)"
                             r"\b[^\n]*)$", re.M)


def traceback_exceptions(text: str) -> list[str]:
    """Return the final exception line of every traceback in a log."""
    found = []
    for block in text.split("Traceback (most recent call last):")[1:]:
        match = _EXCEPTION_LINE.search(block)
        found.append(match.group(1) if match else block[:200])
    return found


_HEX_RUN = re.compile(r"[0-9a-fA-F]{24,}")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{20,}={0,2}")
_BYTES_LITERAL = re.compile(
    r"b'(?:[^'\\\n]|\\.)*'" + "|" + r'b"(?:[^"\\\n]|\\.)*"')
MIN_LEAK_BYTES = 12
MAX_RUN_CHARS = 4096
"""Only the start of a longer run is decoded, which shows a leak too."""


def _decoded_runs(text: str) -> set[bytes]:
    runs = set()
    for match in _HEX_RUN.finditer(text):
        run = match.group(0)[:MAX_RUN_CHARS]
        runs.add(bytes.fromhex(run[:len(run) // 2 * 2]))
    for match in _BASE64_RUN.finditer(text):
        run = match.group(0)[:MAX_RUN_CHARS].rstrip("=")
        try:
            runs.add(base64.b64decode(run + "=" * (-len(run) % 4)))
        except (binascii.Error, ValueError):
            pass
    for match in _BYTES_LITERAL.finditer(text):
        try:
            runs.add(ast.literal_eval(match.group(0)))
        except (ValueError, SyntaxError):
            pass
    return {run for run in runs if len(run) >= MIN_LEAK_BYTES}


def leaked_pieces(text: str, bodies: list[bytes]) -> list[str]:
    """Return the log runs that decode to 12 or more bytes of a body.

    A run is a string of hex digits, of base64 characters, or a Python
    bytes literal (b'...'). A job id is logged in hex, but it is not part
    of any body.
    """
    haystack = b"\n--\n".join(bodies)
    leaks = []
    for run in sorted(_decoded_runs(text)):
        pieces = {run[i:i + MIN_LEAK_BYTES]
                  for i in range(len(run) - MIN_LEAK_BYTES + 1)}
        if any(piece in haystack for piece in pieces):
            leaks.append(run.hex()[:64])
    return leaks
