"""Bad input against real daemons: clear errors, no budget spent, daemons
keep serving.

Job-file mistakes must fail in the CLI before any traffic; data problems
make the party that has them reject the job at propose, naming itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from parties.cluster import LocalCluster

pytestmark = pytest.mark.e2e

PARTIES = ("alice", "bob", "carol")

MESSY = """v,label,w
1.5,a,-2.25
NaN,b,3
inf,a,-1.5
,b,4
abc,a,-0.75
2.5,b,10
-3,a,1
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-input")
    messy = write(root / "messy.csv", MESSY)
    empty = write(root / "empty.csv", "v,label,w\n")
    datasets = {
        party: {
            "messy": messy,
            "strict": {"path": messy, "missing": "reject"},
            "empty": empty,
        }
        for party in PARTIES
    }
    cluster = LocalCluster(root, datasets,
                           max_epsilon={"alice": 100.0, "bob": 8.0,
                                        "carol": 100.0},
                           phase_timeout=5.0)
    cluster.setup()
    cluster.start_all()
    yield cluster
    cluster.stop_all()


def mpc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "parties.cli", *args],
                          capture_output=True, text=True, timeout=120)


def job_text(query: str, epsilon: float = 0.5,
             parties: str = '"alice", "bob", "carol"',
             extra: str = "") -> str:
    return (f"parties = [{parties}]\nepsilon = {epsilon}\n"
            f"delta = 1e-6\n{extra}\n[[query]]\n{query}\n")


def submit(cluster, tmp_path, text: str) -> tuple[int, dict | None, str]:
    path = write(tmp_path / "job.toml", text)
    done = mpc("job", "submit", str(path), "--config",
               str(cluster.config_path("alice")), "--json")
    job = json.loads(done.stdout) if done.stdout.strip() else None
    return done.returncode, job, done.stderr


def budgets(cluster) -> dict[str, dict]:
    return {
        party: json.loads(mpc("budget", "--config",
                              str(cluster.config_path(party)),
                              "--json").stdout)
        for party in PARTIES
    }


def job_count(cluster) -> int:
    listing = mpc("job", "list", "--config",
                  str(cluster.config_path("alice")), "--json")
    return len(json.loads(listing.stdout))


def assert_serving(cluster, tmp_path) -> None:
    code, job, _ = submit(cluster, tmp_path, job_text(
        'kind = "count"\ndataset = "messy"', epsilon=0.1))
    assert code == 0
    assert job["state"] == "completed"


def spent(cluster) -> dict[str, float]:
    return {party: sum(row["spent_epsilon"] + row["reserved_epsilon"]
                       for row in ledger.values())
            for party, ledger in budgets(cluster).items()}


def test_missing_values_dropped_and_counted(cluster, tmp_path):
    code, job, stderr = submit(cluster, tmp_path, job_text(
        'name = "v"\nkind = "sum"\ndataset = "messy"\ncolumn = "v"\n'
        "clip = [-10, 10]\nscale = 1"))

    assert code == 0, stderr
    result = job["result"]
    assert result["verified"] is True
    # 1.5 + 2.5 - 3 = 1 per party; NaN, inf, empty and "abc" dropped.
    value = result["queries"][0]["value"]
    tail = result["queries"][0]["noise"][0]["tail_bound"] * 3 / 10
    assert abs(value - 3.0) <= tail
    assert result["local"]["dropped"]["v"] == 4


def test_reject_policy_rejects_at_propose(cluster, tmp_path):
    before = spent(cluster)

    code, job, _ = submit(cluster, tmp_path, job_text(
        'kind = "sum"\ndataset = "strict"\ncolumn = "v"\nclip = [0, 5]'))

    assert code != 0
    assert job is None or job["state"] == "aborted"
    assert spent(cluster) == before
    assert_serving(cluster, tmp_path)


def test_reject_policy_error_names_party_and_column(cluster, tmp_path):
    code, _, stderr = submit(cluster, tmp_path, job_text(
        'kind = "sum"\ndataset = "strict"\ncolumn = "v"\nclip = [0, 5]'))

    assert code != 0
    assert "alice" in stderr
    assert "'v'" in stderr
    assert "reject" in stderr


def test_missing_column_rejected_naming_it(cluster, tmp_path):
    before = spent(cluster)

    code, _, stderr = submit(cluster, tmp_path, job_text(
        'kind = "sum"\ndataset = "messy"\ncolumn = "nope"\nclip = [0, 5]'))

    assert code != 0
    assert "'nope' not found" in stderr
    assert spent(cluster) == before


def test_missing_dataset_rejected_naming_it(cluster, tmp_path):
    code, _, stderr = submit(cluster, tmp_path, job_text(
        'kind = "count"\ndataset = "nowhere"'))

    assert code != 0
    assert "'nowhere' not found" in stderr


