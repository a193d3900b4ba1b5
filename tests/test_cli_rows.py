"""Tests of the result table that `mpc job submit`, `show` and `result`
print (parties.cli.format_query_rows).

A vector's elements are labelled by index, a histogram's by bin or
category, and a long vector is cut after MAX_ELEMENT_ROWS rows with a
line that points to the CSV export.
"""

from __future__ import annotations

from parties.cli import MAX_ELEMENT_ROWS, format_query_rows


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
    shown = rows[2:]
    assert len(shown) == MAX_ELEMENT_ROWS + 1
    assert shown[-1] == ("v: 280 more elements; `mpc job result JOB --csv "
                         "FILE` writes them all")


def test_one_row_over_the_cut_still_shown():
    rows = format_query_rows([vector("v", MAX_ELEMENT_ROWS + 1)], {}, True)
    assert labels(rows)[-1] == f"v[{MAX_ELEMENT_ROWS}]"
