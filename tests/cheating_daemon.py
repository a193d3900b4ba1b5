"""Run a party daemon that cheats, for tests.

    python tests/cheating_daemon.py --config PATH --cheat CASE [--victim ID]

Starts the normal daemon (`parties.daemon.start_daemon`) and, before it
handles any job, swaps the tampering transport of `tests/cheating.py` in
for the party's gRPC transport. CASE is one of `cheating.CASES`, or
`by-job-name` to cheat only in jobs named "cheat-CASE" and run every
other job honestly, so one daemon can serve many cases in turn. The
shipped daemon has no such switch; this launcher is the only way to get
one.

For the gRPC-only cases it also builds:
- a forging sender with this party's own certificate and key, which puts
  the victim's id in the envelope (impersonate);
- a transport with a fresh key and certificate in this party's name,
  which the deployment does not pin (unpinned-client).

Stops on SIGTERM or SIGINT, like `mpc serve`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import tempfile
from pathlib import Path

from cheating import BY_JOB_NAME, CASES, CheatingTransport, ForgingGrpcSender
from parties.certs import create_identity
from parties.cli import configure_logging
from parties.daemon import Daemon, start_daemon
from parties.transport import GrpcTransport

log = logging.getLogger("cheating_daemon")


def _peers(daemon: Daemon) -> dict[str, tuple[str, bytes]]:
    return {p.party_id: (p.address, p.certificate_pem)
            for p in daemon.deployment.parties.values()}


def stranger_transport(daemon: Daemon) -> GrpcTransport:
    """A transport in this party's name with a fresh, unpinned identity.

    The fresh certificate is pinned only in this process's own view of
    the deployment; every other party still pins the real one.
    """
    party_id = daemon.config.party_id
    with tempfile.TemporaryDirectory() as directory:
        key_path, cert_path = create_identity(party_id, Path(directory))
        key_pem, cert_pem = key_path.read_bytes(), cert_path.read_bytes()
    peers = _peers(daemon)
    peers[party_id] = (peers[party_id][0], cert_pem)
    return GrpcTransport(party_id, key_pem, cert_pem, peers)


async def serve_cheating(config: str, case: str, victim: str | None
                         ) -> None:
    daemon = await start_daemon(config)
    forger = ForgingGrpcSender(
        daemon.config.party_id, daemon.config.key_path.read_bytes(),
        daemon.config.certificate_path.read_bytes(), _peers(daemon))
    stranger = stranger_transport(daemon)
    # No await between start_daemon returning and this swap: no job can
    # reach the party before it cheats.
    CheatingTransport(daemon.transport, daemon.party, case, victim=victim,
                      forger=forger, stranger=stranger).install()
    log.warning("party %s cheats: case %s, victim %s",
                daemon.config.party_id, case, victim or "none")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await daemon.stop()
    await forger.close()
    await stranger.close()
    log.info("party %s stopped", daemon.config.party_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="party.toml path")
    parser.add_argument("--cheat", required=True,
                        choices=[*CASES, BY_JOB_NAME],
                        help="the cheating case, or by-job-name to take it "
                        "from each job's name (cheat-CASE[.VICTIM])")
    parser.add_argument("--victim", help="the peer a case copies from, "
                        "equivocates to or impersonates")
    args = parser.parse_args(argv)
    configure_logging("info", False)
    asyncio.run(serve_cheating(args.config, args.cheat, args.victim))
    return 0


if __name__ == "__main__":
    sys.exit(main())