@pytest.mark.parametrize("query", [
    'kind = "count"\ndataset = "empty"',
    'kind = "count"\ndataset = "messy"\n'
    'filter = { column = "label", op = "==", value = "zzz" }',
    'kind = "mean"\ndataset = "empty"\ncolumn = "v"\nclip = [0, 5]',
], ids=["empty-dataset", "filter-matches-nothing", "mean-of-empty"])
def test_empty_input_releases_noisy_result(cluster, tmp_path, query):
    code, job, stderr = submit(cluster, tmp_path, job_text(query))

    assert code == 0, stderr
    assert job["state"] == "completed"
    assert job["result"]["verified"] is True
    assert job["result"]["queries"][0]["noise"][0] is not None


def test_negative_fixed_point_values_decode_signed(cluster, tmp_path):
    code, job, stderr = submit(cluster, tmp_path, job_text(
        'kind = "sum"\ndataset = "messy"\ncolumn = "w"\nclip = [-5, 5]\n'
        "scale = 2", epsilon=1.0))

    assert code == 0, stderr
    query = job["result"]["queries"][0]
    # Per party: -2.25 + 3 - 1.5 + 4 - 0.75 + 5 (10 clipped) + 1 = 8.5
    tail = query["noise"][0]["tail_bound"] * 3 / 100
    assert abs(query["value"] - 25.5) <= tail


def test_epsilon_over_remaining_budget_names_party(cluster, tmp_path):
    before = spent(cluster)

    code, job, stderr = submit(cluster, tmp_path, job_text(
        'kind = "count"\ndataset = "messy"', epsilon=9.0))

    assert code != 0
    assert job["state"] == "aborted"
    assert job["culprits"] == ["bob"]
    assert "bob" in job["reason"]
    assert spent(cluster) == before


def test_field_overflow_rejected_at_propose(cluster, tmp_path):
    before = spent(cluster)

    code, job, stderr = submit(cluster, tmp_path, job_text(
        'kind = "sum"\ndataset = "messy"\ncolumn = "v"\n'
        "clip = [-1e9, 1e9]\nscale = 9", epsilon=0.5,
        extra='mechanism = "discrete_laplace"'))

    assert code != 0
    assert "does not fit in the field" in stderr + json.dumps(job)
    assert spent(cluster) == before


def test_unplannable_noise_rejected_at_propose(cluster, tmp_path):
    before = spent(cluster)

    code, job, stderr = submit(cluster, tmp_path, job_text(
        'kind = "sum"\ndataset = "messy"\ncolumn = "v"\n'
        "clip = [-1e9, 1e9]\nscale = 9", epsilon=0.5))

    assert code != 0
    assert "binomial coins" in stderr
    assert "UNKNOWN" not in stderr
    assert spent(cluster) == before


BAD_JOBS = {
    "epsilon-zero": job_text('kind = "count"\ndataset = "messy"', 0),
    "epsilon-negative": job_text('kind = "count"\ndataset = "messy"', -1),
    "epsilon-nan": job_text('kind = "count"\ndataset = "messy"', "nan"),
    "delta-zero": job_text('kind = "count"\ndataset = "messy"')
    .replace("delta = 1e-6", "delta = 0"),
    "one-party": job_text('kind = "count"\ndataset = "messy"',
                          parties='"alice"'),
    "party-twice": job_text('kind = "count"\ndataset = "messy"',
                            parties='"alice", "bob", "bob"'),
    "cyrillic-party": job_text('kind = "count"\ndataset = "messy"',
                               parties='"alice", "b\u043eb"'),
    "clip-reversed": job_text(
        'kind = "sum"\ndataset = "messy"\ncolumn = "v"\nclip = [5, 0]'),
    "clip-equal": job_text(
        'kind = "sum"\ndataset = "messy"\ncolumn = "v"\nclip = [5, 5]'),
    "no-bins": job_text(
        'kind = "histogram"\ndataset = "messy"\ncolumn = "v"\n'
        "bins = { start = 0, width = 1, count = 0 }"),
    "toml-syntax": "parties = [\n",
}


@pytest.mark.parametrize("name", sorted(BAD_JOBS))
def test_bad_job_file_fails_before_traffic(cluster, tmp_path, name):
    jobs_before = job_count(cluster)

    code, _, stderr = submit(cluster, tmp_path, BAD_JOBS[name])

    assert code != 0
    assert "error" in stderr
    assert job_count(cluster) == jobs_before


def test_daemons_serve_after_bad_input(cluster, tmp_path):
    for party in PARTIES:
        assert cluster.processes[party].poll() is None
    assert_serving(cluster, tmp_path)
