"""Tests of the prime field F_p in mpc.field.

Random inputs come from a numpy Generator with a fixed seed, used only
to make test vectors. Every arithmetic result is compared with Python
int arithmetic mod p.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mpc import field
from mpc.field import HALF, FieldOverflowError, P

RNG_SEED = 20240611


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(RNG_SEED)


def random_elements(rng: np.random.Generator, size: int) -> np.ndarray:
    return rng.integers(0, P, size=size, dtype=np.uint64)


def test_constants_match_mersenne_prime() -> None:
    assert P == 2**61 - 1
    assert HALF == (P - 1) // 2


# Signed encoding ----------------------------------------------------------


def test_encode_signed_round_trip_random(rng: np.random.Generator) -> None:
    values = rng.integers(-HALF, HALF, size=1000, endpoint=True)
    encoded = field.encode_signed(values)
    assert encoded.dtype == np.uint64
    assert int(encoded.max()) < P
    assert np.array_equal(field.decode_signed(encoded), values)


def test_encode_signed_matches_python_mod(rng: np.random.Generator) -> None:
    values = rng.integers(-HALF, HALF, size=200, endpoint=True)
    encoded = field.encode_signed(values)
    assert [int(e) for e in encoded] == [int(v) % P for v in values]


@pytest.mark.parametrize(
    ("value", "element"),
    [
        (0, 0),
        (1, 1),
        (-1, P - 1),
        (HALF, HALF),
        (-HALF, HALF + 1),
    ],
)
def test_encode_signed_edge_values(value: int, element: int) -> None:
    encoded = field.encode_signed([value])
    assert int(encoded[0]) == element
    assert int(field.decode_signed(encoded)[0]) == value


def test_encode_signed_python_int_list() -> None:
    values = [HALF, -HALF, 0, 7, -7]
    decoded = field.decode_signed(field.encode_signed(values))
    assert decoded.tolist() == values


def test_encode_signed_empty() -> None:
    encoded = field.encode_signed(np.array([], dtype=np.int64))
    assert encoded.dtype == np.uint64
    assert encoded.shape == (0,)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([HALF + 1], id="half-plus-one"),
        pytest.param([-HALF - 1], id="minus-half-minus-one"),
        pytest.param(np.array([HALF + 1], dtype=np.int64), id="int64-above"),
        pytest.param(np.array([-HALF - 1], dtype=np.int64), id="int64-below"),
        pytest.param([2**200], id="huge-positive"),
        pytest.param([-(2**200)], id="huge-negative"),
        pytest.param([0, 2**64], id="beyond-uint64"),
        pytest.param(
            np.array([HALF + 1], dtype=np.uint64), id="uint64-above-half"
        ),
        pytest.param(
            np.array([0, 2**64 - 1], dtype=np.uint64), id="uint64-max"
        ),
        pytest.param([P], id="p"),
    ],
)
def test_encode_signed_rejects_overflow(values: object) -> None:
    with pytest.raises(FieldOverflowError):
        field.encode_signed(values)


def test_overflow_error_is_value_error() -> None:
    assert issubclass(FieldOverflowError, ValueError)


@pytest.mark.parametrize(
    "value", [0.5, 1.7, -2.25, math.nan, math.inf, -math.inf, "3"]
)
def test_encode_signed_rejects_non_integer(value: object) -> None:
    with pytest.raises(ValueError, match="not an integer"):
        field.encode_signed([value])


def test_encode_signed_accepts_integral_float() -> None:
    encoded = field.encode_signed([3.0, -4.0])
    assert field.decode_signed(encoded).tolist() == [3, -4]


# Fixed point --------------------------------------------------------------


@pytest.mark.parametrize("scale", [0, 1, 3, 6, 9])
def test_encode_fixed_round_trip(
    rng: np.random.Generator, scale: int
) -> None:
    # Multiples of 10^-scale, so the round trip is exact up to float error.
    limit = min(10**6 * 10**scale, HALF)
    units = rng.integers(-limit, limit, size=300, endpoint=True)
    values = units / 10.0**scale
    decoded = field.decode_fixed(field.encode_fixed(values, scale), scale)
    assert np.allclose(decoded, values, rtol=0, atol=0.5 / 10.0**scale)


@pytest.mark.parametrize(
    ("value", "scale", "integer"),
    [
        (-1.5, 0, -2),
        (-0.04, 1, 0),
        (-0.06, 1, -1),
        (-3.14159, 2, -314),
        (-123.456, 3, -123456),
        (2.6e-4, 4, 3),
        (-7.0, 9, -7_000_000_000),
    ],
)
def test_encode_fixed_rounds_to_scale(
    value: float, scale: int, integer: int
) -> None:
    encoded = field.encode_fixed([value], scale)
    assert int(field.decode_signed(encoded)[0]) == integer
    assert field.decode_fixed(encoded, scale)[0] == integer / 10**scale


def test_encode_fixed_negative_values_centred() -> None:
    encoded = field.encode_fixed([-0.5, -2.0], 1)
    assert int(encoded[0]) == P - 5
    assert int(encoded[1]) == P - 20


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_encode_fixed_rejects_non_finite(value: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        field.encode_fixed([1.0, value], 2)


@pytest.mark.parametrize(
    ("value", "scale"),
    [
        (2.0**61, 0),
        (-(2.0**61), 0),
        (2.0e9, 9),
        (2.0**60, 0),
        pytest.param(
            1e300, 9,
            marks=pytest.mark.filterwarnings("ignore:overflow encountered"),
        ),
    ],
)
def test_encode_fixed_rejects_overflow(value: float, scale: int) -> None:
    with pytest.raises(FieldOverflowError):
        field.encode_fixed([value], scale)


def test_encode_fixed_rejects_negative_scale() -> None:
    with pytest.raises(ValueError, match="scale"):
        field.encode_fixed([1.0], -1)


# Arithmetic ---------------------------------------------------------------


def test_add_matches_python(rng: np.random.Generator) -> None:
    a, b = random_elements(rng, 500), random_elements(rng, 500)
    got = field.add(a, b)
    assert got.dtype == np.uint64
    assert [int(x) for x in got] == [
        (int(x) + int(y)) % P for x, y in zip(a, b)
    ]


def test_sub_matches_python(rng: np.random.Generator) -> None:
    a, b = random_elements(rng, 500), random_elements(rng, 500)
    got = field.sub(a, b)
    assert [int(x) for x in got] == [
        (int(x) - int(y)) % P for x, y in zip(a, b)
    ]


@pytest.mark.parametrize("n", [0, 1, 32_767, 32_768, 70_001])
def test_in_place_ops_match(rng: np.random.Generator, n: int) -> None:
    # Lengths around the 32,768-element block of add_into and sub_into.
    a = rng.integers(0, P, n, dtype=np.uint64)
    b = rng.integers(0, P, n, dtype=np.uint64)
    b[:2] = [P - 1, 0][:min(n, 2)]
    total = a.copy()
    field.add_into(total, b)
    assert np.array_equal(total, field.add(a, b))
    total = a.copy()
    field.sub_into(total, b)
    assert np.array_equal(total, field.sub(a, b))


def test_neg_matches_python(rng: np.random.Generator) -> None:
    a = random_elements(rng, 500)
    got = field.neg(a)
    assert [int(x) for x in got] == [(-int(x)) % P for x in a]


EDGE_ELEMENTS = np.array([0, 1, HALF, HALF + 1, P - 2, P - 1], dtype=np.uint64)


def test_add_edge_elements() -> None:
    a = np.repeat(EDGE_ELEMENTS, EDGE_ELEMENTS.size)
    b = np.tile(EDGE_ELEMENTS, EDGE_ELEMENTS.size)
    got = [int(x) for x in field.add(a, b)]
    assert got == [(int(x) + int(y)) % P for x, y in zip(a, b)]


def test_sub_edge_elements() -> None:
    a = np.repeat(EDGE_ELEMENTS, EDGE_ELEMENTS.size)
    b = np.tile(EDGE_ELEMENTS, EDGE_ELEMENTS.size)
    got = [int(x) for x in field.sub(a, b)]
    assert got == [(int(x) - int(y)) % P for x, y in zip(a, b)]


def test_neg_zero_is_zero() -> None:
    got = field.neg(np.zeros(3, dtype=np.uint64))
    assert got.tolist() == [0, 0, 0]


def test_sum_vectors_matches_python(rng: np.random.Generator) -> None:
    vectors = [random_elements(rng, 50) for _ in range(9)]
    got = field.sum_vectors(vectors, 50)
    expected = [sum(int(v[k]) for v in vectors) % P for k in range(50)]
    assert [int(x) for x in got] == expected


def test_sum_vectors_empty_is_zero() -> None:
    assert field.sum_vectors([], 4).tolist() == [0, 0, 0, 0]


def test_sum_vectors_rejects_wrong_length() -> None:
    vectors = [np.zeros(3, dtype=np.uint64), np.zeros(4, dtype=np.uint64)]
    with pytest.raises(ValueError, match="length"):
        field.sum_vectors(vectors, 3)


def test_signed_arithmetic_decodes(rng: np.random.Generator) -> None:
    # Sums of values well inside the interval decode to the integer sum.
    x = rng.integers(-(10**15), 10**15, size=100)
    y = rng.integers(-(10**15), 10**15, size=100)
    total = field.add(field.encode_signed(x), field.encode_signed(y))
    difference = field.sub(field.encode_signed(x), field.encode_signed(y))
    assert np.array_equal(field.decode_signed(total), x + y)
    assert np.array_equal(field.decode_signed(difference), x - y)


# Element checks -----------------------------------------------------------


def test_check_elements_accepts_reduced() -> None:
    elements = np.array([0, 1, P - 1], dtype=np.uint64)
    assert field.check_elements(elements) is elements


@pytest.mark.parametrize("element", [P, P + 1, 2**62, 2**64 - 1])
def test_check_elements_rejects_not_below_p(element: int) -> None:
    elements = np.array([0, element], dtype=np.uint64)
    with pytest.raises(ValueError, match="not below p"):
        field.check_elements(elements)


@pytest.mark.parametrize(
    "dtype", [np.int64, np.uint32, np.int32, np.float64, object]
)
def test_check_elements_rejects_dtype(dtype: type) -> None:
    with pytest.raises(TypeError, match="uint64"):
        field.check_elements(np.array([1, 2], dtype=dtype))


def test_decode_signed_rejects_not_below_p() -> None:
    with pytest.raises(ValueError, match="not below p"):
        field.decode_signed(np.array([P], dtype=np.uint64))
