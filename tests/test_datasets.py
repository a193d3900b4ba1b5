"""Tests for parties.datasets: CSV and Parquet sources, columns, filters."""

from __future__ import annotations

import gzip
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from parties.config import DatasetConfig
from parties.datasets import (
    DatasetCache,
    DatasetError,
    filter_mask,
    load_table,
    numeric_column,
    numeric_values,
    text_column,
)

# Row 2 has an empty age and a NaN score, row 3 a text age and an infinite
# score, and row 5 an age too large for float64 and an empty city.
CSV_TEXT = (
    "id, age ,city,score\n"
    "1, 39 ,Paris,1.5\n"
    "2,,Lyon,NaN\n"
    "3,abc, Nice ,inf\n"
    "4,41,Paris,-2e3\n"
    "5, 1e999 ,,7\n"
)
REPO = Path(__file__).resolve().parents[1]
ADULT_CANDIDATES = (
    REPO / "parties" / "data" / "adult.csv.gz",
    REPO.parent / "shared" / "data" / "adult.csv.gz",
)


def dataset(path: Path, data_format: str = "csv", missing: str = "drop"):
    return DatasetConfig("people", path, data_format, missing)


@pytest.fixture
def csv_path(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    return path


@pytest.fixture
def table(csv_path: Path) -> pa.Table:
    return load_table(dataset(csv_path))


@pytest.fixture
def parquet_path(tmp_path: Path) -> Path:
    path = tmp_path / "people.parquet"
    pq.write_table(
        pa.table(
            {
                "age": pa.array([39, 50, None, 28], pa.int64()),
                "score": [1.5, math.nan, math.inf, None],
                "city": ["Paris ", None, "Lyon", "Paris"],
                "member": [True, False, None, True],
                "seen": pa.array([0, 1, 2, 3], pa.timestamp("s")),
            }
        ),
        path,
    )
    return path


# load_table


def test_load_table_csv_reads_strings(table: pa.Table) -> None:
    assert table.num_rows == 5
    assert table.column_names == ["id", "age", "city", "score"]
    assert all(pa.types.is_string(t) for t in table.schema.types)
    ages = table.column("age").to_pylist()
    assert ages == [" 39 ", "", "abc", "41", " 1e999 "]


def test_load_table_csv_gz_matches_csv(
    tmp_path: Path, table: pa.Table
) -> None:
    path = tmp_path / "people.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as file:
        file.write(CSV_TEXT)
    assert load_table(dataset(path)).equals(table)


def test_load_table_csv_with_byte_order_mark(
    tmp_path: Path, table: pa.Table
) -> None:
    path = tmp_path / "bom.csv"
    path.write_text("\ufeff" + CSV_TEXT, encoding="utf-8")
    assert load_table(dataset(path)).column_names == table.column_names


def test_load_table_csv_any_file_name(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    path.write_text(CSV_TEXT, encoding="utf-8")
    assert load_table(dataset(path)).num_rows == 5


def test_load_table_parquet_keeps_types(parquet_path: Path) -> None:
    loaded = load_table(dataset(parquet_path, "parquet"))
    assert loaded.num_rows == 4
    assert loaded.schema.field("age").type == pa.int64()
    assert loaded.schema.field("score").type == pa.float64()


def test_load_table_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"
    with pytest.raises(DatasetError) as info:
        load_table(dataset(path))
    assert "'people'" in str(info.value)
    assert str(path) in str(info.value)
    assert "not found" in str(info.value)


def test_load_table_malformed_csv(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n3,4,5\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="cannot read dataset 'people'"):
        load_table(dataset(path))


def test_load_table_empty_csv(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(DatasetError, match="no header line"):
        load_table(dataset(path))


def test_load_table_header_only(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("a,b\n", encoding="utf-8")
    loaded = load_table(dataset(path))
    assert loaded.num_rows == 0
    assert numeric_column(loaded, "a", "people", "reject")[1] == 0


@pytest.mark.parametrize("header", ["a,a\n", "a, a \n", "a,,b\n"])
def test_load_table_repeated_or_empty_column(
    tmp_path: Path, header: str
) -> None:
    path = tmp_path / "dup.csv"
    path.write_text(header + "1,2" + ",3" * header.count(",,") + "\n")
    with pytest.raises(DatasetError, match="empty or repeated column"):
        load_table(dataset(path))


def test_load_table_not_parquet(csv_path: Path) -> None:
    with pytest.raises(DatasetError, match="as parquet"):
        load_table(dataset(csv_path, "parquet"))


def test_load_table_unknown_format(csv_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown format 'json'"):
        load_table(dataset(csv_path, "json"))


# numeric_column and numeric_values


def test_numeric_column_drops_missing(table: pa.Table) -> None:
    values, dropped = numeric_column(table, "age", "people", "drop")
    assert values.dtype == np.float64
    assert values.tolist() == [39.0, 41.0]
    assert dropped == 3


def test_numeric_column_drops_nan_and_inf_text(table: pa.Table) -> None:
    values, dropped = numeric_column(table, "score", "people", "drop")
    assert values.tolist() == [1.5, -2000.0, 7.0]
    assert dropped == 2


def test_numeric_column_rejects_missing(table: pa.Table) -> None:
    with pytest.raises(DatasetError) as info:
        numeric_column(table, "age", "people", "reject")
    message = str(info.value)
    assert "column 'age'" in message
    assert "'people'" in message
    assert "3 missing or unparseable values in 5 rows" in message
    assert "row 2" in message
    assert "''" in message


def test_numeric_column_reject_public_message(table: pa.Table) -> None:
    with pytest.raises(DatasetError) as info:
        numeric_column(table, "city", "people", "reject")
    assert "'Paris'" in str(info.value)
    assert "Paris" not in info.value.public_message
    assert "column 'city'" in info.value.public_message


def test_numeric_column_reject_clean_column(table: pa.Table) -> None:
    values, dropped = numeric_column(table, "id", "people", "reject")
    assert values.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert dropped == 0


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("7", 7.0),
        (" -7.25 ", -7.25),
        ("+3", 3.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("1E3", 1000.0),
        ("2.5e-1", 0.25),
        ("nan", None),
        ("NaN", None),
        ("inf", None),
        ("-Infinity", None),
        ("1e999", None),
        ("1_000", None),
        ("0x10", None),
        ("?", None),
        ("", None),
        ("   ", None),
        ("1,5", None),
        ("\u0663", None),  # Arabic-Indic digit three
    ],
)
def test_numeric_column_parses_cell(
    tmp_path: Path, cell: str, expected: float | None
) -> None:
    path = tmp_path / "cell.csv"
    path.write_text(f'x\n"{cell}"\n', encoding="utf-8")
    values, dropped = numeric_column(
        load_table(dataset(path)), "x", "people", "drop"
    )
    if expected is None:
        assert dropped == 1
        assert values.size == 0
    else:
        assert dropped == 0
        assert values.tolist() == [expected]


def test_numeric_column_missing_column(table: pa.Table) -> None:
    with pytest.raises(DatasetError) as info:
        numeric_column(table, "income", "people", "drop")
    message = str(info.value)
    assert "'income' not found in dataset 'people'" in message
    for name in ("'id'", "'age'", "'city'", "'score'"):
        assert name in message


def test_numeric_column_invalid_missing_mode(table: pa.Table) -> None:
    with pytest.raises(ValueError, match="invalid missing mode 'skip'"):
        numeric_column(table, "age", "people", "skip")


def test_numeric_column_parquet_float(parquet_path: Path) -> None:
    loaded = load_table(dataset(parquet_path, "parquet"))
    values, dropped = numeric_column(loaded, "score", "people", "drop")
    assert values.tolist() == [1.5]
    assert dropped == 3
    with pytest.raises(DatasetError, match="3 missing"):
        numeric_column(loaded, "score", "people", "reject")


def test_numeric_column_parquet_int_and_bool(parquet_path: Path) -> None:
    loaded = load_table(dataset(parquet_path, "parquet"))
    ages, dropped_ages = numeric_column(loaded, "age", "people", "drop")
    members, dropped_members = numeric_column(
        loaded, "member", "people", "drop"
    )
    assert ages.tolist() == [39.0, 50.0, 28.0]
    assert dropped_ages == 1
    assert members.tolist() == [1.0, 0.0, 1.0]
    assert dropped_members == 1


def test_numeric_column_non_numeric_type(parquet_path: Path) -> None:
    loaded = load_table(dataset(parquet_path, "parquet"))
    with pytest.raises(DatasetError, match="not numeric"):
        numeric_column(loaded, "seen", "people", "drop")


def test_numeric_column_dictionary_encoded() -> None:
    encoded = pa.table({"x": pa.array(["1", "2", "x"]).dictionary_encode()})
    values, dropped = numeric_column(encoded, "x", "people", "drop")
    assert values.tolist() == [1.0, 2.0]
    assert dropped == 1


def test_numeric_values_keeps_rows(table: pa.Table) -> None:
    values = numeric_values(table, "age", "people")
    assert values.shape == (5,)
    assert values[0] == 39.0
    assert values[3] == 41.0
    assert np.isnan(values[[1, 2, 4]]).all()


# text_column


def test_text_column_strips_whitespace(table: pa.Table) -> None:
    cities = text_column(table, "city")
    assert cities.dtype == object
    assert cities.tolist() == ["Paris", "Lyon", "Nice", "Paris", ""]


def test_text_column_parquet_nulls_and_numbers(parquet_path: Path) -> None:
    loaded = load_table(dataset(parquet_path, "parquet"))
    cities = text_column(loaded, "city").tolist()
    assert cities == ["Paris", "", "Lyon", "Paris"]
    assert text_column(loaded, "age").tolist() == ["39", "50", "", "28"]


def test_text_column_missing_column(table: pa.Table) -> None:
    with pytest.raises(DatasetError, match="'town' not found"):
        text_column(table, "town")


# filter_mask


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("==", 39, [True, False, False, False, False]),
        ("!=", 39, [False, False, False, True, False]),
        ("<", 41, [True, False, False, False, False]),
        ("<=", 41, [True, False, False, True, False]),
        (">", 39.5, [False, False, False, True, False]),
        (">=", 39.0, [True, False, False, True, False]),
    ],
)
def test_filter_mask_numeric(
    table: pa.Table, op: str, value: float, expected: list[bool]
) -> None:
    mask = filter_mask(table, "age", op, value)
    assert mask.dtype == bool
    assert mask.tolist() == expected


def test_filter_mask_numeric_numpy_value(table: pa.Table) -> None:
    mask = filter_mask(table, "age", "==", np.int64(41))
    assert mask.tolist() == [False, False, False, True, False]


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("==", "Paris", [True, False, False, True, False]),
        ("==", " Nice ", [False, False, True, False, False]),
        ("!=", "Paris", [False, True, True, False, True]),
        ("<", "M", [False, True, False, False, True]),
        (">=", "Nice", [True, False, True, True, False]),
    ],
)
def test_filter_mask_string(
    table: pa.Table, op: str, value: str, expected: list[bool]
) -> None:
    assert filter_mask(table, "city", op, value).tolist() == expected


