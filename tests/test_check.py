"""`mpc check`: the preflight of a party's deployment, on loopback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from parties.certs import create_identity
from parties.cluster import LocalCluster

pytestmark = pytest.mark.e2e


def mpc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "parties.cli", *args],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("check")
    data = root / "data.csv"
    data.write_text("x\n1\n2\n")
    cluster = LocalCluster(root, {p: {"d": data}
                                  for p in ("alice", "bob", "carol")})
    cluster.setup()
    cluster.start_all()
    yield cluster
    cluster.stop_all()


def check(cluster, party="alice"):
    done = mpc("check", "--config", str(cluster.config_path(party)),
               "--json", "--timeout", "3")
    return done.returncode, {r["party_id"]: r for r in
                             json.loads(done.stdout)}


def test_check_all_parties_serving(cluster):
    code, results = check(cluster)

    assert code == 0
    assert sorted(results) == ["alice", "bob", "carol"]
    assert all(r["ok"] for r in results.values())
    assert all(r["status"] == "SERVING" for r in results.values())


def test_check_reports_stopped_party(cluster):
    cluster.stop("carol")
    try:
        code, results = check(cluster)
    finally:
        cluster.start("carol")
        cluster.wait_ready("carol")

    assert code == 1
    assert results["carol"]["ok"] is False
    assert "cannot connect" in results["carol"]["problem"]
    assert results["bob"]["ok"] is True


def test_check_reports_wrong_pinned_certificate(cluster, tmp_path):
    # A certificate named bob but made with another key, pinned in a
    # copy of alice's deployment file: the real bob cannot match it.
    _, impostor = create_identity("bob", tmp_path)
    pinned = cluster.root / "certs" / "bob.crt"
    saved = pinned.read_bytes()
    shutil.copy(impostor, pinned)
    try:
        code, results = check(cluster)
    finally:
        pinned.write_bytes(saved)

    assert code == 1
    assert results["bob"]["ok"] is False
    assert "TLS with bob failed" in results["bob"]["problem"]


def test_check_text_output_names_parties(cluster):
    done = mpc("check", "--config", str(cluster.config_path("bob")))

    assert done.returncode == 0
    assert "ok   alice" in done.stdout
    assert "ok   carol" in done.stdout
