"""The daemon's DataSource: a party's datasets read with pyarrow."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from mpc.queries import QueryError
from parties.config import DatasetConfig
from parties.datasets import (
    DatasetCache,
    DatasetError,
    numeric_values,
    text_column,
)


class ArrowSource:
    """Columns of the datasets named in a party's config.

    Numeric columns come back as float64 with NaN for a missing value:
    null, empty, NaN, infinite or text that is not a decimal number. With
    the dataset's `missing = "reject"` policy a queried column with any
    such value raises QueryError instead, naming the column and the count.
    Errors carry no cell values, since their text reaches the peers.
    """

    def __init__(self, datasets: dict[str, DatasetConfig],
                 cache: DatasetCache | None = None) -> None:
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
        try:
            return self.cache.get(self._config(dataset))
        except DatasetError as exc:
            raise QueryError(exc.public_message) from None

    def row_count(self, dataset: str) -> int:
        return self._table(dataset).num_rows

    def numeric(self, dataset: str, column: str) -> np.ndarray:
        try:
            values = numeric_values(self._table(dataset), column, dataset)
        except DatasetError as exc:
            raise QueryError(exc.public_message) from None
        missing = int(np.isnan(values).sum())
        if values.size and missing == values.size:
            raise QueryError(
                f"column {column!r} of dataset {dataset!r} has no numeric "
                "value; use it in a histogram with categories or a text "
                "filter, not as a number"
            )
        if missing and self._config(dataset).missing == "reject":
            raise QueryError(
                f"column {column!r} of dataset {dataset!r} has {missing} "
                "missing or non-numeric values, and the dataset's policy "
                "is missing = \"reject\""
            )
        return values

    def integers(self, dataset: str, column: str) -> np.ndarray | None:
        """Return an integer column with no missing value as int64.

        Returns None for any other column, which `numeric` then reads;
        this path skips the float64 copy, for long vector queries.
        """
        table = self._table(dataset)
        if column not in table.column_names:
            return None
        array = table.column(column)
        kind = array.type
        if (not pa.types.is_integer(kind) or pa.types.is_uint64(kind)
                or array.null_count):
            return None
        return array.to_numpy().astype(np.int64, copy=False)

    def text(self, dataset: str, column: str) -> np.ndarray:
        try:
            return text_column(self._table(dataset), column, dataset)
        except DatasetError as exc:
            raise QueryError(exc.public_message) from None
