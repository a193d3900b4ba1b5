"""Bytes on the wire, CPU time and peak memory of local processes.

Bytes come from the kernel's TCP counters (`ss -ti`, field bytes_sent)
of every established socket a process owns, so they include TLS records,
HTTP/2 frames and gRPC headers: everything the process put on the wire.
Peak memory is the process's VmHWM (peak resident set size).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

_USERS = re.compile(r"pid=(\d+)")
_SENT = re.compile(r"\bbytes_sent:(\d+)")


def available() -> bool:
    return shutil.which("ss") is not None


def socket_bytes() -> dict[tuple[str, int], int]:
    """Return bytes_sent of every established TCP socket, by (key, pid)."""
    if not available():
        return {}
    text = subprocess.run(
        ["ss", "-tinpH", "state", "established"], capture_output=True,
        text=True, timeout=30, check=False).stdout
    out: dict[tuple[str, int], int] = {}
    key, pids = "", []
    for line in text.splitlines():
        if not line.startswith((" ", "\t")):
            key = " ".join(line.split()[2:4])
            pids = [int(p) for p in _USERS.findall(line)]
            continue
        match = _SENT.search(line)
        if match:
            for pid in pids:
                out[(key, pid)] = int(match.group(1))
    return out


def sent_by_pid(before: dict, after: dict, pids: list[int]) -> dict[int, int]:
    """Return the bytes each process sent between two snapshots."""
    sent = {pid: 0 for pid in pids}
    for (key, pid), value in after.items():
        if pid in sent:
            sent[pid] += value - before.get((key, pid), 0)
    return sent


def peak_rss(pid: int) -> int | None:
    """Return a process's peak resident set size in bytes (VmHWM)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as file:
            return [int(child) for child in file.read().split()]
    except OSError:
        return []


def cpu_seconds(pid: int) -> float:
    """Return the user and system CPU seconds of a process and its
    children (a daemon's proof workers) so far."""
    total = 0.0
    for process in [pid, *_children(pid)]:
        try:
            with open(f"/proc/{process}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf(
            "SC_CLK_TCK")
    return total
