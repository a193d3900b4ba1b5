"""Tests of the Sigma proofs in mpc.proofs.

Every proof kind (bit, range, one-hot, bounded sum, noise bound) runs
through one table of cases: honest proofs verify, and a tampered field, a
changed statement or context, a malformed encoding or a witness forced
through the prover is rejected. Each rejection goes through the encoded
form, as a verifier receives it.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from coincurve import PublicKey

from mpc import proofs
from mpc.commitments import commit
from mpc.group import FIELD_PRIME, IDENTITY, G, Point, Q, random_scalar
from mpc.proofs import (
    MAX_RANGE_BITS,
    BitProof,
    BitResponse,
    OneHotProof,
    ProofContext,
    ProofError,
    RangeProof,
    prove_bit,
    prove_bounded_sum,
    prove_noise_bound,
    prove_one_hot,
    prove_range,
    range_weights,
    verify_bit,
    verify_bounded_sum,
    verify_noise_bound,
    verify_one_hot,
    verify_range,
)

CTX = ProofContext(
    job_id=bytes(range(16)),
    spec_digest=hashlib.sha256(b"test spec").digest(),
    party_id="alice",
    round="commit",
)
INDEX = 3


@dataclass(frozen=True)
class Statement:
    """The public side of one proof: index, commitments and bounds."""

    index: int
    commitments: tuple[Point, ...]
    lo: int
    hi: int


@dataclass(frozen=True)
class Kind:
    """One proof kind, adapted to a common calling convention."""

    name: str
    prove: Callable[..., Any]
    verify: Callable[[ProofContext, Statement, Any], None]
    decode: Callable[[bytes, Statement], Any]
    lo: int
    hi: int
    values: tuple[int, ...]
    has_bounds: bool
    has_points: bool


def _bits(statement: Statement) -> int:
    return len(range_weights(statement.lo, statement.hi))


KINDS = {
    "bit": Kind(
        "bit",
        lambda ctx, s, xs, rs, **kw: prove_bit(
            ctx, s.index, s.commitments[0], xs[0], rs[0], **kw
        ),
        lambda ctx, s, p: verify_bit(ctx, s.index, s.commitments[0], p),
        lambda data, s: BitProof.decode(data),
        0,
        1,
        (1,),
        has_bounds=False,
        has_points=False,
    ),
    "range": Kind(
        "range",
        lambda ctx, s, xs, rs, **kw: prove_range(
            ctx, s.index, s.commitments[0], s.lo, s.hi, xs[0], rs[0], **kw
        ),
        lambda ctx, s, p: verify_range(
            ctx, s.index, s.commitments[0], s.lo, s.hi, p
        ),
        lambda data, s: RangeProof.decode(data, _bits(s)),
        -5,
        1000,
        (17,),
        has_bounds=True,
        has_points=True,
    ),
    "one-hot": Kind(
        "one-hot",
        lambda ctx, s, xs, rs, **kw: prove_one_hot(
            ctx, s.index, s.commitments, xs, rs, **kw
        ),
        lambda ctx, s, p: verify_one_hot(ctx, s.index, s.commitments, p),
        lambda data, s: OneHotProof.decode(data, len(s.commitments)),
        0,
        1,
        (0, 0, 1, 0),
        has_bounds=False,
        has_points=False,
    ),
    "bounded-sum": Kind(
        "bounded-sum",
        lambda ctx, s, xs, rs, **kw: prove_bounded_sum(
            ctx, s.index, s.commitments, s.lo, s.hi, xs, rs, **kw
        ),
        lambda ctx, s, p: verify_bounded_sum(
            ctx, s.index, s.commitments, s.lo, s.hi, p
        ),
        lambda data, s: RangeProof.decode(data, _bits(s)),
        2,
        10,
        (3, 0, 4),
        has_bounds=True,
        has_points=True,
    ),
    "noise-bound": Kind(
        "noise-bound",
        lambda ctx, s, xs, rs, **kw: prove_noise_bound(
            ctx, s.index, s.commitments[0], s.hi, xs[0], rs[0], **kw
        ),
        lambda ctx, s, p: verify_noise_bound(
            ctx, s.index, s.commitments[0], s.hi, p
        ),
        lambda data, s: RangeProof.decode(data, _bits(s)),
        -50,
        50,
        (-37,),
        has_bounds=True,
        has_points=True,
    ),
}

# Witnesses that break each statement, forced through the prover.
FORCED = {
    "bit": {"two": (2,), "minus_one": (-1,)},
    "range": {
        "hi_plus_1": (1001,),
        "lo_minus_1": (-6,),
        "far_above": (1000 + 2**20,),
        "far_below": (-(2**40),),
    },
    "one-hot": {
        "two_ones": (0, 1, 1, 0),
        "no_one": (0, 0, 0, 0),
        "a_two": (0, 2, 0, 0),
        "non_bits_summing_to_1": (1, 1, -1, 0),
    },
    "bounded-sum": {
        "sum_hi_plus_1": (5, 4, 2),
        "sum_lo_minus_1": (1, 0, 0),
        "negative_element": (-1, 0, 0),
    },
    "noise-bound": {
        "t_plus_1": (51,),
        "minus_t_minus_1": (-51,),
        "far_above": (10**6,),
    },
}


def make(
    kind: Kind,
    values: tuple[int, ...] | None = None,
    *,
    ctx: ProofContext = CTX,
    index: int = INDEX,
    unchecked: bool = False,
) -> tuple[Statement, Any, list[int]]:
    """Commit to `values` with fresh blindings and prove; return all."""
    values = kind.values if values is None else values
    blindings = [random_scalar() for _ in values]
    commitments = tuple(
        commit(v, r) for v, r in zip(values, blindings, strict=True)
    )
    statement = Statement(index, commitments, kind.lo, kind.hi)
    proof = kind.prove(
        ctx, statement, list(values), blindings, _unchecked=unchecked
    )
    return statement, proof, blindings


def check(kind: Kind, ctx: ProofContext, statement: Statement, data: bytes):
    """Decode and verify, as a peer receiving `data` does."""
    kind.verify(ctx, statement, kind.decode(data, statement))


@pytest.fixture(scope="module")
def honest() -> dict[str, tuple[Statement, Any]]:
    proofs = {}
    for name, kind in KINDS.items():
        statement, proof, _ = make(kind)
        proofs[name] = (statement, proof)
    return proofs


def _responses(proof: Any) -> tuple[BitResponse, ...]:
    if isinstance(proof, BitProof):
        return (BitResponse(proof.c0, proof.z0, proof.z1),)
    return proof.responses


def _with_response(proof: Any, position: int, **changes: int) -> Any:
    """Return `proof` with one bit response's fields changed."""
    if isinstance(proof, BitProof):
        return replace(proof, **changes)
    responses = list(proof.responses)
    responses[position] = replace(responses[position], **changes)
    return replace(proof, responses=tuple(responses))


