"""Adversarial tests of batch verification, multi_mul and bundle checks.

They target paths that honest proofs reach only by chance. The cases
are every window width of multi_mul, scalars on digit boundaries, point
objects that enter a batch in several roles and the multi-scalar path
of small batches (forced by setting DIRECT_BELOW to 0). Others are
inputs that could leave a zeroed libsecp256k1 struct inside a Point, and
the error that `mpc.parallel.verify_bundle` reports for a bundle with
several faults.

libsecp256k1 aborts the process when it reads a zeroed
`secp256k1_pubkey`, so the checks that could hit one run in a
subprocess.
"""

from __future__ import annotations

import asyncio
import hashlib
import pickle
import random
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mpc import group, parallel, proofs
from mpc.commitments import commit
from mpc.group import (
    FIELD_PRIME,
    IDENTITY,
    G,
    H,
    Point,
    Q,
    base_mul,
    decode_point,
    multi_mul,
    random_scalar,
    sum_points,
)
from mpc.proofs import (
    Batch,
    ProofContext,
    ProofError,
    prove_bit,
    prove_one_hot,
    prove_range,
    verify_bit,
    verify_one_hot,
    verify_range,
)
from mpc.validity import (
    CommitBundle,
    ElementBound,
    GroupConstraint,
    InputStatement,
    make_commit_bundle,
    verify_commit_bundle,
)

ROOT = Path(__file__).resolve().parent.parent
SEED = 771
CTX = ProofContext(
    job_id=bytes(range(40, 56)),
    spec_digest=hashlib.sha256(b"adversarial spec").digest(),
    party_id="mallory",
    round="commit",
)


def naive(points: list[Point], scalars: list[int]) -> Point:
    return sum_points([p * s for p, s in zip(points, scalars, strict=True)])


def random_points(rng: random.Random, count: int) -> list[Point]:
    return [base_mul(rng.randrange(1, Q)) for _ in range(count)]


@pytest.fixture
def msm_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Force every batch onto the multi-scalar path and count its calls."""
    calls: list[int] = []

    def counting(points: list[Point], scalars: list[int]) -> Point:
        calls.append(len(points))
        return multi_mul(points, scalars)

    monkeypatch.setattr(proofs, "DIRECT_BELOW", 0)
    monkeypatch.setattr(proofs, "multi_mul", counting)
    return calls


# multi_mul against the naive sum.


def _boundary_scalars(width: int) -> list[int]:
    """Return scalars whose digits sit on the edges of `width`-bit windows."""
    out = [1, Q - 1, 2**255, 2**128 - 1, 2**128]
    out += [(1 << width) - 1, 1 << width, (1 << (2 * width)) - 1]
    out += [min((1 << (width * k)) - 1, Q - 1) for k in (3, 7)]
    out.append(min(1 << (width * (256 // width)), Q - 1))
    return [s % Q or 1 for s in out]


@pytest.mark.parametrize("width", range(1, 17))
def test_multi_mul_every_window_width(width, monkeypatch):
    rng = random.Random(SEED + width)
    monkeypatch.setattr(group, "_window_bits", lambda lengths: width)
    scalars = _boundary_scalars(width)
    scalars += [rng.randrange(Q) for _ in range(4)]
    points = random_points(rng, len(scalars))

    assert multi_mul(points, scalars) == naive(points, scalars)


@pytest.mark.parametrize("size", [6, 7, 8, 9, 10])
def test_multi_mul_same_point_under_threshold(size):
    # One object in every slot, so every bucket adds a point to itself.
    point = base_mul(987654321)
    for scalar in (1, 2, Q - 1, 2**255, 2**128 - 1):
        expected = point * (size * scalar)
        assert multi_mul([point] * size, [scalar] * size) == expected


@pytest.mark.parametrize("digit", [1, 3, 2**16 - 1, 2**128 - 1, 2**255])
def test_multi_mul_many_points_one_scalar(digit):
    # All points share every digit, so each window fills one bucket.
    points = random_points(random.Random(SEED), 300)

    assert multi_mul(points, [digit] * 300) == sum_points(points) * digit


def test_multi_mul_single_point_full_width_scalar():
    point = base_mul(5)
    for scalar in (Q - 1, 2**255, 2**256 - 1, -1):
        assert multi_mul([point], [scalar]) == point * scalar


@pytest.mark.parametrize("size", [7, 8, 9, 64])
def test_multi_mul_point_and_negation_in_one_bucket(size):
    # P and -P under equal scalars beside copies of P: buckets pass
    # through the identity half way through a combine call.
    point = base_mul(31337)
    points = [point, -point] * size + [point]
    scalars = [2**200 + 7] * (2 * size + 1)

    assert multi_mul(points, scalars) == point * (2**200 + 7)


def test_multi_mul_total_hits_identity_mid_horner():
    # The running total of the Horner pass is P + (-P) at the top bits
    # and then grows again from the low bits.
    point = base_mul(77)
    points = [point] * 8 + [-point] * 8 + [G]
    scalars = [2**250] * 8 + [2**250] * 8 + [3]

    assert multi_mul(points, scalars) == G * 3


# Points: identity, equality, hashing and pickling.


def test_point_identity_arithmetic():
    point = base_mul(12)

    assert IDENTITY + point is point
    assert point + IDENTITY is point
    assert (-IDENTITY).is_identity
    assert (point - point).is_identity
    assert (point + (-point)).is_identity
    assert (point * Q).is_identity
    assert point * (Q + 1) == point
    assert point * -1 == -point
    assert base_mul(Q).is_identity
    assert sum_points([point, -point, IDENTITY]).is_identity
    assert sum_points([]).is_identity


def test_point_decoded_equals_computed():
    computed = base_mul(424242) + H
    decoded = decode_point(computed.encode())

    assert decoded == computed
    assert hash(decoded) == hash(computed)
    assert len({decoded, computed}) == 1
    assert decoded != -computed
    assert decoded != IDENTITY


def test_point_pickle_round_trip():
    point = base_mul(99) + H
    copies = pickle.loads(pickle.dumps([point, IDENTITY, point]))

    assert copies[0] == point
    assert copies[0].encode() == point.encode()
    assert copies[1].is_identity
    assert copies[1] == IDENTITY
    assert hash(copies[1]) == hash(IDENTITY)
    assert (copies[0] + copies[1]) == point


# Inputs that could leave a zeroed secp256k1_pubkey inside a Point.

_OBJECT_SCRIPT = """
from mpc.group import (FIELD_PRIME, IDENTITY, G, H, Q, EncodingError,
                       base_mul, decode_point, multi_mul, sum_points)
