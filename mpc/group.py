"""The prime-order group secp256k1, through coincurve (libsecp256k1).

Everything else in the library reaches the curve through this module, so
another backend needs only a new version of it. Points travel as 33-byte
compressed SEC1 and scalars as 32 bytes big-endian below the order q.
Decoding is strict: anything but a canonical compressed encoding of a
point other than the identity is rejected.
"""

from __future__ import annotations

import hashlib
import math
import operator
import secrets
import threading
from collections.abc import Sequence

import numpy as np
from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

SUITE = b"secp256k1-sha512"
Q = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
"""Order of the group (the curve has cofactor 1)."""
FIELD_PRIME = 2**256 - 2**32 - 977
_FIELD_PRIME_BYTES = FIELD_PRIME.to_bytes(32, "big")
POINT_BYTES = 33
SCALAR_BYTES = 32
H_LABEL = b"mpc-joint-stats/v1/pedersen-H"
"""Label hashed to the curve to derive H, so nobody knows log_G(H)."""


class EncodingError(ValueError):
    """Bytes that are not a canonical point or scalar encoding."""


_CTX = GLOBAL_CONTEXT.ctx
_COMPRESSED = lib.SECP256K1_EC_COMPRESSED


def _new_key(copy_of=None):
    """Return a fresh secp256k1_pubkey, a copy of `copy_of` if given."""
    if copy_of is None:
        return ffi.new("secp256k1_pubkey *")
    return ffi.new("secp256k1_pubkey *", copy_of[0])


class Point:
    """A group element; `None` inside stands for the identity.

    Inside is libsecp256k1's parsed point (a `secp256k1_pubkey *`),
    called through coincurve's bindings. A point decoded from bytes keeps
    them, so that encoding it again for a transcript costs nothing.
    """

    __slots__ = ("_raw", "_encoding")

    def __init__(self, raw=None, encoding: bytes | None = None) -> None:
        self._raw = raw
        self._encoding = encoding

    @property
    def is_identity(self) -> bool:
        return self._raw is None

    def __add__(self, other: Point) -> Point:
        if self._raw is None:
            return other
        if other._raw is None:
            return self
        out = _new_key()
        if lib.secp256k1_ec_pubkey_combine(
            _CTX, out, [self._raw, other._raw], 2
        ):
            return Point(out)
        # libsecp256k1 rejects a sum at infinity: P + (-P).
        return IDENTITY

    def __neg__(self) -> Point:
        if self._raw is None:
            return self
        out = _new_key(self._raw)
        lib.secp256k1_ec_pubkey_negate(_CTX, out)
        return Point(out)

    def __sub__(self, other: Point) -> Point:
        return self + (-other)

    def __mul__(self, scalar: int) -> Point:
        scalar %= Q
        if scalar == 0 or self._raw is None:
            return IDENTITY
        if scalar == 1:
            return self  # Points are immutable; 1*P costs nothing.
        out = _new_key(self._raw)
        # Constant-time in the scalar (secp256k1_ecmult_const).
        lib.secp256k1_ec_pubkey_tweak_mul(
            _CTX, out, scalar.to_bytes(SCALAR_BYTES, "big")
        )
        return Point(out)

    __rmul__ = __mul__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Point):
            return NotImplemented
        if self._raw is None or other._raw is None:
            return self._raw is other._raw
        if self._encoding is not None and other._encoding is not None:
            return self._encoding == other._encoding
        return lib.secp256k1_ec_pubkey_cmp(_CTX, self._raw, other._raw) == 0

    def __hash__(self) -> int:
        return hash(self.encode() if self._raw is not None else b"")

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        # A libsecp256k1 struct cannot be pickled, so a point travels to
        # and from a process pool as its canonical encoding.
        if self._raw is None:
            return (Point, (None,))
        return (decode_point, (self.encode(),))

    def encode(self) -> bytes:
        """Return the 33-byte compressed encoding; the identity has none."""
        if self._encoding is None:
            if self._raw is None:
                raise EncodingError("the identity point has no encoding")
            out = ffi.new("unsigned char[33]")
            size = ffi.new("size_t *", POINT_BYTES)
            lib.secp256k1_ec_pubkey_serialize(
                _CTX, out, size, self._raw, _COMPRESSED
            )
            self._encoding = bytes(out)
        return self._encoding

    def __repr__(self) -> str:
        if self._raw is None:
            return "Point(identity)"
        return f"Point({self.encode().hex()})"


IDENTITY = Point(None)