def _bump(scalar: int) -> int:
    return (scalar + 1) % Q


# Honest proofs.


@pytest.mark.parametrize("name", KINDS)
def test_proof_accepts_honest(name, honest):
    kind = KINDS[name]
    statement, proof = honest[name]
    data = proof.encode()

    assert kind.decode(data, statement) == proof
    check(kind, CTX, statement, data)


@pytest.mark.parametrize("name", KINDS)
def test_proof_accepts_zero_index_and_other_round(name):
    kind = KINDS[name]
    ctx = replace(CTX, round="reveal")
    statement, proof, _ = make(kind, ctx=ctx, index=0)

    check(kind, ctx, statement, proof.encode())


@pytest.mark.parametrize("name", KINDS)
def test_proof_is_deterministic_under_test_nonces(name):
    kind = KINDS[name]
    blindings = [11 + i for i in range(len(kind.values))]
    commitments = tuple(
        commit(v, r) for v, r in zip(kind.values, blindings, strict=True)
    )
    statement = Statement(INDEX, commitments, kind.lo, kind.hi)

    def run() -> Any:
        nonces = iter(range(1000, 2000))
        return kind.prove(
            CTX, statement, list(kind.values), blindings, nonces=nonces
        )

    first, second = run(), run()
    assert first == second
    check(kind, CTX, statement, first.encode())


# Tampered proofs.

TAMPERS = ["c", "c0", "z0", "z1", "c0_last", "z1_last"]


