"""The gRPC transport between party daemons, over mutual TLS.

Every party serves the `mpc.v1.Peer` service and reaches each peer on one
secure channel. Both ends present the certificate pinned for them in the
deployment, and a call is accepted only when:

1. the TLS handshake succeeds: the client's chain ends in one of the
   deployment's pinned certificates (`require_client_auth`), and the
   server's certificate is the pinned one of the party the client dialled,
   with the party id as TLS host name;
2. the caller's certificate is, by SHA-256 fingerprint of its DER
   encoding, the pinned certificate of some party (an interceptor checks
   this for every service on the server, including the control service);
3. that party is the one the request names as `sender` or `initiator`;
4. the request's signature verifies with that party's pinned certificate.
   The signature covers a domain label and the request's fields, each
   prefixed by its 8-byte big-endian length (`envelope_signing_bytes`,
   `proposal_signing_bytes`).

A message body larger than STREAM_THRESHOLD goes by `DeliverStream`
instead of `Deliver`. The call starts with a header: the job id, sender,
phase, body size, the body's SHA-256 and a signature over all of them
(`stream_signing_bytes`). The body follows in chunks of at most 1 MiB. The
checks above apply to the header before any of the body is read, and the
body must then match the signed size and digest. So no call comes near a
message size limit, and a receiver takes in one stream at a time, so
that it keeps one large body in memory, not one per peer. Data chunks are
encoded and decoded by hand (`encode_data_chunk`, `parse_chunk`) in the
canonical protobuf encoding, so a body is copied once on each side
instead of through protobuf's intermediate copies. Anything else a peer
sends is parsed by protobuf.

Malformed requests get INVALID_ARGUMENT, a certificate that is not the
claimed party's gets PERMISSION_DENIED, a missing certificate or a bad
signature gets UNAUTHENTICATED. A sender gets every failed call as a
`TransportError` whose reason starts with the gRPC status code name.

The asyncio objects here (channels, servers) belong to the event loop
that creates them: build them inside the loop that runs them.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, NoReturn

import grpc

from mpc import PROTOCOL_NAME
from mpc.transport import (
    JOB_ID_BYTES,
    Handler,
    Message,
    Proposal,
    ProposeReply,
    TrafficCounter,
    Transport,
    TransportError,
)
from parties import certs
from parties.proto_gen import peer_pb2, peer_pb2_grpc

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_PHASE_CHARS = 32
CHUNK_BYTES = (1 << 20) - 64
"""Body bytes per DeliverStream chunk, so a chunk message is at most 1 MiB."""
STREAM_THRESHOLD = CHUNK_BYTES
"""Bodies larger than this go by DeliverStream."""
MAX_STREAM_BODY_BYTES = 1 << 30
"""Largest body a DeliverStream call may announce: 1 GiB, above the
80 MB reveal of a 10^7-element vector."""
SHA256_BYTES = 32
DELIVER_STREAM_METHOD = "/mpc.v1.Peer/DeliverStream"
_DATA_TAG = 0x12
"""Protobuf key of EnvelopeChunk.data: field 2, wire type 2 (bytes)."""

# Phase names are short lower-case identifiers, such as "commit".
PHASE_PATTERN = re.compile(rf"[a-z][a-z0-9_.-]{{0,{MAX_PHASE_CHARS - 1}}}")

# Domain labels make a signature on one kind of request invalid for the
# other kind, and for anything else the party's key signs.
DELIVER_DOMAIN = PROTOCOL_NAME + b"/peer/deliver/v1"
DELIVER_STREAM_DOMAIN = PROTOCOL_NAME + b"/peer/deliver-stream/v1"
PROPOSE_DOMAIN = PROTOCOL_NAME + b"/peer/propose/v1"

# A peer that was unreachable is dialled again after at most this long,
# instead of gRPC's default of up to two minutes.
_MAX_RECONNECT_BACKOFF_MS = 1_000
UNAVAILABLE_RETRY_SECONDS = 3.0
"""How long a call keeps retrying a peer that is UNAVAILABLE."""

Deployment = Mapping[str, tuple[str, bytes]]


def _length_prefixed(items: tuple[bytes, ...]) -> bytes:
    return b"".join(len(item).to_bytes(8, "big") + item for item in items)


def envelope_signing_bytes(
    job_id: bytes, sender: str, phase: str, body: bytes
) -> bytes:
    """Return the bytes a sender signs for one `Deliver` envelope."""
    return _length_prefixed(
        (
            DELIVER_DOMAIN,
            job_id,
            sender.encode("utf-8"),
            phase.encode("utf-8"),
            body,
        )
    )


def stream_signing_bytes(
    job_id: bytes, sender: str, phase: str, body_size: int,
    body_sha256: bytes,
) -> bytes:
    """Return the bytes a sender signs for one `DeliverStream` header.

    The body enters through its size and SHA-256 digest, so the sender
    signs once whatever the body's length.
    """
    return _length_prefixed(
        (
            DELIVER_STREAM_DOMAIN,
            job_id,
            sender.encode("utf-8"),
            phase.encode("utf-8"),
            body_size.to_bytes(8, "big"),
            body_sha256,
        )
    )


def proposal_signing_bytes(
    job_id: bytes, initiator: str, spec: bytes
) -> bytes:
    """Return the bytes an initiator signs for one `Propose` request."""
    return _length_prefixed(
        (PROPOSE_DOMAIN, job_id, initiator.encode("utf-8"), spec)
    )


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_data_chunk(data: memoryview) -> bytes:
    """Return the serialised EnvelopeChunk whose `data` is `data`.

    The bytes are those protobuf writes for the message, built with one
    copy of `data`.
    """
    return b"".join((bytes((_DATA_TAG,)), _varint(len(data)), data))


class _DataChunk:
    """A received EnvelopeChunk with `data` set, as a view of the received
    bytes. It has the two members of the protobuf message that
    `_read_body` uses."""

    __slots__ = ("data",)

    def __init__(self, data: memoryview) -> None:
        self.data = data

    def WhichOneof(self, group: str) -> str | None:  # noqa: N802
        return "data" if group == "part" else None


def parse_chunk(serialised: bytes) -> Any:
    """Parse a serialised EnvelopeChunk.

    A message that is exactly one `data` field in the canonical encoding
    (what `encode_data_chunk` writes) becomes a `_DataChunk` viewing
    `serialised`, with no copy. Anything else goes to protobuf's parser,
    which raises DecodeError on malformed input.
    """
    if len(serialised) > 1 and serialised[0] == _DATA_TAG:
        length = 0
        shift = 0
        position = 1
        while position < len(serialised) and position <= 5:
            byte = serialised[position]
            length |= (byte & 0x7F) << shift
            position += 1
            if not byte & 0x80:
                if position + length == len(serialised):
                    return _DataChunk(memoryview(serialised)[position:])
                break
            shift += 7
    return peer_pb2.EnvelopeChunk.FromString(serialised)


class PinnedCertificates:
    """The pinned certificate of every party of a deployment.

    Build it once from a deployment (party id -> (address, certificate
    PEM)) and look callers up by certificate.
    """

    def __init__(self, deployment: Deployment) -> None:
        if not deployment:
            raise ValueError("deployment must list at least one party")
        self._certs: dict[str, bytes] = {}
        self._parties: dict[str, str] = {}
        for party_id, (_address, cert_pem) in deployment.items():
            certs.check_party_id(party_id)
            digest = certs.fingerprint(cert_pem)
            if digest in self._parties:
                raise ValueError(
                    f"parties {self._parties[digest]!r} and {party_id!r} "
                    f"pin the same certificate"
                )
            self._certs[party_id] = cert_pem
            self._parties[digest] = party_id

    def __contains__(self, party_id: object) -> bool:
        return party_id in self._certs

    def certificate(self, party_id: str) -> bytes:
        """Return the pinned certificate PEM of `party_id` (KeyError)."""
        return self._certs[party_id]

    def party_of(self, cert_pem: bytes) -> str | None:
        """Return the party whose pinned certificate this is, or None."""
        try:
            digest = certs.fingerprint(cert_pem)
        except ValueError:
            return None
        return self._parties.get(digest)

    def trust_roots(self) -> bytes:
        """Return all pinned certificates, concatenated as a PEM bundle."""
        return b"".join(
            pem if pem.endswith(b"\n") else pem + b"\n"
            for pem in self._certs.values()
        )


def _check_own_identity(
    party_id: str,
    key_pem: bytes,
    cert_pem: bytes,
    pinned: PinnedCertificates,
) -> None:
    if party_id not in pinned:
        raise ValueError(f"party {party_id!r} is not in the deployment")
    if pinned.party_of(cert_pem) != party_id:
        raise ValueError(
            f"cert_pem is not the certificate pinned for party {party_id!r}"
        )
    key = certs.load_private_key_pem(key_pem)
    probe = b"key matches certificate"
    if not certs.verify(cert_pem, probe, certs.sign(key, probe)):
        raise ValueError(
            f"key_pem does not belong to the certificate of {party_id!r}"
        )


async def authenticated_party(
    context: grpc.aio.ServicerContext,
    deployment: Deployment | PinnedCertificates,
) -> str:
    """Return the party whose pinned certificate the caller presented.

    Aborts the call with UNAUTHENTICATED when the caller presented no
    certificate, and with PERMISSION_DENIED when its certificate is not
    pinned for any party of `deployment`.
    """
    if not isinstance(deployment, PinnedCertificates):
        deployment = PinnedCertificates(deployment)
    presented = context.auth_context().get("x509_pem_cert")
    if not presented:
        await _reject(
            context,
            "unknown",
            grpc.StatusCode.UNAUTHENTICATED,
            "no client certificate: connect with mutual TLS",
        )
    party_id = deployment.party_of(presented[0])
    if party_id is None:
        names = context.auth_context().get("x509_common_name", [b"?"])
        common_name = names[0].decode("utf-8", "replace")[:64]
        await _reject(
            context,
            "unknown",
            grpc.StatusCode.PERMISSION_DENIED,
            f"client certificate (common name {common_name!r}) is not "
            f"pinned for any party of this deployment",
        )
    return party_id


_rejections: dict[tuple[str, str], int] = {}


async def _reject(
    context: grpc.aio.ServicerContext,
    party: str,
    code: grpc.StatusCode,
    details: str,
) -> NoReturn:
    """Log the rejection of a call from `party`, then abort the call."""
    # A misbehaving peer can send many bad calls, so each (party, code)
    # pair is logged the first 10 times and then every 1000th time. The
    # party is a pinned id or "unknown", so the counters stay few.
    key = (party, code.name)
    count = _rejections.get(key, 0) + 1
    _rejections[key] = count
    if count <= 10 or count % 1000 == 0:
        logger.warning(
            "rejected call from party %r with %s: %s (%d so far)",
            party,
            code.name,
            details,
            count,
        )
    await context.abort(code, details)


def _with_auth_check(
    handler: grpc.RpcMethodHandler,
    check: Callable[[grpc.aio.ServicerContext], Awaitable[Any]],
) -> grpc.RpcMethodHandler:
    """Return `handler` with `check(context)` awaited before its behavior.

    A unary request that does not parse is rejected with INVALID_ARGUMENT
    after the check, instead of failing inside gRPC as UNKNOWN with a
    logged traceback.
    """
    options = {
        "request_deserializer": _safe_deserializer(
            handler.request_deserializer),
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        unary = handler.unary_unary

        async def unary_unary(request: Any, context: Any) -> Any:
            await check(context)
            await _reject_undecodable(request, context)
            return await _resolve(unary(request, context))

        return grpc.unary_unary_rpc_method_handler(unary_unary, **options)

    if handler.stream_unary is not None:
        client_stream = handler.stream_unary

        async def stream_unary(requests: Any, context: Any) -> Any:
            await check(context)

            async def parsed() -> AsyncIterator[Any]:
                async for request in requests:
                    await _reject_undecodable(request, context)
                    yield request

            return await _resolve(client_stream(parsed(), context))

        return grpc.stream_unary_rpc_method_handler(stream_unary, **options)

    if handler.unary_stream is not None:
        server_stream = handler.unary_stream

        async def unary_stream(request: Any, context: Any) -> Any:
            await check(context)
            await _reject_undecodable(request, context)
            async for item in _responses(server_stream(request, context)):
                yield item

        return grpc.unary_stream_rpc_method_handler(unary_stream, **options)

    bidi_stream = handler.stream_stream

    async def stream_stream(requests: Any, context: Any) -> Any:
        await check(context)
        async for item in _responses(bidi_stream(requests, context)):
            yield item

    return grpc.stream_stream_rpc_method_handler(stream_stream, **options)


_UNDECODABLE = object()
"""What the safe deserializer returns for bytes that do not parse."""


def _safe_deserializer(
    deserializer: Callable[[bytes], Any] | None,
) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception:  # DecodeError, or anything a parser raises
            return _UNDECODABLE

    return parse


async def _reject_undecodable(request: Any, context: Any) -> None:
    if request is _UNDECODABLE:
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            "request is not a valid protobuf message of this method",
        )


async def _resolve(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


async def _responses(result: Any) -> AsyncIterator[Any]:
    # A streaming behavior is an async generator, or a coroutine that
    # writes its responses with context.write and returns None.
    if hasattr(result, "__aiter__"):
        async for item in result:
            yield item
    else:
        await _resolve(result)


class _PinnedCallerInterceptor(grpc.aio.ServerInterceptor):
    """Admit only callers whose certificate is pinned for some party."""

    def __init__(self, pinned: PinnedCertificates) -> None:
        self._pinned = pinned

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        if handler_call_details.method == DELIVER_STREAM_METHOD:
            handler = handler._replace(request_deserializer=parse_chunk)
        return _with_auth_check(handler, self._check)

    async def _check(self, context: grpc.aio.ServicerContext) -> None:
        await authenticated_party(context, self._pinned)


class _PeerServicer(peer_pb2_grpc.PeerServicer):
    """Checks each peer request and hands it to the party's handler."""

    def __init__(self, pinned: PinnedCertificates, handler: Handler) -> None:
        self._pinned = pinned
        self._handler = handler
        # One stream body is read at a time while the others wait, held
        # back by HTTP/2 flow control. So memory is one body, not one per
        # peer.
        self._stream_slot = asyncio.Semaphore(1)

    async def Deliver(
        self, request: peer_pb2.Envelope, context: grpc.aio.ServicerContext
    ) -> peer_pb2.DeliverResponse:
        await self._check_claim(context, request.job_id, request.sender)
        if not PHASE_PATTERN.fullmatch(request.phase):
            await _reject(
                context,
                request.sender,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"phase must be 1 to {MAX_PHASE_CHARS} characters of "
                f"a-z, 0-9, '_', '.', '-', starting with a letter, got "
                f"{request.phase[: MAX_PHASE_CHARS + 8]!r}",
            )
        signed = envelope_signing_bytes(
            request.job_id, request.sender, request.phase, request.body
        )
        await self._check_signature(
            context, request.sender, signed, request.signature
        )

        message = Message(
            job_id=request.job_id,
            sender=request.sender,
            phase=request.phase,
            body=request.body,
        )
        await self._call_handler(
            context,
            lambda: self._handler.on_message(message),
            request.sender,
            request.job_id,
        )
        return peer_pb2.DeliverResponse()

    async def DeliverStream(
        self, requests: Any, context: grpc.aio.ServicerContext
    ) -> peer_pb2.DeliverResponse:
        chunks = requests.__aiter__()
        try:
            first = await chunks.__anext__()
        except StopAsyncIteration:
            first = None
        if first is None or first.WhichOneof("part") != "header":
            caller = await authenticated_party(context, self._pinned)
            await _reject(
                context,
                caller,
                grpc.StatusCode.INVALID_ARGUMENT,
                "a DeliverStream call must start with a header chunk",
            )
        header = first.header
        await self._check_claim(context, header.job_id, header.sender)
        await self._check_phase(context, header.sender, header.phase)
        if (
            len(header.body_sha256) != SHA256_BYTES
            or header.body_size > MAX_STREAM_BODY_BYTES
        ):
            await _reject(
                context,
                header.sender,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"a stream header needs a {SHA256_BYTES}-byte SHA-256 and "
                f"a body of at most {MAX_STREAM_BODY_BYTES} bytes",
            )
        signed = stream_signing_bytes(
            header.job_id,
            header.sender,
            header.phase,
            header.body_size,
            header.body_sha256,
        )
        await self._check_signature(
            context, header.sender, signed, header.signature
        )

        async with self._stream_slot:
            body = await self._read_body(context, header, chunks)
            message = Message(
                job_id=header.job_id,
                sender=header.sender,
                phase=header.phase,
                body=body,
                body_sha256=header.body_sha256,
            )
            del body
            await self._call_handler(
                context,
                lambda: self._handler.on_message(message),
                header.sender,
                header.job_id,
            )
        return peer_pb2.DeliverResponse()

    async def _read_body(
        self,
        context: grpc.aio.ServicerContext,
        header: peer_pb2.EnvelopeHeader,
        chunks: Any,
    ) -> bytes:
        """Read a stream's body chunks and check them against the header."""
        parts: list[bytes] = []
        received = 0
        digest = hashlib.sha256()
        async for chunk in chunks:
            data = chunk.data if chunk.WhichOneof("part") == "data" else None
            if data is None or len(data) > CHUNK_BYTES:
                await _reject(
                    context,
                    header.sender,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"after its header a stream carries data chunks of at "
                    f"most {CHUNK_BYTES} bytes",
                )
            received += len(data)
            if received > header.body_size:
                await _reject(
                    context,
                    header.sender,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"stream body exceeds its announced {header.body_size} "
                    "bytes",
                )
            digest.update(data)
            parts.append(data)
        if received != header.body_size:
            await _reject(
                context,
                header.sender,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"stream ended after {received} of {header.body_size} "
                "body bytes",
            )
        if digest.digest() != header.body_sha256:
            await _reject(
                context,
                header.sender,
                grpc.StatusCode.UNAUTHENTICATED,
                f"stream body of party {header.sender!r} does not match "
                "its signed digest",
            )
        body = b"".join(parts)
        parts.clear()
        return body

    async def _check_phase(
        self, context: grpc.aio.ServicerContext, sender: str, phase: str
    ) -> None:
        if not PHASE_PATTERN.fullmatch(phase):
            await _reject(
                context,
                sender,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"phase must be 1 to {MAX_PHASE_CHARS} characters of "
                f"a-z, 0-9, '_', '.', '-', starting with a letter, got "
                f"{phase[: MAX_PHASE_CHARS + 8]!r}",
            )

    async def Propose(
        self,
        request: peer_pb2.ProposeRequest,
        context: grpc.aio.ServicerContext,
    ) -> peer_pb2.ProposeResponse:
        await self._check_claim(context, request.job_id, request.initiator)
        signed = proposal_signing_bytes(
            request.job_id, request.initiator, request.spec
        )
        await self._check_signature(
            context, request.initiator, signed, request.signature
        )

        proposal = Proposal(
            job_id=request.job_id,
            initiator=request.initiator,
            spec=request.spec,
        )
        reply = await self._call_handler(
            context,
            lambda: self._handler.on_propose(proposal),
            request.initiator,
            request.job_id,
        )
        return peer_pb2.ProposeResponse(
            accepted=reply.accepted,
            reason=reply.reason,
            declaration=reply.declaration,
        )

    async def _check_claim(
        self, context: grpc.aio.ServicerContext, job_id: bytes, claimed: str
    ) -> str:
        """Abort unless the request is for a valid job id and names the
        party whose certificate the caller presented; return that party."""
        caller = await authenticated_party(context, self._pinned)
        if len(job_id) != JOB_ID_BYTES:
            await _reject(
                context,
                caller,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"job_id must be {JOB_ID_BYTES} bytes, got {len(job_id)}",
            )
        if claimed not in self._pinned:
            await _reject(
                context,
                caller,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"party {claimed[:64]!r} is not in the deployment",
            )
        if caller != claimed:
            await _reject(
                context,
                caller,
                grpc.StatusCode.PERMISSION_DENIED,
                f"request claims to come from party {claimed!r}, but the "
                f"client certificate is the one pinned for {caller!r}",
            )
        return caller

    async def _check_signature(
        self,
        context: grpc.aio.ServicerContext,
        party_id: str,
        signed: bytes,
        signature: bytes,
    ) -> None:
        cert_pem = self._pinned.certificate(party_id)
        if not certs.verify(cert_pem, signed, signature):
            await _reject(
                context,
                party_id,
                grpc.StatusCode.UNAUTHENTICATED,
                f"signature of party {party_id!r} does not verify",
            )

    async def _call_handler(
        self,
        context: grpc.aio.ServicerContext,
        call: Callable[[], Awaitable[Any]],
        party_id: str,
        job_id: bytes,
    ) -> Any:
        """Await the handler and map its errors to status codes."""
        try:
            return await call()
        except ValueError as exc:
            details = str(exc) or "request rejected by the handler"
        except Exception:
            logger.exception(
                "handler failed on a request from party %r in job %s",
                party_id,
                job_id.hex(),
            )
            details = ""
        if details:
            await _reject(
                context, party_id, grpc.StatusCode.INVALID_ARGUMENT, details
            )
        await context.abort(
            grpc.StatusCode.INTERNAL,
            "internal error while handling the request; see the log of "
            "the receiving party",
        )


