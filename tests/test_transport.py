"""Tests of the party identities and the gRPC transport over mutual TLS.

Every server binds 127.0.0.1 port 0 and every client dials it there. The
identities are made with `parties.certs` in the test's temporary folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import logging
import os
import socket
import stat
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mpc.transport import Message, Proposal, ProposeReply, TransportError
from parties import certs
from parties.proto_gen import peer_pb2, peer_pb2_grpc
from parties.transport import (
    GrpcTransport,
    authenticated_party,
    build_server,
    envelope_signing_bytes,
    make_channel,
    proposal_signing_bytes,
)

PARTIES = ("alice", "bob", "carol")
JOB_ID = bytes(range(16))
TIMEOUT = 5.0
DECLARATION = b'{"n_max": 1024}'


@dataclass(frozen=True)
class Identity:
    key_pem: bytes
    cert_pem: bytes


@pytest.fixture
def identities(tmp_path: Path) -> dict[str, Identity]:
    result = {}
    for party_id in PARTIES:
        key_path, cert_path = certs.create_identity(party_id, tmp_path)
        result[party_id] = Identity(
            key_path.read_bytes(), cert_path.read_bytes()
        )
    return result


def deployment_of(
    identities: dict[str, Identity], ports: dict[str, int]
) -> dict[str, tuple[str, bytes]]:
    """Return a deployment; parties without a port get the unused port 0."""
    return {
        party_id: (f"127.0.0.1:{ports.get(party_id, 0)}", identity.cert_pem)
        for party_id, identity in identities.items()
    }


class RecordingHandler:
    """Records what reaches it; can hang or raise instead."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.proposals: list[Proposal] = []
        self.hang: asyncio.Event | None = None
        self.error: Exception | None = None

    async def on_message(self, message: Message) -> None:
        if self.error is not None:
            raise self.error
        if self.hang is not None:
            await self.hang.wait()
        self.messages.append(message)

    async def on_propose(self, proposal: Proposal) -> ProposeReply:
        self.proposals.append(proposal)
        return ProposeReply(accepted=True, declaration=DECLARATION)


@contextlib.asynccontextmanager
async def serving(
    party_id: str,
    identity: Identity,
    deployment: dict[str, tuple[str, bytes]],
    handler: RecordingHandler,
    extra_servicers: Callable[[grpc.aio.Server], None] | None = None,
) -> AsyncIterator[int]:
    server, port = build_server(
        party_id,
        identity.key_pem,
        identity.cert_pem,
        deployment,
        "127.0.0.1:0",
        handler,
        extra_servicers,
    )
    await server.start()
    try:
        yield port
    finally:
        await server.stop(grace=0.5)


@contextlib.asynccontextmanager
async def transport_of(
    party_id: str,
    identity: Identity,
    deployment: dict[str, tuple[str, bytes]],
) -> AsyncIterator[GrpcTransport]:
    transport = GrpcTransport(
        party_id, identity.key_pem, identity.cert_pem, deployment
    )
    try:
        yield transport
    finally:
        await transport.close()


def raw_channel(
    port: int, client: Identity, server_cert_pem: bytes
) -> grpc.aio.Channel:
    """Return a channel to bob's server that presents `client`."""
    return make_channel(
        f"127.0.0.1:{port}",
        "bob",
        client.key_pem,
        client.cert_pem,
        server_cert_pem,
    )


def signed_envelope(
    signer: Identity,
    sender: str = "alice",
    phase: str = "commit",
    body: bytes = b"body",
    job_id: bytes = JOB_ID,
) -> peer_pb2.Envelope:
    key = certs.load_private_key_pem(signer.key_pem)
    signed = envelope_signing_bytes(job_id, sender, phase, body)
    return peer_pb2.Envelope(
        job_id=job_id,
        sender=sender,
        phase=phase,
        body=body,
        signature=certs.sign(key, signed),
    )


def closed_port() -> int:
    """Return a loopback port that nothing listens on, as far as we know."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ca_capable_identity(party_id: str) -> Identity:
    """Make a self-signed certificate that may issue others (CA=True)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, party_id)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(party_id)]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        .sign(key, hashes.SHA256())
    )
    return _identity_of(key, cert)


def issued_identity(issuer: Identity, party_id: str) -> Identity:
    """Make a certificate for `party_id` signed by `issuer`'s key."""
    issuer_key = certs.load_private_key_pem(issuer.key_pem)
    issuer_cert = x509.load_pem_x509_certificate(issuer.cert_pem)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, party_id)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(party_id)]), False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .sign(issuer_key, hashes.SHA256())
    )
    return _identity_of(key, cert)


