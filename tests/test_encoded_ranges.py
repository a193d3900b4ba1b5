"""Adversarial tests of mpc.proofs.verify_encoded_ranges and the chunks
of mpc.parallel that call it.

The bulk check reads range and noise-bound proofs from their bytes and
must accept exactly what decoding each proof and verifying it accepts.
Each test builds honest parts and changes one thing: a byte anywhere, a
field set to a non-canonical value, the context, index, bounds or kind
the proof is checked under, or the length of the data. Every change must
make the check return False, and the decoding path must reject it too.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from mpc import parallel, proofs
from mpc.group import (
    FIELD_PRIME,
    POINT_BYTES,
    Q,
    PointArray,
    decode_point,
    random_scalar,
)
from mpc.proofs import (
    BIT_PROOF_BYTES,
    COUNT_BYTES,
    NOISE_BOUND_KIND,
    RANGE_KIND,
    ProofContext,
    ProofError,
    RangeProof,
    commit_noise_bound,
    commit_range,
    range_proof_size,
    range_weights,
    verify_encoded_ranges,
    verify_noise_bound,
    verify_range,
)
from mpc.validity import ElementBound, InputStatement, make_commit_bundle

CTX = ProofContext(
    job_id=bytes(range(16)),
    spec_digest=hashlib.sha256(b"encoded ranges").digest(),
    party_id="alice",
    round="commit",
)
RANGES = [(0, 3, 2), (5, 20, 11), (0, 1, 1)]
"""(lo, hi, value) of each element."""
NOISES = [(2, -2), (7, 5)]
"""(T, noise) of each element."""
START = 4


def _part(kind: str, statements: list[tuple[int, int, int]]) -> tuple:
    commitments, encoded = [], []
    for offset, (lo, hi, value) in enumerate(statements):
        if kind == RANGE_KIND:
            point, proof = commit_range(
                CTX, START + offset, lo, hi, value, random_scalar()
            )
        else:
            point, proof = commit_noise_bound(
                CTX, START + offset, hi, value, random_scalar()
            )
        commitments.append(point.encode())
        encoded.append(proof.encode())
    bounds = [(lo, hi) for lo, hi, _ in statements]
    return (kind, START, bounds, b"".join(commitments), b"".join(encoded))


@pytest.fixture(scope="module")
def parts() -> list[tuple]:
    return [
        _part(RANGE_KIND, RANGES),
        _part(NOISE_BOUND_KIND, [(-t, t, e) for t, e in NOISES]),
    ]


def decoding_accepts(ctx: ProofContext, parts: list[tuple]) -> bool:
    """Return whether decoding and verifying proof by proof accepts."""
    try:
        for kind, start, bounds, commitments, data in parts:
            if len(commitments) != POINT_BYTES * len(bounds):
                return False
            offset = 0
            for j, (lo, hi) in enumerate(bounds):
                k = len(range_weights(lo, hi))
                size = range_proof_size(k)
                proof = RangeProof.decode(data[offset : offset + size], k)
                offset += size
                point = decode_point(
                    commitments[POINT_BYTES * j : POINT_BYTES * (j + 1)]
                )
                if kind == RANGE_KIND:
                    verify_range(ctx, start + j, point, lo, hi, proof)
                else:
                    verify_noise_bound(ctx, start + j, point, hi, proof)
            if offset != len(data):
                return False
    except (ProofError, ValueError):
        return False
    return True


def both_reject(ctx: ProofContext, parts: list[tuple]) -> None:
    assert verify_encoded_ranges(ctx, parts) is False
    assert decoding_accepts(ctx, parts) is False


def _with(parts: list[tuple], part_index: int, **changes) -> list[tuple]:
    fields = ("kind", "start", "bounds", "commitments", "data")
    part = dict(zip(fields, parts[part_index]))
    part.update(changes)
    out = list(parts)
    out[part_index] = tuple(part[f] for f in fields)
    return out


def _flipped(data: bytes, position: int, mask: int = 1) -> bytes:
    changed = bytearray(data)
    changed[position] ^= mask
    return bytes(changed)


def test_honest_parts_accepted(parts):
    assert verify_encoded_ranges(CTX, parts) is True
    assert decoding_accepts(CTX, parts) is True


def test_empty_parts_accepted():
    assert verify_encoded_ranges(CTX, []) is True
    assert verify_encoded_ranges(CTX, [(RANGE_KIND, 0, [], b"", b"")])


@pytest.mark.parametrize("part_index", [0, 1])
@pytest.mark.parametrize("field", ["commitments", "data"])
def test_every_flipped_byte_rejected(parts, part_index, field):
    # Every byte of the commitments, and of the first element's proof
    # (each field of a range proof appears there).
    index = 3 if field == "commitments" else 4
    data = parts[part_index][index]
    lo, hi = parts[part_index][2][0]
    end = range_proof_size(len(range_weights(lo, hi)))
    for position in range(min(len(data), end)):
        changed = _with(parts, part_index, **{field: _flipped(data, position)})
        assert verify_encoded_ranges(CTX, changed) is False, position


def test_random_changes_agree_with_decoding(parts):
    rng = random.Random(5)
    for _ in range(60):
        part_index = rng.randrange(2)
        data = bytearray(parts[part_index][4])
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        changed = _with(parts, part_index, data=bytes(data))
        assert verify_encoded_ranges(CTX, changed) == decoding_accepts(
            CTX, changed
        )


def _field_offset(part: tuple, element: int, bit: int, field: int) -> int:
    """Return where field (0 A0, 1 A1, 2 c0, 3 z0, 4 z1) of one bit
    proof starts in the part's proof data."""
    _, _, bounds, _, _ = part
    ks = [len(range_weights(lo, hi)) for lo, hi in bounds]
    start = sum(range_proof_size(k) for k in ks[:element])
    starts = [0, POINT_BYTES, 2 * POINT_BYTES, 2 * POINT_BYTES + 32,
              2 * POINT_BYTES + 64]
    return (start + COUNT_BYTES + POINT_BYTES * ks[element]
            + BIT_PROOF_BYTES * bit + starts[field])


