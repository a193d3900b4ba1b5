"""Tests of the AES-CTR PRG in mpc.prg.

The statistical tests use fixed seeds, so each run draws the same stream
and the outcome is deterministic. Each threshold is set so that a fresh
uniform stream would fail it with probability alpha = 1e-4.
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from scipy.stats import chi2, norm

from mpc.field import P
from mpc.group import Q
from mpc.prg import SEED_BYTES, Prg, new_seed

SEED = bytes(range(SEED_BYTES))
OTHER_SEED = bytes(range(1, SEED_BYTES + 1))
LABEL = b"test/label"
ALPHA = 1e-4

# Sample size of the statistical tests: 64 bins with 2,000 expected
# elements each, far above the 5 per bin the chi-square approximation
# needs.
SAMPLE_SIZE = 128_000


def chi_square(counts: np.ndarray) -> float:
    expected = counts.sum() / counts.size
    return float(np.sum((counts - expected) ** 2) / expected)


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    return Prg(SEED, b"test/uniformity").field_elements(SAMPLE_SIZE)


def test_new_seed_length() -> None:
    assert len(new_seed()) == SEED_BYTES


def test_new_seed_differs() -> None:
    assert new_seed() != new_seed()


def test_prg_same_seed_and_label_repeat() -> None:
    assert Prg(SEED, LABEL).read(100) == Prg(SEED, LABEL).read(100)


def test_prg_field_elements_repeat() -> None:
    first = Prg(SEED, LABEL).field_elements(50)
    second = Prg(SEED, LABEL).field_elements(50)
    assert np.array_equal(first, second)


def test_prg_scalars_repeat() -> None:
    assert Prg(SEED, LABEL).scalars(5, Q) == Prg(SEED, LABEL).scalars(5, Q)


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, (1 << 18) + 5,
                                  3 << 18])
def test_prg_read_into_matches_read(size: int) -> None:
    # Sizes around the AES block and the 256 KiB step of read_into.
    buffer = bytearray(size + 7)
    prg = Prg(SEED, LABEL)
    prg.read_into(memoryview(buffer)[:size])
    assert bytes(buffer[:size]) == Prg(SEED, LABEL).read(size)
    assert bytes(buffer[size:]) == bytes(7)
    assert prg.read(9) == Prg(SEED, LABEL).read(size + 9)[size:]


def test_field_elements_known_answer() -> None:
    # The first two elements of the stream for SEED and LABEL, computed
    # from the definition: AES-256-CTR keyed by HMAC-SHA256(seed,
    # "mpc-prg/v1/" + label), counter zero, little-endian words masked
    # to 61 bits.
    key = hmac.new(SEED, b"mpc-prg/v1/" + LABEL, hashlib.sha256).digest()
    encryptor = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    stream = encryptor.update(bytes(16))
    expected = [int.from_bytes(stream[i:i + 8], "little") & P
                for i in (0, 8)]
    assert Prg(SEED, LABEL).field_elements(2).tolist() == expected


def test_field_elements_long_repeat() -> None:
    # Longer than one read_into step, so the steps join without a gap.
    n = (1 << 16) + 3
    words = np.frombuffer(Prg(SEED, LABEL).read(8 * n), dtype="<u8")
    expected = words & np.uint64(P)
    assert np.array_equal(Prg(SEED, LABEL).field_elements(n), expected)


def test_prg_reads_continue_stream() -> None:
    whole = Prg(SEED, LABEL).read(64)
    prg = Prg(SEED, LABEL)
    parts = prg.read(10) + prg.read(30) + prg.read(24)
    assert parts == whole


@pytest.mark.parametrize(
    ("seed", "label"),
    [
        pytest.param(SEED, b"test/other", id="other-label"),
        pytest.param(SEED, b"", id="empty-label"),
        pytest.param(SEED, LABEL + b"\x00", id="label-suffix"),
        pytest.param(OTHER_SEED, LABEL, id="other-seed"),
    ],
)
def test_prg_streams_differ(seed: bytes, label: bytes) -> None:
    assert Prg(seed, label).read(64) != Prg(SEED, LABEL).read(64)


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_prg_rejects_seed_length(length: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Prg(bytes(length), LABEL)


def test_field_elements_dtype_and_shape() -> None:
    elements = Prg(SEED, LABEL).field_elements(10)
    assert elements.dtype == np.uint64
    assert elements.shape == (10,)


def test_field_elements_zero_length() -> None:
    assert Prg(SEED, LABEL).field_elements(0).shape == (0,)


def test_field_elements_below_p(sample: np.ndarray) -> None:
    assert int(sample.max()) < P


def test_field_elements_chi_square_64_bins(sample: np.ndarray) -> None:
    # Bin k contains [k 2^55, (k+1) 2^55). The last bin lacks the single
    # value p, a relative deficit of 2^-55 that the test cannot see.
    # False-failure rate alpha = 1e-4 with 63 degrees of freedom.
    counts = np.bincount((sample >> np.uint64(55)).astype(np.int64),
                         minlength=64)
    assert counts.size == 64
    assert chi_square(counts) < chi2.ppf(1 - ALPHA, df=63)


def test_field_elements_top_bit_balanced(sample: np.ndarray) -> None:
    # Bit 60 is set for [2^60, p), which is 1/2 of F_p up to 2^-61.
    # Two-sided normal approximation of Binomial(n, 1/2), alpha = 1e-4.
    ones = int(np.count_nonzero(sample >> np.uint64(60)))
    limit = norm.ppf(1 - ALPHA / 2) * np.sqrt(SAMPLE_SIZE) / 2
    assert abs(ones - SAMPLE_SIZE / 2) < limit


def test_field_elements_low_bits_uniform(sample: np.ndarray) -> None:
    # The low 6 bits give 64 bins. False-failure rate alpha = 1e-4 with 63
    # degrees of freedom.
    low = (sample & np.uint64(63)).astype(np.int64)
    counts = np.bincount(low, minlength=64)
    assert chi_square(counts) < chi2.ppf(1 - ALPHA, df=63)


def test_field_elements_lowest_bit_balanced(sample: np.ndarray) -> None:
    # Two-sided normal approximation of Binomial(n, 1/2), alpha = 1e-4.
    ones = int(np.count_nonzero(sample & np.uint64(1)))
    limit = norm.ppf(1 - ALPHA / 2) * np.sqrt(SAMPLE_SIZE) / 2
    assert abs(ones - SAMPLE_SIZE / 2) < limit


def feed(prg: Prg, monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    """Make `prg.read` and `prg.read_into` take the bytes of `data` in
    order."""
    stream = bytearray(data)

    def read(n: int) -> bytes:
        if n > len(stream):
            raise AssertionError(f"read({n}) past the scripted stream")
        out = bytes(stream[:n])
        del stream[:n]
        return out

    def read_into(buffer: memoryview) -> None:
        view = memoryview(buffer).cast("B")
        view[:] = read(len(view))

    monkeypatch.setattr(prg, "read", read)
    monkeypatch.setattr(prg, "read_into", read_into)


def word(value: int) -> bytes:
    return value.to_bytes(8, "little")


def test_field_elements_rejects_p(monkeypatch: pytest.MonkeyPatch) -> None:
    # 2^64 - 1 and p both mask to p, so they are drawn again. 2^63 + 3
    # masks to 3 and is kept.
    prg = Prg(SEED, LABEL)
    feed(prg, monkeypatch,
         word(2**64 - 1) + word(5) + word(P) + word(2**63 + 3))
    assert prg.field_elements(2).tolist() == [5, 3]


def test_field_elements_keeps_p_minus_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prg = Prg(SEED, LABEL)
    feed(prg, monkeypatch, word(P - 1))
    assert prg.field_elements(1).tolist() == [P - 1]


@pytest.mark.parametrize(
    "order", [2, 5, 255, 256, 257, 1000, P, pytest.param(Q, id="q")]
)
def test_scalars_below_order(order: int) -> None:
    scalars = Prg(SEED, LABEL).scalars(200, order)
    assert all(0 <= s < order for s in scalars)


def test_scalars_count() -> None:
    assert len(Prg(SEED, LABEL).scalars(7, Q)) == 7


def test_scalars_small_order_hits_all() -> None:
    assert set(Prg(SEED, LABEL).scalars(200, 5)) == {0, 1, 2, 3, 4}


def test_scalars_rejects_out_of_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Order 5 takes one byte and keeps its top 3 bits: 0xff gives 7 and
    # 0xc0 gives 6, both rejected, then 0x40 gives 2.
    prg = Prg(SEED, LABEL)
    feed(prg, monkeypatch, bytes([0xFF, 0xC0, 0x40]))
    assert prg.scalars(1, 5) == [2]


def test_scalars_rejects_q(monkeypatch: pytest.MonkeyPatch) -> None:
    prg = Prg(SEED, LABEL)
    feed(prg, monkeypatch,
         Q.to_bytes(32, "big") + (Q - 1).to_bytes(32, "big"))
    assert prg.scalars(1, Q) == [Q - 1]


def test_scalars_chi_square_small_order() -> None:
    # 32,000 draws of order 64 into 64 bins: 500 expected per bin.
    # False-failure rate alpha = 1e-4 with 63 degrees of freedom.
    scalars = Prg(SEED, b"test/scalars").scalars(32_000, 64)
    counts = np.bincount(np.array(scalars), minlength=64)
    assert chi_square(counts) < chi2.ppf(1 - ALPHA, df=63)