@pytest.mark.parametrize("field", TAMPERS)
@pytest.mark.parametrize("name", KINDS)
def test_proof_rejects_tampered_field(name, field, honest):
    kind = KINDS[name]
    statement, proof = honest[name]
    position = 0
    if field.endswith("_last"):
        field = field.removesuffix("_last")
        position = len(_responses(proof)) - 1
    if field == "c":
        tampered = replace(proof, c=_bump(proof.c))
    else:
        old = getattr(_responses(proof)[position], field)
        tampered = _with_response(proof, position, **{field: _bump(old)})

    with pytest.raises(ProofError):
        check(kind, CTX, statement, tampered.encode())


@pytest.mark.parametrize("name", ["range", "bounded-sum", "noise-bound"])
def test_proof_rejects_swapped_bit_commitment(name, honest):
    kind = KINDS[name]
    statement, proof = honest[name]
    points = list(proof.bit_commitments)
    points[0], points[1] = points[1], points[0]
    tampered = replace(proof, bit_commitments=tuple(points))

    with pytest.raises(ProofError):
        check(kind, CTX, statement, tampered.encode())


@pytest.mark.parametrize("name", ["range", "bounded-sum", "noise-bound"])
def test_proof_rejects_shifted_bit_commitments(name, honest):
    # C_0 + 2G and C_1 - G keep sum_t w_t*C_t (w_0 = 1, w_1 = 2), so
    # only the bit proofs can catch the change.
    kind = KINDS[name]
    statement, proof = honest[name]
    points = list(proof.bit_commitments)
    points[0] = points[0] + G * 2
    points[1] = points[1] - G
    tampered = replace(proof, bit_commitments=tuple(points))

    with pytest.raises(ProofError, match="challenge"):
        check(kind, CTX, statement, tampered.encode())


@pytest.mark.parametrize("name", ["range", "bounded-sum", "noise-bound"])
def test_proof_rejects_mauled_bit_commitments(name, honest):
    # Shift C_0 by d*G and C_1 by -(d/2)*G, which keeps sum_t w_t*C_t
    # (w_0 = 1, w_1 = 2), and shift the responses so that every first
    # message A stays the same. Only the transcript's binding of the bit
    # commitments rejects the result.
    kind = KINDS[name]
    statement, proof = honest[name]
    shift = 2 * 12345
    shifts = [shift, -shift * pow(2, -1, Q) % Q]
    points = list(proof.bit_commitments)
    responses = list(proof.responses)
    for t, delta in enumerate(shifts):
        points[t] = points[t] + G * delta
        c1 = (proof.c - responses[t].c0) % Q
        responses[t] = replace(
            responses[t],
            z0=(responses[t].z0 + responses[t].c0 * delta) % Q,
            z1=(responses[t].z1 + c1 * delta) % Q,
        )
    mauled = replace(
        proof, bit_commitments=tuple(points), responses=tuple(responses)
    )

    with pytest.raises(ProofError, match="challenge"):
        check(kind, CTX, statement, mauled.encode())


def test_range_rejects_bits_of_another_value():
    # Valid bit proofs for an in-range value, bound to the transcript of
    # an out-of-range commitment: only the weighted-sum check rejects.
    lo, hi, blinding = 0, 100, random_scalar()
    commitment = commit(500, blinding)
    transcript = proofs._start_transcript(
        proofs.RANGE_DOMAIN, CTX, 0, [(b"lo", lo), (b"hi", hi)], [commitment]
    )
    forged = proofs._prove_weighted_bits(
        transcript, lo, hi, 50, random_scalar(), random_scalar
    )

    with pytest.raises(ProofError, match="do not sum"):
        verify_range(CTX, 0, commitment, lo, hi, forged)


def test_one_hot_rejects_tampered_sum_blinding(honest):
    kind = KINDS["one-hot"]
    statement, proof = honest["one-hot"]
    tampered = replace(proof, sum_blinding=_bump(proof.sum_blinding))

    with pytest.raises(ProofError, match="does not open to 1"):
        check(kind, CTX, statement, tampered.encode())


# Changed statement or context.


def _other_commitment(statement: Statement, kind: Kind) -> Statement:
    """Replace commitment 0 by a commitment to the same value."""
    points = list(statement.commitments)
    points[0] = commit(kind.values[0], random_scalar())
    return replace(statement, commitments=tuple(points))


