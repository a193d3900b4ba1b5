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
from typing import BinaryIO

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
        with open(partial, "w+b") as file:
            np.save(file, values, allow_pickle=False)
            file.flush()
            os.fsync(file.fileno())
            digest = _written_sha256(file, values)
        os.replace(partial, path)
        query.pop("values")
        query.update(
            values_file=str(path.resolve()),
            values_sha256=digest,
            values_dtype=str(values.dtype),
            length=int(values.size),
        )
        written.append(path)
    return written


def _written_sha256(file: BinaryIO, values: np.ndarray) -> str:
    """Return the hex SHA-256 of a .npy file just written from `values`.

    np.save writes a C-contiguous array as its header followed by the
    array's memory, in the byte order the header records (numpy 2.4,
    `lib.format.write_array`). So only the header is read back. Any other
    array is hashed from the file.
    """
    header_size = file.tell() - values.nbytes
    file.seek(0)
    if not values.flags.c_contiguous:
        return _stream_sha256(file)
    digest = hashlib.sha256(file.read(header_size))
    digest.update(memoryview(values).cast("B"))
    return digest.hexdigest()


def _stream_sha256(file: BinaryIO) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: file.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB blocks."""
    with open(path, "rb") as file:
        return _stream_sha256(file)


def load_vector(query_result: dict) -> np.ndarray:
    """Return a stored query result's values, checking the file's digest."""
    path = Path(query_result["values_file"])
    if file_sha256(path) != query_result["values_sha256"]:
        raise ValueError(f"{path} does not match its recorded SHA-256")
    return np.load(path, allow_pickle=False)
