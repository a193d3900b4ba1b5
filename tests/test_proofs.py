"""Tests of the Sigma proofs in mpc.proofs.

Every proof kind (bit, range, one-hot, bounded sum, noise bound) runs
through one table of cases: honest proofs verify, and a tampered field, a
changed statement or context, a malformed encoding or a witness forced
through the prover is rejected. Each rejection goes through the encoded
form, as a verifier receives it. Batch verification gets its own
section: a batch must name the first failing proof in the order added,
and its random weights must catch errors that cancel under fixed ones.
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
from mpc.group import (
    FIELD_PRIME,
    IDENTITY,
    G,
    Point,
    Q,
    multi_mul,
    random_scalar,
    sum_points,
)
from mpc.proofs import (
    BIT_PROOF_BYTES,
    MAX_RANGE_BITS,
    WEIGHT_BYTES,
    Batch,
    BitProof,
    OneHotProof,
    ProofContext,
    ProofError,
    RangeProof,
    one_hot_proof_size,
    prove_bit,
    prove_bounded_sum,
    prove_noise_bound,
    prove_one_hot,
    prove_range,
    range_proof_size,
    range_weights,
    verify_bit,
    verify_bounded_sum,
    verify_noise_bound,
    verify_one_hot,
    verify_range,
)
from mpc.transcript import Transcript

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
    """One proof kind, adapted to a common calling convention.

    `verify` passes keyword arguments such as `batch=` through.
    """

    name: str
    prove: Callable[..., Any]
    verify: Callable[..., None]
    decode: Callable[[bytes, Statement], Any]
    lo: int
    hi: int
    values: tuple[int, ...]
    has_bounds: bool
    has_bit_commitments: bool


def _bits(statement: Statement) -> int:
    return len(range_weights(statement.lo, statement.hi))


KINDS = {
    "bit": Kind(
        "bit",
        lambda ctx, s, xs, rs, **kw: prove_bit(
            ctx, s.index, s.commitments[0], xs[0], rs[0], **kw
        ),
        lambda ctx, s, p, **kw: verify_bit(
            ctx, s.index, s.commitments[0], p, **kw
        ),
        lambda data, s: BitProof.decode(data),
        0,
        1,
        (1,),
        has_bounds=False,
        has_bit_commitments=False,
    ),
    "range": Kind(
        "range",
        lambda ctx, s, xs, rs, **kw: prove_range(
            ctx, s.index, s.commitments[0], s.lo, s.hi, xs[0], rs[0], **kw
        ),
        lambda ctx, s, p, **kw: verify_range(
            ctx, s.index, s.commitments[0], s.lo, s.hi, p, **kw
        ),
        lambda data, s: RangeProof.decode(data, _bits(s)),
        -5,
        1000,
        (17,),
        has_bounds=True,
        has_bit_commitments=True,
    ),
    "one-hot": Kind(
        "one-hot",
        lambda ctx, s, xs, rs, **kw: prove_one_hot(
            ctx, s.index, s.commitments, xs, rs, **kw
        ),
        lambda ctx, s, p, **kw: verify_one_hot(
            ctx, s.index, s.commitments, p, **kw
        ),
        lambda data, s: OneHotProof.decode(data, len(s.commitments)),
        0,
        1,
        (0, 0, 1, 0),
        has_bounds=False,
        has_bit_commitments=False,
    ),
    "bounded-sum": Kind(
        "bounded-sum",
        lambda ctx, s, xs, rs, **kw: prove_bounded_sum(
            ctx, s.index, s.commitments, s.lo, s.hi, xs, rs, **kw
        ),
        lambda ctx, s, p, **kw: verify_bounded_sum(
            ctx, s.index, s.commitments, s.lo, s.hi, p, **kw
        ),
        lambda data, s: RangeProof.decode(data, _bits(s)),
        2,
        10,
        (3, 0, 4),
        has_bounds=True,
        has_bit_commitments=True,
    ),
    "noise-bound": Kind(
        "noise-bound",
        lambda ctx, s, xs, rs, **kw: prove_noise_bound(
            ctx, s.index, s.commitments[0], s.hi, xs[0], rs[0], **kw
        ),
        lambda ctx, s, p, **kw: verify_noise_bound(
            ctx, s.index, s.commitments[0], s.hi, p, **kw
        ),
        lambda data, s: RangeProof.decode(data, _bits(s)),
        -50,
        50,
        (-37,),
        has_bounds=True,
        has_bit_commitments=True,
    ),
}
RANGE_LIKE = [name for name, kind in KINDS.items() if kind.has_bit_commitments]

# Witnesses that break each statement, forced through the prover, with
# the reason the verifier must give. A forced range witness gets a top
# digit that is not a bit (see _range_digits), so its last bit fails.
FORCED = {
    "bit": {
        "two": ((2,), "bit 0 fails its verification equation"),
        "minus_one": ((-1,), "bit 0 fails its verification equation"),
    },
    "range": {
        "hi_plus_1": ((1001,), "bit 9 fails its verification equation"),
        "lo_minus_1": ((-6,), "bit 9 fails its verification equation"),
        "far_above": (
            (1000 + 2**20,),
            "bit 9 fails its verification equation",
        ),
        "far_below": ((-(2**40),), "bit 9 fails its verification equation"),
    },
    "one-hot": {
        "two_ones": ((0, 1, 1, 0), "sum of commitments does not open to 1"),
        "no_one": ((0, 0, 0, 0), "sum of commitments does not open to 1"),
        "a_two": ((0, 2, 0, 0), "sum of commitments does not open to 1"),
        "non_bits_summing_to_1": (
            (1, 1, -1, 0),
            "bit 2 fails its verification equation",
        ),
    },
    "bounded-sum": {
        "sum_hi_plus_1": ((5, 4, 2), "bit 3 fails its verification equation"),
        "sum_lo_minus_1": (
            (1, 0, 0),
            "bit 3 fails its verification equation",
        ),
        "negative_element": (
            (-1, 0, 0),
            "bit 3 fails its verification equation",
        ),
    },
    "noise-bound": {
        "t_plus_1": ((51,), "bit 6 fails its verification equation"),
        "minus_t_minus_1": ((-51,), "bit 6 fails its verification equation"),
        "far_above": ((10**6,), "bit 6 fails its verification equation"),
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


def _bit_proofs(proof: Any) -> tuple[BitProof, ...]:
    if isinstance(proof, BitProof):
        return (proof,)
    return proof.bits


def _with_bit(proof: Any, position: int, **changes: Any) -> Any:
    """Return `proof` with fields of its bit proof `position` changed."""
    if isinstance(proof, BitProof):
        assert position == 0
        return replace(proof, **changes)
    bits = list(proof.bits)
    bits[position] = replace(bits[position], **changes)
    return replace(proof, bits=tuple(bits))


def _bump(scalar: int) -> int:
    return (scalar + 1) % Q


def _bounds(name: str, statement: Statement) -> tuple[int, int]:
    """Return [lo, hi] of a range-like statement, or [-T, T]."""
    if name == "noise-bound":
        return -statement.hi, statement.hi
    return statement.lo, statement.hi


def _challenge(name: str, statement: Statement, proof: RangeProof) -> int:
    """Return the challenge that the verifier derives for `proof`."""
    bounds = [(b"lo", statement.lo), (b"hi", statement.hi)]
    if name == "range":
        domain = proofs.RANGE_DOMAIN
    elif name == "bounded-sum":
        domain = proofs.BOUNDED_SUM_DOMAIN
    else:
        assert name == "noise-bound"
        domain, bounds = proofs.NOISE_BOUND_DOMAIN, [(b"T", statement.hi)]
    transcript = proofs._start_transcript(
        domain, CTX, statement.index, bounds, statement.commitments
    )
    proofs._append_bit_commitments(
        transcript, [point.encode() for point in proof.bit_commitments]
    )
    return proofs._bits_challenge(
        name, statement.index, transcript, proof.bits
    )


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


@pytest.mark.parametrize("name", KINDS)
def test_proof_first_messages_differ_per_bit(name, honest):
    # Every bit draws its own nonces, so no first message repeats.
    _, proof = honest[name]
    points = [p for bit in _bit_proofs(proof) for p in (bit.a0, bit.a1)]

    assert len(set(points)) == len(points)


# Tampered proofs. A changed response or c0 leaves the challenge as it
# was, so exactly that bit fails. A changed first message or bit
# commitment changes the challenge, so bit 0 fails already.

TAMPERS = {
    "a0": lambda bit: {"a0": bit.a0 + G},
    "a1": lambda bit: {"a1": bit.a1 + G},
    "c0": lambda bit: {"c0": _bump(bit.c0)},
    "z0": lambda bit: {"z0": _bump(bit.z0)},
    "z1": lambda bit: {"z1": _bump(bit.z1)},
}


@pytest.mark.parametrize("where", ["first", "last"])
@pytest.mark.parametrize("field", TAMPERS)
@pytest.mark.parametrize("name", KINDS)
def test_proof_rejects_tampered_field(name, field, where, honest):
    kind = KINDS[name]
    statement, proof = honest[name]
    position = 0 if where == "first" else len(_bit_proofs(proof)) - 1
    changes = TAMPERS[field](_bit_proofs(proof)[position])
    tampered = _with_bit(proof, position, **changes)
    failing = 0 if field in ("a0", "a1") else position

    with pytest.raises(ProofError) as info:
        check(kind, CTX, statement, tampered.encode())
    assert (info.value.kind, info.value.index) == (name, INDEX)
    expected = f"bit {failing} fails its verification equation"
    assert info.value.reason == expected


@pytest.mark.parametrize("name", KINDS)
def test_proof_rejects_first_messages_swapped(name, honest):
    kind = KINDS[name]
    statement, proof = honest[name]
    bit = _bit_proofs(proof)[0]
    tampered = _with_bit(proof, 0, a0=bit.a1, a1=bit.a0)

    with pytest.raises(ProofError, match="bit 0 fails"):
        check(kind, CTX, statement, tampered.encode())


@pytest.mark.parametrize("name", ["range", "one-hot", "bounded-sum"])
def test_proof_rejects_bit_proofs_swapped(name, honest):
    # The first messages stay in the transcript, in another order.
    kind = KINDS[name]
    statement, proof = honest[name]
    bits = list(proof.bits)
    bits[0], bits[1] = bits[1], bits[0]
    tampered = replace(proof, bits=tuple(bits))

    with pytest.raises(ProofError, match="bit 0 fails"):
        check(kind, CTX, statement, tampered.encode())


@pytest.mark.parametrize("name", RANGE_LIKE)
def test_proof_rejects_swapped_bit_commitment(name, honest):
    kind = KINDS[name]
    statement, proof = honest[name]
    points = list(proof.bit_commitments)
    points[0], points[1] = points[1], points[0]
    tampered = replace(proof, bit_commitments=tuple(points))

    with pytest.raises(ProofError, match="do not sum to the commitment"):
        check(kind, CTX, statement, tampered.encode())


@pytest.mark.parametrize("name", RANGE_LIKE)
def test_proof_rejects_other_bit_commitment(name, honest):
    kind = KINDS[name]
    statement, proof = honest[name]
    points = list(proof.bit_commitments)
    points[-1] = commit(0, random_scalar())
    tampered = replace(proof, bit_commitments=tuple(points))

    with pytest.raises(ProofError, match="do not sum to the commitment"):
        check(kind, CTX, statement, tampered.encode())


@pytest.mark.parametrize("name", RANGE_LIKE)
def test_proof_rejects_shifted_bit_commitments(name, honest):
    # C_0 + 2G and C_1 - G keep sum_t w_t*C_t (w_0 = 1, w_1 = 2), so
    # only the bit proofs can catch the change.
    kind = KINDS[name]
    statement, proof = honest[name]
    points = list(proof.bit_commitments)
    points[0] = points[0] + G * 2
    points[1] = points[1] - G
    tampered = replace(proof, bit_commitments=tuple(points))

    with pytest.raises(ProofError, match="bit 0 fails"):
        check(kind, CTX, statement, tampered.encode())


@pytest.mark.parametrize("name", RANGE_LIKE)
def test_proof_rejects_mauled_bit_commitments(name, honest):
    # Shift C_0 by d*G and C_1 by -(d/2)*G, which keeps sum_t w_t*C_t
    # (w_0 = 1, w_1 = 2), and shift the responses so that every
    # verification equation is satisfied under the old challenge. Only the
    # transcript's binding of the bit commitments rejects the result.
    kind = KINDS[name]
    statement, proof = honest[name]
    c = _challenge(name, statement, proof)
    shift = 2 * 12345
    shifts = [shift, -shift * pow(2, -1, Q) % Q]
    points = list(proof.bit_commitments)
    mauled = proof
    for t, delta in enumerate(shifts):
        bit = proof.bits[t]
        points[t] = points[t] + G * delta
        mauled = _with_bit(
            mauled,
            t,
            z0=(bit.z0 + bit.c0 * delta) % Q,
            z1=(bit.z1 + (c - bit.c0) * delta) % Q,
        )
    mauled = replace(mauled, bit_commitments=tuple(points))
    lo, hi = _bounds(name, statement)

    # Precondition: the equations alone, under the old challenge, pass.
    proofs._diagnose_weighted_bits(
        name,
        statement.index,
        sum_points(statement.commitments),
        lo,
        range_weights(lo, hi),
        c,
        mauled,
    )
    with pytest.raises(ProofError, match="bit 0 fails"):
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
        transcript, lo, hi, 50, random_scalar()
    )

    with pytest.raises(ProofError, match="do not sum"):
        verify_range(CTX, 0, commitment, lo, hi, forged)


def test_one_hot_rejects_tampered_sum_blinding(honest):
    kind = KINDS["one-hot"]
    statement, proof = honest["one-hot"]
    tampered = replace(proof, sum_blinding=_bump(proof.sum_blinding))

    with pytest.raises(ProofError, match="does not open to 1"):
        check(kind, CTX, statement, tampered.encode())


def test_one_hot_rejects_bit_proof_of_single_element():
    # A bit proof for C = Com(1; r) with R = r would satisfy every
    # equation of a one-element one-hot proof but for the domain label
    # and the binding of R in the transcript.
    blinding = random_scalar()
    commitment = commit(1, blinding)
    bit = prove_bit(CTX, INDEX, commitment, 1, blinding)
    moved = OneHotProof((bit,), blinding)

    with pytest.raises(ProofError, match="bit 0 fails"):
        verify_one_hot(CTX, INDEX, [commitment], moved)


def test_bit_rejects_element_of_one_hot_proof():
    blinding = random_scalar()
    commitment = commit(1, blinding)
    proof = prove_one_hot(CTX, INDEX, [commitment], [1], [blinding])

    verify_one_hot(CTX, INDEX, [commitment], proof)
    with pytest.raises(ProofError, match="bit 0 fails"):
        verify_bit(CTX, INDEX, commitment, proof.bits[0])


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
    # Another challenge leaves c0 and so the A0 equation of bit 0 as
    # they were, but changes c1 = c - c0, so its A1 equation fails.
    kind = KINDS[name]
    statement, proof = honest[name]
    ctx = CONTEXT_CHANGES[change](CTX)

    with pytest.raises(ProofError, match="bit 0 fails"):
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


@pytest.mark.parametrize("name", ["one-hot", "bounded-sum"])
def test_proof_rejects_reordered_commitments(name, honest):
    kind = KINDS[name]
    statement, proof = honest[name]
    other = replace(statement, commitments=statement.commitments[::-1])

    with pytest.raises(ProofError, match="bit 0 fails"):
        check(kind, CTX, other, proof.encode())


def test_proof_domains_are_separated():
    # A noise-bound proof for [-T, T] differs from a range proof for the
    # same bounds only in its transcript: the domain and bound labels.
    bound, noise, blinding = 50, -37, random_scalar()
    commitment = commit(noise, blinding)
    proof = prove_noise_bound(CTX, INDEX, commitment, bound, noise, blinding)

    verify_noise_bound(CTX, INDEX, commitment, bound, proof)
    with pytest.raises(ProofError, match="bit 0 fails"):
        verify_range(CTX, INDEX, commitment, -bound, bound, proof)
    with pytest.raises(ProofError, match="bit 0 fails"):
        verify_bounded_sum(CTX, INDEX, [commitment], -bound, bound, proof)


def test_range_and_bounded_sum_domains_are_separated():
    # A bounded sum over one commitment binds the same bounds and
    # statement as a range proof, so only the domain label differs.
    lo, hi, value, blinding = 0, 9, 4, random_scalar()
    commitment = commit(value, blinding)
    proof = prove_range(CTX, INDEX, commitment, lo, hi, value, blinding)

    verify_range(CTX, INDEX, commitment, lo, hi, proof)
    with pytest.raises(ProofError, match="bit 0 fails"):
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


def _fields(proof: Any) -> dict[str, tuple[int, Point | int]]:
    """Return named fields of `proof` with their offsets in its encoding.

    "first" is bit proof 0 and "last" the last bit proof. C_first and
    C_last are bit commitments.
    """
    if isinstance(proof, BitProof):
        start, bits = 0, [proof]
    elif isinstance(proof, RangeProof):
        start, bits = 4 + 33 * len(proof.bits), list(proof.bits)
    else:
        start, bits = 4, list(proof.bits)
    last = start + BIT_PROOF_BYTES * (len(bits) - 1)
    fields: dict[str, tuple[int, Point | int]] = {
        "a0_first": (start, bits[0].a0),
        "a1_first": (start + 33, bits[0].a1),
        "c0_first": (start + 66, bits[0].c0),
        "z0_first": (start + 98, bits[0].z0),
        "a1_last": (last + 33, bits[-1].a1),
        "z1_last": (last + 130, bits[-1].z1),
    }
    if isinstance(proof, RangeProof):
        k = len(proof.bit_commitments)
        fields["C_first"] = (4, proof.bit_commitments[0])
        fields["C_last"] = (4 + 33 * (k - 1), proof.bit_commitments[-1])
    if isinstance(proof, OneHotProof):
        fields["sum_blinding"] = (last + BIT_PROOF_BYTES, proof.sum_blinding)
    return fields


def _field_cases(point_fields: bool) -> list[tuple[str, str]]:
    """Return (kind, field) pairs of _fields, for points or scalars."""
    cases = []
    for name, kind in KINDS.items():
        if point_fields:
            fields = ["a0_first", "a1_first", "a1_last"]
            if kind.has_bit_commitments:
                fields += ["C_first", "C_last"]
        else:
            fields = ["c0_first", "z0_first", "z1_last"]
            if name == "one-hot":
                fields.append("sum_blinding")
        cases += [(name, field) for field in fields]
    return cases


POINT_FIELD_CASES = _field_cases(point_fields=True)
SCALAR_FIELD_CASES = _field_cases(point_fields=False)


@pytest.mark.parametrize("name", KINDS)
def test_proof_field_offsets_match_encoding(name, honest):
    # Guards the offsets that the encoding tests below overwrite.
    _, proof = honest[name]
    data = proof.encode()
    fields = _fields(proof)
    names = [f for n, f in POINT_FIELD_CASES + SCALAR_FIELD_CASES if n == name]

    assert sorted(fields) == sorted(names)
    for field, (offset, value) in fields.items():
        if isinstance(value, Point):
            assert data[offset : offset + 33] == value.encode(), field
        else:
            assert int.from_bytes(data[offset : offset + 32], "big") == value


@pytest.mark.parametrize("case", BAD_POINT_CASES)
@pytest.mark.parametrize(
    "name,field",
    POINT_FIELD_CASES,
    ids=[f"{n}-{f}" for n, f in POINT_FIELD_CASES],
)
def test_proof_rejects_bad_point_encoding(name, field, case, honest):
    kind = KINDS[name]
    statement, proof = honest[name]
    data = proof.encode()
    offset, point = _fields(proof)[field]
    bad = _bad_points(point)[case]
    tampered = data[:offset] + bad + data[offset + 33 :]

    with pytest.raises(ProofError, match="invalid encoding"):
        check(kind, CTX, statement, tampered)


BAD_SCALARS = {
    "q": Q.to_bytes(32, "big"),
    "q_plus_1": (Q + 1).to_bytes(32, "big"),
    "all_ones": b"\xff" * 32,
}


@pytest.mark.parametrize("value", BAD_SCALARS)
@pytest.mark.parametrize(
    "name,field",
    SCALAR_FIELD_CASES,
    ids=[f"{n}-{f}" for n, f in SCALAR_FIELD_CASES],
)
def test_proof_rejects_scalar_not_below_q(name, field, value, honest):
    kind = KINDS[name]
    statement, proof = honest[name]
    data = proof.encode()
    offset, _ = _fields(proof)[field]
    tampered = data[:offset] + BAD_SCALARS[value] + data[offset + 32 :]

    with pytest.raises(ProofError, match="invalid encoding"):
        check(kind, CTX, statement, tampered)


LENGTH_CHANGES = {
    "empty": lambda data: b"",
    "truncated_1": lambda data: data[:-1],
    "truncated_point": lambda data: data[:-33],
    "truncated_half": lambda data: data[: len(data) // 2],
    "trailing_1": lambda data: data + b"\x00",
    "trailing_scalar": lambda data: data + bytes(31) + b"\x01",
    "trailing_bit_proof": lambda data: data + data[-BIT_PROOF_BYTES:],
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
    k = len(proof.bits)

    assert RangeProof.decode(data) == proof
    with pytest.raises(ProofError, match="truncated"):
        RangeProof.decode(data[:-1])
    with pytest.raises(ProofError, match="truncated"):
        RangeProof.decode(data[:-BIT_PROOF_BYTES])
    with pytest.raises(ProofError, match="bit count"):
        RangeProof.decode((MAX_RANGE_BITS + 1).to_bytes(4, "big") + data[4:])
    # A count of k - 1 shifts every field after the bit commitments.
    shorter = (k - 1).to_bytes(4, "big") + data[4:]
    with pytest.raises(ProofError, match="invalid encoding"):
        RangeProof.decode(shorter)


def test_one_hot_decode_without_expected_count_checks_length(honest):
    _, proof = honest["one-hot"]
    data = proof.encode()

    assert OneHotProof.decode(data) == proof
    with pytest.raises(ProofError, match="at least one"):
        OneHotProof.decode(bytes(4) + data[4:])
    with pytest.raises(ProofError, match="truncated"):
        OneHotProof.decode((2**32 - 1).to_bytes(4, "big") + data[4:])


@pytest.mark.parametrize("name", ["range", "one-hot", "bounded-sum"])
def test_proof_rejects_wrong_count_object(name, honest):
    kind = KINDS[name]
    statement, proof = honest[name]
    fewer_bits = replace(proof, bits=proof.bits[:-1])
    cases = [fewer_bits, replace(proof, bits=proof.bits + proof.bits[:1])]
    if isinstance(proof, RangeProof):
        k = len(proof.bit_commitments)
        cases.append(replace(proof, bit_commitments=proof.bit_commitments[1:]))
        cases.append(
            replace(fewer_bits, bit_commitments=proof.bit_commitments[:-1])
        )
        expected = f"expected {k} bits"
    else:
        expected = f"expected {len(statement.commitments)} elements"

    for tampered in cases:
        with pytest.raises(ProofError, match=expected):
            kind.verify(CTX, statement, tampered)


# Witnesses that do not satisfy the statement.

FORCED_CASES = [
    (name, case) for name, cases in FORCED.items() for case in cases
]


@pytest.mark.parametrize(
    "name,case", FORCED_CASES, ids=[f"{n}-{c}" for n, c in FORCED_CASES]
)
def test_proof_rejects_forced_witness(name, case):
    kind = KINDS[name]
    values, reason = FORCED[name][case]
    statement, proof, _ = make(kind, values, unchecked=True)

    with pytest.raises(ProofError) as info:
        check(kind, CTX, statement, proof.encode())
    assert info.value.reason == reason


@pytest.mark.parametrize(
    "name,case", FORCED_CASES, ids=[f"{n}-{c}" for n, c in FORCED_CASES]
)
def test_prover_rejects_bad_witness(name, case):
    kind = KINDS[name]
    values, _ = FORCED[name][case]
    with pytest.raises(ValueError):
        make(kind, values)


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


@pytest.mark.parametrize("lo, hi", [(0, 5.0), (0.0, 5), ("0", 5), (0, None)])
def test_cached_range_weights_reject_non_ints(lo, hi):
    # range_weights is cached, and 5.0 == 5: a cached (0, 5) must not
    # let a float bound through.
    assert range_weights(0, 5) == (1, 2, 2)
    with pytest.raises(TypeError):
        range_weights(lo, hi)


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


# Sizes.


def test_proof_size_constants():
    assert BIT_PROOF_BYTES == 2 * 33 + 3 * 32 == 162
    assert range_proof_size(1) == 4 + 195
    assert range_proof_size(16) == 4 + 195 * 16 == 3124
    assert one_hot_proof_size(1) == 4 + 162 + 32
    assert one_hot_proof_size(10) == 4 + 162 * 10 + 32


def test_range_proof_size():
    blinding = random_scalar()
    commitment = commit(1234, blinding)
    proof = prove_range(CTX, 0, commitment, 0, 2**16 - 1, 1234, blinding)

    assert len(proof.encode()) == 4 + 16 * 33 + 16 * 162
    assert len(proof.encode()) == range_proof_size(16)


@pytest.mark.parametrize("name", KINDS)
def test_proof_encoded_size_matches_formula(name, honest):
    _, proof = honest[name]
    size = len(proof.encode())
    if isinstance(proof, BitProof):
        assert size == BIT_PROOF_BYTES
    elif isinstance(proof, RangeProof):
        assert size == range_proof_size(len(proof.bits))
    else:
        assert size == one_hot_proof_size(len(proof.bits))


# Degenerate values.


def test_range_rejects_identity_bit_commitment(honest):
    statement, proof = honest["range"]
    points = (IDENTITY,) + proof.bit_commitments[1:]
    tampered = replace(proof, bit_commitments=points)

    with pytest.raises(ProofError, match="bit commitment is the identity"):
        KINDS["range"].verify(CTX, statement, tampered)


@pytest.mark.parametrize("where", ["first", "last"])
@pytest.mark.parametrize("field", ["a0", "a1"])
@pytest.mark.parametrize("name", KINDS)
def test_proof_rejects_identity_first_message(name, field, where, honest):
    # The identity cannot come off the wire (see the encoding tests), so
    # this is the same proof as an object. A prover with the blinding r
    # of C = r*G could make A0 = z0*G - c0*C the identity by z0 = c0*r.
    kind = KINDS[name]
    statement, proof = honest[name]
    position = 0 if where == "first" else len(_bit_proofs(proof)) - 1
    tampered = _with_bit(proof, position, **{field: IDENTITY})

    with pytest.raises(ProofError, match="first message is the identity"):
        kind.verify(CTX, statement, tampered)


@pytest.mark.parametrize("name", KINDS)
def test_proof_rejects_zero_challenge(name, honest, monkeypatch):
    # The hash gives 0 with probability 2^-256, so force it.
    kind = KINDS[name]
    statement, proof = honest[name]
    monkeypatch.setattr(Transcript, "challenge", lambda self: 0)

    with pytest.raises(ProofError, match="zero challenge"):
        kind.verify(CTX, statement, proof)


@pytest.mark.parametrize(
    "value", [Q, Q + 1, -1], ids=["q", "q_plus_1", "minus_1"]
)
@pytest.mark.parametrize("field", ["c0", "z0", "z1"])
@pytest.mark.parametrize("name", KINDS)
def test_proof_rejects_unreduced_scalar_object(name, field, value, honest):
    kind = KINDS[name]
    statement, proof = honest[name]
    tampered = _with_bit(proof, 0, **{field: value})

    with pytest.raises(ProofError, match=r"scalar is not in \[0, q\)"):
        kind.verify(CTX, statement, tampered)


@pytest.mark.parametrize("value", [Q, -1], ids=["q", "minus_1"])
def test_one_hot_rejects_unreduced_sum_blinding(value, honest):
    statement, proof = honest["one-hot"]
    tampered = replace(proof, sum_blinding=value)

    with pytest.raises(ProofError, match=r"scalar is not in \[0, q\)"):
        KINDS["one-hot"].verify(CTX, statement, tampered)


def test_prover_rejects_identity_commitment():
    with pytest.raises(ValueError, match="identity"):
        prove_bit(CTX, 0, IDENTITY, 0, 0)


def test_verify_rejects_wrong_proof_type(honest):
    statement, proof = honest["range"]
    with pytest.raises(TypeError):
        verify_bit(CTX, INDEX, statement.commitments[0], proof)
    with pytest.raises(TypeError):
        verify_one_hot(CTX, INDEX, statement.commitments, proof)
    with pytest.raises(TypeError):
        verify_range(
            CTX, INDEX, statement.commitments[0], -5, 1000, proof.bits[0]
        )


# Batch verification. A batch of at least DIRECT_BELOW points runs one
# multi-scalar multiplication, and a smaller one checks proof by proof.
# The `msm_calls` fixture shows which path a test took.

BATCH_COPIES = 3
"""Proofs of each kind in `many`: 15 proofs with about 250 points, so
their batch takes the multi-scalar path."""


@pytest.fixture(scope="module")
def many() -> list[tuple[str, Statement, Any]]:
    """Honest proofs of every kind, each with its own index."""
    out = []
    for _ in range(BATCH_COPIES):
        for name, kind in KINDS.items():
            statement, proof, _ = make(kind, index=len(out))
            out.append((name, statement, proof))
    return out


@pytest.fixture
def msm_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the number of points of each multi-scalar multiplication
    that a batch runs."""
    calls: list[int] = []

    def counting(points: list[Point], scalars: list[int]) -> Point:
        calls.append(len(points))
        return multi_mul(points, scalars)

    monkeypatch.setattr(proofs, "multi_mul", counting)
    return calls