def _identity_of(
    key: ec.EllipticCurvePrivateKey, cert: x509.Certificate
) -> Identity:
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return Identity(key_pem, cert.public_bytes(serialization.Encoding.PEM))


# Identities.


def test_create_identity_writes_key_and_certificate(tmp_path: Path) -> None:
    key_path, cert_path = certs.create_identity("alice", tmp_path)

    assert key_path == tmp_path / "alice.key"
    assert cert_path == tmp_path / "alice.crt"
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert b"BEGIN PRIVATE KEY" in key_path.read_bytes()
    cert_pem = cert_path.read_bytes()
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert cert.subject == cert.issuer
    assert certs.certificate_party_id(cert_pem) == "alice"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["alice"]
    constraints = cert.extensions.get_extension_for_class(
        x509.BasicConstraints
    )
    assert constraints.critical
    assert not constraints.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert not usage.key_cert_sign
    purposes = cert.extensions.get_extension_for_class(
        x509.ExtendedKeyUsage
    ).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in purposes
    assert ExtendedKeyUsageOID.CLIENT_AUTH in purposes
    public_key = cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert isinstance(public_key.curve, ec.SECP256R1)
    key = certs.load_private_key(key_path)
    assert key.public_key() == public_key
    der = cert.public_bytes(serialization.Encoding.DER)
    assert certs.fingerprint(cert_pem) == hashlib.sha256(der).hexdigest()


def test_create_identity_rejects_existing_files(tmp_path: Path) -> None:
    certs.create_identity("alice", tmp_path)
    with pytest.raises(FileExistsError, match="alice.key"):
        certs.create_identity("alice", tmp_path)

    (tmp_path / "bob.crt").write_bytes(b"kept")
    with pytest.raises(FileExistsError, match="bob.crt"):
        certs.create_identity("bob", tmp_path)
    assert not (tmp_path / "bob.key").exists()
    assert (tmp_path / "bob.crt").read_bytes() == b"kept"


@pytest.mark.parametrize("party_id", ["", "a_b", "-ab", "ab-", "x" * 64])
def test_create_identity_rejects_invalid_party_id(
    tmp_path: Path, party_id: str
) -> None:
    with pytest.raises(ValueError, match="party id"):
        certs.create_identity(party_id, tmp_path)


def test_verify_accepts_only_matching_signature(
    identities: dict[str, Identity],
) -> None:
    alice = identities["alice"]
    key = certs.load_private_key_pem(alice.key_pem)
    signature = certs.sign(key, b"data")

    assert certs.verify(alice.cert_pem, b"data", signature)
    assert not certs.verify(alice.cert_pem, b"other data", signature)
    assert not certs.verify(identities["bob"].cert_pem, b"data", signature)
    assert not certs.verify(alice.cert_pem, b"data", b"\x30\x02\x01\x01")
    assert not certs.verify(alice.cert_pem, b"data", b"")


# Traffic between pinned parties.


async def test_send_delivers_message_with_sender(
    identities: dict[str, Identity],
) -> None:
    handler = RecordingHandler()
    server_view = deployment_of(identities, {})
    message = Message(JOB_ID, "alice", "commit", b"\x00" * 1000)

    async with serving("bob", identities["bob"], server_view, handler) as port:
        client_view = deployment_of(identities, {"bob": port})
        async with transport_of(
            "alice", identities["alice"], client_view
        ) as t:
            await t.send("bob", message, TIMEOUT)
            await t.send("bob", message, TIMEOUT)

    assert handler.messages == [message, message]


async def test_propose_returns_handler_reply(
    identities: dict[str, Identity],
) -> None:
    handler = RecordingHandler()
    proposal = Proposal(JOB_ID, "alice", b'{"queries": []}')

    async with serving(
        "bob", identities["bob"], deployment_of(identities, {}), handler
    ) as port:
        client_view = deployment_of(identities, {"bob": port})
        async with transport_of(
            "alice", identities["alice"], client_view
        ) as t:
            reply = await t.propose("bob", proposal, TIMEOUT)

    assert reply == ProposeReply(accepted=True, declaration=DECLARATION)
    assert handler.proposals == [proposal]


