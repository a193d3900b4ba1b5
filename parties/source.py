"""The daemon's DataSource: a party's datasets read with pyarrow."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mpc.queries import QueryError
from parties.config import DatasetConfig
from parties.datasets import DatasetCache


class ArrowSource:
    """Columns of the datasets named in a party's config.

    Numeric columns come back as float64 with NaN for a missing value:
    null, empty, NaN, infinite or text that is not a number. With the
    dataset's `missing = "reject"` policy a queried column with any such
    value raises QueryError instead, naming the column and the count.
    """

    def __init__(
        self,
        datasets: dict[str, DatasetConfig],
        cache: DatasetCache | None = None,
    ) -> None:
        self.datasets = datasets
        self.cache = cache or DatasetCache()

    def _config(self, dataset: str) -> DatasetConfig:
        if dataset not in self.datasets:
            raise QueryError(
                f"dataset {dataset!r} not found in this party's config; "
                f"configured: {sorted(self.datasets)}"
            )
        return self.datasets[dataset]

    def _table(self, dataset: str) -> pa.Table:
        return self.cache.get(self._config(dataset))

    def _column(self, dataset: str, column: str) -> pa.ChunkedArray:
        table = self._table(dataset)
        if column not in table.column_names:
            raise QueryError(
                f"column {column!r} not found in dataset {dataset!r}; "
                f"available: {table.column_names}"
            )
        return table.column(column)

    def row_count(self, dataset: str) -> int:
        return self._table(dataset).num_rows

    def numeric(self, dataset: str, column: str) -> np.ndarray:
        data = self._column(dataset, column)
        if pa.types.is_integer(data.type) or pa.types.is_floating(data.type):
            values = pc.cast(data, pa.float64()).to_numpy(zero_copy_only=False)
            values = np.array(values, dtype=np.float64)
        else:
            values = _parse_numbers(data)
        values[~np.isfinite(values)] = np.nan
        config = self._config(dataset)
        missing = int(np.isnan(values).sum())
        if missing and config.missing == "reject":
            raise QueryError(
                f"column {column!r} of dataset {dataset!r} has {missing} "
                "missing or non-numeric values, and the dataset's policy "
                'is missing = "reject"'
            )
        return values

    def text(self, dataset: str, column: str) -> np.ndarray:
        data = self._column(dataset, column)
        as_text = pc.utf8_trim_whitespace(pc.cast(data, pa.string()))
        values = as_text.to_numpy(zero_copy_only=False)
        return np.array(
            [v if v is not None else "" for v in values], dtype=object
        )


def _parse_numbers(data: pa.ChunkedArray) -> np.ndarray:
    texts = pc.cast(data, pa.string()).to_pylist()
    out = np.full(len(texts), np.nan)
    for i, text in enumerate(texts):
        if text is None:
            continue
        try:
            out[i] = float(text.strip())
        except ValueError:
            pass
    return out
