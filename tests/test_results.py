"""Tests of long vector results kept as .npy files (`parties.results`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from parties import results

ARRAYS = {
    "int64": np.arange(70_000, dtype=np.int64) - 5,
    "float64": np.linspace(0.0, 1.0, 1000),
    "big-endian": np.arange(5, dtype=">i8"),
    "strided": np.arange(20)[::2],
    "fortran": np.arange(12.0).reshape(3, 4).T,
    "empty": np.zeros(0, dtype=np.int64),
}


@pytest.mark.parametrize("name", list(ARRAYS))
def test_externalised_digest_matches_file(tmp_path: Path, name: str) -> None:
    values = ARRAYS[name]
    result = {"job_id": "ab", "queries": [{"name": "v", "values": values}]}
    (path,) = results.externalise_arrays(result, tmp_path)
    (query,) = result["queries"]
    assert "values" not in query
    assert query["values_file"] == str(path.resolve())
    assert query["values_sha256"] == results.file_sha256(path)
    assert np.array_equal(results.load_vector(query), values)


def test_load_vector_rejects_changed_file(tmp_path: Path) -> None:
    result = {"job_id": "ab",
              "queries": [{"name": "v", "values": np.arange(10)}]}
    (path,) = results.externalise_arrays(result, tmp_path)
    np.save(path, np.arange(1, 11))
    with pytest.raises(ValueError, match="SHA-256"):
        results.load_vector(result["queries"][0])