def _add_all(batch: Batch, entries: list[tuple[str, Statement, Any]]) -> None:
    for name, statement, proof in entries:
        KINDS[name].verify(CTX, statement, proof, batch=batch)


def _z_tampered(proof: Any, position: int, delta: int) -> Any:
    """Return `proof` with z0 of bit `position` shifted by `delta`."""
    bit = _bit_proofs(proof)[position]
    return _with_bit(proof, position, z0=(bit.z0 + delta) % Q)


def _constant_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every batch weight 1, as a verifier without randomness."""
    monkeypatch.setattr(Batch, "weight", lambda self: 1)


def test_batch_accepts_many_valid_proofs(many, msm_calls):
    batch = Batch()
    _add_all(batch, many)

    assert len(batch) == len(many) == 5 * BATCH_COPIES
    batch.check()
    assert len(msm_calls) == 1
    assert msm_calls[0] >= proofs.DIRECT_BELOW


def test_batch_accepts_few_valid_proofs(many, msm_calls):
    batch = Batch()
    _add_all(batch, many[:5])

    batch.check()
    assert msm_calls == []


def test_batch_accepts_empty(msm_calls):
    batch = Batch()

    assert len(batch) == 0
    batch.check()
    assert msm_calls == []


def test_batch_accepts_same_proof_repeated(honest, msm_calls):
    # The same point objects enter many times over.
    statement, proof = honest["range"]
    batch = Batch()
    for _ in range(10):
        KINDS["range"].verify(CTX, statement, proof, batch=batch)

    batch.check()
    assert len(msm_calls) == 1


@pytest.mark.parametrize("name", KINDS)
def test_batch_names_the_one_bad_proof(name, many, msm_calls):
    # The second proof of kind `name` gets a wrong z0 in its last bit.
    position = [n for n, _, _ in many].index(name) + len(KINDS)
    _, statement, proof = many[position]
    last = len(_bit_proofs(proof)) - 1
    entries = list(many)
    entries[position] = (name, statement, _z_tampered(proof, last, 1))
    batch = Batch()
    _add_all(batch, entries)

    with pytest.raises(ProofError) as info:
        batch.check()
    assert len(msm_calls) == 1
    assert info.value.kind == name
    assert info.value.index == statement.index == position
    assert info.value.reason == f"bit {last} fails its verification equation"


@pytest.mark.parametrize("name", KINDS)
def test_small_batch_names_the_bad_proof(name, many, msm_calls):
    entries = [entry for entry in many[:5] if entry[0] != name]
    _, statement, proof = many[[n for n, _, _ in many].index(name)]
    entries.insert(2, (name, statement, _z_tampered(proof, 0, 1)))
    batch = Batch()
    _add_all(batch, entries)

    with pytest.raises(ProofError) as info:
        batch.check()
    assert msm_calls == []
    assert (info.value.kind, info.value.index) == (name, statement.index)
    assert info.value.reason == "bit 0 fails its verification equation"


def test_batch_defers_equations_until_check(many):
    name, statement, proof = many[1]
    batch = Batch()
    KINDS[name].verify(CTX, statement, _z_tampered(proof, 0, 1), batch=batch)

    assert len(batch) == 1
    with pytest.raises(ProofError, match="bit 0 fails"):
        batch.check()


@pytest.mark.parametrize("order", ["forward", "reversed"])
def test_batch_names_first_bad_proof_in_order_added(order, many, msm_calls):
    # Proofs 3 and 7 are bad. Added in reverse, proof 7 comes first.
    entries = list(many)
    for position in (3, 7):
        name, statement, proof = entries[position]
        entries[position] = (name, statement, _z_tampered(proof, 0, 1))
    if order == "reversed":
        entries.reverse()
    first = 3 if order == "forward" else 7
    batch = Batch()
    _add_all(batch, entries)

    with pytest.raises(ProofError) as info:
        batch.check()
    assert len(msm_calls) == 1
    assert (info.value.kind, info.value.index) == (many[first][0], first)


def test_batch_raises_cheap_failure_at_once(many):
    # Scalars, counts and first messages are checked when the proof is
    # added, so a proof that fails them adds nothing to the batch.
    name, statement, proof = many[2]
    batch = Batch()
    with pytest.raises(ProofError, match=r"scalar is not in \[0, q\)"):
        KINDS[name].verify(
            CTX, statement, _with_bit(proof, 0, z0=Q), batch=batch
        )

    assert len(batch) == 0
    batch.check()


def test_batch_rejects_errors_cancelling_across_proofs(
    many, msm_calls, monkeypatch
):
    # Range proof 1 gets z0 + d in bit 0 and noise-bound proof 4 gets
    # z0 - d, which cancels in the sum of the equations under equal
    # weights. Only random weights catch it.
    delta = 987654321
    entries = list(many)
    for position, sign in ((1, 1), (4, -1)):
        name, statement, proof = entries[position]
        entries[position] = (
            name,
            statement,
            _z_tampered(proof, 0, sign * delta),
        )

    with monkeypatch.context() as patch:
        _constant_weights(patch)
        fooled = Batch()
        _add_all(fooled, entries)
        fooled.check()
    assert len(msm_calls) == 1

    batch = Batch()
    _add_all(batch, entries)
    with pytest.raises(ProofError) as info:
        batch.check()
    assert (info.value.kind, info.value.index) == ("range", 1)
    assert info.value.reason == "bit 0 fails its verification equation"


@pytest.mark.parametrize("name", KINDS)
def test_batch_rejects_errors_cancelling_within_proof(
    name, many, msm_calls, monkeypatch
):
    # z0 + d and z1 - d in the same bit cancel when both equations of
    # the bit have the same weight. The other proofs make the batch
    # large enough for the multi-scalar path.
    kind = KINDS[name]
    statement, proof, _ = make(kind, index=len(many))
    bit = _bit_proofs(proof)[0]
    delta = 55555
    tampered = _with_bit(
        proof, 0, z0=(bit.z0 + delta) % Q, z1=(bit.z1 - delta) % Q
    )
    entries = many + [(name, statement, tampered)]

    with monkeypatch.context() as patch:
        _constant_weights(patch)
        fooled = Batch()
        _add_all(fooled, entries)
        fooled.check()
    assert len(msm_calls) == 1

    batch = Batch()
    _add_all(batch, entries)
    with pytest.raises(ProofError) as info:
        batch.check()
    assert (info.value.kind, info.value.index) == (name, len(many))
    assert info.value.reason == "bit 0 fails its verification equation"
    with pytest.raises(ProofError, match="bit 0 fails"):
        kind.verify(CTX, statement, tampered)


def test_batch_fails_safe_when_only_the_sum_fails(many, msm_calls):
    # A term that no proof explains makes the sum fail though every
    # proof passes alone. The batch must still reject, naming the first.
    batch = Batch()
    _add_all(batch, many)
    batch.add_term(G, 1)

    with pytest.raises(ProofError) as info:
        batch.check()
    assert len(msm_calls) == 1
    assert (info.value.kind, info.value.index) == (many[0][0], 0)
    assert info.value.reason == (
        "batch check failed though every proof passed alone"
    )


def test_batch_weights_are_fresh_128_bit():
    first, second = Batch(), Batch()
    # Enough draws to refill the weight buffer several times.
    weights = [first.weight() for _ in range(3000)]
    others = [second.weight() for _ in range(3000)]

    assert WEIGHT_BYTES == 16
    assert all(0 <= w < 2**128 for w in weights)
    assert len(set(weights)) == len(weights)
    assert not set(weights) & set(others)
    # All 3000 below 2^127 has probability 2^-3000.
    assert max(weights).bit_length() == 128


def test_batch_weights_differ_between_batches(honest):
    statement, proof = honest["bit"]
    drawn = []
    for _ in range(2):
        batch = Batch()
        KINDS["bit"].verify(CTX, statement, proof, batch=batch)
        drawn.append(batch.weight())

    assert drawn[0] != drawn[1]


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
    error = ProofError("one-hot", 2, "bit 0 fails its verification equation")
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
