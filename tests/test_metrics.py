"""The Prometheus endpoint of a daemon, enabled in its config."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request

import pytest

from parties import config as cfg
from parties.cluster import LocalCluster

pytestmark = pytest.mark.e2e

JOB = """parties = ["alice", "bob"]
epsilon = 0.5
delta = 1e-6
[[query]]
kind = "count"
dataset = "d"
"""


def enable_metrics(cluster: LocalCluster, party: str) -> None:
    path = cluster.config_path(party)
    text = path.read_text()
    path.write_text('metrics_listen = "127.0.0.1:0"\n' + text)
    cfg.load_party_config(path)


def metric(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name) + (r"\{" + labels + r"\}" if labels else "")
    match = re.search(rf"^{pattern} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match, f"{name}{{{labels}}} not found"
    return float(match.group(1))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("metrics")
    data = root / "d.csv"
    data.write_text("x\n1\n2\n3\n")
    cluster = LocalCluster(root, {p: {"d": data} for p in ("alice", "bob")},
                           max_epsilon=5.0)
    cluster.setup()
    enable_metrics(cluster, "alice")
    cluster.start_all()
    yield cluster
    cluster.stop_all()


def scrape(cluster: LocalCluster) -> str:
    info = json.loads((cluster.root / "alice" / "state" /
                       "daemon.json").read_text())
    url = f"http://127.0.0.1:{info['metrics_port']}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        return reply.read().decode()


def test_metrics_count_jobs_phases_bytes_budget(cluster, tmp_path):
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    done = subprocess.run(
        [sys.executable, "-m", "parties.cli", "job", "submit", str(job),
         "--config", str(cluster.config_path("alice")), "--json"],
        capture_output=True, text=True, timeout=120)
    assert json.loads(done.stdout)["state"] == "completed", done.stderr

    text = scrape(cluster)

    assert metric(text, "mpc_jobs_total", 'outcome="completed"') == 1
    assert metric(text, "mpc_phase_duration_seconds_count",
                  'phase="commit"') == 1
    assert metric(text, "mpc_peer_bytes_sent_total", 'peer="bob"') > 0
    assert metric(text, "mpc_peer_bytes_received_total", 'peer="bob"') > 0
    assert metric(text, "mpc_budget_remaining_epsilon",
                  'dataset="d"') == pytest.approx(4.5)


def test_metrics_off_by_default(cluster):
    info = json.loads((cluster.root / "bob" / "state" /
                       "daemon.json").read_text())
    assert info["metrics_port"] == 0
