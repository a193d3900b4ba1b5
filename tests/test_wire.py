"""Tests of the share, reveal and echo encodings in mpc.wire.

Every decoder gets the encoding of a valid body changed in one way
(truncated, extended, wrong tag, an element not below p, a scalar not
below q) and must raise WireError.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from mpc.field import P
from mpc.group import SCALAR_BYTES, Q
from mpc.prg import SEED_BYTES
from mpc.sharing import Share
from mpc.wire import (
    DIGEST_BYTES,
    SEED_TAG,
    VECTOR_TAG,
    WireError,
    decode_digests,
    decode_reveal,
    decode_share,
    encode_digests,
    encode_reveal,
    encode_share,
)

LENGTH = 4
VALUES = np.array([0, 1, P - 1, 123456789], dtype=np.uint64)
BLINDINGS = [0, 1, Q - 1, 2**200 + 5]
SEED = bytes(range(SEED_BYTES))
DIGESTS = [bytes([k]) * DIGEST_BYTES for k in range(3)]


def test_wire_error_is_value_error() -> None:
    assert issubclass(WireError, ValueError)


# Round trips --------------------------------------------------------------


def test_share_seed_round_trip() -> None:
    data = encode_share(Share(seed=SEED))
    decoded = decode_share(data, LENGTH, True)
    assert data == SEED_TAG + SEED
    assert decoded.seed == SEED
    assert decoded.values is None


def test_share_vector_round_trip() -> None:
    data = encode_share(Share(values=VALUES, blindings=tuple(BLINDINGS)))
    decoded = decode_share(data, LENGTH, True)
    assert len(data) == 1 + 8 * LENGTH + SCALAR_BYTES * LENGTH
    assert data[:1] == VECTOR_TAG
    assert decoded.values is not None
    assert decoded.values.dtype == np.uint64
    assert np.array_equal(decoded.values, VALUES)
    assert decoded.blindings == tuple(BLINDINGS)


def test_share_vector_without_blindings_round_trip() -> None:
    data = encode_share(Share(values=VALUES))
    decoded = decode_share(data, LENGTH, False)
    assert len(data) == 1 + 8 * LENGTH
    assert np.array_equal(decoded.values, VALUES)
    assert decoded.blindings == ()


def test_share_vector_little_endian() -> None:
    data = encode_share(Share(values=np.array([1], dtype=np.uint64)))
    assert data == VECTOR_TAG + b"\x01" + bytes(7)


def test_reveal_round_trip() -> None:
    data = encode_reveal(VALUES, BLINDINGS)
    values, blindings = decode_reveal(data, LENGTH, True)
    assert np.array_equal(values, VALUES)
    assert blindings == BLINDINGS


def test_reveal_without_blindings_round_trip() -> None:
    data = encode_reveal(VALUES, [])
    values, blindings = decode_reveal(data, LENGTH, False)
    assert np.array_equal(values, VALUES)
    assert blindings == []


def test_reveal_scalars_big_endian() -> None:
    data = encode_reveal(np.array([0], dtype=np.uint64), [1])
    assert data[8:] == bytes(SCALAR_BYTES - 1) + b"\x01"


def test_digests_round_trip() -> None:
    assert decode_digests(encode_digests(DIGESTS), 3) == DIGESTS


def test_decoded_vector_is_writable() -> None:
    values, _ = decode_reveal(encode_reveal(VALUES, []), LENGTH, False)
    values[0] = 7
    assert int(values[0]) == 7


# Rejections ---------------------------------------------------------------


def element_not_below_p(data: bytes, offset: int) -> bytes:
    """Overwrite the 64-bit element at `offset` with p."""
    return data[:offset] + P.to_bytes(8, "little") + data[offset + 8:]


def scalar_not_below_q(data: bytes, offset: int) -> bytes:
    """Overwrite the scalar at `offset` with q."""
    end = offset + SCALAR_BYTES
    return data[:offset] + Q.to_bytes(SCALAR_BYTES, "big") + data[end:]


SEED_SHARE = encode_share(Share(seed=SEED))
VECTOR_SHARE = encode_share(Share(values=VALUES, blindings=tuple(BLINDINGS)))
PLAIN_SHARE = encode_share(Share(values=VALUES))
REVEAL = encode_reveal(VALUES, BLINDINGS)
PLAIN_REVEAL = encode_reveal(VALUES, [])
ECHO = encode_digests(DIGESTS)

Decoder = Callable[[bytes], object]

DECODERS: dict[str, Decoder] = {
    "share": lambda data: decode_share(data, LENGTH, True),
    "plain-share": lambda data: decode_share(data, LENGTH, False),
    "reveal": lambda data: decode_reveal(data, LENGTH, True),
    "plain-reveal": lambda data: decode_reveal(data, LENGTH, False),
    "digests": lambda data: decode_digests(data, 3),
}

BAD_BODIES = [
    # Share bodies.
    ("share", b"", "empty"),
    ("share", SEED_SHARE[:-1], "seed-truncated"),
    ("share", SEED_SHARE + b"\x00", "seed-extended"),
    ("share", SEED_TAG, "seed-tag-only"),
    ("share", VECTOR_SHARE[:-1], "vector-truncated"),
    ("share", VECTOR_SHARE[:1 + 8 * LENGTH], "vector-without-blindings"),
    ("share", VECTOR_SHARE[:9], "vector-one-element"),
    ("share", VECTOR_SHARE + b"\x00", "vector-extended"),
    ("share", b"X" + VECTOR_SHARE[1:], "unknown-tag"),
    ("share", b"s" + SEED, "lower-case-tag"),
    ("share", VECTOR_SHARE[1:], "tag-missing"),
    ("share", element_not_below_p(VECTOR_SHARE, 1), "element-p"),
    ("share", element_not_below_p(VECTOR_SHARE, 1 + 8 * (LENGTH - 1)),
     "last-element-p"),
    ("share", scalar_not_below_q(VECTOR_SHARE, 1 + 8 * LENGTH), "scalar-q"),
    ("share", VECTOR_SHARE[:-SCALAR_BYTES] + b"\xff" * SCALAR_BYTES,
     "scalar-all-ones"),
    ("plain-share", PLAIN_SHARE[:-1], "plain-truncated"),
    ("plain-share", PLAIN_SHARE + b"\x00", "plain-extended"),
    ("plain-share", VECTOR_SHARE, "plain-with-blindings"),
    ("plain-share", element_not_below_p(PLAIN_SHARE, 1), "plain-element-p"),
    # Reveal bodies.
    ("reveal", b"", "reveal-empty"),
    ("reveal", REVEAL[:-1], "reveal-truncated"),
    ("reveal", REVEAL + b"\x00", "reveal-extended"),
    ("reveal", REVEAL[:8 * LENGTH], "reveal-without-blindings"),
    ("reveal", element_not_below_p(REVEAL, 0), "reveal-element-p"),
    ("reveal", scalar_not_below_q(REVEAL, 8 * LENGTH), "reveal-scalar-q"),
    ("reveal", scalar_not_below_q(REVEAL, len(REVEAL) - SCALAR_BYTES),
     "reveal-last-scalar-q"),
    ("plain-reveal", PLAIN_REVEAL[:-1], "plain-reveal-truncated"),
    ("plain-reveal", PLAIN_REVEAL + b"\x00", "plain-reveal-extended"),
    ("plain-reveal", REVEAL, "plain-reveal-with-blindings"),
    ("plain-reveal", element_not_below_p(PLAIN_REVEAL, 8),
     "plain-reveal-element-p"),
    # Echo bodies.
    ("digests", b"", "digests-empty"),
    ("digests", ECHO[:-1], "digests-truncated"),
    ("digests", ECHO + b"\x00", "digests-extended"),
    ("digests", ECHO[:2 * DIGEST_BYTES], "digests-one-missing"),
    ("digests", ECHO + DIGESTS[0], "digests-one-extra"),
]


@pytest.mark.parametrize(
    ("decoder", "data"),
    [pytest.param(d, body, id=case) for d, body, case in BAD_BODIES],
)
def test_decoder_rejects_malformed(decoder: str, data: bytes) -> None:
    with pytest.raises(WireError):
        DECODERS[decoder](data)


def test_decode_share_names_unknown_tag() -> None:
    with pytest.raises(WireError, match="tag"):
        decode_share(b"X" + SEED, LENGTH, True)


def test_decode_share_names_seed_length() -> None:
    with pytest.raises(WireError, match="32 bytes"):
        decode_share(SEED_TAG + SEED[:-1], LENGTH, True)


def test_decode_share_zero_length_vector() -> None:
    decoded = decode_share(VECTOR_TAG, 0, True)
    assert decoded.values is not None
    assert decoded.values.shape == (0,)
    assert decoded.blindings == ()