@pytest.mark.parametrize("field", [2, 3, 4])
@pytest.mark.parametrize("value", [Q, Q + 1, 2**256 - 1])
def test_scalar_not_below_q_rejected(parts, field, value):
    at = _field_offset(parts[0], 1, 3, field)
    data = bytearray(parts[0][4])
    data[at : at + 32] = value.to_bytes(32, "big")
    both_reject(CTX, _with(parts, 0, data=bytes(data)))


def _off_curve_x() -> bytes:
    x = 1
    while pow((x**3 + 7) % FIELD_PRIME, (FIELD_PRIME - 1) // 2,
              FIELD_PRIME) == 1:
        x += 1
    return x.to_bytes(32, "big")


BAD_POINTS = {
    "uncompressed prefix": b"\x04" + bytes(31) + b"\x01",
    "zero prefix": bytes(33),
    "x equal to p": b"\x02" + FIELD_PRIME.to_bytes(32, "big"),
    "x off the curve": b"\x03" + _off_curve_x(),
}


@pytest.mark.parametrize("case", BAD_POINTS)
@pytest.mark.parametrize("field", [0, 1])
def test_bad_first_message_rejected(parts, case, field):
    at = _field_offset(parts[1], 0, 2, field)
    data = bytearray(parts[1][4])
    data[at : at + POINT_BYTES] = BAD_POINTS[case]
    both_reject(CTX, _with(parts, 1, data=bytes(data)))


