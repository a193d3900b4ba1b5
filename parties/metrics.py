"""Prometheus metrics of a party daemon (off unless the config enables
them).

Each daemon keeps its own registry, so several daemons in one process
(tests, simulations) do not mix their figures. No metric carries an input,
a share, a seed, noise or a key: only counts, durations, byte totals and
budget figures that the party's own operator may see.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.exposition import generate_latest

from mpc.transport import (
    Handler,
    Message,
    Proposal,
    ProposeReply,
    Transport,
)

PHASE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class DaemonMetrics:
    """The metrics one daemon exports."""

    def __init__(self, party_id: str) -> None:
        self.registry = CollectorRegistry()
        labels = {"registry": self.registry}
        self.jobs = Counter(
            "mpc_jobs_total", "Jobs that ended, by outcome.",
            ["outcome"], **labels)
        self.phase_seconds = Histogram(
            "mpc_phase_duration_seconds", "Time spent in each job phase.",
            ["phase"], buckets=PHASE_BUCKETS, **labels)
        self.bytes_sent = Counter(
            "mpc_peer_bytes_sent_total",
            "Message body bytes sent to each peer.", ["peer"], **labels)
        self.bytes_received = Counter(
            "mpc_peer_bytes_received_total",
            "Message body bytes received from each peer.", ["peer"],
            **labels)
        self.proof_failures = Counter(
            "mpc_proof_verification_failures_total",
            "Peers' commit bundles that failed verification.", ["peer"],
            **labels)
        self.budget_remaining = Gauge(
            "mpc_budget_remaining_epsilon",
            "Epsilon left under each dataset's cap.", ["dataset"], **labels)
        self.budget_remaining_delta = Gauge(
            "mpc_budget_remaining_delta",
            "Delta left under each dataset's cap.", ["dataset"], **labels)
        info = Gauge("mpc_party_info", "The party this daemon serves.",
                     ["party_id"], **labels)
        info.labels(party_id=party_id).set(1)

    def update_budget(self, budget: dict[str, dict[str, float]]) -> None:
        """Set the budget gauges from Store.budget()."""
        for dataset, row in budget.items():
            self.budget_remaining.labels(dataset=dataset).set(
                row["remaining_epsilon"])
            self.budget_remaining_delta.labels(dataset=dataset).set(
                row["remaining_delta"])

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics over plain HTTP; return the bound port.

        Bind it to loopback or a monitoring network only: the figures are
        the operator's, not the peers'.
        """
        server, _ = start_http_server(port, addr=host,
                                      registry=self.registry)
        return server.server_address[1]

    def render(self) -> bytes:
        """Return the metrics in the Prometheus text format."""
        return generate_latest(self.registry)


class CountingTransport(Transport):
    """A transport that counts the bytes it sends to each peer."""

    def __init__(self, inner: Transport, metrics: DaemonMetrics) -> None:
        self.inner = inner
        self.metrics = metrics
        self.party_id = inner.party_id

    async def send(self, recipient: str, message: Message,
                   timeout: float) -> None:
        self.metrics.bytes_sent.labels(peer=recipient).inc(
            len(message.body))
        await self.inner.send(recipient, message, timeout)

    async def propose(self, recipient: str, proposal: Proposal,
                      timeout: float) -> ProposeReply:
        self.metrics.bytes_sent.labels(peer=recipient).inc(
            len(proposal.spec))
        return await self.inner.propose(recipient, proposal, timeout)


class CountingHandler:
    """A handler that counts the bytes each peer sends, then delegates."""

    def __init__(self, inner: Handler, metrics: DaemonMetrics) -> None:
        self.inner = inner
        self.metrics = metrics

    async def on_propose(self, proposal: Proposal) -> ProposeReply:
        self.metrics.bytes_received.labels(peer=proposal.initiator).inc(
            len(proposal.spec))
        return await self.inner.on_propose(proposal)

    async def on_message(self, message: Message) -> None:
        self.metrics.bytes_received.labels(peer=message.sender).inc(
            len(message.body))
        await self.inner.on_message(message)