async def test_send_rejects_unpinned_client_certificate(
    identities: dict[str, Identity], tmp_path: Path
) -> None:
    handler = RecordingHandler()
    key_path, cert_path = certs.create_identity("mallory", tmp_path / "out")
    mallory = Identity(key_path.read_bytes(), cert_path.read_bytes())

    async with serving(
        "bob", identities["bob"], deployment_of(identities, {}), handler
    ) as port:
        # Mallory pins bob correctly, but bob's deployment lacks mallory.
        mallory_view = {
            "mallory": ("127.0.0.1:0", mallory.cert_pem),
            "bob": (f"127.0.0.1:{port}", identities["bob"].cert_pem),
        }
        async with transport_of("mallory", mallory, mallory_view) as t:
            with pytest.raises(TransportError) as failure:
                await t.send(
                    "bob", Message(JOB_ID, "mallory", "commit", b""), TIMEOUT
                )

    assert failure.value.party == "bob"
    assert failure.value.reason.startswith("UNAVAILABLE")
    assert handler.messages == []


async def test_deliver_rejects_certificate_of_other_party(
    identities: dict[str, Identity],
) -> None:
    handler = RecordingHandler()
    bob_cert = identities["bob"].cert_pem
    # Carol's certificate with a request claiming alice, signed by alice's
    # key: only the certificate check can stop it.
    envelope = signed_envelope(identities["alice"], sender="alice")
    key = certs.load_private_key_pem(identities["alice"].key_pem)
    proposal = peer_pb2.ProposeRequest(
        job_id=JOB_ID,
        initiator="alice",
        spec=b"{}",
        signature=certs.sign(
            key, proposal_signing_bytes(JOB_ID, "alice", b"{}")
        ),
    )

    async with serving(
        "bob", identities["bob"], deployment_of(identities, {}), handler
    ) as port:
        async with raw_channel(port, identities["carol"], bob_cert) as channel:
            stub = peer_pb2_grpc.PeerStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as deliver_failure:
                await stub.Deliver(envelope, timeout=TIMEOUT)
            with pytest.raises(grpc.aio.AioRpcError) as propose_failure:
                await stub.Propose(proposal, timeout=TIMEOUT)

    for failure in (deliver_failure, propose_failure):
        assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "'alice'" in failure.value.details()
        assert "'carol'" in failure.value.details()
    assert handler.messages == []
    assert handler.proposals == []


async def test_deliver_rejects_bad_signatures(
    identities: dict[str, Identity],
) -> None:
    handler = RecordingHandler()
    alice = identities["alice"]
    key = certs.load_private_key_pem(alice.key_pem)
    tampered = signed_envelope(alice)
    tampered.body = b"other body"
    by_carol = signed_envelope(identities["carol"], sender="alice")
    empty = signed_envelope(alice)
    empty.signature = b""
    garbage = signed_envelope(alice)
    garbage.signature = b"\x30\x06\x02\x01\x01\x02\x01\x01"
    # A signature on a proposal with the same fields is not one on an
    # envelope, because the two carry different domain labels.
    other_kind = signed_envelope(alice, phase="commit", body=b"{}")
    other_kind.signature = certs.sign(
        key, proposal_signing_bytes(JOB_ID, "alice", b"{}")
    )
    cases = [tampered, by_carol, empty, garbage, other_kind]

    async with serving(
        "bob", identities["bob"], deployment_of(identities, {}), handler
    ) as port:
        bob_cert = identities["bob"].cert_pem
        async with raw_channel(port, alice, bob_cert) as channel:
            stub = peer_pb2_grpc.PeerStub(channel)
            codes = []
            for envelope in cases:
                with pytest.raises(grpc.aio.AioRpcError) as failure:
                    await stub.Deliver(envelope, timeout=TIMEOUT)
                codes.append(failure.value.code())

    assert codes == [grpc.StatusCode.UNAUTHENTICATED] * len(cases)
    assert handler.messages == []


@pytest.mark.parametrize(
    "fields",
    [
        {"job_id": b"abc"},
        {"job_id": b""},
        {"sender": ""},
        {"sender": "dave"},
        {"phase": ""},
        {"phase": "p" * 100_000},
        {"phase": "Commit"},
        {"phase": "commit\n"},
    ],
)
async def test_deliver_rejects_malformed_envelope(
    identities: dict[str, Identity], fields: dict
) -> None:
    handler = RecordingHandler()
    alice = identities["alice"]
    malformed = signed_envelope(alice, **fields)
    good = signed_envelope(alice)

    async with serving(
        "bob", identities["bob"], deployment_of(identities, {}), handler
    ) as port:
        bob_cert = identities["bob"].cert_pem
        async with raw_channel(port, alice, bob_cert) as channel:
            stub = peer_pb2_grpc.PeerStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await stub.Deliver(malformed, timeout=TIMEOUT)
            await stub.Deliver(good, timeout=TIMEOUT)

    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(failure.value.details()) < 300
    assert handler.messages == [Message(JOB_ID, "alice", "commit", b"body")]