point = base_mul(7)
results = [
    point + (-point), point * Q, point * (Q + 1), point * -1, base_mul(Q),
    base_mul(-1), sum_points([point, -point]), sum_points([point] * 3),
    multi_mul([point] * 9 + [-point] * 9, [5] * 18),
    multi_mul([point, G, H] * 4, [Q - 1] * 12),
    multi_mul([IDENTITY] * 9, [1] * 9), multi_mul([point] * 9, [0] * 9),
]
for result in results:
    if not result.is_identity:
        decode_point(result.encode())
        result + result
        -result
rejected = 0
for x in (0, 1, FIELD_PRIME - 1, FIELD_PRIME, 2**256 - 1, 7, 2**255):
    for prefix in (2, 3):
        data = bytes([prefix]) + (x % 2**256).to_bytes(32, "big")
        try:
            decode_point(data).encode()
        except EncodingError:
            rejected += 1
print("ok", rejected)
"""


def _run_python(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_group_results_never_hold_zeroed_struct():
    run = _run_python(_OBJECT_SCRIPT)

    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("ok ")


_FUZZ_SCRIPT = """
import asyncio, hashlib, random
from mpc import parallel
from mpc.group import random_scalar
from mpc.proofs import ProofContext, ProofError
from mpc.validity import (ElementBound, GroupConstraint, InputStatement,
                          make_commit_bundle, verify_commit_bundle)

ctx = ProofContext(bytes(16), hashlib.sha256(b"fuzz").digest(), "a", "r")
statement = InputStatement(
    bounds=(ElementBound(0, 1),) * 3,
    groups=(GroupConstraint("one_hot", (0, 1, 2)),),
    noise_bounds=(1, 1, 1),
)
data = make_commit_bundle(ctx, statement, [0, 1, 0],
                          [random_scalar() for _ in range(3)], [1, 0, -1],
                          [random_scalar() for _ in range(3)])

async def run_cpu(function, *args):
    return function(*args)

rng = random.Random(SEED)
rejected = 0
for trial in range(150):
    bad = bytearray(data)
    for _ in range(rng.choice([1, 2, 5])):
        position = rng.randrange(len(bad))
        bad[position] = rng.choice([0, 1, 2, 3, 4, 0xFF, rng.randrange(256)])
    if trial % 10 == 0:
        bad = bad[:rng.randrange(len(bad))]
    bad = bytes(bad)
    if bad == data:
        continue
    for verify in (
        lambda: verify_commit_bundle(ctx, statement, bad),
        lambda: asyncio.run(parallel.verify_bundle(run_cpu, 2, ctx,
                                                   statement, bad)),
    ):
        try:
            verify()
        except ProofError:
            rejected += 1
        else:
            raise SystemExit(f"mutation {trial} was accepted")