def base_mul(scalar: int) -> Point:
    """Return scalar * G, in constant time (secp256k1_ecmult_gen)."""
    scalar %= Q
    if scalar == 0:
        return IDENTITY
    out = _new_key()
    lib.secp256k1_ec_pubkey_create(
        _CTX, out, scalar.to_bytes(SCALAR_BYTES, "big")
    )
    return Point(out)


def sum_points(points) -> Point:
    """Return the sum of an iterable of points."""
    raws = [p._raw for p in points if p._raw is not None]
    if not raws:
        return IDENTITY
    if len(raws) == 1:
        return Point(raws[0])
    out = _new_key()
    if lib.secp256k1_ec_pubkey_combine(_CTX, out, raws, len(raws)):
        return Point(out)
    # libsecp256k1 sums in Jacobian coordinates and rejects only a total
    # at infinity, so the sum is the identity.
    return IDENTITY


# Multi-scalar multiplication, for batch verification.
#
# Pippenger's bucket method on top of one libsecp256k1 call,
# secp256k1_ec_pubkey_combine, which adds any number of points in C.
# Every scalar is cut into windows of c bits. In each window, the points
# whose digit is d are added into bucket d, one combine call per bucket.
# The buckets are then weighted by their digits bit by bit. The total is
# the sum over bit positions p of 2^p * (sum of the buckets of window
# p // c whose digit has bit p % c set). Horner's rule evaluates it, again
# with combine calls. Each point is added once per window instead of once per
# set bit. The scalars here are public (verifier randomness and proof
# responses), so this variable-time code leaks nothing secret.

_KEY_BYTES = 64
"""Size of libsecp256k1's parsed point, secp256k1_pubkey."""
_ADD_COST = 0.5
"""Estimated microseconds to add one point inside a combine call."""
_CALL_COST = 3.0
"""Estimated microseconds of one combine call beyond its additions
(mostly the field inversion that makes its result affine)."""
_SMALL_MSM = 8
"""Below this many terms, separate multiplications are cheaper."""


def _address(pointer) -> int:
    """Return the address a cffi pointer or array points at."""
    return int(ffi.cast("uintptr_t", pointer))


