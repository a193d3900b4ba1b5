"""Preflight checks of a party's deployment: `mpc check`.

For every party in the deployment file, the check opens a mutual-TLS
channel that trusts only that party's pinned certificate and calls the
gRPC health service. A SERVING response proves three things: the address
is reachable, the daemon there has the private key of the pinned certificate,
and that daemon accepts this party's certificate.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from parties import config as cfg
from parties.certs import fingerprint
from parties.transport import make_channel

PEER_SERVICE = "mpc.v1.Peer"
DEFAULT_TIMEOUT = 5.0


@dataclass
class PeerCheck:
    """The outcome of checking one party of the deployment."""

    party_id: str
    address: str
    fingerprint: str
    ok: bool
    status: str
    latency_ms: float | None
    problem: str = ""


def _explain(error: grpc.aio.AioRpcError, peer: cfg.PeerInfo) -> str:
    code, details = error.code(), error.details() or ""
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return (f"no answer from {peer.address} in time: the daemon may be "
                "frozen or a firewall drops the traffic")
    if code == grpc.StatusCode.UNAVAILABLE:
        lowered = details.lower()
        tls = any(word in lowered for word in ("ssl", "certificate",
                                                "handshake", "tls"))
        if not tls:
            return (f"cannot connect to {peer.address}: is `mpc serve` "
                    "running there, and is the address in the deployment "
                    f"file right? ({details})")
        return (f"TLS with {peer.party_id} failed: the daemon at "
                f"{peer.address} may hold a certificate other than the "
                "pinned one, or may not pin this party's certificate "
                f"({details})")
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return (f"{peer.party_id} rejected this party's certificate: its "
                f"deployment file pins another one ({details})")
    return f"{code.name}: {details}"


async def check_peer(config: cfg.PartyConfig, peer: cfg.PeerInfo,
                     timeout: float = DEFAULT_TIMEOUT) -> PeerCheck:
    """Check one party's reachability and identity."""
    result = PeerCheck(peer.party_id, peer.address,
                       fingerprint(peer.certificate_pem), False,
                       "unknown", None)
    channel = make_channel(
        peer.address, peer.party_id, config.key_path.read_bytes(),
        config.certificate_path.read_bytes(), peer.certificate_pem,
    )
    started = time.monotonic()
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(
            health_pb2.HealthCheckRequest(service=PEER_SERVICE),
            timeout=timeout,
        )
        result.latency_ms = round((time.monotonic() - started) * 1000, 1)
        result.status = health_pb2.HealthCheckResponse.ServingStatus.Name(
            reply.status)
        result.ok = reply.status == health_pb2.HealthCheckResponse.SERVING
        if not result.ok:
            result.problem = f"the daemon reports {result.status}"
    except grpc.aio.AioRpcError as error:
        result.status = "unreachable"
        result.problem = _explain(error, peer)
    finally:
        await channel.close()
    return result


async def check_deployment(config: cfg.PartyConfig,
                           timeout: float = DEFAULT_TIMEOUT
                           ) -> list[PeerCheck]:
    """Check every party of the deployment, this one included, at once."""
    deployment = cfg.load_deployment(config.deployment_path)
    return list(await asyncio.gather(*(
        check_peer(config, peer, timeout)
        for peer in deployment.parties.values()
    )))


def as_dicts(results: list[PeerCheck]) -> list[dict]:
    return [asdict(r) for r in results]
