"""Tests of multi_mul, FixedBase and random_scalars in mpc.group.

multi_mul is checked against the naive sum of scalar multiplications.
The sizes span the point where it switches from separate
multiplications to Pippenger's method (8 terms, mpc.group._SMALL_MSM).
The special inputs stress the bucket sums: repeated points, points that
cancel, the identity and scalars 0, 1 and q-1. FixedBase is checked
against scalar multiplication, with scalars whose table bytes sit at the
ends of a row. PointArray must decode as decode_point does, multiply as
multi_mul does, and compute and encode as Point does.
"""

from __future__ import annotations

import random

import pytest

from mpc import group
from mpc.group import (
    IDENTITY,
    G,
    H,
    H_MULTIPLES,
    EncodingError,
    FixedBase,
    Point,
    PointArray,
    Q,
    base_mul,
    decode_point,
    multi_mul,
    random_scalar,
    random_scalars,
    sum_points,
)

SEED = 20240611


def naive(points: list[Point], scalars: list[int]) -> Point:
    return sum_points([p * s for p, s in zip(points, scalars, strict=True)])


def random_points(count: int) -> list[Point]:
    return [base_mul(random_scalar()) for _ in range(count)]


# Sizes.


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 100, 1000])
def test_multi_mul_matches_naive_sum(size):
    points = random_points(size)
    scalars = random_scalars(size)

    assert multi_mul(points, scalars) == naive(points, scalars)


@pytest.mark.parametrize("size", [1, 7, 8, 9, 100])
@pytest.mark.parametrize("bits", [1, 8, 128])
def test_multi_mul_matches_naive_sum_short_scalars(size, bits):
    # Batch weights are 128 bits, so the windows must fit short scalars.
    rng = random.Random(SEED + size + bits)
    points = random_points(size)
    scalars = [rng.getrandbits(bits) | 1 for _ in range(size)]

    assert multi_mul(points, scalars) == naive(points, scalars)


def test_multi_mul_empty_is_identity():
    assert multi_mul([], []) is IDENTITY


def test_multi_mul_rejects_length_mismatch():
    with pytest.raises(ValueError, match="2 points but 1 scalars"):
        multi_mul([G, H], [1])


# Special inputs.


@pytest.mark.parametrize("size", [7, 9, 100])
def test_multi_mul_repeated_points(size):
    rng = random.Random(SEED + size)
    pool = random_points(3)
    # The same objects, and equal points as distinct objects.
    points = [rng.choice(pool) for _ in range(size)]
    points += [decode_point(p.encode()) for p in pool]
    scalars = random_scalars(len(points))

    assert multi_mul(points, scalars) == naive(points, scalars)


@pytest.mark.parametrize("size", [7, 9, 100])
def test_multi_mul_special_scalars(size):
    # Only 0, 1 and q-1, the extremes of the digit windows.
    rng = random.Random(SEED + size)
    points = random_points(size)
    scalars = [rng.choice([0, 1, Q - 1]) for _ in range(size)]
    scalars[0] = Q - 1

    assert multi_mul(points, scalars) == naive(points, scalars)


@pytest.mark.parametrize("size", [7, 9, 100])
def test_multi_mul_reduces_scalars_mod_q(size):
    points = random_points(size)
    scalars = [Q + 5, -3, 2 * Q, -Q] + [Q - 1] * (size - 4)

    assert multi_mul(points, scalars) == naive(points, scalars)


@pytest.mark.parametrize("size", [7, 9, 100])
def test_multi_mul_all_scalars_zero(size):
    assert multi_mul(random_points(size), [0] * size) is IDENTITY


@pytest.mark.parametrize("pairs", [1, 4, 5, 50])
def test_multi_mul_point_and_negation_cancel(pairs):
    # P_i and -P_i under the same scalar: the result is the identity.
    points = random_points(pairs)
    scalars = random_scalars(pairs)
    result = multi_mul(points + [-p for p in points], scalars + scalars)

    assert result.is_identity