def _window_bits(bit_lengths: np.ndarray) -> int:
    """Return the window width with the least estimated cost."""
    widest = int(bit_lengths.max())
    best, best_cost = 1, math.inf
    for width in range(1, 17):
        windows = -(-widest // width)
        additions = int((-(-bit_lengths // width)).sum())
        per_window = (1 << width) * _CALL_COST + width * (
            (1 << (width - 1)) * _ADD_COST + _CALL_COST
        )
        cost = additions * _ADD_COST + windows * per_window
        if cost < best_cost:
            best, best_cost = width, cost
    return best


_DIGIT_BLOCK = 32768
"""Scalars cut into digits at a time, bounding the temporary arrays of
_digits to about 3 MB (88 bytes per scalar)."""


def _digits(scalars: list[int], width: int, windows: int) -> np.ndarray:
    """Return the base-2^width digits of each scalar, lowest first."""
    digits = np.empty((len(scalars), windows), dtype=np.uint16)
    mask = np.uint64((1 << width) - 1)
    for start in range(0, len(scalars), _DIGIT_BLOCK):
        block = scalars[start : start + _DIGIT_BLOCK]
        raw = b"".join(s.to_bytes(SCALAR_BYTES, "little") for s in block)
        # Four 64-bit limbs per scalar, lowest first, and a zero limb for
        # the windows that run past the top.
        limbs = np.zeros((len(block), 5), dtype=np.uint64)
        limbs[:, :4] = np.frombuffer(raw, dtype="<u8").reshape(-1, 4)
        rows = digits[start : start + len(block)]
        for window in range(windows):
            limb, shift = divmod(window * width, 64)
            if limb >= 4:
                rows[:, window] = 0
                continue
            value = limbs[:, limb] >> np.uint64(shift)
            if shift + width > 64:
                value |= limbs[:, limb + 1] << np.uint64(64 - shift)
            rows[:, window] = value & mask
    return digits


def _pointer_array(addresses: np.ndarray):
    """Return a `secp256k1_pubkey **` view of an array of addresses.

    The numpy array must outlive the view."""
    return ffi.cast("secp256k1_pubkey **", ffi.from_buffer(addresses))


def multi_mul(points: Sequence[Point], scalars: Sequence[int]) -> Point:
    """Return sum_i scalars[i] * points[i], in variable time.

    For public scalars only: the time taken depends on their values.
    """
    if len(points) != len(scalars):
        raise ValueError(
            f"{len(points)} points but {len(scalars)} scalars"
        )
    terms = [
        (p._raw, s % Q)
        for p, s in zip(points, scalars)
        if p._raw is not None and s % Q
    ]
    if len(terms) < _SMALL_MSM:
        return sum_points(Point(k) * s for k, s in terms)
    addresses = np.array([_address(k) for k, _ in terms], dtype=np.uint64)
    return _pippenger(addresses, [s for _, s in terms])


def _pippenger(addresses: np.ndarray, values: list[int]) -> Point:
    """Return sum_i values[i] * (the point at addresses[i]).

    Pre: every value is in [1, q) and there are at least _SMALL_MSM.
    """
    bit_lengths = np.array([s.bit_length() for s in values])
    width = _window_bits(bit_lengths)
    windows = -(-int(bit_lengths.max()) // width)
    digits = _digits(values, width, windows)
    combine = lib.secp256k1_ec_pubkey_combine

    # Step 1: bucket d of window w is the sum of the points whose
    # digit w is d. The digit 0 adds nothing and has no bucket.
    size = 1 << width
    buckets = ffi.new("secp256k1_pubkey[]", windows * size)
    filled = np.zeros((windows, size), dtype=bool)
    for window in range(windows):
        column = digits[:, window]
        counts = np.bincount(column, minlength=size)
        starts = np.cumsum(counts) - counts
        ordered = addresses[np.argsort(column, kind="stable")]
        pointers = _pointer_array(ordered)
        row = buckets + window * size
        for digit in (np.nonzero(counts[1:])[0] + 1).tolist():
            filled[window, digit] = combine(
                _CTX,
                row + digit,
                pointers + int(starts[digit]),
                int(counts[digit]),
            )

    # Step 2: Horner's rule over bit positions, top first:
    # total = 2*total + (buckets of window p // width whose digit has
    # bit p % width set). Two slots take turns as the running total,
    # because combine clears its output before reading its inputs.
    bucket_base = _address(buckets)
    digit_values = np.arange(size)
    slots = ffi.new("secp256k1_pubkey[]", 2)
    slot_addresses = [_address(slots + i) for i in range(2)]
    inputs = np.zeros(2 + size, dtype=np.uint64)
    input_pointers = _pointer_array(inputs)
    current = -1  # Slot holding the total; -1 while it is the identity.
    for position in range(windows * width - 1, -1, -1):
        window, bit = divmod(position, width)
        chosen = np.nonzero(filled[window] & ((digit_values >> bit) & 1 == 1))
        chosen_addresses = bucket_base + _KEY_BYTES * (
            window * size + chosen[0].astype(np.uint64)
        )
        count = len(chosen_addresses)
        if current >= 0:
            inputs[0] = inputs[1] = slot_addresses[current]
            inputs[2 : 2 + count] = chosen_addresses
            count += 2
        else:
            inputs[:count] = chosen_addresses
        if count == 0:
            continue
        target = 1 - current if current >= 0 else 0
        current = target if combine(
            _CTX, slots + target, input_pointers, count
        ) else -1
    if current < 0:
        return IDENTITY
    return Point(_new_key(slots + current))


def decode_point(data: bytes) -> Point:
    """Decode a 33-byte compressed point, rejecting anything else."""
    if len(data) != POINT_BYTES or data[0] not in (2, 3):
        raise EncodingError(
            "a point must be 33 bytes of compressed SEC1 (prefix 02 or 03)"
        )
    data = bytes(data)
    # Equal-length big-endian bytes compare as the numbers they encode.
    if data[1:] >= _FIELD_PRIME_BYTES:
        raise EncodingError("point x-coordinate is not below the field prime")
    raw = _new_key()
    if not lib.secp256k1_ec_pubkey_parse(_CTX, raw, data, POINT_BYTES):
        raise EncodingError("point is not on the curve")
    # With the prefix 02 or 03 and x below p, a point on the curve has
    # exactly this encoding, so the bytes are canonical as they stand.
    return Point(raw, data)


class PointArray:
    """Points in one libsecp256k1 array, none of them the identity.

    For the points of many proofs without a Point object for each:
    decoded, to check the proofs in one multi-scalar multiplication, or
    computed and encoded, to make them. The in-place methods (add,
    negate, FixedBase.add_to) change the array.
    """

    def __init__(self, encodings: Sequence[bytes]) -> None:
        """Decode 33-byte compressed points as decode_point does.

        Raises EncodingError, with decode_point's reason, at the first
        encoding that is not canonical.
        """
        # A list of its own, so that every slot counted gets filled:
        # libsecp256k1 aborts the process on a zeroed point.
        encodings = list(encodings)
        self._count = len(encodings)
        self._keys = ffi.new("secp256k1_pubkey[]", max(1, self._count))
        parse = lib.secp256k1_ec_pubkey_parse
        keys = self._keys
        for i, data in enumerate(encodings):
            if type(data) is not bytes:
                data = bytes(data)  # As decode_point takes any buffer.
            if not (
                len(data) == POINT_BYTES
                and data[0] in (2, 3)
                and data[1:] < _FIELD_PRIME_BYTES
                and parse(_CTX, keys + i, data, POINT_BYTES)
            ):
                decode_point(data)  # Raises with the specific reason.
                raise EncodingError("point encoding is not canonical")
        self._encoded: bytes | None = None

    @classmethod
    def decode(cls, data: bytes) -> PointArray:
        """Decode points whose 33-byte encodings are laid end to end.

        Accepts and rejects what the constructor does, with its errors,
        but checks the prefixes and the bound on x with numpy.
        """
        data = bytes(data)
        count, rest = divmod(len(data), POINT_BYTES)
        if rest:
            raise EncodingError(
                f"{len(data)} bytes are not a whole number of "
                f"{POINT_BYTES}-byte points"
            )
        rows = np.frombuffer(data, dtype=np.uint8).reshape(count, POINT_BYTES)
        # x can reach p only if its first 27 bytes are 0xff, as p's are.
        plain = (
            ((rows[:, 0] == 2) | (rows[:, 0] == 3))
            & ~np.all(rows[:, 1:28] == 0xFF, axis=1)
        ).all()
        if plain:
            array = cls._allocate(count)
            parse = lib.secp256k1_ec_pubkey_parse
            keys = array._keys
            for i in range(count):
                at = POINT_BYTES * i
                if not parse(_CTX, keys + i, data[at : at + POINT_BYTES],
                             POINT_BYTES):
                    break
            else:
                return array
        # A point is off the curve, or a quick check failed: the
        # constructor decides, and names the reason.
        return cls([data[at : at + POINT_BYTES]
                    for at in range(0, len(data), POINT_BYTES)])

    @classmethod
    def _allocate(cls, count: int) -> PointArray:
        array = cls.__new__(cls)
        array._count = count
        array._keys = ffi.new("secp256k1_pubkey[]", max(1, count))
        array._encoded = None
        return array

    @classmethod
    def base_mul(cls, scalars: Sequence[int]) -> PointArray:
        """Return the points scalars[i]*G, each in constant time
        (secp256k1_ecmult_gen).

        Raises ValueError at a scalar that is 0 mod q, whose multiple is
        the identity.
        """
        array = cls._allocate(len(scalars))
        create = lib.secp256k1_ec_pubkey_create
        keys = array._keys
        for i, scalar in enumerate(scalars):
            scalar = operator.index(scalar) % Q
            if not create(_CTX, keys + i, scalar.to_bytes(SCALAR_BYTES, "big")):
                raise ValueError(
                    f"scalar {i} is 0 mod q, so its multiple of G is the "
                    "identity"
                )
        return array

    def __len__(self) -> int:
        return self._count

    def _slot(self, i: int):
        if not 0 <= i < self._count:
            raise IndexError(f"point {i} of {self._count}")
        return self._keys + i

    def _store(self, i: int, total, summed: int) -> None:
        """Set point i to `total`, where `summed` is what the combine
        call that made it returned."""
        if not summed:
            raise ValueError(f"point {i} would become the identity, which "
                             "an array cannot contain")
        self._keys[i] = total[0]

    def add(self, indices: Sequence[int], point: Point) -> None:
        """Add `point` to each point at `indices`, in place.

        Raises IndexError, before any change, for an index out of range,
        and ValueError if a sum is the identity, which leaves the points
        before it changed.
        """
        slots = [self._slot(i) for i in indices]
        if point._raw is None:
            return
        self._encoded = None
        total = _new_key()
        combine = lib.secp256k1_ec_pubkey_combine
        for i, slot in zip(indices, slots):
            summed = combine(_CTX, total, [slot, point._raw], 2)
            self._store(i, total, summed)

    def negate(self, indices: Sequence[int]) -> None:
        """Negate each point at `indices`, in place (IndexError, before
        any change, for an index out of range)."""
        slots = [self._slot(i) for i in indices]
        self._encoded = None
        for slot in slots:
            lib.secp256k1_ec_pubkey_negate(_CTX, slot)

    def encode(self) -> bytes:
        """Return the 33-byte compressed encodings of the points, one
        after another."""
        if self._encoded is None:
            out = ffi.new("unsigned char[]", max(1, POINT_BYTES * self._count))
            size = ffi.new("size_t *")
            serialize = lib.secp256k1_ec_pubkey_serialize
            keys = self._keys
            for i in range(self._count):
                size[0] = POINT_BYTES
                serialize(_CTX, out + POINT_BYTES * i, size, keys + i,
                          _COMPRESSED)
            self._encoded = ffi.buffer(out, POINT_BYTES * self._count)[:]
        return self._encoded

    def point(self, i: int) -> Point:
        """Return point i as a Point of its own, with its encoding once
        `encode` has made it."""
        slot = self._slot(i)
        data = self._encoded
        if data is not None:
            data = data[POINT_BYTES * i : POINT_BYTES * (i + 1)]
        return Point(_new_key(slot), data)

    def points(self) -> list[Point]:
        """Return every point as a Point of its own, with its encoding."""
        data = self.encode()
        return [
            Point(_new_key(self._keys + i),
                  data[POINT_BYTES * i : POINT_BYTES * (i + 1)])
            for i in range(self._count)
        ]

    def multi_mul(
        self,
        scalars: Sequence[int],
        extra: Sequence[tuple[Point, int]] = (),
    ) -> Point:
        """Return sum_i scalars[i] * (point i), plus s*P for each (P, s)
        in `extra`, in variable time: for public scalars only."""
        if len(scalars) != self._count:
            raise ValueError(
                f"{self._count} points but {len(scalars)} scalars"
            )
        values = [s % Q for s in scalars]
        nonzero = [i for i, v in enumerate(values) if v]
        others = [
            (p._raw, s % Q) for p, s in extra
            if p._raw is not None and s % Q
        ]
        if len(nonzero) + len(others) < _SMALL_MSM:
            terms = [(self.point(i), values[i]) for i in nonzero]
            terms += [(Point(k), s) for k, s in others]
            return sum_points(p * s for p, s in terms)
        addresses = np.concatenate((
            _address(self._keys)
            + _KEY_BYTES * np.array(nonzero, dtype=np.uint64),
            np.array([_address(k) for k, _ in others], dtype=np.uint64),
        ))
        return _pippenger(
            addresses, [values[i] for i in nonzero] + [s for _, s in others]
        )


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


SCALAR_DRAW_BYTES = 48
"""Bytes drawn per scalar by random_scalars: 384 bits reduced mod q are
within 2^-128 of uniform, as hash_to_field in RFC 9380 has it."""


def random_scalars(count: int) -> list[int]:
    """Return `count` scalars in [1, q), uniform within 2^-128, from one
    read of the OS CSPRNG."""
    data = secrets.token_bytes(SCALAR_DRAW_BYTES * count)
    out = [
        int.from_bytes(data[i : i + SCALAR_DRAW_BYTES], "big") % Q
        for i in range(0, len(data), SCALAR_DRAW_BYTES)
    ]
    if 0 in out:
        # A zero comes with probability 2^-256; draw it again rather
        # than hand out a scalar that breaks the callers' assumptions.
        return [value or random_scalar() for value in out]
    return out


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
            return decode_point(b"\x02" + x)
        except EncodingError:
            continue
    raise RuntimeError("hash_to_point found no point in 2^16 tries")


G = base_mul(1)
H = hash_to_point(H_LABEL)


# Multiples of a fixed point by public scalars.
#
# A table contains e * 256^j * P for every byte position j < 32 and every
# e in 1..256. With K = sum_j 256^j, the bytes d_j of (c - K) mod q give
# c = sum_j (d_j + 1) * 256^j (mod q), so c*P is the sum of 32 table
# entries, one per byte, none of them the identity: one combine call
# instead of a scalar multiplication. Which entries are read depends on
# c, so only public scalars may go through a table.

_TABLE_BYTES = SCALAR_BYTES
_TABLE_ROW = 256
_TABLE_SHIFT = sum(1 << (8 * j) for j in range(_TABLE_BYTES)) % Q
_TABLE_VECTOR_FROM = 4
"""Calls with this many points or more find table entries with numpy,
whose fixed cost (about 10 us, measured) a single point does not repay."""


def _table_digits(scalar: int) -> bytes:
    """Return the bytes d_j, lowest first, with scalar = sum_j (d_j + 1)
    * 256^j mod q: byte j picks entry d_j of table row j."""
    return ((operator.index(scalar) - _TABLE_SHIFT) % Q).to_bytes(
        _TABLE_BYTES, "little")


class FixedBase:
    """A fixed point P and a table of its multiples, for public scalars.

    The table (32 x 256 points, 512 KiB) is built on first use, in about
    8,000 point additions.
    """

    def __init__(self, point: Point) -> None:
        if point.is_identity:
            raise ValueError("a fixed base must not be the identity")
        self.point = point
        # The table and the first entry of each row, built once: the
        # rows' pointers do not keep the table alive, so they travel
        # together.
        self._table = None
        self._lock = threading.Lock()
        self._row_offsets = np.arange(_TABLE_BYTES, dtype=np.uint64) * (
            _TABLE_ROW * _KEY_BYTES
        )

    def prepare(self) -> None:
        """Build the table now rather than at the first multiple."""
        self._entries()

    def _entries(self):
        """Return the table and its rows, built on first use, once even
        when several threads ask at the same time."""
        built = self._table
        if built is None:
            with self._lock:
                built = self._table
                if built is None:
                    built = self._table = self._build()
        return built

    def _build(self):
        table = ffi.new("secp256k1_pubkey[]", _TABLE_BYTES * _TABLE_ROW)
        combine = lib.secp256k1_ec_pubkey_combine
        step = self.point
        for j in range(_TABLE_BYTES):
            row = table + j * _TABLE_ROW
            row[0] = step._raw[0]
            for e in range(1, _TABLE_ROW):
                # Entry e of row j is (e + 1) * 256^j * P, never the
                # identity because q is a prime above 2^8.
                combine(_CTX, row + e, [row + e - 1, step._raw], 2)
            step = Point(_new_key(row + _TABLE_ROW - 1))
        return table, [table + _TABLE_ROW * j for j in range(_TABLE_BYTES)]

    def add_to(self, array: PointArray, scalars: Sequence[int], *,
               start: int = 0) -> None:
        """Add scalars[i]*P to point start + i of `array`, in place, in
        variable time; the scalars run to the end of the array.

        For public scalars only: the time taken and the table entries
        read depend on them, so a process that watches the cache can
        learn them. Raises ValueError if a sum is the identity.
        """
        if not isinstance(array, PointArray):
            raise TypeError("add_to needs a PointArray")
        start = operator.index(start)
        if not 0 <= start <= len(array):
            raise IndexError(f"start {start} is outside [0, {len(array)}], "
                             "the positions of the array")
        count = len(array) - start
        if len(scalars) != count:
            after = f" from point {start} on" if start else ""
            raise ValueError(f"{count} points{after} but {len(scalars)} "
                             "scalars")
        if count == 0:
            return
        table, rows = self._entries()
        array._encoded = None
        keys = array._keys + start
        total = _new_key()
        combine = lib.secp256k1_ec_pubkey_combine
        if count < _TABLE_VECTOR_FROM:
            # Every scalar is read before the first point changes.
            digits = [_table_digits(scalar) for scalar in scalars]
            for i, scalar_digits in enumerate(digits):
                pointers = [row + digit for row, digit
                            in zip(rows, scalar_digits)]
                pointers.append(keys + i)
                summed = combine(_CTX, total, pointers, len(pointers))
                array._store(start + i, total, summed)
            return
        shifted = b"".join(_table_digits(s) for s in scalars)
        digits = np.frombuffer(shifted, dtype=np.uint8).reshape(count, -1)
        # Row i: the address of point i, then its 32 table entries.
        width = _TABLE_BYTES + 1
        addresses = np.empty((count, width), dtype=np.uint64)
        addresses[:, 0] = _address(keys) + _KEY_BYTES * np.arange(
            count, dtype=np.uint64)
        addresses[:, 1:] = (
            _address(table)
            + self._row_offsets
            + digits.astype(np.uint64) * _KEY_BYTES
        )
        pointers = _pointer_array(addresses.reshape(-1))
        for i in range(count):
            summed = combine(_CTX, total, pointers + i * width, width)
            array._store(start + i, total, summed)


H_MULTIPLES = FixedBase(H)
"""Table of multiples of H, for the public challenges of bit proofs."""
