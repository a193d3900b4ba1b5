"""Test-only launcher of a party daemon that can freeze itself mid-job.

tests/test_faults.py starts daemons with `python tests/fault_launcher.py
serve --config FILE` instead of `mpc serve`, so that a daemon stops at an
exact point of a job and the test can then kill it (SIGKILL) or leave it
frozen (SIGSTOP) and later let it go on (SIGCONT). The shipped daemon has
no such switch: only this file reads the variable below.

MPC_TEST_FREEZE_FILE names a file, which the daemon reads each time it
reaches a point. When the file names that point, the daemon deletes the
file, so that it freezes once, and sends itself SIGSTOP. The points are:

- a phase name (propose, commit, echo, share, verify, reveal, check), just
  after the daemon records that a job entered that phase;
- "admitted", just after the daemon admits a proposal (the job is stored
  and its budget reserved) and before it replies to the initiator.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

FREEZE_ENV = "MPC_TEST_FREEZE_FILE"


def freeze_if_requested(point: str) -> None:
    """Stop this process when the freeze file names `point`."""
    path = os.environ.get(FREEZE_ENV)
    if not path:
        return
    try:
        requested = Path(path).read_text().strip()
    except FileNotFoundError:
        return
    if requested != point:
        return
    os.unlink(path)
    os.kill(os.getpid(), signal.SIGSTOP)


def install() -> None:
    """Wrap the daemon's hooks with the freeze points."""
    from parties import daemon

    phase = daemon.DaemonHooks.phase
    admit = daemon.DaemonHooks.admit

    def phase_then_freeze(self, job_id, name, detail=""):
        phase(self, job_id, name, detail)
        freeze_if_requested(name)

    def admit_then_freeze(self, job_id, spec):
        declaration = admit(self, job_id, spec)
        freeze_if_requested("admitted")
        return declaration

    daemon.DaemonHooks.phase = phase_then_freeze
    daemon.DaemonHooks.admit = admit_then_freeze


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    install()
    from parties.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