CONTEXT_CHANGES = {
    "job_id": lambda ctx: replace(ctx, job_id=bytes(16)),
    "party_id": lambda ctx: replace(ctx, party_id="bob"),
    "spec_digest": lambda ctx: replace(ctx, spec_digest=bytes(32)),
    "round": lambda ctx: replace(ctx, round="reveal"),
}

STATEMENT_CHANGES = {
    "commitment": _other_commitment,
    "index": lambda s, kind: replace(s, index=s.index + 1),
    "index_zero": lambda s, kind: replace(s, index=0),
    "lo_minus_1": lambda s, kind: replace(s, lo=s.lo - 1),
    "lo_plus_1": lambda s, kind: replace(s, lo=s.lo + 1),
    "hi_plus_1": lambda s, kind: replace(s, hi=s.hi + 1),
    "hi_minus_1": lambda s, kind: replace(s, hi=s.hi - 1),
}


@pytest.mark.parametrize("change", CONTEXT_CHANGES)
@pytest.mark.parametrize("name", KINDS)
def test_proof_rejects_other_context(name, change, honest):
    kind = KINDS[name]
    statement, proof = honest[name]
    ctx = CONTEXT_CHANGES[change](CTX)

    with pytest.raises(ProofError, match="challenge"):
        check(kind, ctx, statement, proof.encode())


def _applies(name: str, change: str) -> bool:
    """Return whether a statement change makes sense for a proof kind."""
    if change.startswith(("lo", "hi")) and not KINDS[name].has_bounds:
        return False  # Bit and one-hot proofs have fixed bounds.
    # A noise bound has the single bound T, which the table keeps in hi.
    return not (name == "noise-bound" and change.startswith("lo"))


STATEMENT_CASES = [
    (name, change)
    for name in KINDS
    for change in STATEMENT_CHANGES
    if _applies(name, change)
]


@pytest.mark.parametrize(
    "name,change",
    STATEMENT_CASES,
    ids=[f"{n}-{c}" for n, c in STATEMENT_CASES],
)
def test_proof_rejects_other_statement(name, change, honest):
    kind = KINDS[name]
    statement, proof = honest[name]
    other = STATEMENT_CHANGES[change](statement, kind)

    with pytest.raises(ProofError):
        check(kind, CTX, other, proof.encode())


@pytest.mark.parametrize("name", KINDS)
def test_proof_rejects_copy_from_other_party(name):
    # Bob copies Alice's commitments and proof to count her input twice.
    kind = KINDS[name]
    statement, proof, _ = make(kind)
    bob = replace(CTX, party_id="bob")

    check(kind, CTX, statement, proof.encode())
    with pytest.raises(ProofError):
        check(kind, bob, statement, proof.encode())


def test_bounded_sum_rejects_reordered_commitments(honest):
    kind = KINDS["bounded-sum"]
    statement, proof = honest["bounded-sum"]
    other = replace(statement, commitments=statement.commitments[::-1])

    with pytest.raises(ProofError, match="challenge"):
        check(kind, CTX, other, proof.encode())


def test_proof_domains_are_separated():
    # A noise-bound proof for [-T, T] differs from a range proof for the
    # same bounds only in its transcript: the domain and bound labels.
    bound, noise, blinding = 50, -37, random_scalar()
    commitment = commit(noise, blinding)
    proof = prove_noise_bound(CTX, INDEX, commitment, bound, noise, blinding)

    verify_noise_bound(CTX, INDEX, commitment, bound, proof)
    with pytest.raises(ProofError, match="challenge"):
        verify_range(CTX, INDEX, commitment, -bound, bound, proof)
    with pytest.raises(ProofError, match="challenge"):
        verify_bounded_sum(CTX, INDEX, [commitment], -bound, bound, proof)


def test_range_and_bounded_sum_domains_are_separated():
    # A bounded sum over one commitment binds the same bounds and
    # statement as a range proof, so only the domain label differs.
    lo, hi, value, blinding = 0, 9, 4, random_scalar()
    commitment = commit(value, blinding)
    proof = prove_range(CTX, INDEX, commitment, lo, hi, value, blinding)

    verify_range(CTX, INDEX, commitment, lo, hi, proof)
    with pytest.raises(ProofError, match="challenge"):
        verify_bounded_sum(CTX, INDEX, [commitment], lo, hi, proof)