async def test_handler_value_error_becomes_invalid_argument(
    identities: dict[str, Identity],
) -> None:
    handler = RecordingHandler()
    handler.error = ValueError("phase 'commit' is not expected now")

    async with serving(
        "bob", identities["bob"], deployment_of(identities, {}), handler
    ) as port:
        client_view = deployment_of(identities, {"bob": port})
        async with transport_of(
            "alice", identities["alice"], client_view
        ) as t:
            with pytest.raises(TransportError) as failure:
                await t.send(
                    "bob", Message(JOB_ID, "alice", "commit", b""), TIMEOUT
                )

    assert failure.value.reason.startswith("INVALID_ARGUMENT")
    assert "is not expected now" in failure.value.reason


async def test_handler_crash_becomes_internal_and_is_logged(
    identities: dict[str, Identity], caplog: pytest.LogCaptureFixture
) -> None:
    handler = RecordingHandler()
    handler.error = RuntimeError("detail that must stay on the server")
    caplog.set_level(logging.ERROR, logger="parties.transport")

    async with serving(
        "bob", identities["bob"], deployment_of(identities, {}), handler
    ) as port:
        client_view = deployment_of(identities, {"bob": port})
        async with transport_of(
            "alice", identities["alice"], client_view
        ) as t:
            with pytest.raises(TransportError) as failure:
                await t.send(
                    "bob", Message(JOB_ID, "alice", "commit", b""), TIMEOUT
                )

    assert failure.value.reason.startswith("INTERNAL")
    assert "must stay on the server" not in failure.value.reason
    logged = [r for r in caplog.records if r.name == "parties.transport"]
    assert len(logged) == 1
    assert "'alice'" in logged[0].getMessage()


# Deadlines.


async def test_send_to_closed_port_fails_within_timeout(
    identities: dict[str, Identity],
) -> None:
    timeout = 2.0
    client_view = deployment_of(identities, {"bob": closed_port()})

    async with transport_of("alice", identities["alice"], client_view) as t:
        start = time.monotonic()
        with pytest.raises(TransportError) as failure:
            await t.send(
                "bob", Message(JOB_ID, "alice", "commit", b""), timeout
            )
        elapsed = time.monotonic() - start

    assert elapsed < timeout + 1.0
    assert failure.value.party == "bob"
    assert failure.value.reason.startswith("UNAVAILABLE")


async def test_send_fails_at_deadline_when_handler_hangs(
    identities: dict[str, Identity],
) -> None:
    timeout = 0.5
    handler = RecordingHandler()
    handler.hang = asyncio.Event()

    async with serving(
        "bob", identities["bob"], deployment_of(identities, {}), handler
    ) as port:
        client_view = deployment_of(identities, {"bob": port})
        async with transport_of(
            "alice", identities["alice"], client_view
        ) as t:
            start = time.monotonic()
            with pytest.raises(TransportError) as failure:
                await t.send(
                    "bob", Message(JOB_ID, "alice", "commit", b""), timeout
                )
            elapsed = time.monotonic() - start

    assert failure.value.reason.startswith("DEADLINE_EXCEEDED")
    assert timeout - 0.1 <= elapsed < timeout + 1.0
    assert handler.messages == []


# Certificates that the TLS handshake alone would not stop.


async def test_certificate_issued_by_party_key_fails_handshake(
    identities: dict[str, Identity],
) -> None:
    handler = RecordingHandler()
    # Carol signs a certificate named alice. Pinned certificates are not
    # CA certificates, so bob's TLS stack does not accept that chain.
    forged = issued_identity(identities["carol"], "alice")

    async with serving(
        "bob", identities["bob"], deployment_of(identities, {}), handler
    ) as port:
        bob_cert = identities["bob"].cert_pem
        async with raw_channel(port, forged, bob_cert) as channel:
            stub = peer_pb2_grpc.PeerStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await stub.Deliver(signed_envelope(forged), timeout=TIMEOUT)

    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
    assert handler.messages == []