def test_filter_mask_string_on_number_column(table: pa.Table) -> None:
    assert filter_mask(table, "id", "==", "3").tolist() == [
        False,
        False,
        True,
        False,
        False,
    ]


def test_filter_mask_string_null_never_matches(parquet_path: Path) -> None:
    loaded = load_table(dataset(parquet_path, "parquet"))
    mask = filter_mask(loaded, "city", "!=", "Lyon")
    assert mask.tolist() == [True, False, False, True]


def test_filter_mask_adult_income_classes(tmp_path: Path) -> None:
    path = tmp_path / "adult.csv"
    path.write_text(
        "age,class\n39, <=50K\n50,>50K \n38,>50K\n", encoding="utf-8"
    )
    loaded = load_table(dataset(path))
    assert filter_mask(loaded, "class", "==", ">50K").tolist() == [
        False,
        True,
        True,
    ]


@pytest.mark.parametrize("op", ["=", "<>", "in", ""])
def test_filter_mask_invalid_op(table: pa.Table, op: str) -> None:
    with pytest.raises(ValueError, match="invalid filter operator"):
        filter_mask(table, "age", op, 1)


@pytest.mark.parametrize("value", [True, math.nan, math.inf, None, [1]])
def test_filter_mask_invalid_value(table: pa.Table, value: object) -> None:
    with pytest.raises(ValueError, match="invalid filter value"):
        filter_mask(table, "age", "==", value)