def _message_size_options() -> list[tuple[str, Any]]:
    return [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ]


def build_server(
    party_id: str,
    key_pem: bytes,
    cert_pem: bytes,
    deployment: Deployment,
    listen: str,
    handler: Handler,
    extra_servicers: Callable[[grpc.aio.Server], None] | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Create a party's server, bound to `listen` but not started.

    The server serves the peer service, plus whatever `extra_servicers`
    adds to it, over mutual TLS. It admits only clients whose certificate
    is pinned in `deployment`. `listen` is "host:port", and port 0 picks a
    free port. Returns the server and its bound port. Start it with
    `await server.start()` and stop it with `await server.stop(grace)`.
    Raises ValueError for an inconsistent identity and OSError when the
    address cannot be bound.
    """
    pinned = PinnedCertificates(deployment)
    _check_own_identity(party_id, key_pem, cert_pem, pinned)

    # gRPC sets SO_REUSEPORT by default on Linux, which would let a second
    # daemon bind the same port and receive part of the calls.
    options = _message_size_options() + [("grpc.so_reuseport", 0)]
    server = grpc.aio.server(
        interceptors=[_PinnedCallerInterceptor(pinned)], options=options
    )
    peer_pb2_grpc.add_PeerServicer_to_server(
        _PeerServicer(pinned, handler), server
    )
    if extra_servicers is not None:
        extra_servicers(server)

    credentials = grpc.ssl_server_credentials(
        [(key_pem, cert_pem)],
        root_certificates=pinned.trust_roots(),
        require_client_auth=True,
    )
    try:
        port = server.add_secure_port(listen, credentials)
    except RuntimeError as exc:
        raise OSError(f"cannot listen on {listen!r}: {exc}") from None
    if port == 0:
        raise OSError(f"cannot listen on {listen!r}")
    return server, port


def make_channel(
    address: str,
    party_id_expected: str,
    key_pem: bytes,
    cert_pem: bytes,
    root_pem: bytes,
) -> grpc.aio.Channel:
    """Open a mutual-TLS channel to the party `party_id_expected`.

    The client presents `key_pem` and `cert_pem`. The server must present
    a certificate that chains to `root_pem` (its pinned certificate) and
    names `party_id_expected`, which is checked as the TLS host name
    whatever host `address` ("host:port") names. Call it from a running
    event loop.
    """
    credentials = grpc.ssl_channel_credentials(
        root_certificates=root_pem,
        private_key=key_pem,
        certificate_chain=cert_pem,
    )
    options = _message_size_options() + [
        ("grpc.ssl_target_name_override", party_id_expected),
        ("grpc.max_reconnect_backoff_ms", _MAX_RECONNECT_BACKOFF_MS),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
    ]
    logger.debug(
        "opening channel to party %r at %s", party_id_expected, address
    )
    return grpc.aio.secure_channel(address, credentials, options=options)


def _describe(error: grpc.aio.AioRpcError) -> str:
    text = f"{error.code().name}: {error.details()}"
    if error.code() == grpc.StatusCode.UNAVAILABLE:
        text += (" (the daemon is down or unreachable, or TLS failed "
                 "because a deployment file pins another certificate; "
                 "`mpc check` tells which)")
    return text


async def _call_with_retry(
    method: Any, request: Any, timeout: float
) -> Any:
    """Call a unary RPC, retrying while the peer is UNAVAILABLE.

    A peer that just restarted refuses connections for a moment, and a
    channel in reconnect backoff fails at once; retrying for up to
    UNAVAILABLE_RETRY_SECONDS (within `timeout`) rides over both. The
    peer methods are idempotent: a repeated proposal gets the same reply
    and a byte-identical repeated message is ignored.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    retry_until = loop.time() + min(timeout, UNAVAILABLE_RETRY_SECONDS)
    pause = 0.1
    while True:
        remaining = deadline - loop.time()
        try:
            return await method(request, timeout=max(remaining, 0.001))
        except grpc.aio.AioRpcError as exc:
            if (exc.code() != grpc.StatusCode.UNAVAILABLE
                    or loop.time() + pause >= retry_until):
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 1.0)