@pytest.mark.parametrize("case", BAD_POINTS)
def test_bad_commitments_rejected(parts, case):
    commitments = bytearray(parts[0][3])
    commitments[POINT_BYTES : 2 * POINT_BYTES] = BAD_POINTS[case]
    both_reject(CTX, _with(parts, 0, commitments=bytes(commitments)))
    data = bytearray(parts[0][4])
    data[COUNT_BYTES : COUNT_BYTES + POINT_BYTES] = BAD_POINTS[case]
    both_reject(CTX, _with(parts, 0, data=bytes(data)))


@pytest.mark.parametrize(
    "field",
    [
        {"job_id": bytes(16)},
        {"spec_digest": bytes(32)},
        {"party_id": "bob"},
        {"round": "reveal"},
    ],
    ids=["job", "spec", "party", "round"],
)
def test_other_context_rejected(parts, field):
    both_reject(replace(CTX, **field), parts)


def test_other_index_rejected(parts):
    both_reject(CTX, _with(parts, 0, start=START + 1))
    both_reject(CTX, _with(parts, 1, start=0))


def test_swapped_elements_rejected(parts):
    # Elements 0 and 2 of the range part swap their commitments and
    # proofs, so each proof is checked at the other's index.
    _, _, bounds, commitments, data = parts[0]
    sizes = [range_proof_size(len(range_weights(lo, hi))) for lo, hi in bounds]
    pieces = [data[sum(sizes[:j]) : sum(sizes[: j + 1])] for j in range(3)]
    points = [commitments[POINT_BYTES * j : POINT_BYTES * (j + 1)]
              for j in range(3)]
    swapped = _with(
        parts, 0,
        bounds=[bounds[2], bounds[1], bounds[0]],
        commitments=points[2] + points[1] + points[0],
        data=pieces[2] + pieces[1] + pieces[0],
    )
    both_reject(CTX, swapped)


def test_other_bounds_same_bits_rejected(parts):
    # [0, 3] and [1, 4] need the same two bits, so only the transcript
    # and the recomposition tell them apart.
    bounds = list(parts[0][2])
    bounds[0] = (1, 4)
    both_reject(CTX, _with(parts, 0, bounds=bounds))


def test_noise_proof_as_range_rejected(parts):
    _, start, bounds, commitments, data = parts[1]
    both_reject(CTX, [(RANGE_KIND, start, bounds, commitments, data)])


def test_range_proof_as_noise_bound_rejected():
    part = _part(RANGE_KIND, [(-2, 2, 1)])
    assert verify_encoded_ranges(CTX, [part]) is True
    both_reject(CTX, [(NOISE_BOUND_KIND, *part[1:])])


def test_proof_for_other_commitment_rejected(parts):
    # Element 0's proof beside element 2's commitment: both are bits.
    commitments = bytearray(parts[0][3])
    commitments[:POINT_BYTES] = commitments[2 * POINT_BYTES :]
    both_reject(CTX, _with(parts, 0, commitments=bytes(commitments)))


@pytest.mark.parametrize("cut", [1, POINT_BYTES, BIT_PROOF_BYTES])
def test_truncated_data_rejected(parts, cut):
    both_reject(CTX, _with(parts, 1, data=parts[1][4][:-cut]))


def test_trailing_bytes_rejected(parts):
    both_reject(CTX, _with(parts, 0, data=parts[0][4] + b"\x00"))
    both_reject(CTX, _with(parts, 0, commitments=parts[0][3] + bytes(33)))


def test_commitment_count_mismatch_rejected(parts):
    both_reject(CTX, _with(parts, 0, commitments=parts[0][3][:-POINT_BYTES]))


def test_wrong_bit_count_rejected(parts):
    data = bytearray(parts[0][4])
    data[:COUNT_BYTES] = (3).to_bytes(COUNT_BYTES, "big")
    both_reject(CTX, _with(parts, 0, data=bytes(data)))


