"""Tests of the commit bundle in mpc.validity.

The statement has a one-hot group over elements 0-3, a signed element 4
and a bounded-sum group over elements 5 and 6, each with its own noise
bound. Every rejection checks which proof kind and index was blamed.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from coincurve import PublicKey

from mpc.commitments import commit, opens
from mpc.group import (
    FIELD_PRIME,
    G,
    Q,
    encode_scalar,
    multi_mul,
    random_scalar,
)
from mpc.proofs import (
    Batch,
    OneHotProof,
    ProofContext,
    ProofError,
    RangeProof,
)
from mpc.validity import (
    CommitBundle,
    ElementBound,
    GroupConstraint,
    InputStatement,
    make_commit_bundle,
    verify_commit_bundle,
)

CTX = ProofContext(
    job_id=bytes(range(100, 116)),
    spec_digest=hashlib.sha256(b"bundle spec").digest(),
    party_id="alice",
    round="commit",
)
STATEMENT = InputStatement(
    bounds=(
        *[ElementBound(0, 1)] * 4,
        ElementBound(-100, 100),
        ElementBound(0, 20),
        ElementBound(0, 20),
    ),
    groups=(
        GroupConstraint("one_hot", (0, 1, 2, 3)),
        GroupConstraint("bounded_sum", (5, 6), 0, 30),
    ),
    noise_bounds=(8, 8, 8, 8, 64, 16, 16),
)
VALUES = [0, 0, 1, 0, -42, 12, 7]
NOISE = [3, -8, 0, 1, -60, 16, -2]


def make(
    values: list[int] = VALUES,
    noise: list[int] = NOISE,
    *,
    ctx: ProofContext = CTX,
    statement: InputStatement = STATEMENT,
    unchecked: bool = False,
) -> tuple[bytes, list[int], list[int]]:
    blindings = [random_scalar() for _ in values]
    noise_blindings = [random_scalar() for _ in noise]
    data = make_commit_bundle(
        ctx,
        statement,
        values,
        blindings,
        noise,
        noise_blindings,
        _unchecked=unchecked,
    )
    return data, blindings, noise_blindings


@pytest.fixture(scope="module")
def honest() -> tuple[bytes, CommitBundle]:
    data, _, _ = make()
    return data, CommitBundle.decode(data, STATEMENT)


def rejects(
    data: bytes,
    kind: str,
    index: int | None,
    *,
    ctx: ProofContext = CTX,
    statement: InputStatement = STATEMENT,
) -> ProofError:
    """Assert that verification blames proof `kind` number `index`."""
    with pytest.raises(ProofError) as info:
        verify_commit_bundle(ctx, statement, data)
    assert (info.value.kind, info.value.index) == (kind, index), info.value
    return info.value


# Honest bundles.


def test_bundle_accepts_honest():
    data, blindings, noise_blindings = make()
    bundle = verify_commit_bundle(CTX, STATEMENT, data)

    assert bundle.encode() == data
    assert len(bundle.range_proofs) == 7
    assert isinstance(bundle.group_proofs[0], OneHotProof)
    assert isinstance(bundle.group_proofs[1], RangeProof)
    assert len(bundle.noise_proofs) == 7
    for k in range(7):
        assert opens(bundle.commitments[k], VALUES[k], blindings[k])
        assert opens(bundle.noise_commitments[k], NOISE[k], noise_blindings[k])


def test_bundle_accepts_statement_without_groups():
    statement = InputStatement((ElementBound(0, 5),), (), (1,))
    data, _, _ = make([5], [-1], statement=statement)

    verify_commit_bundle(CTX, statement, data)


def test_bundle_accepts_lists_in_statement():
    statement = InputStatement(
        [ElementBound(0, 1), ElementBound(0, 1)],
        [GroupConstraint("one_hot", [0, 1])],
        [2, 2],
    )
    assert statement.groups[0].indices == (0, 1)
    data, _, _ = make([1, 0], [0, 2], statement=statement)

    verify_commit_bundle(CTX, statement, data)


def test_bundle_runs_in_process_pool():
    blindings = [random_scalar() for _ in VALUES]
    noise_blindings = [random_scalar() for _ in NOISE]
    # Spawn, as the daemon does: a forked child inherits the gRPC state
    # of earlier tests in this process, and gRPC does not survive fork.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        data = pool.submit(
            make_commit_bundle,
            CTX,
            STATEMENT,
            VALUES,
            blindings,
            NOISE,
            noise_blindings,
        ).result()
        bundle = pool.submit(verify_commit_bundle, CTX, STATEMENT, data)
        bob = replace(CTX, party_id="bob")
        failed = pool.submit(verify_commit_bundle, bob, STATEMENT, data)

        assert bundle.result().encode() == data
        with pytest.raises(ProofError) as info:
            failed.result()
    assert info.value.kind == "range"


def test_bundle_arguments_pickle():
    for item in (CTX, STATEMENT):
        assert pickle.loads(pickle.dumps(item)) == item


# Tampered proofs.

PROOF_FIELDS = {
    "range": lambda bundle: bundle.range_proofs,
    "one-hot": lambda bundle: bundle.group_proofs,
    "bounded-sum": lambda bundle: bundle.group_proofs,
    "noise-bound": lambda bundle: bundle.noise_proofs,
}
TAMPER_TARGETS = [
    ("range", 0),
    ("range", 4),
    ("range", 6),
    ("one-hot", 0),
    ("bounded-sum", 1),
    ("noise-bound", 4),
    ("noise-bound", 6),
]


def _swap_proofs(bundle: CommitBundle, kind: str, proofs: list) -> Any:
    field = {
        "range": "range_proofs",
        "one-hot": "group_proofs",
        "bounded-sum": "group_proofs",
        "noise-bound": "noise_proofs",
    }[kind]
    return replace(bundle, **{field: tuple(proofs)})


def _bit_shifted(proof: Any, position: int, **deltas: int) -> Any:
    """Return `proof` with scalars of bit proof `position` shifted."""
    bits = list(proof.bits)
    changes = {
        field: (getattr(bits[position], field) + delta) % Q
        for field, delta in deltas.items()
    }
    bits[position] = replace(bits[position], **changes)
    return replace(proof, bits=tuple(bits))


def _tamper(bundle: CommitBundle, kind: str, index: int, field: str) -> Any:
    proofs = list(PROOF_FIELDS[kind](bundle))
    proof = proofs[index]
    if field in ("a0", "a1"):
        bits = list(proof.bits)
        bits[0] = replace(bits[0], **{field: getattr(bits[0], field) + G})
        proof = replace(proof, bits=tuple(bits))
    elif field == "bit_commitment":
        points = list(proof.bit_commitments)
        points[0] = points[0] + G
        proof = replace(proof, bit_commitments=tuple(points))
    else:
        proof = _bit_shifted(proof, 0, **{field: 1})
    proofs[index] = proof
    return _swap_proofs(bundle, kind, proofs)


TAMPER_CASES = [
    (kind, index, field)
    for kind, index in TAMPER_TARGETS
    for field in ["a0", "a1", "c0", "z0", "z1", "bit_commitment"]
    if field != "bit_commitment" or kind != "one-hot"
]


@pytest.mark.parametrize(
    "kind,index,field",
    TAMPER_CASES,
    ids=[f"{kind}-{index}-{field}" for kind, index, field in TAMPER_CASES],
)
def test_bundle_rejects_tampered_field(kind, index, field, honest):
    _, bundle = honest
    tampered = _tamper(bundle, kind, index, field)

    error = rejects(tampered.encode(), kind, index)
    if field == "bit_commitment":
        assert error.reason == "bit commitments do not sum to the commitment"
    else:
        assert error.reason == "bit 0 fails its verification equation"


# Bad proofs together. The bundle checks every equation in one batch and
# must still name the first bad proof in the order range proofs, group
# proofs, noise proofs.

ORDER_CASES = {
    "range_before_noise": ([("noise-bound", 2), ("range", 5)], "range", 5),
    "range_before_group": ([("one-hot", 0), ("range", 6)], "range", 6),
    "group_before_noise": (
        [("noise-bound", 1), ("bounded-sum", 1)],
        "bounded-sum",
        1,
    ),
    "lower_index_first": ([("range", 4), ("range", 2)], "range", 2),
    "one_hot_before_bounded_sum": (
        [("bounded-sum", 1), ("one-hot", 0)],
        "one-hot",
        0,
    ),
}


@pytest.mark.parametrize("case", ORDER_CASES)
def test_bundle_names_first_of_two_bad_proofs(case, honest):
    _, bundle = honest
    targets, kind, index = ORDER_CASES[case]
    for target_kind, target_index in targets:
        bundle = _tamper(bundle, target_kind, target_index, "z1")

    rejects(bundle.encode(), kind, index)


def test_bundle_rejects_errors_that_cancel_under_equal_weights(
    honest, monkeypatch
):
    # z0 + d in range proof 2 and z0 - d in noise proof 3 cancel in the
    # plain sum of all equations. Under random weights they do not.
    _, bundle = honest
    delta = 424242
    ranges = list(bundle.range_proofs)
    ranges[2] = _bit_shifted(ranges[2], 0, z0=delta)
    noises = list(bundle.noise_proofs)
    noises[3] = _bit_shifted(noises[3], 0, z0=-delta)
    tampered = replace(
        bundle, range_proofs=tuple(ranges), noise_proofs=tuple(noises)
    ).encode()
    calls = []

    def counting(points, scalars):
        calls.append(len(points))
        return multi_mul(points, scalars)

    monkeypatch.setattr("mpc.proofs.multi_mul", counting)
    # Precondition: the bundle is checked by one multi-scalar
    # multiplication, which equal weights would fool.
    with monkeypatch.context() as patch:
        patch.setattr(Batch, "weight", lambda self: 1)
        verify_commit_bundle(CTX, STATEMENT, tampered)
    assert len(calls) == 1

    error = rejects(tampered, "range", 2)
    assert error.reason == "bit 0 fails its verification equation"


def test_bundle_rejects_tampered_sum_blinding(honest):
    _, bundle = honest
    proof = bundle.group_proofs[0]
    proof = replace(proof, sum_blinding=(proof.sum_blinding + 1) % Q)
    tampered = replace(bundle, group_proofs=(proof, bundle.group_proofs[1]))

    rejects(tampered.encode(), "one-hot", 0)


# Changed statement or context.


@pytest.mark.parametrize(
    "field,value",
    [
        ("job_id", bytes(16)),
        ("party_id", "bob"),
        ("spec_digest", bytes(32)),
        ("round", "reveal"),
    ],
)
def test_bundle_rejects_other_context(field, value, honest):
    data, _ = honest
    ctx = replace(CTX, **{field: value})

    rejects(data, "range", 0, ctx=ctx)


def test_bundle_rejects_copy_from_other_party():
    # Bob rebroadcasts Alice's bundle as his own to count her input twice.
    alice_data, _, _ = make()
    bob = replace(CTX, party_id="bob")

    verify_commit_bundle(CTX, STATEMENT, alice_data)
    rejects(alice_data, "range", 0, ctx=bob)


@pytest.mark.parametrize(
    "kind,index,commitment_field",
    [
        ("range", 4, "commitments"),
        ("range", 0, "commitments"),
        ("noise-bound", 5, "noise_commitments"),
    ],
)
def test_bundle_rejects_other_commitment(
    kind, index, commitment_field, honest
):
    # The new commitment is to the same value, so only the binding of the
    # proof to its commitment can catch the change.
    _, bundle = honest
    value = (VALUES if commitment_field == "commitments" else NOISE)[index]
    points = list(getattr(bundle, commitment_field))
    points[index] = commit(value, random_scalar())
    tampered = replace(bundle, **{commitment_field: tuple(points)})

    rejects(tampered.encode(), kind, index)


def test_bundle_rejects_swapped_element_proofs(honest):
    # Elements 5 and 6 share bounds, so only the element index bound in
    # each proof distinguishes them.
    _, bundle = honest
    proofs = list(bundle.range_proofs)
    proofs[5], proofs[6] = proofs[6], proofs[5]

    rejects(replace(bundle, range_proofs=tuple(proofs)).encode(), "range", 5)


def test_bundle_rejects_swapped_noise_proofs(honest):
    _, bundle = honest
    proofs = list(bundle.noise_proofs)
    proofs[0], proofs[1] = proofs[1], proofs[0]
    tampered = replace(bundle, noise_proofs=tuple(proofs))

    rejects(tampered.encode(), "noise-bound", 0)


def test_bundle_rejects_swapped_element_and_noise_proof():
    # With equal bounds and equal values an element's range proof and its
    # noise proof differ only in the domain label.
    statement = InputStatement((ElementBound(-4, 4),), (), (4,))
    data, _, _ = make([3], [3], statement=statement)
    bundle = CommitBundle.decode(data, statement)
    tampered = replace(
        bundle,
        commitments=bundle.noise_commitments,
        noise_commitments=bundle.commitments,
        range_proofs=bundle.noise_proofs,
        noise_proofs=bundle.range_proofs,
    )

    rejects(tampered.encode(), "range", 0, statement=statement)


def _with_bound(k: int, lo: int, hi: int) -> InputStatement:
    bounds = list(STATEMENT.bounds)
    bounds[k] = ElementBound(lo, hi)
    return replace(STATEMENT, bounds=tuple(bounds))


def _with_noise_bound(k: int, bound: int) -> InputStatement:
    noise_bounds = list(STATEMENT.noise_bounds)
    noise_bounds[k] = bound
    return replace(STATEMENT, noise_bounds=tuple(noise_bounds))


def _with_group_bounds(lo: int, hi: int) -> InputStatement:
    group = replace(STATEMENT.groups[1], lo=lo, hi=hi)
    return replace(STATEMENT, groups=(STATEMENT.groups[0], group))


OTHER_STATEMENTS = {
    "element_hi_plus_1": (_with_bound(4, -100, 101), "range", 4),
    "element_lo_minus_1": (_with_bound(4, -101, 100), "range", 4),
    "element_lo_plus_1": (_with_bound(5, 1, 20), "range", 5),
    "element_hi_much_wider": (_with_bound(5, 0, 2000), "range", 5),
    "group_hi_plus_1": (_with_group_bounds(0, 31), "bounded-sum", 1),
    "group_lo_plus_1": (_with_group_bounds(1, 30), "bounded-sum", 1),
    "noise_t_plus_1": (_with_noise_bound(4, 65), "noise-bound", 4),
    "noise_t_minus_1": (_with_noise_bound(4, 63), "noise-bound", 4),
    "noise_t_other_element": (_with_noise_bound(6, 17), "noise-bound", 6),
    "one_hot_fewer_indices": (
        replace(
            STATEMENT,
            groups=(
                GroupConstraint("one_hot", (0, 1, 2)),
                STATEMENT.groups[1],
            ),
        ),
        "one-hot",
        0,
    ),
}


@pytest.mark.parametrize("case", OTHER_STATEMENTS)
def test_bundle_rejects_other_statement(case, honest):
    data, _ = honest
    statement, kind, index = OTHER_STATEMENTS[case]

    rejects(data, kind, index, statement=statement)


def test_bundle_rejects_other_element_count(honest):
    data, _ = honest
    statement = InputStatement(
        STATEMENT.bounds + (ElementBound(0, 1),),
        STATEMENT.groups,
        STATEMENT.noise_bounds + (1,),
    )

    rejects(data, "bundle", None, statement=statement)


def test_bundle_rejects_other_group_count(honest):
    data, _ = honest
    statement = replace(STATEMENT, groups=STATEMENT.groups[:1])

    rejects(data, "bundle", None, statement=statement)


# Malformed encodings.


def _find_x(on_curve: bool) -> int:
    x = 1
    while True:
        rhs = (x**3 + 7) % FIELD_PRIME
        square = pow(rhs, (FIELD_PRIME - 1) // 2, FIELD_PRIME) == 1
        if square == on_curve:
            return x
        x += 1


def _bad_points(encoded: bytes) -> dict[str, bytes]:
    full = PublicKey(encoded).format(compressed=False)
    return {
        "uncompressed_65_bytes": full,
        "hybrid_65_bytes": bytes([6 + (full[-1] & 1)]) + full[1:],
        "prefix_04": b"\x04" + encoded[1:],
        "prefix_06": b"\x06" + encoded[1:],
        "prefix_07": b"\x07" + encoded[1:],
        "identity_zeros": bytes(33),
        "identity_one_byte": b"\x00",
        "x_above_p": b"\x02"
        + (FIELD_PRIME + _find_x(True)).to_bytes(32, "big"),
        "x_off_curve": b"\x03" + _find_x(False).to_bytes(32, "big"),
    }


BAD_POINT_CASES = list(_bad_points(commit(1, 1).encode()))


def _point_field(bundle: CommitBundle, kind: str, index: int, field: str):
    """Return the point that `field` names in proof `kind` `index`."""
    if field in ("commitments", "noise_commitments"):
        return getattr(bundle, field)[index]
    proof = PROOF_FIELDS[kind](bundle)[index]
    if field == "bit_commitment":
        return proof.bit_commitments[2]
    if field == "a0":
        return proof.bits[0].a0
    assert field == "a1"
    return proof.bits[-1].a1


@pytest.mark.parametrize("case", BAD_POINT_CASES)
@pytest.mark.parametrize(
    "kind,index,field",
    [
        ("range", 0, "commitments"),
        ("range", 6, "commitments"),
        ("noise-bound", 3, "noise_commitments"),
        ("range", 4, "bit_commitment"),
        ("range", 5, "a0"),
        ("one-hot", 0, "a0"),
        ("one-hot", 0, "a1"),
        ("bounded-sum", 1, "a1"),
        ("noise-bound", 5, "a1"),
    ],
)
def test_bundle_rejects_bad_point_encoding(kind, index, field, case, honest):
    data, bundle = honest
    encoded = _point_field(bundle, kind, index, field).encode()
    # The first occurrence is the field: commitments come first, and a
    # range of one bit repeats its commitment as its bit commitment.
    offset = data.index(encoded)
    tampered = data[:offset] + _bad_points(encoded)[case] + data[offset + 33 :]

    error = rejects(tampered, kind, index)
    assert "invalid encoding" in error.reason


@pytest.mark.parametrize(
    "value", [Q, Q + 1, 2**256 - 1], ids=["q", "q_plus_1", "all_ones"]
)
@pytest.mark.parametrize(
    "kind,index,which",
    [
        ("range", 2, "c0"),
        ("range", 5, "z0"),
        ("one-hot", 0, "z0"),
        ("one-hot", 0, "sum_blinding"),
        ("bounded-sum", 1, "z1"),
        ("noise-bound", 6, "z1"),
    ],
)
def test_bundle_rejects_scalar_not_below_q(kind, index, which, value, honest):
    # c0 and z0 of the first bit proof, z1 of the last.
    data, bundle = honest
    proof = PROOF_FIELDS[kind](bundle)[index]
    if which == "sum_blinding":
        scalar = proof.sum_blinding
    elif which == "z1":
        scalar = proof.bits[-1].z1
    else:
        scalar = getattr(proof.bits[0], which)
    assert data.count(encode_scalar(scalar)) == 1
    offset = data.index(encode_scalar(scalar))
    tampered = data[:offset] + value.to_bytes(32, "big") + data[offset + 32 :]

    error = rejects(tampered, kind, index)
    assert "invalid encoding" in error.reason


LENGTH_CHANGES = {
    "empty": (lambda data: b"", "bundle", None),
    "count_only": (lambda data: data[:4], "range", 0),
    "truncated_1": (lambda data: data[:-1], "noise-bound", 6),
    "truncated_half": (lambda data: data[: len(data) // 2], None, None),
    "trailing_1": (lambda data: data + b"\x00", "bundle", None),
    "trailing_proof": (lambda data: data + data[-200:], "bundle", None),
    "element_count_plus_1": (
        lambda data: (7 + 1).to_bytes(4, "big") + data[4:],
        "bundle",
        None,
    ),
    "element_count_huge": (
        lambda data: b"\xff\xff\xff\xff" + data[4:],
        "bundle",
        None,
    ),
}


@pytest.mark.parametrize("change", LENGTH_CHANGES)
def test_bundle_rejects_bad_length(change, honest):
    data, _ = honest
    transform, kind, index = LENGTH_CHANGES[change]
    tampered = transform(data)

    with pytest.raises(ProofError) as info:
        verify_commit_bundle(CTX, STATEMENT, tampered)
    assert "invalid encoding" in info.value.reason
    if kind is not None:
        assert (info.value.kind, info.value.index) == (kind, index)


def test_bundle_rejects_wrong_group_count_field(honest):
    data, bundle = honest
    # The group count follows the commitments and the range proofs.
    offset = 4 + 2 * 7 * 33
    offset += sum(len(proof.encode()) for proof in bundle.range_proofs)
    assert data[offset : offset + 4] == (2).to_bytes(4, "big")
    tampered = data[:offset] + (3).to_bytes(4, "big") + data[offset + 4 :]

    rejects(tampered, "bundle", None)


def test_bundle_rejects_wrong_bit_count(honest):
    data, bundle = honest
    encoded = bundle.range_proofs[4].encode()
    offset = data.index(encoded)
    bits = int.from_bytes(encoded[:4], "big")
    changed = (bits + 1).to_bytes(4, "big") + encoded[4:]
    tampered = data[:offset] + changed + data[offset + len(encoded) :]

    rejects(tampered, "range", 4)


# Witnesses that do not satisfy the statement.


def _replaced(vector: list[int], **changes: int) -> list[int]:
    out = list(vector)
    for key, value in changes.items():
        out[int(key.removeprefix("k"))] = value
    return out


FORCED = {
    "element_hi_plus_1": (_replaced(VALUES, k5=21), NOISE, "range", 5),
    "element_lo_minus_1": (_replaced(VALUES, k4=-101), NOISE, "range", 4),
    "one_hot_two_ones": (_replaced(VALUES, k0=1), NOISE, "one-hot", 0),
    "one_hot_no_one": (_replaced(VALUES, k2=0), NOISE, "one-hot", 0),
    "sum_above_bound": (
        _replaced(VALUES, k5=20, k6=11),
        NOISE,
        "bounded-sum",
        1,
    ),
    "noise_above_t": (VALUES, _replaced(NOISE, k4=65), "noise-bound", 4),
    "noise_below_minus_t": (
        VALUES,
        _replaced(NOISE, k6=-17),
        "noise-bound",
        6,
    ),
}


@pytest.mark.parametrize("case", FORCED)
def test_bundle_rejects_forced_witness(case):
    values, noise, kind, index = FORCED[case]
    data, _, _ = make(values, noise, unchecked=True)

    rejects(data, kind, index)


@pytest.mark.parametrize("case", FORCED)
def test_make_bundle_rejects_bad_witness(case):
    values, noise, _, _ = FORCED[case]
    with pytest.raises(ValueError):
        make(values, noise)


@pytest.mark.parametrize(
    "vector", ["values", "blindings", "noise", "noise_blindings"]
)
def test_make_bundle_rejects_wrong_length(vector):
    arguments = {
        "values": list(VALUES),
        "blindings": [random_scalar() for _ in VALUES],
        "noise": list(NOISE),
        "noise_blindings": [random_scalar() for _ in NOISE],
    }
    arguments[vector] = arguments[vector][:-1]

    with pytest.raises(ValueError, match=vector):
        make_commit_bundle(CTX, STATEMENT, **arguments)


# Statement validation.


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: ElementBound(3, 3), id="bound_empty"),
        pytest.param(lambda: ElementBound(4, 3), id="bound_inverted"),
        pytest.param(
            lambda: GroupConstraint("sum", (0,)), id="group_unknown_kind"
        ),
        pytest.param(lambda: GroupConstraint("one_hot", ()), id="group_empty"),
        pytest.param(
            lambda: GroupConstraint("one_hot", (0, 0)), id="group_repeats"
        ),
        pytest.param(
            lambda: GroupConstraint("one_hot", (-1,)), id="group_negative"
        ),
        pytest.param(
            lambda: GroupConstraint("one_hot", (0, 1), 0, 2),
            id="one_hot_with_bounds",
        ),
        pytest.param(
            lambda: GroupConstraint("bounded_sum", (0, 1), 5, 5),
            id="bounded_sum_empty_range",
        ),
        pytest.param(lambda: InputStatement((), (), ()), id="statement_empty"),
        pytest.param(
            lambda: InputStatement((ElementBound(0, 1),), (), (1, 1)),
            id="noise_bounds_count",
        ),
        pytest.param(
            lambda: InputStatement((ElementBound(0, 1),), (), (0,)),
            id="noise_bound_zero",
        ),
        pytest.param(
            lambda: InputStatement(
                (ElementBound(0, 1),),
                (GroupConstraint("one_hot", (0, 1)),),
                (1,),
            ),
            id="group_index_out_of_range",
        ),
    ],
)
def test_statement_rejects_invalid(build):
    with pytest.raises(ValueError):
        build()
