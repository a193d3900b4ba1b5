"""Binary encodings of the share, reveal and echo message bodies.

Every decoder checks the exact length the job implies and raises
WireError on anything else, so a malformed body from a peer aborts the
job naming that peer instead of crashing the party.
"""

from __future__ import annotations

import numpy as np

from mpc import field
from mpc.group import Q, SCALAR_BYTES
from mpc.prg import SEED_BYTES
from mpc.sharing import Share

SEED_TAG = b"S"
VECTOR_TAG = b"V"
DIGEST_BYTES = 32


class WireError(ValueError):
    """A message body that does not decode for this job."""


def _encode_vector(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values, dtype="<u8").tobytes()


def _decode_vector(data: bytes, length: int) -> np.ndarray:
    if len(data) != 8 * length:
        raise WireError(
            f"expected a vector of {length} elements ({8 * length} bytes), "
            f"got {len(data)} bytes"
        )
    values = np.frombuffer(data, dtype="<u8").astype(np.uint64)
    if length and int(values.max()) >= field.P:
        raise WireError("a vector element is not below p")
    return values


def _encode_scalars(scalars: list[int] | tuple[int, ...]) -> bytes:
    return b"".join(s.to_bytes(SCALAR_BYTES, "big") for s in scalars)


def _decode_scalars(data: bytes, length: int) -> list[int]:
    if len(data) != SCALAR_BYTES * length:
        raise WireError(
            f"expected {length} scalars ({SCALAR_BYTES * length} bytes), "
            f"got {len(data)} bytes"
        )
    out = [
        int.from_bytes(data[i:i + SCALAR_BYTES], "big")
        for i in range(0, len(data), SCALAR_BYTES)
    ]
    if any(s >= Q for s in out):
        raise WireError("a scalar is not below the group order q")
    return out


def encode_share(share: Share) -> bytes:
    """Encode a share: a tagged seed, or a tagged vector and blindings."""
    if share.is_seed:
        return SEED_TAG + share.seed
    assert share.values is not None
    return VECTOR_TAG + _encode_vector(share.values) + _encode_scalars(
        share.blindings
    )


def decode_share(data: bytes, length: int, with_blindings: bool) -> Share:
    """Decode a share body for a job input of `length` elements."""
    tag, rest = data[:1], data[1:]
    if tag == SEED_TAG:
        if len(rest) != SEED_BYTES:
            raise WireError(
                f"a seed share must be {SEED_BYTES} bytes, got {len(rest)}"
            )
        return Share(seed=rest)
    if tag != VECTOR_TAG:
        raise WireError(f"unknown share tag {tag!r}")
    values = _decode_vector(rest[:8 * length], length)
    blindings = _decode_scalars(
        rest[8 * length:], length if with_blindings else 0
    )
    return Share(values=values, blindings=tuple(blindings))


def encode_reveal(values: np.ndarray, blindings: list[int]) -> bytes:
    """Encode a reveal: the sum of value shares and of blinding shares."""
    return _encode_vector(values) + _encode_scalars(blindings)


def decode_reveal(data: bytes, length: int, with_blindings: bool
                  ) -> tuple[np.ndarray, list[int]]:
    """Decode a reveal body for a job input of `length` elements."""
    values = _decode_vector(data[:8 * length], length)
    blindings = _decode_scalars(
        data[8 * length:], length if with_blindings else 0
    )
    return values, blindings


def encode_digests(digests: list[bytes]) -> bytes:
    """Encode the echo: one SHA-256 digest per party, in job order."""
    return b"".join(digests)


def decode_digests(data: bytes, count: int) -> list[bytes]:
    """Decode an echo body of `count` digests."""
    if len(data) != DIGEST_BYTES * count:
        raise WireError(
            f"an echo must hold {count} digests "
            f"({DIGEST_BYTES * count} bytes), got {len(data)} bytes"
        )
    return [data[i:i + DIGEST_BYTES]
            for i in range(0, len(data), DIGEST_BYTES)]