print("ok", rejected)
"""


def test_mutated_bundle_bytes_never_abort():
    run = _run_python(_FUZZ_SCRIPT.replace("SEED", str(SEED)))

    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("ok ")


# The multi-scalar path on small batches, with points in several roles.


def test_first_message_object_equal_to_commitment(msm_calls):
    # With k = r on branch 0, A0 = k*G equals C = r*G, so the same
    # object can stand for both in one batch.
    blinding = random_scalar()
    commitment = commit(0, blinding)
    nonces = iter([blinding, random_scalar(), random_scalar()])
    proof = prove_bit(CTX, 0, commitment, 0, blinding, nonces=nonces)
    assert proof.a0 == commitment
    aliased = replace(proof, a0=commitment)

    batch = Batch()
    verify_bit(CTX, 0, commitment, aliased, batch=batch)
    verify_bit(CTX, 1, commitment, prove_bit(CTX, 1, commitment, 0, blinding),
               batch=batch)
    batch.check()
    assert len(msm_calls) == 1

    tampered = replace(aliased, z0=(aliased.z0 + 1) % Q)
    batch = Batch()
    verify_bit(CTX, 0, commitment, tampered, batch=batch)
    with pytest.raises(ProofError) as info:
        batch.check()
    assert (info.value.kind, info.value.index) == ("bit", 0)
    assert info.value.reason == "bit 0 fails its verification equation"


def test_shared_commitment_names_bad_proof(msm_calls):
    # One commitment object is the statement of four bit proofs, so its
    # scalars add up in one shared term.
    blinding = random_scalar()
    commitment = commit(1, blinding)
    bits = [prove_bit(CTX, i, commitment, 1, blinding) for i in range(4)]
    bits[2] = replace(bits[2], z1=(bits[2].z1 + 5) % Q)

    batch = Batch()
    for index, proof in enumerate(bits):
        verify_bit(CTX, index, commitment, proof, batch=batch)
    with pytest.raises(ProofError) as info:
        batch.check()
    assert len(msm_calls) == 1
    assert (info.value.kind, info.value.index) == ("bit", 2)


def test_bit_commitment_reused_as_statement(msm_calls):
    # Bit commitment C_0 of a range proof is also the statement of a
    # bit proof and a member of a one-hot group, as the same object.
    value, blinding = 5, random_scalar()
    commitment = commit(value, blinding)
    nonces = [random_scalar() for _ in range(40)]
    first = nonces[0]
    proof = prove_range(CTX, 0, commitment, 0, 7, value, blinding,
                        nonces=iter(nonces))
    shared = proof.bit_commitments[0]
    assert shared == commit(1, first)
    other_blinding = random_scalar()
    other = commit(0, other_blinding)

    batch = Batch()
    verify_range(CTX, 0, commitment, 0, 7, proof, batch=batch)
    verify_bit(CTX, 1, shared, prove_bit(CTX, 1, shared, 1, first),
               batch=batch)
    group_proof = prove_one_hot(CTX, 2, [shared, other], [1, 0],
                                [first, other_blinding])
    verify_one_hot(CTX, 2, [shared, other], group_proof, batch=batch)
    batch.check()
    assert len(msm_calls) == 1

    forged = replace(group_proof,
                     sum_blinding=(group_proof.sum_blinding + 1) % Q)
    batch = Batch()
    verify_range(CTX, 0, commitment, 0, 7, proof, batch=batch)
    verify_one_hot(CTX, 2, [shared, other], forged, batch=batch)
    with pytest.raises(ProofError) as info:
        batch.check()
    assert (info.value.kind, info.value.index) == ("one-hot", 2)
    assert info.value.reason == "sum of commitments does not open to 1"


def test_one_hot_repeated_member_object(msm_calls):
    # [C, C] with C a commitment to 1 sums to 2: the bit proofs pass but
    # the sum equation must fail, also when C enters as one shared term.
    blinding = random_scalar()
    member = commit(1, blinding)
    proof = prove_one_hot(CTX, 0, [member, member], [1, 1],
                          [blinding, blinding], _unchecked=True)

    batch = Batch()
    verify_one_hot(CTX, 0, [member, member], proof, batch=batch)
    with pytest.raises(ProofError) as info:
        batch.check()
    assert len(msm_calls) == 1
    assert info.value.reason == "sum of commitments does not open to 1"


# Whole bundles on the multi-scalar path.

STATEMENT = InputStatement(
    bounds=(*[ElementBound(0, 1)] * 3, ElementBound(0, 3), ElementBound(0, 3)),
    groups=(
        GroupConstraint("one_hot", (0, 1, 2)),
        GroupConstraint("bounded_sum", (3, 4), 0, 4),
    ),
    noise_bounds=(2, 2, 2, 2, 2),
)
VALUES = [0, 1, 0, 3, 1]
NOISE = [2, -2, 0, 1, -1]


@pytest.fixture(scope="module")
def bundle() -> bytes:
    return make_commit_bundle(
        CTX,
        STATEMENT,
        VALUES,
        [random_scalar() for _ in VALUES],
        NOISE,
        [random_scalar() for _ in NOISE],
    )


def _bit_changed(proof: Any, position: int, **deltas: int) -> Any:
    bits = list(proof.bits)
    bit = bits[position]
    bits[position] = replace(
        bit, **{name: (getattr(bit, name) + d) % Q for name, d in deltas.items()}
    )
    return replace(proof, bits=tuple(bits))


def _with_proof(decoded: CommitBundle, field: str, index: int,
                proof: Any) -> bytes:
    proofs_list = list(getattr(decoded, field))
    proofs_list[index] = proof
    return replace(decoded, **{field: tuple(proofs_list)}).encode()


TAMPERS = {
    "range z0": ("range_proofs", 3, "range", lambda p: _bit_changed(p, 1, z0=1)),
    "range c0": ("range_proofs", 0, "range", lambda p: _bit_changed(p, 0, c0=1)),
    "one-hot sum": ("group_proofs", 0, "one-hot",
                    lambda p: replace(p, sum_blinding=(p.sum_blinding + 1) % Q)),
    "one-hot z1": ("group_proofs", 0, "one-hot",
                   lambda p: _bit_changed(p, 2, z1=Q - 1)),
    "bounded-sum c0 z0": ("group_proofs", 1, "bounded-sum",
                          lambda p: _bit_changed(p, 0, c0=3, z0=-3)),
    "noise z1": ("noise_proofs", 4, "noise-bound",
                 lambda p: _bit_changed(p, 1, z1=2)),
}


def test_bundle_msm_path_accepts_honest(bundle, msm_calls):
    verify_commit_bundle(CTX, STATEMENT, bundle)

    assert len(msm_calls) == 1


@pytest.mark.parametrize("case", TAMPERS)
def test_bundle_msm_path_names_tampered_proof(case, bundle, msm_calls):
    field, index, kind, change = TAMPERS[case]
    decoded = CommitBundle.decode(bundle, STATEMENT)
    data = _with_proof(decoded, field, index,
                       change(getattr(decoded, field)[index]))

    with pytest.raises(ProofError) as info:
        verify_commit_bundle(CTX, STATEMENT, data)
    assert len(msm_calls) == 1
    assert (info.value.kind, info.value.index) == (kind, index)


# Errors of mpc.parallel.verify_bundle.


async def _in_process(function: Any, *args: Any) -> Any:
    return function(*args)


def _blame(check: Any) -> tuple[str, int | None, str]:
    with pytest.raises(ProofError) as info:
        check()
    return info.value.kind, info.value.index, info.value.reason


def _parallel_blame(data: bytes, chunks: int) -> tuple[str, int | None, str]:
    return _blame(lambda: asyncio.run(parallel.verify_bundle(
        _in_process, chunks, CTX, STATEMENT, data)))


def _off_curve_point() -> bytes:
    x = 1
    while pow((x**3 + 7) % FIELD_PRIME, (FIELD_PRIME - 1) // 2,
              FIELD_PRIME) == 1:
        x += 1
    return b"\x02" + x.to_bytes(32, "big")


@pytest.mark.parametrize("case", TAMPERS)
def test_parallel_names_same_single_failure(case, bundle):
    field, index, kind, change = TAMPERS[case]
    decoded = CommitBundle.decode(bundle, STATEMENT)
    data = _with_proof(decoded, field, index,
                       change(getattr(decoded, field)[index]))
    expected = _blame(lambda: verify_commit_bundle(CTX, STATEMENT, data))

    assert expected[:2] == (kind, index)
    for chunks in (1, 2, 5):
        assert _parallel_blame(data, chunks) == expected


def test_parallel_blame_independent_of_chunks(bundle):
    # Range proof 0 fails its equations and noise proof 4 does not
    # decode. verify_commit_bundle decodes the whole bundle first, so it
    # names noise proof 4, and every chunk count must name the same.
    decoded = CommitBundle.decode(bundle, STATEMENT)
    data = bytearray(_with_proof(
        decoded, "range_proofs", 0,
        _bit_changed(decoded.range_proofs[0], 0, z0=1)))
    layout = parallel.bundle_layout(STATEMENT)
    start = layout.noise_offsets[4] + proofs.COUNT_BYTES
    data[start:start + group.POINT_BYTES] = _off_curve_point()
    data = bytes(data)
    sequential = _blame(lambda: verify_commit_bundle(CTX, STATEMENT, data))

    assert sequential[:2] == ("noise-bound", 4)
    assert _parallel_blame(data, 1) == sequential
    assert _parallel_blame(data, 2) == sequential
    assert _parallel_blame(data, 5) == sequential
