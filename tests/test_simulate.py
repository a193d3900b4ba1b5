"""Research mode: mpc.simulate in memory, parties.simulate with daemons,
and the `mpc simulate` command.

Synthetic inputs come from seeded numpy Generators (test data only).
"""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from mpc import simulate as sim
from mpc.spec import parse_spec
from parties import cli

FIVE = ["alice", "bob", "carol", "dave", "erin"]


def census_job(parties, **options):
    return {
        "name": "census", "parties": list(parties), "epsilon": 1.0,
        "delta": 1e-6,
        "query": [
            {"name": "adults", "kind": "count", "dataset": "people",
             "filter": {"column": "age", "op": ">=", "value": 18}},
            {"name": "mean_age", "kind": "mean", "dataset": "people",
             "column": "age", "clip": [0, 100]},
            {"name": "ages", "kind": "histogram", "dataset": "people",
             "column": "age", "bins": {"start": 0, "width": 25,
                                       "count": 4}},
        ],
        **options,
    }


def check_statistics(report: sim.SimulationReport) -> None:
    """The figures every completed in-memory run must show."""
    spec = report.spec
    peers = spec.num_parties - 1
    assert report.completed, [t.reason for t in report.parties]
    for party in spec.parties:
        phases = {r.phase: r for r in report.phases if r.party == party}
        assert set(phases) == set(sim.PHASES)
        for phase in ("commit", "share", "reveal"):
            assert phases[phase].bytes_sent > 0
            assert phases[phase].bytes_received > 0
            assert phases[phase].messages_sent == peers
            assert phases[phase].messages_received == peers
        for row in phases.values():
            assert row.wall_s >= 0
            assert row.cpu_s >= (row.proof_cpu_s or 0) >= 0
        assert phases["commit"].proof_cpu_s > 0
        assert phases["verify"].proof_cpu_s > 0

        # Proof bytes: the bundle each party sent equals what its
        # statement predicts, and it went to every peer.
        totals = next(t for t in report.parties if t.party == party)
        assert totals.proof_bytes == report.proof_sizes[party]["total"]
        assert phases["commit"].bytes_sent == peers * totals.proof_bytes
        assert totals.wall_s == pytest.approx(
            sum(r.wall_s for r in phases.values()), abs=1e-3)

    # Every byte sent in memory was received by someone.
    rows = report.phases
    assert sum(r.bytes_sent for r in rows) == sum(
        r.bytes_received for r in rows)


def test_simulate_three_parties_in_memory():
    report = sim.simulate(census_job(FIVE[:3]), seed=1)

    check_statistics(report)
    assert report.mode == "memory"
    assert report.settings["synthetic_parties"] == FIVE[:3]
    queries = {q["name"]: q for q in report.result["queries"]}
    exact = {q["name"]: q for q in report.exact}
    assert exact["adults"]["value"] == pytest.approx(3000 * 0.82, rel=0.05)
    noise = queries["adults"]["noise"][0]
    assert abs(queries["adults"]["value"] - exact["adults"]["value"]) <= \
        3 * noise["tail_bound"]
    assert "adults" in report.table()


def test_simulate_five_parties_in_memory():
    report = sim.simulate(census_job(FIVE),
                          synthetic=sim.Synthetic(n=200, low=10, high=90),
                          seed=2)

    check_statistics(report)
    assert len(report.parties) == 5


def test_simulate_latency_makes_wall_time_grow():
    job = census_job(FIVE[:3])
    job["query"] = job["query"][:1]
    latency = 0.05

    fast = sim.simulate(job, seed=3)
    slow = sim.simulate(job, seed=3, latency=latency)

    # Proposal, start, commit, echo, share and reveal each cross the
    # network one after the other.
    assert slow.wall_s >= 6 * latency
    assert slow.wall_s >= fast.wall_s + 3 * latency
    assert slow.settings["latency_s"] == latency
    for party in FIVE[:3]:
        assert slow.row(party, "echo").wall_s >= latency * 0.9


def test_simulate_bandwidth_delays_large_messages():
    job = census_job(FIVE[:3])
    job["query"] = job["query"][:1]

    report = sim.simulate(job, seed=3, bandwidth=50_000)

    commit = report.row("alice", "commit")
    # Each commit bundle (about 5 kB) takes its size / 50 kB/s to arrive.
    assert commit.wall_s >= commit.bytes_sent / 2 / 50_000


def test_synthetic_inputs_are_deterministic_by_seed():
    spec = parse_spec(census_job(FIVE[:2]), "alice")
    params = sim.Synthetic(n=50)

    first = sim.synthetic_inputs(spec, params, sim.synthetic_rng(7, 0))
    again = sim.synthetic_inputs(spec, params, sim.synthetic_rng(7, 0))
    other = sim.synthetic_inputs(spec, params, sim.synthetic_rng(8, 0))

    age = first["people"]["age"]
    assert np.array_equal(age, again["people"]["age"])
    assert not np.array_equal(age, other["people"]["age"])
    assert age.min() >= 0
    assert age.max() <= 100
    assert age.size == 50


