"""Data sources: CSV, Parquet and NumPy .npy files read with pyarrow.

CSV files (plain, or gzip-compressed when the name ends in `.gz`) need a
header line. Every CSV column is read as a string, whatever it looks
like, and header names are stripped of surrounding whitespace. So the same
file always yields the same table, with no type guessed from its first
rows, and parsing numbers is done in one place, `numeric_column`, with one
rule for CSV and Parquet alike. Parquet columns keep their stored types.

A cell is *missing* for a numeric query when it is null, empty, NaN,
infinite, or text that is not a decimal number after stripping whitespace
(`?`, `n/a`, `1_000`). Depending on the dataset's `missing` setting such
cells are dropped and counted, or they make the query fail with
DatasetError.

A `.npy` file contains one array. A one-dimensional array is a table
with one column named `value`, and a structured array has one column per
field. It suits a vector query, one row per element.
"""

from __future__ import annotations

import csv
import gzip
import numbers
import operator
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from parties.config import MISSING_MODES, DatasetConfig

FILTER_OPS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "==": (operator.eq, pc.equal),
    "!=": (operator.ne, pc.not_equal),
    "<": (operator.lt, pc.less),
    "<=": (operator.le, pc.less_equal),
    ">": (operator.gt, pc.greater),
    ">=": (operator.ge, pc.greater_equal),
}
"""Filter operators: the numpy and the pyarrow comparison of each."""

# A decimal number with an optional sign and exponent, as RE2 (pyarrow)
# reads it; `\d` matches ASCII digits only. NaN and infinity are excluded.
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_EXAMPLE_CHARS = 40


class DatasetError(ValueError):
    """A dataset that cannot be read, or a column a query cannot use.

    `public_message` is the message without any cell value of the
    dataset, so it can be sent to other parties. The full message may
    quote one cell and is meant for this party's operator.
    """

    def __init__(self, message: str, public_message: str | None = None):
        super().__init__(message)
        self.public_message = (
            message if public_message is None else (public_message)
        )


def load_table(dataset: DatasetConfig) -> pa.Table:
    """Read a dataset's file into a table.

    Raises DatasetError naming the dataset and the path when the file is
    missing, unreadable or malformed, or has empty or repeated column
    names.
    """
    path = Path(dataset.path)
    where = f"dataset {dataset.name!r} ({path})"
    if not path.is_file():
        raise DatasetError(
            f"file of {where} not found; check the path in the party config",
            f"the file of dataset {dataset.name!r} is not found",
        )
    try:
        if dataset.format == "csv":
            table = _read_csv(path, where)
        elif dataset.format == "parquet":
            table = pq.read_table(path)
        elif dataset.format == "npy":
            table = _read_npy(path, where)
        else:
            raise DatasetError(
                f"unknown format {dataset.format!r} of {where}; use csv, "
                "parquet or npy"
            )
    except (pa.ArrowException, OSError, UnicodeDecodeError, csv.Error,
            ValueError) as e:
        if isinstance(e, DatasetError):
            raise
        raise DatasetError(
            f"cannot read {where} as {dataset.format}: {e}",
            f"dataset {dataset.name!r} cannot be read",
        ) from None

    names = table.column_names
    for name in names:
        if not name or names.count(name) > 1:
            raise DatasetError(
                f"{where} has an empty or repeated column name {name!r}; "
                "give every column a unique name"
            )
    return table


NPY_COLUMN = "value"
"""The column name of a one-dimensional .npy dataset."""


def _read_npy(path: Path, where: str) -> pa.Table:
    """Read a .npy file (no pickled objects) into a table."""
    array = np.load(path, allow_pickle=False)
    if array.dtype.names:
        if array.ndim != 1:
            raise DatasetError(
                f"{where} contains a structured array of shape "
                f"{array.shape}; save one record per row, as a "
                "one-dimensional array"
            )
        return pa.table({name: np.ascontiguousarray(array[name])
                         for name in array.dtype.names})
    if array.ndim != 1:
        raise DatasetError(
            f"{where} contains an array of shape {array.shape}; save a "
            f"one-dimensional array (read as column {NPY_COLUMN!r}) or a "
            "structured array"
        )
    return pa.table({NPY_COLUMN: array})


def _read_csv(path: Path, where: str) -> pa.Table:
    # Read the header separately, so every column can be typed as string.
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as file:
        header = next(csv.reader(file), None)
    if not header:
        raise DatasetError(
            f"{where} has no header line; add a first line with the "
            "column names"
        )
    names = [name.strip() for name in header]

    return pacsv.read_csv(
        str(path),
        read_options=pacsv.ReadOptions(
            column_names=names, skip_rows=1, encoding="utf8"
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            strings_can_be_null=False,
        ),
    )


def _column(
    table: pa.Table, column: str, dataset_name: str
) -> pa.ChunkedArray:
    if column not in table.column_names:
        available = ", ".join(repr(name) for name in table.column_names)
        where = f" in dataset {dataset_name!r}" if dataset_name else ""
        raise DatasetError(
            f"column {column!r} not found{where}; the available columns "
            f"are {available}"
        )
    array = table.column(column)
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    return array


def _as_float(
    array: pa.ChunkedArray, column: str, dataset_name: str
) -> np.ndarray:
    """Convert a column to float64, with NaN for every unparseable cell."""
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        trimmed = pc.utf8_trim_whitespace(array)
        is_number = pc.match_substring_regex(trimmed, _NUMBER)
        numbers_only = pc.if_else(is_number, trimmed, pa.scalar(None, kind))
        array = pc.cast(numbers_only, pa.float64())
    elif (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_null(kind)
    ):
        array = pc.cast(array, pa.float64())
    else:
        raise DatasetError(
            f"column {column!r} of dataset {dataset_name!r} has type "
            f"{kind}, which is not numeric; query a numeric column"
        )
    values = np.array(array.to_numpy(), dtype=np.float64)
    values[~np.isfinite(values)] = np.nan
    return values


