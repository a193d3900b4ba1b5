"""The prime field F_p, p = 2^61 - 1, on numpy uint64 vectors.

Since p < 2^62, the sum of two reduced elements fits in 64 bits before
reduction, so addition needs no wider type. Signed integers are embedded
centred: v in [-(p-1)/2, (p-1)/2] maps to v mod p.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

P = (1 << 61) - 1
HALF = (P - 1) // 2
"""Largest magnitude of a signed value that the field can hold."""


class FieldOverflowError(ValueError):
    """A value does not fit in the centred interval of the field."""


def _as_int_array(values: Iterable[int] | np.ndarray) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == object or arr.dtype.kind not in "iu":
        # Python ints of any size: check the magnitude before converting.
        # A float must be integral, because int() would truncate 1.7 to 1.
        ints: list[int] = []
        for raw in np.ravel(arr):
            try:
                v = int(raw)
                integral = v == raw
            except (OverflowError, ValueError):
                integral = False
            if not integral:
                raise ValueError(
                    f"value {raw!r} is not an integer. Encode real values "
                    "with encode_fixed."
                )
            ints.append(v)
        for v in ints:
            if not -HALF <= v <= HALF:
                raise FieldOverflowError(
                    f"value {v} does not fit in the field: signed values "
                    f"must lie in [-{HALF}, {HALF}]; reduce the clip "
                    "bounds or the fixed-point scale"
                )
        return np.array(ints, dtype=np.int64).reshape(np.shape(arr))
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > HALF:
        raise FieldOverflowError(
            f"value {int(arr.max())} does not fit in the field: signed "
            f"values must lie in [-{HALF}, {HALF}]"
        )
    arr = arr.astype(np.int64)
    if arr.size:
        low, high = int(arr.min()), int(arr.max())
        if low < -HALF or high > HALF:
            bad = low if low < -HALF else high
            raise FieldOverflowError(
                f"value {bad} does not fit in the field: signed values "
                f"must lie in [-{HALF}, {HALF}]"
            )
    return arr


def encode_signed(values: Iterable[int] | np.ndarray) -> np.ndarray:
    """Embed signed integers in F_p, centred.

    Raises FieldOverflowError for a value outside [-(p-1)/2, (p-1)/2]
    instead of wrapping it.
    """
    arr = _as_int_array(values)
    out = arr.astype(np.uint64)
    negative = arr < 0
    out[negative] = (arr[negative] + np.int64(P)).astype(np.uint64)
    return out


def decode_signed(elements: np.ndarray) -> np.ndarray:
    """Map field elements back to signed int64, inverse of encode_signed."""
    arr = check_elements(elements)
    out = arr.astype(np.int64)
    high = arr > np.uint64(HALF)
    out[high] = arr[high].astype(np.int64) - np.int64(P)
    return out


def encode_fixed(values: Iterable[float] | np.ndarray,
                 scale: int) -> np.ndarray:
    """Encode real values with `scale` decimal digits: round(v * 10^scale).

    Raises ValueError for NaN or infinity and FieldOverflowError for a
    value too large for the field.
    """
    if scale < 0:
        raise ValueError(f"fixed-point scale must be >= 0, got {scale}")
    arr = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("fixed-point values must be finite, got NaN or inf")
    scaled = np.rint(arr * (10.0**scale))
    if scaled.size and np.max(np.abs(scaled)) > HALF:
        raise FieldOverflowError(
            f"value {float(np.max(np.abs(arr)))} at scale {scale} does not "
            "fit in the field"
        )
    return encode_signed(scaled.astype(np.int64))


def decode_fixed(elements: np.ndarray, scale: int) -> np.ndarray:
    """Decode field elements made by encode_fixed to float64."""
    return decode_signed(elements).astype(np.float64) / (10.0**scale)


def check_elements(elements: np.ndarray) -> np.ndarray:
    """Return `elements` as uint64, raising ValueError if any is >= p."""
    arr = np.asarray(elements)
    if arr.dtype != np.uint64:
        raise TypeError(f"field vectors must be uint64, got {arr.dtype}")
    if arr.size and int(arr.max()) >= P:
        raise ValueError(f"field element {int(arr.max())} is not below p")
    return arr


def _reduce_once(s: np.ndarray) -> np.ndarray:
    """Reduce values in [0, 2p) to [0, p), in place.

    For s >= p, s - p is the smaller; for s < p, s - p wraps around to
    at least 2^64 - p > s. So the minimum is s mod p, with no mask.
    """
    np.minimum(s, s - np.uint64(P), out=s)
    return s


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Add reduced vectors mod p."""
    return _reduce_once(a + b)


def sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Subtract reduced vectors mod p."""
    return _reduce_once(a + (np.uint64(P) - b))


_BLOCK = 1 << 15
"""Elements per step of the in-place operations: a 256 KiB block, so the
temporary stays in cache."""


def add_into(total: np.ndarray, vector: np.ndarray) -> None:
    """Add a reduced vector into the reduced vector `total` mod p, in place.

    Works block by block with one small temporary, so a long vector costs
    no allocation of its own size.
    """
    scratch = np.empty(min(_BLOCK, total.size), dtype=np.uint64)
    for start in range(0, total.size, _BLOCK):
        part = total[start:start + _BLOCK]
        low = scratch[:part.size]
        np.add(part, vector[start:start + _BLOCK], out=part)
        np.subtract(part, np.uint64(P), out=low)
        np.minimum(part, low, out=part)  # As in _reduce_once.


def sub_into(total: np.ndarray, vector: np.ndarray) -> None:
    """Subtract a reduced vector from the reduced vector `total` mod p, in
    place, block by block like add_into."""
    scratch = np.empty(min(_BLOCK, total.size), dtype=np.uint64)
    for start in range(0, total.size, _BLOCK):
        part = total[start:start + _BLOCK]
        low = scratch[:part.size]
        np.subtract(np.uint64(P), vector[start:start + _BLOCK], out=low)
        np.add(part, low, out=part)
        np.subtract(part, np.uint64(P), out=low)
        np.minimum(part, low, out=part)


def neg(a: np.ndarray) -> np.ndarray:
    """Negate a reduced vector mod p."""
    out = np.uint64(P) - a
    out[out == np.uint64(P)] = 0
    return out


def sum_vectors(vectors: Iterable[np.ndarray], length: int) -> np.ndarray:
    """Sum reduced vectors of the same length mod p."""
    total = np.zeros(length, dtype=np.uint64)
    for v in vectors:
        if v.shape != (length,):
            raise ValueError(
                f"vector length {v.shape} does not match expected {length}"
            )
        total = add(total, v)
    return total
