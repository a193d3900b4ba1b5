"""The prime-order group secp256k1, through coincurve (libsecp256k1).

Everything else in the library reaches the curve through this module, so
another backend needs only a new version of it. Points travel as 33-byte
compressed SEC1 and scalars as 32 bytes big-endian below the order q.
Decoding is strict: anything but a canonical compressed encoding of a
point other than the identity is rejected.
"""

from __future__ import annotations

import hashlib
import secrets

from coincurve import PublicKey

SUITE = b"secp256k1-sha512"
Q = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
"""Order of the group (the curve has cofactor 1)."""
FIELD_PRIME = 2**256 - 2**32 - 977
POINT_BYTES = 33
SCALAR_BYTES = 32
H_LABEL = b"mpc-joint-stats/v1/pedersen-H"
"""Label hashed to the curve to derive H, so nobody knows log_G(H)."""


class EncodingError(ValueError):
    """Bytes that are not a canonical point or scalar encoding."""


class Point:
    """A group element; `None` inside stands for the identity."""

    __slots__ = ("_key",)

    def __init__(self, key: PublicKey | None) -> None:
        self._key = key

    @property
    def is_identity(self) -> bool:
        return self._key is None

    def __add__(self, other: Point) -> Point:
        if self._key is None:
            return other
        if other._key is None:
            return self
        try:
            return Point(PublicKey.combine_keys([self._key, other._key]))
        except ValueError:
            # libsecp256k1 refuses a sum at infinity: P + (-P).
            return IDENTITY

    def __neg__(self) -> Point:
        if self._key is None:
            return self
        data = bytearray(self._key.format(compressed=True))
        data[0] ^= 1  # 0x02 <-> 0x03 flips the sign of y.
        return Point(PublicKey(bytes(data)))

    def __sub__(self, other: Point) -> Point:
        return self + (-other)

    def __mul__(self, scalar: int) -> Point:
        scalar %= Q
        if scalar == 0 or self._key is None:
            return IDENTITY
        if scalar == 1:
            return self  # Points are immutable; 1*P costs nothing.
        return Point(self._key.multiply(scalar.to_bytes(32, "big")))

    __rmul__ = __mul__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Point):
            return NotImplemented
        if self._key is None or other._key is None:
            return self._key is other._key
        return self.encode() == other.encode()

    def __hash__(self) -> int:
        return hash(self.encode() if self._key is not None else b"")

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        # The coincurve key cannot be pickled, so a point travels to and
        # from a process pool as its canonical encoding.
        if self._key is None:
            return (Point, (None,))
        return (decode_point, (self.encode(),))

    def encode(self) -> bytes:
        """Return the 33-byte compressed encoding; the identity has none."""
        if self._key is None:
            raise EncodingError("the identity point has no encoding")
        return self._key.format(compressed=True)

    def __repr__(self) -> str:
        if self._key is None:
            return "Point(identity)"
        return f"Point({self.encode().hex()})"


IDENTITY = Point(None)


def base_mul(scalar: int) -> Point:
    """Return scalar * G."""
    scalar %= Q
    if scalar == 0:
        return IDENTITY
    return Point(PublicKey.from_valid_secret(scalar.to_bytes(32, "big")))


def sum_points(points) -> Point:
    """Return the sum of an iterable of points."""
    keys = [p._key for p in points if p._key is not None]
    if not keys:
        return IDENTITY
    if len(keys) == 1:
        return Point(keys[0])
    try:
        return Point(PublicKey.combine_keys(keys))
    except ValueError:
        # The sum is the identity, or a partial sum was: add pairwise.
        total = IDENTITY
        for key in keys:
            total = total + Point(key)
        return total


def decode_point(data: bytes) -> Point:
    """Decode a 33-byte compressed point, rejecting anything else."""
    if len(data) != POINT_BYTES or data[0] not in (2, 3):
        raise EncodingError(
            "a point must be 33 bytes of compressed SEC1 (prefix 02 or 03)"
        )
    x = int.from_bytes(data[1:], "big")
    if x >= FIELD_PRIME:
        raise EncodingError("point x-coordinate is not below the field prime")
    try:
        key = PublicKey(bytes(data))
    except ValueError as exc:
        raise EncodingError("point is not on the curve") from exc
    if key.format(compressed=True) != bytes(data):
        raise EncodingError("point encoding is not canonical")
    return Point(key)


def encode_scalar(scalar: int) -> bytes:
    """Return the 32-byte big-endian encoding of a scalar in [0, q)."""
    if not 0 <= scalar < Q:
        raise EncodingError("scalar is not in [0, q)")
    return scalar.to_bytes(SCALAR_BYTES, "big")


def decode_scalar(data: bytes) -> int:
    """Decode a 32-byte big-endian scalar, rejecting values >= q."""
    if len(data) != SCALAR_BYTES:
        raise EncodingError(f"a scalar must be 32 bytes, got {len(data)}")
    value = int.from_bytes(data, "big")
    if value >= Q:
        raise EncodingError("scalar is not below the group order q")
    return value


def random_scalar() -> int:
    """Return a uniform scalar in [1, q) from the OS CSPRNG."""
    while True:
        value = secrets.randbelow(Q)
        if value:
            return value


def hash_to_point(label: bytes) -> Point:
    """Hash a label to the curve by try-and-increment on SHA-256.

    The x-coordinate is SHA-256(label || counter as 4 bytes big-endian);
    the first counter whose x is on the curve gives the point with even y.
    """
    for counter in range(1 << 16):
        x = hashlib.sha256(label + counter.to_bytes(4, "big")).digest()
        if int.from_bytes(x, "big") >= FIELD_PRIME:
            continue
        try:
            return Point(PublicKey(b"\x02" + x))
        except ValueError:
            continue
    raise RuntimeError("hash_to_point found no point in 2^16 tries")


G = base_mul(1)
H = hash_to_point(H_LABEL)