def test_simulate_without_noise_matches_plain_sum():
    job = {"parties": FIVE[:3], "mechanism": "none",
           "query": [{"name": "v", "kind": "vector", "length": 6,
                      "clip": [-5, 5]}]}
    rng = np.random.default_rng(11)  # synthetic test inputs
    vectors = {p: rng.integers(-5, 6, 6).tolist() for p in FIVE[:3]}

    report = sim.simulate(job, {p: {"v": v} for p, v in vectors.items()})

    assert report.completed
    assert report.result["queries"][0]["values"] == np.sum(
        list(vectors.values()), axis=0).tolist()
    assert report.exact[0]["values"] == report.result["queries"][0][
        "values"]


def test_simulate_reports_an_abort_with_its_culprit():
    job = {"parties": FIVE[:3], "mechanism": "none",
           "query": [{"name": "tags", "kind": "vector", "length": 4,
                      "predicate": "at_most_k_ones",
                      "predicate_args": {"k": 1}}]}
    inputs = {"alice": {"tags": [0, 1, 0, 0]}, "bob": {"tags": [1, 1, 0, 0]},
              "carol": {"tags": [0, 0, 0, 0]}}

    report = sim.simulate(job, inputs)

    assert not report.completed
    assert report.result is None
    assert all(t.culprits == ["bob"] for t in report.parties)
    assert "ABORTED" in report.table()


async def test_simulate_works_inside_a_running_event_loop():
    # As in a notebook: the caller's thread already runs an event loop.
    job = census_job(FIVE[:2])
    job["query"] = job["query"][:1]

    report = sim.simulate(job, seed=4)
    again = await sim.simulate_async(job, seed=4)

    assert report.completed and again.completed
    assert report.exact == again.exact


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["simulate", *argv])
    return code, out.getvalue()


def write_job(path, job) -> str:
    lines = [f'name = "{job["name"]}"',
             f"parties = {json.dumps(job['parties'])}",
             f"epsilon = {job['epsilon']}", f"delta = {job['delta']}"]
    for query in job["query"]:
        lines.append("[[query]]")
        for key, value in query.items():
            if isinstance(value, dict):
                inner = ", ".join(f"{k} = {json.dumps(v)}"
                                  for k, v in value.items())
                lines.append(f"{key} = {{ {inner} }}")
            else:
                lines.append(f"{key} = {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_cli_json_output_parses(tmp_path):
    job = census_job(FIVE[:3])
    job_file = write_job(tmp_path / "job.toml", job)

    code, out = run_cli(job_file, "--json", "--synthetic", "n=300,high=99",
                        "--synthetic", "bob:n=100,low=20,high=40",
                        "--seed", "5")

    report = json.loads(out)
    assert code == 0
    assert report["completed"] is True
    assert report["settings"]["seed"] == 5
    assert {r["phase"] for r in report["phases"]} == set(sim.PHASES)
    ages = next(q for q in report["exact"] if q["name"] == "ages")
    # bob's n=100 overrides n=300; with high=99 every age is in a bin.
    assert sum(ages["values"]) == 300 + 100 + 300


def test_cli_reads_csv_data_per_party(tmp_path):
    job = census_job(FIVE[:2])
    job_file = write_job(tmp_path / "job.toml", job)
    ages = {"alice": [10, 20, 30, 40], "bob": [50, 60, 70]}
    for party, values in ages.items():
        (tmp_path / f"{party}.csv").write_text(
            "age\n" + "\n".join(map(str, values)) + "\n")

    code, out = run_cli(job_file, "--json",
                        "--data", f"alice={tmp_path / 'alice.csv'}",
                        "--data", f"bob:people={tmp_path / 'bob.csv'}")

    report = json.loads(out)
    exact = {q["name"]: q for q in report["exact"]}
    assert code == 0
    assert exact["adults"]["value"] == 6
    assert exact["mean_age"]["value"] == pytest.approx(40.0)
    assert report["settings"]["synthetic_parties"] == []


def test_cli_rejects_a_bad_data_option(tmp_path, capsys):
    job_file = write_job(tmp_path / "job.toml", census_job(FIVE[:2]))

    code = cli.main(["simulate", job_file, "--data", "mallory=x.csv"])

    assert code == 2
    assert "'mallory' is not a party" in capsys.readouterr().err


@pytest.mark.e2e
def test_simulate_three_daemons(tmp_path):
    job = census_job(FIVE[:3], phase_timeout=20.0)
    job["query"] = job["query"][:2]

    report = sim.simulate(job, synthetic=sim.Synthetic(n=100), seed=6,
                          daemons=True, keep=tmp_path)

    assert report.mode == "daemons"
    assert report.completed, [t.reason for t in report.parties]
    assert report.result["verified"] is True
    for totals in report.parties:
        rows = {r.phase: r for r in report.phases
                if r.party == totals.party}
        assert {"commit", "share", "reveal", "check"} <= set(rows)
        for phase in ("commit", "share", "reveal"):
            assert rows[phase].bytes_sent > 0
            assert rows[phase].bytes_received > 0
        assert totals.proof_bytes == \
            report.proof_sizes[totals.party]["total"]
        assert totals.wall_s > 0
        assert totals.cpu_s is None or totals.cpu_s > 0
    assert (tmp_path / "parties" / "alice" / "daemon.log").exists()