def test_filter_mask_missing_column(table: pa.Table) -> None:
    with pytest.raises(DatasetError, match="available columns"):
        filter_mask(table, "town", "==", "Paris", "people")


# DatasetCache


def test_dataset_cache_loads_once(csv_path: Path) -> None:
    cache = DatasetCache()
    first = cache.get(dataset(csv_path))
    assert cache.get(dataset(csv_path)) is first


def test_dataset_cache_reloads_changed_file(csv_path: Path) -> None:
    cache = DatasetCache()
    first = cache.get(dataset(csv_path))
    csv_path.write_text(CSV_TEXT + "6,60,Metz,1\n", encoding="utf-8")
    stat = csv_path.stat()
    os.utime(csv_path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))

    second = cache.get(dataset(csv_path))
    assert second is not first
    assert second.num_rows == 6
    assert cache.get(dataset(csv_path)) is second


def test_dataset_cache_clear(csv_path: Path) -> None:
    cache = DatasetCache()
    first = cache.get(dataset(csv_path))
    cache.clear()
    assert cache.get(dataset(csv_path)) is not first


def test_dataset_cache_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        DatasetCache().get(dataset(tmp_path / "absent.csv"))


# The Adult census extract


def test_load_table_adult_census(tmp_path: Path) -> None:
    source = next((p for p in ADULT_CANDIDATES if p.is_file()), None)
    if source is None:
        pytest.skip("adult.csv.gz is not available")
    path = tmp_path / "adult.csv.gz"
    shutil.copyfile(source, path)
    adult = load_table(DatasetConfig("adult", path, "csv", "reject"))

    assert adult.num_rows == 32561
    assert len(adult.column_names) == 15
    ages, dropped = numeric_column(adult, "age", "adult", "reject")
    assert dropped == 0
    assert ages.mean() == pytest.approx(38.5816, abs=1e-4)
    hours, _ = numeric_column(adult, "hours-per-week", "adult", "reject")
    assert hours.min() >= 1
    assert int(filter_mask(adult, "class", "==", ">50K").sum()) == 7841