@pytest.mark.parametrize("pairs", [4, 5, 50])
def test_multi_mul_cancelling_pair_beside_others(pairs):
    # P and -P share every digit, so they land in the same buckets,
    # whose sum then comes from the other points alone.
    points = random_points(pairs)
    scalars = random_scalars(pairs)
    extra = base_mul(random_scalar())
    scalar = random_scalar()
    all_points = points + [-p for p in points] + [extra]
    all_scalars = scalars + scalars + [scalar]

    assert multi_mul(all_points, all_scalars) == extra * scalar


@pytest.mark.parametrize("size", [2, 8, 9, 100])
def test_multi_mul_scalars_summing_to_zero(size):
    # One point under scalars that sum to 0 mod q.
    point = base_mul(random_scalar())
    scalars = random_scalars(size - 1)
    scalars.append(-sum(scalars) % Q)

    assert multi_mul([point] * size, scalars).is_identity


@pytest.mark.parametrize("size", [1, 7, 9, 100])
def test_multi_mul_skips_identity_inputs(size):
    points = random_points(size)
    scalars = random_scalars(size)
    with_identity = points + [IDENTITY] * 3
    extra_scalars = scalars + random_scalars(3)

    assert multi_mul(with_identity, extra_scalars) == naive(points, scalars)
    assert multi_mul([IDENTITY] * size, scalars) is IDENTITY


def test_multi_mul_result_is_a_usable_point():
    points = random_points(20)
    scalars = random_scalars(20)
    result = multi_mul(points, scalars)

    assert decode_point(result.encode()) == result
    assert result + (-naive(points, scalars)) is IDENTITY


# random_scalars.


@pytest.mark.parametrize("count", [0, 1, 5, 1000])
def test_random_scalars_count_and_range(count):
    scalars = random_scalars(count)

    assert len(scalars) == count
    assert all(isinstance(s, int) and 1 <= s < Q for s in scalars)


def test_random_scalars_are_distinct_and_full_width():
    scalars = random_scalars(1000)

    assert len(set(scalars)) == 1000
    # All 1000 below 2^255 has probability about 2^-1000.
    assert max(scalars).bit_length() == 256


