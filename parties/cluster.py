"""Party daemons on loopback, for the demo, tests and experiments.

A LocalCluster creates every party's key, certificate and config under
one folder, writes the deployment file, and starts each daemon as its own
process (`mpc serve`) on a free 127.0.0.1 port.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from parties import config as cfg
from parties.certs import create_identity
from parties.daemon import DAEMON_INFO_FILE

READY_TIMEOUT = 60.0


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free at the moment."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _dataset_entry(entry: Path | str | dict) -> dict:
    """A dataset's config table: from a path, or a table with a path."""
    if isinstance(entry, dict):
        return {**entry, "path": str(Path(entry["path"]).resolve())}
    return {"path": str(Path(entry).resolve())}


class LocalCluster:
    """Daemons of several parties on this machine, one process each.

    `datasets` maps each party id to its datasets ({name: file path}, or
    {name: {"path": ..., "missing": ...}}). `max_epsilon` is every
    dataset's cap, or a cap per party id. `max_delta`, when given, is
    every dataset's delta cap (the config's default otherwise).
    """

    def __init__(
        self,
        root: Path,
        datasets: dict[str, dict[str, Path | dict]],
        max_epsilon: float | dict[str, float] = 10.0,
        phase_timeout: float = 30.0,
        proof_workers: int = 1,
        max_delta: float | None = None,
    ) -> None:
        self.root = Path(root)
        self.max_delta = max_delta
        self.datasets = datasets
        self.max_epsilon = max_epsilon
        self.phase_timeout = phase_timeout
        self.proof_workers = proof_workers
        self.processes: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}

    def _cap(self, party_id: str) -> float:
        if isinstance(self.max_epsilon, dict):
            return self.max_epsilon[party_id]
        return self.max_epsilon

    @property
    def party_ids(self) -> list[str]:
        return list(self.datasets)

    def config_path(self, party_id: str) -> Path:
        return self.root / party_id / "party.toml"

    def log_path(self, party_id: str) -> Path:
        return self.root / party_id / "daemon.log"

    def setup(self) -> None:
        """Create keys, certificates, configs and the deployment file."""
        certs = self.root / "certs"
        certs.mkdir(parents=True, exist_ok=True)
        entries = {}
        for party_id, datasets in self.datasets.items():
            directory = self.root / party_id
            directory.mkdir(parents=True, exist_ok=True)
            key_path, cert_path = create_identity(party_id, directory)
            shutil.copy(cert_path, certs / cert_path.name)
            port = free_port()
            self.ports[party_id] = port
            cfg.write_party_config(
                self.config_path(party_id),
                party_id=party_id,
                listen=f"127.0.0.1:{port}",
                state_dir="state",
                key=key_path.name,
                certificate=cert_path.name,
                deployment="../deployment.toml",
                phase_timeout=self.phase_timeout,
                proof_workers=self.proof_workers,
                datasets={
                    name: _dataset_entry(entry)
                    for name, entry in datasets.items()
                },
                policy={
                    "initiators": ["*"],
                    "max_epsilon": {
                        name: self._cap(party_id) for name in datasets
                    },
                    **({"max_delta": {name: self.max_delta
                                      for name in datasets}}
                       if self.max_delta is not None else {}),
                },
            )
            entries[party_id] = {
                "address": f"127.0.0.1:{port}",
                "certificate": f"certs/{cert_path.name}",
            }
        cfg.write_deployment(self.root / "deployment.toml", entries)

    def start(self, party_id: str) -> None:
        """Start one party's daemon; see wait_ready."""
        info = self.root / party_id / "state" / DAEMON_INFO_FILE
        info.unlink(missing_ok=True)
        log = open(self.log_path(party_id), "ab")
        self.processes[party_id] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "parties.cli",
                "serve",
                "--config",
                str(self.config_path(party_id)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()

    def wait_ready(
        self, party_id: str, timeout: float = READY_TIMEOUT
    ) -> None:
        """Wait until a daemon serves, or raise RuntimeError with its log."""
        info = self.root / party_id / "state" / DAEMON_INFO_FILE
        process = self.processes[party_id]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"daemon of {party_id} exited with code "
                    f"{process.returncode}; log:\n{self.tail(party_id)}"
                )
            if info.exists():
                try:
                    if json.loads(info.read_text())["pid"] == process.pid:
                        return
                except (ValueError, KeyError):
                    pass
            time.sleep(0.05)
        raise RuntimeError(
            f"daemon of {party_id} not ready within {timeout:g} s; log:\n"
            f"{self.tail(party_id)}"
        )

    def start_all(self) -> None:
        for party_id in self.party_ids:
            self.start(party_id)
        for party_id in self.party_ids:
            self.wait_ready(party_id)

    def tail(self, party_id: str, lines: int = 30) -> str:
        try:
            text = self.log_path(party_id).read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def signal(self, party_id: str, sig: int) -> None:
        os.kill(self.processes[party_id].pid, sig)

    def stop(self, party_id: str, timeout: float = 10.0) -> None:
        """Stop a daemon with SIGTERM, then SIGKILL after `timeout`."""
        process = self.processes.get(party_id)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGCONT)
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self, party_id: str) -> None:
        process = self.processes[party_id]
        process.kill()
        process.wait()

    def stop_all(self) -> None:
        for party_id in list(self.processes):
            self.stop(party_id)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()
