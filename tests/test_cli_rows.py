"""Tests of the tables that `mpc job submit`, `show`, `result` and `budget`
print (parties.cli.format_query_rows and format_budget).

A vector's elements are labelled by index, a histogram's by bin or
category, and a long vector is cut after MAX_ELEMENT_ROWS rows with a
line that points to the CSV export. The budget table shows the delta
budget beside the epsilon budget, and the progress display shows each
phase once.
"""

from __future__ import annotations

import asyncio

from parties.cli import (
    MAX_ELEMENT_ROWS,
    format_budget,
    format_query_rows,
    submit_and_watch,
)


def vector(name: str, count: int, **extra) -> dict:
    return {"name": name, "values": [float(i) for i in range(count)],
            "intervals95": [[i - 1.0, i + 1.0] for i in range(count)],
            **extra}


def labels(rows: list[str]) -> list[str]:
    return [row.split("  ")[0] for row in rows[2:]]


def test_vector_elements_labelled_by_index():
    rows = format_query_rows([vector("v", 3)], {}, True)
    assert labels(rows) == ["v[0]", "v[1]", "v[2]"]


def test_histogram_labelled_by_bin_and_category():
    bins = vector("h", 2, bins=[[0, 10], [10, 20]])
    categories = vector("c", 2, bins=["yes", "no"])
    rows = format_query_rows([bins, categories], {}, True)
    assert labels(rows) == ["h [0,10)", "h [10,20)", "c yes", "c no"]


def test_long_vector_cut_with_pointer_to_csv():
    rows = format_query_rows([vector("v", 300)], {}, True)
    element_rows = rows[2:]
    assert len(element_rows) == MAX_ELEMENT_ROWS + 1
    assert element_rows[-1] == ("v: 280 more elements; `mpc job result JOB --csv "
                         "FILE` writes them all")


def test_one_row_over_the_cut_still_shown():
    rows = format_query_rows([vector("v", MAX_ELEMENT_ROWS + 1)], {}, True)
    assert labels(rows)[-1] == f"v[{MAX_ELEMENT_ROWS}]"


def test_budget_shows_epsilon_and_delta():
    budget = {"adult": {
        "cap_epsilon": 5.0, "spent_epsilon": 1.08, "reserved_epsilon": 0.0,
        "remaining_epsilon": 3.92, "cap_delta": 1e-05, "spent_delta": 1e-05,
        "reserved_delta": 0.0, "remaining_delta": 0.0,
    }}
    rows = format_budget(budget)
    assert rows[1].split() == ["adult", "epsilon", "5.000", "1.080",
                               "0.000", "3.920"]
    assert rows[2].split() == ["adult", "delta", "1e-05", "1e-05", "0",
                               "0"]


class FakeClient:
    """A control client whose watch repeats a phase, as a daemon's
    history can when a phase is recorded twice."""

    events = [("running", "propose"), ("running", "propose"),
              ("running", "commit"), ("completed", "check")]

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info):
        return False

    async def submit(self, table):
        return "job-1"

    async def watch(self, job_id):
        for state, phase in self.events:
            yield {"state": state, "phase": phase}

    async def job(self, job_id):
        return {"job_id": job_id, "state": "completed"}


def test_progress_shows_each_phase_once(monkeypatch, capsys):
    from parties import client

    monkeypatch.setattr(client.ControlClient, "from_config_file",
                        staticmethod(lambda path: FakeClient()))
    asyncio.run(submit_and_watch("party.toml", {}, quiet=False))

    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "job job-1 submitted"
    assert [line.split()[-1] for line in lines[1:]] == [
        "propose", "commit", "done"]