@pytest.mark.parametrize("value", [0, Q, 2 * Q], ids=["zero", "q", "2q"])
def test_random_scalars_redraws_zero(value, monkeypatch):
    # Draws that reduce to 0 mod q must be replaced by a scalar in [1, q).
    def token_bytes(size: int) -> bytes:
        draw = value.to_bytes(group.SCALAR_DRAW_BYTES, "big")
        return draw * (size // group.SCALAR_DRAW_BYTES)

    monkeypatch.setattr(group.secrets, "token_bytes", token_bytes)
    scalars = random_scalars(4)

    assert len(scalars) == 4
    assert all(1 <= s < Q for s in scalars)


# FixedBase: multiples of a fixed point through its table.

# The table reads the bytes of (c - K) mod q, K = sum_j 256^j: c = K
# reads byte 0 everywhere, c = K - 1 wraps round q, c = 0 and c = q - 1
# read near the top of each row, and 256^j moves one row's entry.
TABLE_SHIFT = sum(256**j for j in range(32)) % Q
EDGE_SCALARS = [
    0, 1, 2, 255, 256, 257, Q - 1, Q - 2, TABLE_SHIFT, TABLE_SHIFT - 1,
    TABLE_SHIFT + 1, 2**255, 2**128 - 1, *(256**j for j in range(0, 32, 5)),
]


def add_to(table: FixedBase, points: list[Point],
           scalars: list[int]) -> list[Point]:
    array = PointArray([p.encode() for p in points])
    table.add_to(array, scalars)
    return array.points()


def test_fixed_base_edge_scalars():
    points = random_points(len(EDGE_SCALARS))
    got = add_to(H_MULTIPLES, points, EDGE_SCALARS)
    assert got == [p + H * c for p, c in zip(points, EDGE_SCALARS)]


def test_fixed_base_one_point_at_a_time():
    # Fewer than four points take the path without numpy.
    points = random_points(len(EDGE_SCALARS))
    for point, c in zip(points, EDGE_SCALARS):
        assert add_to(H_MULTIPLES, [point], [c]) == [point + H * c]


def test_fixed_base_random_scalars():
    scalars = random_scalars(50)
    points = random_points(50)
    got = add_to(H_MULTIPLES, points, scalars)
    assert got == [p + H * c for p, c in zip(points, scalars)]


def test_fixed_base_other_point():
    base = base_mul(random_scalar())
    table = FixedBase(base)
    scalars = [1, 7, Q - 1, *random_scalars(5)]
    points = random_points(len(scalars))
    got = add_to(table, points, scalars)
    assert got == [p + base * c for p, c in zip(points, scalars)]


@pytest.mark.parametrize("size", [1, 5])
def test_fixed_base_sum_at_infinity(size):
    # P + c*H with P = -c*H sums to the identity, which an array cannot
    # contain, on both paths.
    c = random_scalar()
    points = random_points(size - 1) + [-(H * c)]
    scalars = random_scalars(size - 1) + [c]
    with pytest.raises(ValueError, match=f"point {size - 1} would become "
                                         "the identity"):
        add_to(H_MULTIPLES, points, scalars)


def test_fixed_base_empty_and_mismatch():
    assert add_to(H_MULTIPLES, [], []) == []
    with pytest.raises(ValueError, match="2 points but 1 scalars"):
        add_to(H_MULTIPLES, [G, G], [1])


@pytest.mark.parametrize("tail", [1, 3, 4, 9])  # Both paths of add_to.
def test_fixed_base_from_a_start(tail):
    points = random_points(5 + tail)
    scalars = random_scalars(tail)
    array = PointArray([p.encode() for p in points])
    H_MULTIPLES.add_to(array, scalars, start=5)
    assert array.points() == points[:5] + [
        p + H * c for p, c in zip(points[5:], scalars)]


def test_fixed_base_start_out_of_range():
    array = PointArray([G.encode(), H.encode()])
    with pytest.raises(ValueError, match="1 points from point 1 on but 2 "
                                         "scalars"):
        H_MULTIPLES.add_to(array, [1, 2], start=1)
    H_MULTIPLES.add_to(array, [], start=2)
    for start in (-1, 3):
        with pytest.raises(IndexError, match=rf"start {start} is outside "
                                             r"\[0, 2\]"):
            H_MULTIPLES.add_to(array, [], start=start)
    with pytest.raises(TypeError):
        H_MULTIPLES.add_to(array, [1], start=1.0)
    assert array.points() == [G, H]


def test_fixed_base_rejects_identity():
    with pytest.raises(ValueError, match="identity"):
        FixedBase(IDENTITY)


# PointArray: many points in one array, decoded or computed.


@pytest.mark.parametrize("size", [0, 1, 7, 8, 40])
def test_point_array_multi_mul_matches_naive(size):
    points = random_points(size)
    scalars = random_scalars(size)
    if size:
        scalars[0] = 0
    array = PointArray([p.encode() for p in points])
    extra = [(H, 5), (G, Q - 1), (IDENTITY, 3)]
    expected = naive(points + [H, G], scalars + [5, Q - 1])

    assert len(array) == size
    assert array.multi_mul(scalars, extra) == expected


def test_point_array_point_copies():
    points = random_points(3)
    array = PointArray([p.encode() for p in points])

    assert [array.point(i) for i in range(3)] == points
    with pytest.raises(IndexError):
        array.point(3)


def test_point_array_rejects_scalar_count():
    array = PointArray([G.encode()])
    with pytest.raises(ValueError, match="1 points but 2 scalars"):
        array.multi_mul([1, 2])


@pytest.mark.parametrize(
    "data",
    [
        b"\x04" + bytes(32),
        b"\x02" + (2**256 - 2**32 - 977).to_bytes(32, "big"),
        b"\x02" + bytes(32),
        G.encode()[:32],
        G.encode() + b"\x00",
    ],
    ids=["prefix", "x is p", "off curve", "short", "long"],
)
def test_point_array_rejects_as_decode_point(data):
    with pytest.raises(EncodingError) as expected:
        decode_point(data)
    with pytest.raises(EncodingError) as got:
        PointArray([G.encode(), data])
    assert str(got.value) == str(expected.value)


def test_point_array_base_mul():
    scalars = [1, 2, Q - 1, Q + 5, *random_scalars(4)]
    array = PointArray.base_mul(scalars)

    assert array.points() == [base_mul(s) for s in scalars]
    with pytest.raises(ValueError, match="scalar 1 is 0 mod q"):
        PointArray.base_mul([3, Q])


def test_point_array_add_and_negate():
    points = random_points(4)
    array = PointArray([p.encode() for p in points])
    array.add([0, 2, 2], H)
    array.add([1], IDENTITY)
    array.negate([3, 0])

    assert array.points() == [
        -(points[0] + H), points[1], points[2] + H + H, -points[3]]


def test_point_array_add_to_identity():
    array = PointArray([G.encode(), H.encode()])
    with pytest.raises(ValueError, match="point 1 would become the identity"):
        array.add([0, 1], -H)
    # The points before the failure keep their sums.
    assert array.point(0) == G - H


@pytest.mark.parametrize("index", [2, -1])
def test_point_array_rejects_index_out_of_range(index):
    array = PointArray([G.encode(), H.encode()])
    with pytest.raises(IndexError, match=f"point {index} of 2"):
        array.add([index], H)
    with pytest.raises(IndexError, match=f"point {index} of 2"):
        array.negate([index])
    assert array.points() == [G, H]


def test_point_array_encode_follows_changes():
    points = random_points(3)
    array = PointArray([p.encode() for p in points])
    assert array.encode() == b"".join(p.encode() for p in points)

    array.negate([1])
    assert array.encode()[33:66] == (-points[1]).encode()
    array.add([2], G)
    assert array.encode()[66:] == (points[2] + G).encode()
    H_MULTIPLES.add_to(array, [0, 0, 1])
    assert array.encode()[66:] == (points[2] + G + H).encode()
    assert [p.encode() for p in array.points()] == [
        array.encode()[i : i + 33] for i in range(0, 99, 33)]
    assert PointArray([]).encode() == b""


@pytest.mark.parametrize("width", range(1, 17))
def test_digits_match_shifts(width):
    scalars = [0, 1, Q - 1, 2**256 - 1, 2**128 + 5, *random_scalars(20)]
    windows = -(-256 // width)
    digits = group._digits(scalars, width, windows)
    for scalar, row in zip(scalars, digits.tolist(), strict=True):
        assert row == [(scalar >> (width * w)) & ((1 << width) - 1)
                       for w in range(windows)]


def test_point_array_decode_matches_constructor():
    points = random_points(5)
    data = b"".join(p.encode() for p in points)

    assert PointArray.decode(data).points() == points
    assert len(PointArray.decode(b"")) == 0


@pytest.mark.parametrize(
    "data",
    [
        b"\x04" + bytes(32),
        b"\x02" + (2**256 - 2**32 - 977).to_bytes(32, "big"),
        b"\x02" + bytes(32),
    ],
    ids=["prefix", "x is p", "off curve"],
)
def test_point_array_decode_rejects_as_decode_point(data):
    with pytest.raises(EncodingError) as expected:
        decode_point(data)
    with pytest.raises(EncodingError) as got:
        PointArray.decode(G.encode() + data + H.encode())
    assert str(got.value) == str(expected.value)


def test_point_array_decode_x_near_p():
    # x with 27 leading 0xff bytes takes the careful path, which must
    # accept and reject exactly as decode_point does.
    prime = 2**256 - 2**32 - 977
    for x in range(prime - 40, prime):
        data = b"\x03" + x.to_bytes(32, "big")
        try:
            expected = decode_point(data)
        except EncodingError:
            with pytest.raises(EncodingError):
                PointArray.decode(G.encode() + data)
        else:
            assert PointArray.decode(G.encode() + data).point(1) == expected


def test_point_array_decode_rejects_partial_point():
    with pytest.raises(EncodingError, match="34 bytes are not a whole "
                                            "number of 33-byte points"):
        PointArray.decode(G.encode() + b"\x02")
