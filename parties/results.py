"""Long vector results, kept as .npy files beside a party's store.

A vector query of more than `mpc.queries.INLINE_VECTOR_LIMIT` elements
comes out of the job as a numpy array with a summary (see
`mpc.queries._decode_long_vector`), not as lists. Before the daemon
stores a result as JSON it writes each such array to

    <state_dir>/results/<job id>-<query name>.npy

and puts in its place `values_file` (the file's absolute path),
`values_sha256` (the SHA-256 of the file), `values_dtype` and `length`.
The stored JSON of a 10^7-element job stays a few kilobytes; read the
values with `numpy.load(result["values_file"])`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

RESULTS_DIR = "results"


def vector_path(state_dir: Path, job_id: str, query_name: str) -> Path:
    """Return where a job's vector result for one query is written."""
    return Path(state_dir) / RESULTS_DIR / f"{job_id}-{query_name}.npy"


def externalise_arrays(result: dict, state_dir: Path) -> list[Path]:
    """Write every array in a result's queries to a .npy file.

    The query dicts are changed in place, so a finished job that a
    caller keeps in memory no longer keeps the arrays either. Each file is written under a temporary name and
    renamed, so a reader never sees half a file. Returns the paths.
    """
    written = []
    for query in result.get("queries", []):
        values = query.get("values")
        if not isinstance(values, np.ndarray):
            continue
        path = vector_path(state_dir, result["job_id"], query["name"])
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as file:
            np.save(file, values, allow_pickle=False)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
        query.pop("values")
        query.update(
            values_file=str(path.resolve()),
            values_sha256=file_sha256(path),
            values_dtype=str(values.dtype),
            length=int(values.size),
        )
        written.append(path)
    return written


def file_sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_vector(query_result: dict) -> np.ndarray:
    """Return a stored query result's values, checking the file's digest."""
    path = Path(query_result["values_file"])
    if file_sha256(path) != query_result["values_sha256"]:
        raise ValueError(f"{path} does not match its recorded SHA-256")
    return np.load(path, allow_pickle=False)