class GrpcTransport(Transport):
    """A party's client side: sends its traffic to peers over gRPC."""

    def __init__(
        self,
        party_id: str,
        key_pem: bytes,
        cert_pem: bytes,
        deployment: Deployment,
    ) -> None:
        pinned = PinnedCertificates(deployment)
        _check_own_identity(party_id, key_pem, cert_pem, pinned)
        self.party_id = party_id
        self._key_pem = key_pem
        self._cert_pem = cert_pem
        self._key = certs.load_private_key_pem(key_pem)
        self._deployment = dict(deployment)
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._stubs: dict[str, peer_pb2_grpc.PeerStub] = {}
        self._stream_calls: dict[str, grpc.aio.StreamUnaryMultiCallable] = {}
        # [body, SHA-256, sends in flight] of each body being streamed,
        # keyed by id(body), so a broadcast hashes its body once, not once
        # per peer. The entry keeps the body alive, so its id is not
        # reused while the entry exists.
        self._digests: dict[int, list[Any]] = {}
        self._closed = False
        self.traffic = TrafficCounter()
        """Serialised request bytes and calls sent, per peer too."""

    def _stub(self, recipient: str) -> peer_pb2_grpc.PeerStub:
        if self._closed:
            raise TransportError(recipient, "transport is closed")
        stub = self._stubs.get(recipient)
        if stub is not None:
            return stub
        if recipient not in self._deployment:
            raise TransportError(recipient, "party is not in the deployment")
        address, root_pem = self._deployment[recipient]
        channel = make_channel(
            address, recipient, self._key_pem, self._cert_pem, root_pem
        )
        self._channels[recipient] = channel
        stub = peer_pb2_grpc.PeerStub(channel)
        self._stubs[recipient] = stub
        # DeliverStream with chunks serialised by `encode_data_chunk`.
        self._stream_calls[recipient] = channel.stream_unary(
            DELIVER_STREAM_METHOD,
            request_serializer=None,
            response_deserializer=peer_pb2.DeliverResponse.FromString,
        )
        return stub

    async def send(
        self, recipient: str, message: Message, timeout: float
    ) -> None:
        """Deliver `message` to `recipient` within `timeout` seconds.

        Raises TransportError when the call fails or its deadline passes,
        and ValueError when `message.sender` is not this party.
        """
        if message.sender != self.party_id:
            raise ValueError(
                f"message.sender must be this party {self.party_id!r}, "
                f"got {message.sender!r}"
            )
        stub = self._stub(recipient)
        if memoryview(message.body).nbytes > STREAM_THRESHOLD:
            await self._send_stream(recipient, message, timeout)
            return
        body = bytes(message.body)  # No copy when it is bytes already.
        signed = envelope_signing_bytes(
            message.job_id, message.sender, message.phase, body
        )
        envelope = peer_pb2.Envelope(
            job_id=message.job_id,
            sender=message.sender,
            phase=message.phase,
            body=body,
            signature=certs.sign(self._key, signed),
        )
        self._count(recipient, envelope.ByteSize())
        try:
            await _call_with_retry(stub.Deliver, envelope, timeout)
        except grpc.aio.AioRpcError as exc:
            raise TransportError(recipient, _describe(exc)) from None

    def _count(self, recipient: str, size: int) -> None:
        traffic = self.traffic
        traffic.bytes_sent += size
        traffic.messages_sent += 1
        traffic.per_peer_sent[recipient] = (
            traffic.per_peer_sent.get(recipient, 0) + size
        )

    async def _send_stream(
        self, recipient: str, message: Message, timeout: float
    ) -> None:
        """Send a large body as a header and chunks of CHUNK_BYTES."""
        key = id(message.body)
        entry = self._digests.get(key)
        if entry is None:
            digest = hashlib.sha256(message.body).digest()
            entry = self._digests[key] = [message.body, digest, 0]
        entry[2] += 1
        try:
            await self._stream_body(recipient, message, entry[1], timeout)
        finally:
            entry[2] -= 1
            if entry[2] == 0:
                del self._digests[key]

    async def _stream_body(
        self, recipient: str, message: Message, digest: bytes,
        timeout: float,
    ) -> None:
        view = memoryview(message.body).cast("B")
        signed = stream_signing_bytes(
            message.job_id, message.sender, message.phase, len(view),
            digest,
        )
        header = peer_pb2.EnvelopeHeader(
            job_id=message.job_id,
            sender=message.sender,
            phase=message.phase,
            body_size=len(view),
            body_sha256=digest,
            signature=certs.sign(self._key, signed),
        )
        first = peer_pb2.EnvelopeChunk(header=header).SerializeToString()

        async def chunks() -> AsyncIterator[bytes]:
            self._count(recipient, len(first))
            yield first
            for start in range(0, len(view), CHUNK_BYTES):
                chunk = encode_data_chunk(view[start:start + CHUNK_BYTES])
                self._count(recipient, len(chunk))
                yield chunk

        stream_call = self._stream_calls[recipient]

        def call(_request: None, timeout: float) -> Any:
            # Each try streams the body again from its first chunk.
            return stream_call(chunks(), timeout=timeout)

        try:
            await _call_with_retry(call, None, timeout)
        except grpc.aio.AioRpcError as exc:
            raise TransportError(recipient, _describe(exc)) from None

    async def propose(
        self, recipient: str, proposal: Proposal, timeout: float
    ) -> ProposeReply:
        """Send `proposal` to `recipient` and return its reply.

        Raises TransportError when the call fails or its deadline passes,
        and ValueError when `proposal.initiator` is not this party.
        """
        if proposal.initiator != self.party_id:
            raise ValueError(
                f"proposal.initiator must be this party {self.party_id!r}, "
                f"got {proposal.initiator!r}"
            )
        stub = self._stub(recipient)
        signed = proposal_signing_bytes(
            proposal.job_id, proposal.initiator, proposal.spec
        )
        request = peer_pb2.ProposeRequest(
            job_id=proposal.job_id,
            initiator=proposal.initiator,
            spec=proposal.spec,
            signature=certs.sign(self._key, signed),
        )
        try:
            response = await _call_with_retry(stub.Propose, request,
                                              timeout)
        except grpc.aio.AioRpcError as exc:
            raise TransportError(recipient, _describe(exc)) from None
        return ProposeReply(
            accepted=response.accepted,
            reason=response.reason,
            declaration=response.declaration,
        )

    async def close(self, grace: float | None = 1.0) -> None:
        """Close every channel, giving calls in flight `grace` seconds."""
        self._closed = True
        channels = list(self._channels.values())
        self._channels.clear()
        self._stubs.clear()
        self._stream_calls.clear()
        for channel in channels:
            await channel.close(grace)