async def test_certificate_issued_by_pinned_ca_is_rejected(
    identities: dict[str, Identity],
) -> None:
    handler = RecordingHandler()
    calls: list[str] = []

    async def who_am_i(
        request: bytes, context: grpc.aio.ServicerContext
    ) -> bytes:
        calls.append("who_am_i")
        return b""

    def add_probe(server: grpc.aio.Server) -> None:
        method = grpc.unary_unary_rpc_method_handler(who_am_i)
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "test.Probe", {"W": method}
                ),
            )
        )

    # A deployment that pins a CA-capable certificate for carol: a
    # certificate carol issues passes TLS, so the fingerprint check in the
    # interceptor must stop it, for the peer service and every other one.
    identities = dict(identities, carol=ca_capable_identity("carol"))
    forged = issued_identity(identities["carol"], "alice")
    server_view = deployment_of(identities, {})

    async with serving(
        "bob", identities["bob"], server_view, handler, add_probe
    ) as port:
        bob_cert = identities["bob"].cert_pem
        async with raw_channel(port, forged, bob_cert) as channel:
            stub = peer_pb2_grpc.PeerStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as peer_failure:
                await stub.Deliver(signed_envelope(forged), timeout=TIMEOUT)
            probe = channel.unary_unary("/test.Probe/W")
            with pytest.raises(grpc.aio.AioRpcError) as probe_failure:
                await probe(b"", timeout=TIMEOUT)

    for failure in (peer_failure, probe_failure):
        assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "not pinned" in failure.value.details()
    assert calls == []
    assert handler.messages == []


async def test_extra_servicers_see_authenticated_party(
    identities: dict[str, Identity],
) -> None:
    handler = RecordingHandler()
    server_view = deployment_of(identities, {})

    async def who_am_i(
        request: bytes, context: grpc.aio.ServicerContext
    ) -> bytes:
        return (await authenticated_party(context, server_view)).encode()

    async def who_am_i_twice(
        request: bytes, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        party_id = await authenticated_party(context, server_view)
        for _ in range(2):
            yield party_id.encode()

    def add_probe(server: grpc.aio.Server) -> None:
        methods = {
            "W": grpc.unary_unary_rpc_method_handler(who_am_i),
            "S": grpc.unary_stream_rpc_method_handler(who_am_i_twice),
        }
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("test.Probe", methods),)
        )

    async with serving(
        "bob", identities["bob"], server_view, handler, add_probe
    ) as port:
        bob_cert = identities["bob"].cert_pem
        async with raw_channel(port, identities["carol"], bob_cert) as channel:
            single = await channel.unary_unary("/test.Probe/W")(
                b"", timeout=TIMEOUT
            )
            stream = channel.unary_stream("/test.Probe/S")(
                b"", timeout=TIMEOUT
            )
            streamed = [item async for item in stream]

    assert single == b"carol"
    assert streamed == [b"carol", b"carol"]


# Caller mistakes.


async def test_send_rejects_message_of_other_sender(
    identities: dict[str, Identity],
) -> None:
    client_view = deployment_of(identities, {})

    async with transport_of("alice", identities["alice"], client_view) as t:
        with pytest.raises(ValueError, match="message.sender"):
            await t.send(
                "bob", Message(JOB_ID, "carol", "commit", b""), TIMEOUT
            )
        with pytest.raises(TransportError) as failure:
            await t.send(
                "dave", Message(JOB_ID, "alice", "commit", b""), TIMEOUT
            )

    assert failure.value.party == "dave"
    assert "not in the deployment" in failure.value.reason


async def test_build_server_rejects_inconsistent_identity(
    identities: dict[str, Identity],
) -> None:
    view = deployment_of(identities, {})
    alice = identities["alice"]
    bob = identities["bob"]

    with pytest.raises(ValueError, match="cert_pem"):
        build_server(
            "alice",
            alice.key_pem,
            bob.cert_pem,
            view,
            "127.0.0.1:0",
            RecordingHandler(),
        )
    with pytest.raises(ValueError, match="key_pem"):
        build_server(
            "alice",
            bob.key_pem,
            alice.cert_pem,
            view,
            "127.0.0.1:0",
            RecordingHandler(),
        )
    with pytest.raises(ValueError, match="not in the deployment"):
        GrpcTransport("dave", alice.key_pem, alice.cert_pem, view)


async def test_build_server_rejects_port_in_use(
    identities: dict[str, Identity],
) -> None:
    view = deployment_of(identities, {})
    bob = identities["bob"]

    # Without SO_REUSEPORT switched off, gRPC would bind the same port
    # again and the two servers would share its calls.
    async with serving("bob", bob, view, RecordingHandler()) as port:
        with pytest.raises(OSError, match=str(port)):
            build_server(
                "bob",
                bob.key_pem,
                bob.cert_pem,
                view,
                f"127.0.0.1:{port}",
                RecordingHandler(),
            )
