"""Crashes, silence and restarts.

Real daemons over mutual TLS on 127.0.0.1, started through
tests/fault_launcher.py so that one of them freezes itself (SIGSTOP) at an
exact point of a job. The test then kills it (SIGKILL) or leaves it frozen
and later lets it go on (SIGCONT). The other parties must abort within the
phase deadline naming the silent party and the phase, go on serving, and
every party's budget ledger must stay exact. One cluster serves the whole
module; only the victim is restarted between cases.

The in-memory tests at the end cover repeated proposals and messages and
the monotonic deadlines without daemons.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.csv as pacsv
import pytest
from daemon_tools import (
    WAIT_LIMIT,
    budgets,
    child_pids,
    clients,
    process_state,
    run_job,
    wait_ended,
)

from mpc import job as jobs
from mpc.job import Hooks, Party
from mpc.spec import parse_spec
from mpc.transport import (
    JOB_ID_BYTES,
    MemoryNetwork,
    MemoryTransport,
    Message,
    Proposal,
    TransportError,
)
from parties import config as cfg
from parties.cluster import LocalCluster
from parties.daemon import DAEMON_INFO_FILE
from parties.demo import load_adult
from parties.store import Store
from parties.transport import GrpcTransport

PARTIES = ("alice", "bob", "carol")
ROWS = {"alice": 900, "bob": 600, "carol": 300}
PHASE_TIMEOUT = 2.5
# How much later than the phase deadline the other parties may record
# the abort: the abort notice, store writes and polling on 2 loaded cores.
ABORT_SLACK = 2.5
EPSILON = 0.1
LAUNCHER = Path(__file__).with_name("fault_launcher.py")
FREEZE_ENV = "MPC_TEST_FREEZE_FILE"  # As read by fault_launcher.py.


def job_table(name: str, parties: tuple[str, ...] = PARTIES) -> dict:
    return {
        "name": name, "parties": list(parties), "epsilon": EPSILON,
        "delta": 1e-8, "phase_timeout": PHASE_TIMEOUT,
        "query": [{
            "name": "rich", "kind": "count", "dataset": "adult",
            "filter": {"column": "class", "op": "==", "value": ">50K"},
        }],
    }


class FaultCluster(LocalCluster):
    """A LocalCluster whose daemons run through tests/fault_launcher.py."""

    def freeze_file(self, party_id: str) -> Path:
        return self.root / party_id / "freeze-at"

    def freeze_at(self, party_id: str, point: str) -> None:
        self.freeze_file(party_id).write_text(point)

    def start(self, party_id: str) -> None:
        (self.root / party_id / "state" / DAEMON_INFO_FILE).unlink(
            missing_ok=True)
        self.freeze_file(party_id).unlink(missing_ok=True)
        env = dict(os.environ, **{FREEZE_ENV: str(self.freeze_file(party_id))})
        with open(self.log_path(party_id), "ab") as log:
            self.processes[party_id] = subprocess.Popen(
                [sys.executable, str(LAUNCHER), "serve", "--config",
                 str(self.config_path(party_id))],
                stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=env,
            )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    table = load_adult()
    data = tmp_path_factory.mktemp("data")
    datasets, start = {}, 0
    for party, rows in ROWS.items():
        path = data / f"{party}.csv"
        pacsv.write_csv(table.slice(start, rows), path)
        start += rows
        datasets[party] = {"adult": path}
    cluster = FaultCluster(tmp_path_factory.mktemp("cluster"), datasets,
                           max_epsilon=100.0, phase_timeout=PHASE_TIMEOUT)
    cluster.setup()
    cluster.start_all()
    yield cluster
    cluster.stop_all()


async def wait_frozen(cluster: LocalCluster, party: str) -> float:
    """Wait until a daemon has stopped itself; return the monotonic time."""
    pid = cluster.processes[party].pid
    deadline = time.monotonic() + WAIT_LIMIT
    while time.monotonic() < deadline:
        if process_state(pid) == "T":
            return time.monotonic()
        await asyncio.sleep(0.01)
    raise AssertionError(f"{party} never froze; log:\n{cluster.tail(party)}")


async def completed_results(client) -> dict[str, dict]:
    """Return the result of every job a party has completed, by job id."""
    return {job["job_id"]: job["result"] for job in await client.jobs(10_000)
            if job["state"] == "completed"}


def assert_ledger(before: dict, after: dict, spent: float) -> None:
    """Check that a party spent exactly `spent` and has nothing reserved."""
    assert after["spent_epsilon"] - before["spent_epsilon"] == \
        pytest.approx(spent, abs=1e-9)
    assert after["reserved_epsilon"] == pytest.approx(0.0, abs=1e-12)


@dataclass(frozen=True)
class Silence:
    """A party that goes silent at one point of a job."""

    victim: str
    point: str
    """Where it freezes: a phase, or "admitted" (propose, budget reserved,
    reply not sent)."""
    phase: str
    """The phase it was in, as its store records it."""
    abort_phase: str | None
    """The phase in which the others abort, or None when they complete."""
    others_reveal: bool
    """Whether the others reveal (and so spend their budget) first."""


SILENCES = [
    Silence("carol", "admitted", "propose", "propose", False),
    Silence("carol", "commit", "commit", "commit", False),
    Silence("carol", "echo", "echo", "echo", False),
    Silence("carol", "share", "share", "share", False),
    # Verify sends nothing: the others notice in the reveal that follows.
    Silence("carol", "verify", "verify", "reveal", True),
    Silence("carol", "reveal", "reveal", "reveal", True),
    # Carol has sent her reveal, so the others need nothing more from her.
    Silence("carol", "check", "check", None, True),
    # The initiator itself.
    Silence("alice", "commit", "commit", "commit", False),
    Silence("alice", "share", "share", "share", False),
]


@pytest.mark.e2e
@pytest.mark.parametrize("action", ["kill", "stop"])
@pytest.mark.parametrize(
    "silence", SILENCES, ids=[f"{s.victim}-{s.phase}" for s in SILENCES])
async def test_job_party_silent_in_phase(cluster, silence, action):
    victim = silence.victim
    others = [p for p in PARTIES if p != victim]
    async with clients(cluster, PARTIES) as opened:
        before = await budgets(opened)
        results = await completed_results(opened[victim])
    cluster.freeze_at(victim, silence.point)
    async with clients(cluster, ("alice",)) as opened:
        job_id = await opened["alice"].submit(
            job_table(f"{action}-{victim}-{silence.phase}"))
    frozen_at = await wait_frozen(cluster, victim)
    workers = child_pids(cluster.processes[victim].pid)
    if action == "kill":
        cluster.kill(victim)

    async with clients(cluster, others) as opened:
        ended = await asyncio.gather(
            *(wait_ended(opened[p], job_id) for p in others))
    for party, (job, at) in zip(others, ended):
        if silence.abort_phase is None:
            assert job["state"] == "completed", (party, job["reason"])
            assert job["result"]["verified"] is True
            continue
        assert job["state"] == "aborted", (party, job)
        assert job["phase"] == silence.abort_phase, (party, job)
        assert job["culprits"] == [victim], (party, job)
        assert victim in job["reason"], (party, job)
        assert at - frozen_at < PHASE_TIMEOUT + ABORT_SLACK, (party, job)

    if action == "kill":
        # The daemon's proof workers end with it.
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and any(
                process_state(w) not in ("", "Z") for w in workers):
            await asyncio.sleep(0.05)
        assert all(process_state(w) in ("", "Z") for w in workers)
        cluster.start(victim)
        cluster.wait_ready(victim)
    else:
        cluster.signal(victim, signal.SIGCONT)

    async with clients(cluster, PARTIES) as opened:
        job, _ = await wait_ended(opened[victim], job_id,
                                  2 * PHASE_TIMEOUT + WAIT_LIMIT)
        middle = await budgets(opened)
        history = [h["phase"] for h in job["history"]]
        # Every result the victim stored before stays as it was.
        kept = await completed_results(opened[victim])
        assert {j: kept.get(j) for j in results} == results
        if action == "kill":
            assert job["state"] == "aborted"
            assert job["reason"] == \
                f"daemon restarted during phase {silence.phase}"
            victim_spends = {silence.phase == "check"}
        elif job["state"] == "completed" or silence.phase in (
                "verify", "reveal", "check"):
            assert job["state"] == "completed" or silence.phase != "check"
            victim_spends = {True}
        else:
            # Let go after the others gave up, the victim may still get
            # as far as its reveal: messages sent to it while it was
            # frozen can reach it once it runs again.
            victim_spends = {False, True} if "reveal" in history \
                else {False}
        for party in PARTIES:
            spends = victim_spends if party == victim else \
                {silence.others_reveal}
            spent = middle[party]["spent_epsilon"] \
                - before[party]["spent_epsilon"]
            assert any(spent == pytest.approx(EPSILON if s else 0.0,
                                              abs=1e-9) for s in spends), \
                (party, spent, job)
            assert middle[party]["reserved_epsilon"] == \
                pytest.approx(0.0, abs=1e-12), party

        # Everyone goes on serving: the next job completes everywhere.
        after_job = await run_job(opened["alice"],
                                  job_table(f"after-{action}-{victim}"))
        assert after_job["state"] == "completed", after_job["reason"]
        after = await budgets(opened)
        for party in PARTIES:
            assert_ledger(middle[party], after[party], EPSILON)


def _alice_transport(cluster: LocalCluster) -> GrpcTransport:
    """A transport that speaks as alice, from this test process."""
    deployment = cfg.load_deployment(cluster.root / "deployment.toml")
    peers = {p.party_id: (p.address, p.certificate_pem)
             for p in deployment.parties.values()}
    directory = cluster.root / "alice"
    return GrpcTransport("alice", (directory / "alice.key").read_bytes(),
                         (directory / "alice.crt").read_bytes(), peers)


@pytest.mark.e2e
async def test_job_repeated_after_restart_is_idempotent(cluster):
    async with clients(cluster, ("alice", "bob")) as opened:
        cluster.freeze_at("carol", "commit")
        job_id = await opened["alice"].submit(job_table("restart"))
        await wait_frozen(cluster, "carol")
        cluster.kill("carol")
        for party in ("alice", "bob"):
            job, _ = await wait_ended(opened[party], job_id)
            assert job["state"] == "aborted"
    cluster.start("carol")
    cluster.wait_ready("carol")

    with Store(cluster.root / "alice" / "state") as store:
        spec = store.get_job(job_id).spec_json.encode()
    proposal = Proposal(bytes.fromhex(job_id), "alice", spec)
    late = Message(bytes.fromhex(job_id), "alice", "commit", b"late")
    unknown = Message(os.urandom(JOB_ID_BYTES), "alice", "commit", b"?")
    transport = _alice_transport(cluster)
    async with clients(cluster, PARTIES) as opened:
        before = await budgets(opened)
        try:
            # The same proposal again: a clean rejection, no new budget.
            for party in ("bob", "carol"):
                reply = await transport.propose(party, proposal, 5.0)
                assert not reply.accepted
                assert job_id in reply.reason
                assert "already" in reply.reason
            # A late message for the job: ignored by bob, which still
            # remembers the job, and rejected by carol, which restarted.
            await transport.send("bob", late, 5.0)
            with pytest.raises(TransportError, match="INVALID_ARGUMENT"):
                await transport.send("carol", late, 5.0)
            # A message for a job no party accepted is rejected.
            for party in ("bob", "carol"):
                with pytest.raises(TransportError,
                                   match="INVALID_ARGUMENT.*unknown job"):
                    await transport.send(party, unknown, 5.0)
        finally:
            await transport.close()
        assert await budgets(opened) == before
        carol_job = await opened["carol"].job(job_id)
        assert carol_job["state"] == "aborted"
        assert carol_job["reason"] == "daemon restarted during phase commit"
        after = await run_job(opened["alice"], job_table("after-restart"))
        assert after["state"] == "completed", after["reason"]


@pytest.mark.e2e
async def test_transport_frozen_peer_call_ends_at_deadline(cluster):
    timeout = 1.0
    message = Message(os.urandom(JOB_ID_BYTES), "alice", "commit", b"x")
    proposal = Proposal(os.urandom(JOB_ID_BYTES), "alice", b"{}")
    transport = _alice_transport(cluster)

    async def timed(call) -> float:
        started = time.monotonic()
        # A call whose deadline passes during the TLS handshake may fail
        # as UNAVAILABLE (handshake failed) rather than DEADLINE_EXCEEDED.
        with pytest.raises(TransportError,
                           match="DEADLINE_EXCEEDED|UNAVAILABLE"):
            await call
        return time.monotonic() - started

    try:
        # Frozen before any connection (the TLS handshake hangs), then
        # frozen with a connection open (the call hangs).
        for connected in (False, True):
            cluster.signal("bob", signal.SIGSTOP)
            try:
                sent = await timed(transport.send("bob", message, timeout))
                proposed = await timed(
                    transport.propose("bob", proposal, timeout))
            finally:
                cluster.signal("bob", signal.SIGCONT)
            assert sent < timeout + 0.5, (connected, sent)
            assert proposed < timeout + 0.5, (connected, proposed)
            # Awake, bob rejects the made-up job at once.
            with pytest.raises(TransportError, match="unknown job"):
                await transport.send("bob", message, 5.0)
    finally:
        await transport.close()
    async with clients(cluster, PARTIES) as opened:
        after = await run_job(opened["alice"], job_table("after-freeze"))
        assert after["state"] == "completed", after["reason"]


@pytest.mark.e2e
def test_daemon_logs_show_no_internal_error(cluster):
    for party in PARTIES:
        text = cluster.log_path(party).read_text(errors="replace")
        assert "Traceback" not in text, cluster.tail(party, 60)
        assert "internal error" not in text, cluster.tail(party, 60)


# In memory: repeated traffic and deadlines, without daemons.


def vector_job(parties, timeout=5.0):
    table = {
        "parties": list(parties), "mechanism": "none",
        "phase_timeout": timeout,
        "query": [{"name": "v", "kind": "vector", "length": 3,
                   "clip": [-100, 100]}],
    }
    return parse_spec(table, parties[0])


class CountingHooks(Hooks):
    """Hooks that count admissions and reveals."""

    def __init__(self, vector: list[int]) -> None:
        super().__init__(vectors={"v": vector})
        self.admitted = 0
        self.reveals = 0

    def admit(self, job_id, spec):
        self.admitted += 1
        return super().admit(job_id, spec)

    def before_reveal(self, job_id):
        self.reveals += 1


class TwiceTransport(MemoryTransport):
    """Delivers every message and proposal twice."""

    async def send(self, recipient, message, timeout):
        await super().send(recipient, message, timeout)
        await super().send(recipient, message, timeout)

    async def propose(self, recipient, proposal, timeout):
        first = await super().propose(recipient, proposal, timeout)
        second = await super().propose(recipient, proposal, timeout)
        assert second == first
        return first


def attach(network: MemoryNetwork, party: Party, twice: bool = False
           ) -> None:
    network.attach(party.party_id, party)
    cls = TwiceTransport if twice else MemoryTransport
    party.transport = cls(network, party.party_id)


VECTORS = {"alice": [1, -2, 3], "bob": [10, 20, -30], "carol": [7, 0, 7]}


async def test_job_duplicated_traffic_counts_each_party_once():
    network = MemoryNetwork()
    runtimes = {p: Party(p, CountingHooks(VECTORS[p])) for p in PARTIES}
    for runtime in runtimes.values():
        attach(network, runtime, twice=True)
    spec = vector_job(PARTIES)

    run = runtimes["alice"].start(spec)
    outcomes = {"alice": await run.task}
    for party in ("bob", "carol"):
        pending = runtimes[party].jobs.get(run.job_id)
        outcomes[party] = (await pending.task if pending
                           else runtimes[party].outcome(run.job_id))

    expected = [sum(v[k] for v in VECTORS.values()) for k in range(3)]
    for party, outcome in outcomes.items():
        assert outcome.state == "completed", outcome.reason
        assert outcome.result["queries"][0]["values"] == expected
        assert runtimes[party].hooks.admitted == 1
        assert runtimes[party].hooks.reveals == 1


async def test_party_repeated_proposal_admits_once():
    network = MemoryNetwork()
    bob = Party("bob", CountingHooks(VECTORS["bob"]))
    attach(network, bob)
    attach(network, Party("alice", Hooks()))
    spec = vector_job(("alice", "bob"), timeout=0.3)
    proposal = Proposal(os.urandom(JOB_ID_BYTES), "alice",
                        spec.to_json().encode())

    first = await bob.on_propose(proposal)
    again = await bob.on_propose(proposal)
    assert first.accepted
    assert again == first
    assert bob.hooks.admitted == 1
    # The same job id with another spec is refused.
    other = vector_job(("alice", "bob"), timeout=0.4).to_json().encode()
    with pytest.raises(ValueError, match="already used"):
        await bob.on_propose(Proposal(proposal.job_id, "alice", other))

    # Alice never starts it: bob gives up, and then refuses it cleanly.
    outcome = await bob.jobs[proposal.job_id].task
    await asyncio.sleep(0)  # Let the run retire.
    assert outcome.state == "aborted"
    assert outcome.culprits == ["alice"]
    assert bob.jobs == {}
    late = await bob.on_propose(proposal)
    assert not late.accepted
    assert "already aborted" in late.reason
    assert bob.hooks.admitted == 1


async def test_party_late_message_after_end_is_ignored():
    network = MemoryNetwork()
    runtimes = {p: Party(p, CountingHooks(VECTORS[p])) for p in PARTIES}
    for runtime in runtimes.values():
        attach(network, runtime)
    run = runtimes["alice"].start(vector_job(PARTIES))
    assert (await run.task).state == "completed"
    await asyncio.sleep(0.05)  # Let every party's run retire.
    bob = runtimes["bob"]
    assert bob.jobs == {}
    assert run.job_id in bob.finished

    for phase in ("share", "reveal", "abort"):
        await bob.on_message(Message(run.job_id, "carol", phase, b"late"))
    assert bob.outcome(run.job_id).state == "completed"
    with pytest.raises(ValueError, match="not a peer"):
        await bob.on_message(Message(run.job_id, "mallory", "share", b""))
    with pytest.raises(ValueError, match="unknown job"):
        await bob.on_message(
            Message(os.urandom(JOB_ID_BYTES), "carol", "share", b""))


async def test_party_finished_record_is_bounded():
    network = MemoryNetwork()
    runtimes = {p: Party(p, Hooks(vectors={"v": VECTORS[p]}))
                for p in ("alice", "bob")}
    for runtime in runtimes.values():
        runtime.finished_limit = 5
        attach(network, runtime)
    spec = vector_job(("alice", "bob"))
    ids = []
    for _ in range(8):
        run = runtimes["alice"].start(spec)
        assert (await run.task).state == "completed"
        ids.append(run.job_id)
    await asyncio.sleep(0.05)
    for runtime in runtimes.values():
        assert runtime.jobs == {}
        assert list(runtime.finished) == ids[-5:]


class MuteTransport(MemoryTransport):
    """Stops sending, without telling anyone, once `mute` is set."""

    mute = False

    async def send(self, recipient, message, timeout):
        if not self.mute:
            await super().send(recipient, message, timeout)


async def test_job_deadline_ignores_wall_clock_jumps(monkeypatch):
    # The wall clock leaps an hour at every reading; deadlines must not.
    wall = functools.partial(next, iter(range(10**9, 10**12, 3600)))
    monkeypatch.setattr(time, "time", wall)
    network = MemoryNetwork()
    runtimes = {p: Party(p, Hooks(vectors={"v": VECTORS[p]}))
                for p in PARTIES}
    for runtime in runtimes.values():
        attach(network, runtime)
    carol = runtimes["carol"]
    carol.transport = MuteTransport(network, "carol")
    spec = vector_job(PARTIES, timeout=0.5)

    outcome = await runtimes["alice"].submit(spec)
    assert outcome.state == "completed", outcome.reason

    class SilentAtShare(Hooks):
        def phase(self, job_id, phase, detail=""):
            if phase == "share":
                carol.transport.mute = True

    carol.hooks = SilentAtShare(vectors={"v": VECTORS["carol"]})
    started = time.monotonic()
    outcome = await runtimes["alice"].submit(spec)
    elapsed = time.monotonic() - started
    assert outcome.state == "aborted"
    assert outcome.culprits == ["carol"]
    assert outcome.phase == "share"
    assert 0.9 * spec.phase_timeout <= elapsed < spec.phase_timeout + 1.0


def test_job_rejected_proposal_keeps_no_run():
    async def scenario():
        network = MemoryNetwork()
        bob = Party("bob", Hooks())
        attach(network, bob)

        class Refusing(Hooks):
            def admit(self, job_id, spec):
                raise jobs.Rejected("not today")

        bob.hooks = Refusing()
        proposal = Proposal(os.urandom(JOB_ID_BYTES), "alice",
                            vector_job(("alice", "bob")).to_json().encode())
        reply = await bob.on_propose(proposal)
        return bob, reply

    bob, reply = asyncio.run(scenario())
    assert not reply.accepted
    assert reply.reason == "not today"
    assert bob.jobs == {}
    assert not bob.finished