def numeric_values(
    table: pa.Table, column: str, dataset_name: str = ""
) -> np.ndarray:
    """Return a column as float64, one value per row, NaN where missing.

    Unlike `numeric_column` nothing is dropped, so the result lines up
    with the rows of `table` and with `filter_mask`.
    """
    array = _column(table, column, dataset_name)
    return _as_float(array, column, dataset_name)


def numeric_column(
    table: pa.Table, column: str, dataset_name: str, missing: str
) -> tuple[np.ndarray, int]:
    """Return a column's values as float64 and the number of cells dropped.

    Missing cells (null, empty, NaN, infinite or not a decimal number)
    are dropped and counted when `missing` is "drop". When it is "reject",
    any missing cell raises DatasetError with the column, the count and
    one example cell; its `public_message` leaves out the example.
    """
    if missing not in MISSING_MODES:
        raise ValueError(
            f"invalid missing mode {missing!r}; use one of "
            f"{', '.join(MISSING_MODES)}"
        )
    array = _column(table, column, dataset_name)
    values = _as_float(array, column, dataset_name)
    valid = ~np.isnan(values)
    dropped = int(values.size - np.count_nonzero(valid))
    if dropped and missing == "reject":
        first = int(np.argmin(valid))
        summary = (
            f"column {column!r} of dataset {dataset_name!r} has {dropped} "
            f"missing or unparseable values in {values.size} rows"
        )
        raise DatasetError(
            f"{summary}, the first in row {first + 1}: "
            f"{_example(array[first].as_py())}; fix the data or set "
            f'missing = "drop" for the dataset',
            summary,
        )
    return values[valid], dropped


def _example(cell: Any) -> str:
    if cell is None:
        return "null"
    text = repr(cell)
    if len(text) > _EXAMPLE_CHARS:
        text = text[:_EXAMPLE_CHARS] + "..."
    return text


def _strings(
    table: pa.Table, column: str, dataset_name: str
) -> pa.ChunkedArray:
    """Return a column as stripped strings, keeping nulls."""
    array = _column(table, column, dataset_name)
    if not (
        pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
    ):
        try:
            array = pc.cast(array, pa.string())
        except pa.ArrowException:
            raise DatasetError(
                f"column {column!r} of dataset {dataset_name!r} has type "
                f"{array.type}, which cannot be read as text"
            ) from None
    return pc.utf8_trim_whitespace(array)


def text_column(
    table: pa.Table, column: str, dataset_name: str = ""
) -> np.ndarray:
    """Return a column as an object array of whitespace-stripped strings.

    Non-string columns are converted with pyarrow's cast (an integer 39
    becomes "39"), and null cells become "".
    """
    strings = _strings(table, column, dataset_name).fill_null("")
    return np.asarray(strings.to_numpy(zero_copy_only=False), dtype=object)


def filter_mask(
    table: pa.Table,
    column: str,
    op: str,
    value: Any,
    dataset_name: str = "",
) -> np.ndarray:
    """Return which rows satisfy `column op value`, as a bool array.

    A number `value` compares numerically, and a cell that is missing in
    the sense of `numeric_column` matches no operator, not even "!=". A
    string `value` compares with the stripped cell text, by code point,
    and a null cell matches nothing. Raises ValueError for an unknown
    operator, a boolean, NaN or infinite value, or any other type.
    """
    if op not in FILTER_OPS:
        raise ValueError(
            f"invalid filter operator {op!r}; use one of "
            f"{', '.join(FILTER_OPS)}"
        )
    numpy_op, arrow_op = FILTER_OPS[op]

    if isinstance(value, numbers.Real) and not isinstance(
        value, (bool, np.bool_)
    ):
        if not np.isfinite(float(value)):
            raise ValueError(
                f"invalid filter value {value!r}: use a finite number"
            )
        array = _column(table, column, dataset_name)
        values = _as_float(array, column, dataset_name)
        with np.errstate(invalid="ignore"):
            mask = numpy_op(values, float(value))
        return np.asarray(mask & ~np.isnan(values), dtype=bool)
    if isinstance(value, str):
        strings = _strings(table, column, dataset_name)
        compared = arrow_op(strings, value.strip()).fill_null(False)
        return np.asarray(compared.to_numpy(), dtype=bool)
    raise ValueError(
        f"invalid filter value {value!r} of type {type(value).__name__}: "
        "use a number or a string"
    )


class DatasetCache:
    """Loaded tables, read again only when a dataset's file changes.

    A table is keyed by its file's path and format and kept while the
    file's modification time and size stay the same. The file is checked
    with one `stat` call per `get`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: dict[tuple[Path, str], tuple[Any, pa.Table]] = {}

    def get(self, dataset: DatasetConfig) -> pa.Table:
        """Return the dataset's table, loading it if its file changed."""
        key = (Path(dataset.path).absolute(), dataset.format)
        try:
            stat = os.stat(key[0])
        except OSError:
            # load_table raises the DatasetError for a missing file.
            return load_table(dataset)
        version = (stat.st_mtime_ns, stat.st_size)

        # The file is read after the stat, so a change during the read
        # leaves a newer file than `version` and is read again next time.
        with self._lock:
            cached = self._tables.get(key)
            if cached is not None and cached[0] == version:
                return cached[1]
            table = load_table(dataset)
            self._tables[key] = (version, table)
            return table

    def clear(self) -> None:
        """Forget every loaded table."""
        with self._lock:
            self._tables.clear()