# Malformed encodings.


def _find_x(on_curve: bool) -> int:
    """Return the smallest x >= 1 that is (or is not) an x-coordinate."""
    x = 1
    while True:
        rhs = (x**3 + 7) % FIELD_PRIME
        square = pow(rhs, (FIELD_PRIME - 1) // 2, FIELD_PRIME) == 1
        if square == on_curve:
            return x
        x += 1


def _bad_points(point: Point) -> dict[str, bytes]:
    encoded = point.encode()
    full = PublicKey(encoded).format(compressed=False)
    hybrid = bytes([6 + (full[-1] & 1)]) + full[1:]
    x_valid = _find_x(on_curve=True)
    return {
        "uncompressed_65_bytes": full,
        "hybrid_65_bytes": hybrid,
        "prefix_04": b"\x04" + encoded[1:],
        "prefix_06": b"\x06" + encoded[1:],
        "prefix_07": b"\x07" + encoded[1:],
        "prefix_00": b"\x00" + encoded[1:],
        "identity_zeros": bytes(33),
        "identity_one_byte": b"\x00",
        "x_equals_p": b"\x02" + FIELD_PRIME.to_bytes(32, "big"),
        "x_above_p": b"\x02" + (FIELD_PRIME + x_valid).to_bytes(32, "big"),
        "x_off_curve": b"\x02" + _find_x(on_curve=False).to_bytes(32, "big"),
    }


BAD_POINT_CASES = list(_bad_points(G))


@pytest.mark.parametrize("case", BAD_POINT_CASES)
@pytest.mark.parametrize("name", ["range", "bounded-sum", "noise-bound"])
def test_proof_rejects_bad_point_encoding(name, case, honest):
    # Bit and one-hot proofs hold only scalars; their commitments travel
    # in the commit bundle, whose tests cover the same cases.
    kind = KINDS[name]
    statement, proof = honest[name]
    data = proof.encode()
    bad = _bad_points(proof.bit_commitments[0])[case]
    tampered = data[:4] + bad + data[4 + 33 :]

    with pytest.raises(ProofError, match="invalid encoding"):
        check(kind, CTX, statement, tampered)


def _scalar_offsets(proof: Any) -> dict[str, int]:
    """Return the byte offsets of the first and the last scalar."""
    data = proof.encode()
    if isinstance(proof, BitProof):
        first = 0
    elif isinstance(proof, RangeProof):
        first = 4 + 33 * len(proof.bit_commitments)
    else:
        first = 4
    return {"challenge": first, "last": len(data) - 32}


BAD_SCALARS = {
    "q": Q.to_bytes(32, "big"),
    "q_plus_1": (Q + 1).to_bytes(32, "big"),
    "all_ones": b"\xff" * 32,
}


@pytest.mark.parametrize("where", ["challenge", "last"])
@pytest.mark.parametrize("value", BAD_SCALARS)
@pytest.mark.parametrize("name", KINDS)
def test_proof_rejects_scalar_not_below_q(name, value, where, honest):
    kind = KINDS[name]
    statement, proof = honest[name]
    data = proof.encode()
    offset = _scalar_offsets(proof)[where]
    tampered = data[:offset] + BAD_SCALARS[value] + data[offset + 32 :]

    with pytest.raises(ProofError, match="invalid encoding"):
        check(kind, CTX, statement, tampered)


LENGTH_CHANGES = {
    "empty": lambda data: b"",
    "truncated_1": lambda data: data[:-1],
    "truncated_half": lambda data: data[: len(data) // 2],
    "trailing_1": lambda data: data + b"\x00",
    "trailing_scalar": lambda data: data + bytes(31) + b"\x01",
}


@pytest.mark.parametrize("change", LENGTH_CHANGES)
@pytest.mark.parametrize("name", KINDS)
def test_proof_rejects_bad_length(name, change, honest):
    kind = KINDS[name]
    statement, proof = honest[name]
    tampered = LENGTH_CHANGES[change](proof.encode())

    with pytest.raises(ProofError, match="invalid encoding"):
        check(kind, CTX, statement, tampered)


COUNT_CHANGES = {
    "zero": lambda count: 0,
    "minus_1": lambda count: count - 1,
    "plus_1": lambda count: count + 1,
    "max_u32": lambda count: 2**32 - 1,
}


@pytest.mark.parametrize("change", COUNT_CHANGES)
@pytest.mark.parametrize(
    "name", ["range", "one-hot", "bounded-sum", "noise-bound"]
)
def test_proof_rejects_wrong_count(name, change, honest):
    kind = KINDS[name]
    statement, proof = honest[name]
    data = proof.encode()
    count = int.from_bytes(data[:4], "big")
    tampered = COUNT_CHANGES[change](count).to_bytes(4, "big") + data[4:]

    with pytest.raises(ProofError, match="invalid encoding"):
        check(kind, CTX, statement, tampered)


def test_range_decode_without_expected_count_checks_length(honest):
    _, proof = honest["range"]
    data = proof.encode()

    assert RangeProof.decode(data) == proof
    with pytest.raises(ProofError, match="truncated"):
        RangeProof.decode(data[:-1])
    with pytest.raises(ProofError, match="bit count"):
        RangeProof.decode((MAX_RANGE_BITS + 1).to_bytes(4, "big") + data[4:])


# Witnesses that do not satisfy the statement.

FORCED_CASES = [
    (name, case) for name, cases in FORCED.items() for case in cases
]


@pytest.mark.parametrize(
    "name,case", FORCED_CASES, ids=[f"{n}-{c}" for n, c in FORCED_CASES]
)
def test_proof_rejects_forced_witness(name, case):
    kind = KINDS[name]
    values = FORCED[name][case]
    statement, proof, _ = make(kind, values, unchecked=True)

    with pytest.raises(ProofError):
        check(kind, CTX, statement, proof.encode())


@pytest.mark.parametrize(
    "name,case", FORCED_CASES, ids=[f"{n}-{c}" for n, c in FORCED_CASES]
)
def test_prover_rejects_bad_witness(name, case):
    kind = KINDS[name]
    with pytest.raises(ValueError):
        make(kind, FORCED[name][case])


@pytest.mark.parametrize("name", KINDS)
def test_prover_rejects_unopened_commitment(name):
    kind = KINDS[name]
    values = list(kind.values)
    blindings = [random_scalar() for _ in values]
    commitments = tuple(commit(v, random_scalar()) for v in values)
    statement = Statement(INDEX, commitments, kind.lo, kind.hi)

    with pytest.raises(ValueError, match="does not open"):
        kind.prove(CTX, statement, values, blindings)


def test_range_rejects_empty_or_inverted_bounds():
    blinding = random_scalar()
    commitment = commit(5, blinding)
    with pytest.raises(ValueError, match="hi > lo"):
        prove_range(CTX, 0, commitment, 5, 5, 5, blinding)
    with pytest.raises(ValueError, match="hi > lo"):
        prove_range(CTX, 0, commitment, 6, 5, 5, blinding)
    with pytest.raises(ValueError, match="hi > lo"):
        prove_bounded_sum(CTX, 0, [commitment], 5, 5, [5], [blinding])
    with pytest.raises(ValueError, match="noise bound"):
        prove_noise_bound(CTX, 0, commitment, 0, 0, blinding)


def test_range_rejects_too_wide_bounds():
    with pytest.raises(ValueError, match="bits"):
        range_weights(0, 2**MAX_RANGE_BITS)
    assert len(range_weights(0, 2**MAX_RANGE_BITS - 1)) == MAX_RANGE_BITS


# Range decomposition.


@pytest.mark.parametrize("span", range(1, 70))
def test_range_weights_subset_sums_are_exact(span):
    weights = range_weights(0, span)
    sums = {0}
    for weight in weights:
        sums |= {s + weight for s in sums}

    assert len(weights) == span.bit_length()
    assert sums == set(range(span + 1))


@pytest.mark.parametrize(
    "lo,hi", [(0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (-3, 4), (10, 18)]
)
def test_range_accepts_exactly_its_values(lo, hi):
    for value in range(lo - 2, hi + 3):
        blinding = random_scalar()
        commitment = commit(value, blinding)
        proof = prove_range(
            CTX, 0, commitment, lo, hi, value, blinding, _unchecked=True
        )
        inside = lo <= value <= hi
        try:
            verify_range(CTX, 0, commitment, lo, hi, proof)
            accepted = True
        except ProofError:
            accepted = False
        assert accepted == inside, f"value {value} in [{lo}, {hi}]"


@pytest.mark.parametrize("bits", [1, 15, 16, 40])
def test_range_accepts_both_ends_of_wide_range(bits):
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) + 7
    for value in (lo, hi):
        blinding = random_scalar()
        commitment = commit(value, blinding)
        proof = prove_range(CTX, 1, commitment, lo, hi, value, blinding)
        verify_range(CTX, 1, commitment, lo, hi, proof)


def test_range_proof_size():
    blinding = random_scalar()
    commitment = commit(1234, blinding)
    proof = prove_range(CTX, 0, commitment, 0, 2**16 - 1, 1234, blinding)

    assert len(proof.encode()) == 4 + 16 * 33 + 32 + 16 * 96


# Degenerate values.


def test_range_rejects_identity_bit_commitment(honest):
    statement, proof = honest["range"]
    points = (IDENTITY,) + proof.bit_commitments[1:]
    tampered = replace(proof, bit_commitments=points)

    with pytest.raises(ProofError, match="identity"):
        KINDS["range"].verify(CTX, statement, tampered)


@pytest.mark.parametrize("name", KINDS)
def test_proof_rejects_zero_challenge(name, honest):
    kind = KINDS[name]
    statement, proof = honest[name]
    tampered = replace(proof, c=0)

    with pytest.raises(ProofError, match="zero challenge"):
        kind.verify(CTX, statement, tampered)


@pytest.mark.parametrize("name", KINDS)
def test_proof_rejects_unreduced_scalar_object(name, honest):
    kind = KINDS[name]
    statement, proof = honest[name]
    tampered = _with_response(proof, 0, z0=Q + 1)

    with pytest.raises(ProofError, match=r"\[0, q\)"):
        kind.verify(CTX, statement, tampered)


def test_bit_rejects_identity_first_message():
    # A prover with the blinding r of C = r*G can pick z0 = c0*r, which
    # makes A0 = z0*G - c0*C the identity, a point with no encoding.
    blinding = random_scalar()
    commitment = commit(0, blinding)
    proof = BitProof(c=1, c0=5, z0=5 * blinding % Q, z1=7)

    with pytest.raises(ProofError, match="identity"):
        verify_bit(CTX, 0, commitment, proof)


def test_prover_rejects_identity_commitment():
    with pytest.raises(ValueError, match="identity"):
        prove_bit(CTX, 0, IDENTITY, 0, 0)


# Errors and context.


def test_proof_error_names_kind_and_index_only():
    value, blinding = 1001, random_scalar()
    commitment = commit(value, blinding)
    proof = prove_range(
        CTX, 7, commitment, 0, 1000, value, blinding, _unchecked=True
    )

    with pytest.raises(ProofError) as info:
        verify_range(CTX, 7, commitment, 0, 1000, proof)
    message = str(info.value)
    assert info.value.kind == "range"
    assert info.value.index == 7
    assert message.startswith("range proof 7 rejected: ")
    assert str(blinding) not in message
    assert f"{blinding:x}" not in message
    assert "1001" not in message


def test_proof_error_survives_pickling():
    error = ProofError("one-hot", 2, "challenge does not match")
    copy = pickle.loads(pickle.dumps(error))

    assert (copy.kind, copy.index, copy.reason) == ("one-hot", 2, error.reason)
    assert str(copy) == str(error)


@pytest.mark.parametrize(
    "field,value",
    [
        ("job_id", bytes(15)),
        ("job_id", "0" * 16),
        ("spec_digest", bytes(31)),
        ("party_id", ""),
        ("round", ""),
    ],
)
def test_proof_context_rejects_bad_field(field, value):
    with pytest.raises((ValueError, TypeError)):
        replace(CTX, **{field: value})


def test_verify_rejects_negative_index(honest):
    statement, proof = honest["bit"]
    with pytest.raises(ValueError, match="index"):
        verify_bit(CTX, -1, statement.commitments[0], proof)
