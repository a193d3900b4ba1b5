"""Result export: CSV rows and PNG plots (`mpc job result`)."""

from __future__ import annotations

import csv

from parties.export import result_rows, write_csv, write_plot

RESULT = {
    "job_id": "ab" * 16, "epsilon": 1.0, "verified": True,
    "queries": [
        {"name": "rich", "kind": "count", "value": 7846.0, "std": 21.7,
         "interval95": [7803.0, 7889.0]},
        {"name": "age", "kind": "mean", "value": None, "std": None,
         "interval95": None},
        {"name": "hours", "kind": "histogram", "values": [3.0, 5.0],
         "std": 21.7, "intervals95": [[-40.0, 46.0], [-38.0, 48.0]],
         "bins": [[0, 10], [10, 20]]},
    ],
}


def test_result_rows_one_per_value():
    rows = result_rows(RESULT)

    assert len(rows) == 4
    assert rows[0]["value"] == 7846.0
    assert rows[0]["low95"] == 7803.0
    assert rows[1]["low95"] is None
    assert rows[3]["bin"] == "[10,20)"
    assert rows[3]["high95"] == 48.0


def test_write_csv_round_trips(tmp_path):
    path = tmp_path / "result.csv"

    write_csv(RESULT, path)

    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["query"] for r in rows] == ["rich", "age", "hours", "hours"]
    assert float(rows[2]["value"]) == 3.0


def test_write_plot_makes_png(tmp_path):
    path = tmp_path / "result.png"

    write_plot(RESULT, path)

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