def test_each_equation_has_its_own_weight(parts, monkeypatch):
    drawn: list[int] = []
    weights = proofs._random_weights

    def recording(count):
        drawn.extend(weights(count))
        return drawn[-count:]

    monkeypatch.setattr(proofs, "_random_weights", recording)
    assert verify_encoded_ranges(CTX, parts) is True
    bits = sum(
        len(range_weights(lo, hi)) for part in parts for lo, hi in part[2]
    )
    elements = sum(len(part[2]) for part in parts)
    assert len(drawn) == elements + 2 * bits
    assert len(set(drawn)) == len(drawn)


@pytest.mark.parametrize(
    "part",
    [
        ("bounded-sum", 0, [(0, 1)], b"", b""),
        (RANGE_KIND, 0, [(3, 3)], bytes(33), b""),
        (NOISE_BOUND_KIND, 0, [(-1, 2)], bytes(33), b""),
        (NOISE_BOUND_KIND, 0, [(0, 0)], bytes(33), b""),
        (RANGE_KIND, -1, [(0, 1)], bytes(33), bytes(range_proof_size(1))),
    ],
    ids=["kind", "empty range", "asymmetric noise", "zero noise", "index"],
)
def test_caller_mistakes_raise(part):
    with pytest.raises(ValueError):
        verify_encoded_ranges(CTX, [part])


@pytest.mark.parametrize("buffer", [bytearray, memoryview])
def test_buffers_accepted_as_bytes(parts, buffer):
    changed = [(kind, start, bounds, buffer(points), buffer(data))
               for kind, start, bounds, points, data in parts]
    assert verify_encoded_ranges(CTX, changed) is True
    point = buffer(parts[0][3][:POINT_BYTES])
    assert PointArray([point]).point(0) == decode_point(point)


SHRINKING_LIST = """
from mpc.group import G, H, PointArray

class Shrinking(list):
    def __iter__(self):
        for i, item in enumerate(list.__iter__(self)):
            yield item
            if i == 0:
                self.pop()

array = PointArray(Shrinking([G.encode(), H.encode(), G.encode()]))
try:
    array.multi_mul([1, 1, 1])
except (ValueError, IndexError):
    pass
"""


def test_point_array_shrinking_input_does_not_abort():
    # A zeroed slot would make libsecp256k1 abort the process, so the
    # check runs in a subprocess.
    root = Path(proofs.__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", SHRINKING_LIST], cwd=root,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-300:]


# verify_chunk rejects parts that bundle_layout would not cut.

CHUNK_STATEMENT = InputStatement(
    bounds=(ElementBound(0, 10),) * 3, groups=(), noise_bounds=(3, 3, 3)
)


@pytest.fixture(scope="module")
def chunk() -> list[bytes]:
    data = make_commit_bundle(
        CTX, CHUNK_STATEMENT, [1, 2, 3], [random_scalar() for _ in range(3)],
        [0, 1, -1], [random_scalar() for _ in range(3)],
    )
    layout = parallel.bundle_layout(CHUNK_STATEMENT)
    points = COUNT_BYTES + POINT_BYTES * 3
    return [
        data[COUNT_BYTES:points],
        data[points : points + POINT_BYTES * 3],
        data[layout.range_offsets[0] : layout.range_offsets[-1]],
        data[layout.noise_offsets[0] : layout.noise_offsets[-1]],
    ]


@pytest.mark.parametrize(
    ("part", "extra"),
    [(0, b"\x02junk"), (1, bytes(POINT_BYTES)), (2, b"junk"), (3, bytes(9))],
    ids=["commitments", "noise commitments", "ranges", "noises"],
)
def test_chunk_with_extra_bytes_raises(chunk, part, extra):
    parallel.verify_chunk(CTX, CHUNK_STATEMENT, 0, *chunk)
    changed = list(chunk)
    changed[part] += extra
    with pytest.raises(ValueError, match="slice the bundle by bundle_layout"):
        parallel.verify_chunk(CTX, CHUNK_STATEMENT, 0, *changed)
