"""Regression tests for the single-bit prover and the helpers it shares.

prove_bit checks its witness in the array of its first messages and
builds its transcript with transcript.frame. These tests compare its
proofs with a reference prover in this file, which uses Point arithmetic
and appends transcript items one at a time. They also check that wrong
openings raise, that verifiers reject tampered and replayed proofs, that
provers on several threads match a serial run, and that
FixedBase.add_to(start=) and PointArray.point match Point arithmetic.
"""

from __future__ import annotations

import hashlib
import random
import threading

import pytest

from mpc import proofs
from mpc.commitments import commit
from mpc.group import G, H, H_MULTIPLES, Q, PointArray, base_mul
from mpc.proofs import (
    BIT_DOMAIN,
    RANGE_KIND,
    BitProof,
    ProofContext,
    ProofError,
    commit_encoded,
    verify_bit,
    verify_encoded_ranges,
)
from mpc.transcript import Transcript, encode_int, frame

CTX = ProofContext(
    job_id=bytes(range(16)),
    spec_digest=hashlib.sha256(b"lone bit").digest(),
    party_id="alice",
    round="commit",
)
OTHER_CTX = ProofContext(
    job_id=bytes(range(16)),
    spec_digest=hashlib.sha256(b"lone bit").digest(),
    party_id="bob",
    round="commit",
)


def reference_bit_proof(ctx, index, commitment, value, blinding, draws):
    """Return the BitProof encoding that prove_bit should make, computed
    with one Point operation and one transcript append at a time."""
    k, c_sim, u = (d % Q for d in draws)

    transcript = Transcript(BIT_DOMAIN)
    transcript.append_bytes(b"job_id", ctx.job_id)
    transcript.append_bytes(b"spec_digest", ctx.spec_digest)
    transcript.append_text(b"party_id", ctx.party_id)
    transcript.append_text(b"round", ctx.round)
    transcript.append_int(b"index", index)
    transcript.append_point(b"G", G)
    transcript.append_point(b"H", H)
    transcript.append_int(b"lo", 0)
    transcript.append_int(b"hi", 1)
    transcript.append_int(b"n", 1)
    transcript.append_point(b"C", commitment)

    # The true branch starts from k*G, and the other branch is simulated.
    other = 1 - value
    z_sim = (u + c_sim * blinding) % Q
    real = base_mul(k)
    sim = base_mul(z_sim) - (commitment - H * other) * c_sim
    a0, a1 = (real, sim) if value == 0 else (sim, real)
    transcript.append_point(b"A0", a0)
    transcript.append_point(b"A1", a1)

    c = transcript.challenge()
    c_real = (c - c_sim) % Q
    z_real = (k + c_real * blinding) % Q
    if value == 0:
        scalars = (c_real, z_real, z_sim)
    else:
        scalars = (c_sim, z_sim, z_real)

    return b"".join((a0.encode(), a1.encode(),
                     *(s.to_bytes(32, "big") for s in scalars)))


def _cases(seed, count):
    """Yield (index, value, blinding, draws) for prove_bit, with blindings
    and nonces of 0 mod q among them."""
    rng = random.Random(seed)
    special = [0, Q, -1, 1, Q - 1, 2 * Q + 3, -(Q + 7), 2**300 + 11]
    for _ in range(count):
        value = rng.randrange(2)
        blinding = (rng.choice(special) if rng.random() < 0.4
                    else rng.randrange(Q))
        draws = [rng.randrange(1, Q) for _ in range(3)]
        if rng.random() < 0.3:
            draws[2] = rng.choice([0, Q])  # Sets the nonce u to 0 mod q.
        if rng.random() < 0.2:
            draws[1] = rng.choice([0, Q, 1])  # Sets c_sim to 0 mod q or 1.
        if draws[1] % Q == 0 and draws[2] % Q == 0:
            draws[2] = 5  # Both at 0 would make A_s the identity.
        yield rng.randrange(100), value, blinding, draws


@pytest.mark.parametrize("seed", range(4))
def test_prove_bit_matches_reference(seed):
    for index, value, blinding, draws in _cases(seed, 40):
        commitment = commit(value, blinding)
        if commitment.is_identity:
            continue
        proof = proofs.prove_bit(CTX, index, commitment, value, blinding,
                                 nonces=iter(draws))
        assert proof.encode() == reference_bit_proof(
            CTX, index, commitment, value, blinding, draws)
        verify_bit(CTX, index, commitment, proof)
        # The proof's points carry their own, correct encodings.
        for point in (proof.a0, proof.a1):
            assert (point + G - G).encode() == point.encode()


def test_frame_matches_item_appends():
    items = [(b"index", encode_int(3)), (b"", b""), (b"C", bytes(33))]
    framed, appended = Transcript(b"d"), Transcript(b"d")
    framed.append_framed(frame(items))
    for label, value in items:
        appended.append_bytes(label, value)
    assert framed.challenge() == appended.challenge()


@pytest.mark.parametrize("value, blinding, opened_value, opened_blinding", [
    (0, 5, 1, 5),  # The other bit.
    (1, 5, 0, 5),
    (0, 5, 0, 5 + 1),  # Another blinding.
    (1, 0, 1, 1),
    (1, 5, 1, Q),  # A blinding of 0 mod q against another.
    (0, 5, 0, 0),  # The opening (0, 0) gives the identity.
    (1, 0, 0, 0),  # C = H, with the other bit and blinding 0.
    (0, -5, 1, Q - 5),
])
def test_prove_bit_rejects_wrong_openings(value, blinding, opened_value,
                                          opened_blinding):
    commitment = commit(value, blinding)
    draws = iter([3, 4, 5])
    with pytest.raises(ValueError, match="does not open"):
        proofs.prove_bit(CTX, 0, commitment, opened_value, opened_blinding,
                         nonces=draws)


@pytest.mark.parametrize("blinding", [5, 5 + Q, 5 - Q, 5 + 3 * Q])
def test_prove_bit_reduces_blinding(blinding):
    commitment = commit(1, 5)
    proof = proofs.prove_bit(CTX, 2, commitment, 1, blinding,
                             nonces=iter([7, 8, 9]))
    same = proofs.prove_bit(CTX, 2, commitment, 1, 5, nonces=iter([7, 8, 9]))
    assert proof.encode() == same.encode()
    verify_bit(CTX, 2, commitment, proof)


def _tampered(proof):
    yield "swap", BitProof(proof.a1, proof.a0, proof.c0, proof.z0, proof.z1)
    yield "a0", BitProof(proof.a0 + G, proof.a1, proof.c0, proof.z0,
                         proof.z1)
    yield "a1", BitProof(proof.a0, proof.a1 + H, proof.c0, proof.z0,
                         proof.z1)
    for field in ("c0", "z0", "z1"):
        values = {"c0": proof.c0, "z0": proof.z0, "z1": proof.z1}
        values[field] = (values[field] + 1) % Q
        yield field, BitProof(proof.a0, proof.a1, **values)


@pytest.mark.parametrize("value", [0, 1])
def test_verify_bit_rejects_tampering(value):
    commitment = commit(value, 41)
    proof = proofs.prove_bit(CTX, 7, commitment, value, 41)
    verify_bit(CTX, 7, commitment, proof)
    wrong = [("tampered " + name, CTX, 7, commitment, bad)
             for name, bad in _tampered(proof)]
    wrong += [
        ("index", CTX, 8, commitment, proof),
        ("context", OTHER_CTX, 7, commitment, proof),
        ("commitment", CTX, 7, commitment + G, proof),
        ("other bit", CTX, 7, commit(1 - value, 41), proof),
    ]
    for name, ctx, index, point, bad in wrong:
        with pytest.raises(ProofError):
            verify_bit(ctx, index, point, bad)

        # The batch path must reject the same proof.
        batch = proofs.Batch()
        try:
            verify_bit(ctx, index, point, bad, batch=batch)
            batch.check()
        except ProofError:
            continue
        pytest.fail(f"the batch accepted a proof with a wrong {name}")


def test_encoded_ranges_reject_tampering():
    commitment, data = commit_encoded(RANGE_KIND, CTX, 4, -3, 12, 5, 99)
    part = (RANGE_KIND, 4, [(-3, 12)], commitment, data)
    assert verify_encoded_ranges(CTX, [part])
    assert not verify_encoded_ranges(OTHER_CTX, [part])
    assert not verify_encoded_ranges(
        CTX, [(RANGE_KIND, 5, [(-3, 12)], commitment, data)])
    assert not verify_encoded_ranges(
        CTX, [(RANGE_KIND, 4, [(-3, 13)], commitment, data)])
    other, _ = commit_encoded(RANGE_KIND, CTX, 4, -3, 12, 6, 99)
    assert not verify_encoded_ranges(
        CTX, [(RANGE_KIND, 4, [(-3, 12)], other, data)])
    for at in (0, 9, len(data) // 2, len(data) - 1):
        bad = bytearray(data)
        bad[at] ^= 1
        assert not verify_encoded_ranges(
            CTX, [(RANGE_KIND, 4, [(-3, 12)], commitment, bytes(bad))])


def test_prove_bit_threads_match_serial():
    rng = random.Random(11)
    cases = []
    for i in range(60):
        value = rng.randrange(2)
        blinding = rng.choice([0, rng.randrange(Q)])
        commitment = commit(value, blinding)
        if commitment.is_identity:
            continue
        draws = [rng.randrange(1, Q) for _ in range(3)]
        cases.append((i, commitment, value, blinding, draws))

    def prove(case):
        index, commitment, value, blinding, draws = case
        return proofs.prove_bit(CTX, index, commitment, value, blinding,
                                nonces=iter(draws)).encode()

    serial = [prove(case) for case in cases]
    results = [None] * len(cases)
    errors = []
    barrier = threading.Barrier(4)

    def worker(first):
        barrier.wait()
        try:
            for at in range(first, len(cases), 4):
                results[at] = prove(cases[at])
        except Exception as exc:  # Reported by the assertion below.
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == serial


@pytest.mark.parametrize("size, start", [
    (1, 0), (1, 1), (3, 0), (3, 2), (6, 1), (6, 2), (9, 3), (9, 9)])
def test_add_to_start_matches_points(size, start):
    rng = random.Random(size * 10 + start)
    scalars = [rng.randrange(1, Q) for _ in range(size)]
    tail = [rng.choice([0, 1, Q - 1, rng.randrange(Q)])
            for _ in range(size - start)]
    array = PointArray.base_mul(scalars)
    array.encode()
    H_MULTIPLES.add_to(array, tail, start=start)
    expected = [base_mul(s) for s in scalars[:start]] + [
        base_mul(s) + H * c for s, c in zip(scalars[start:], tail)]
    # point(i) agrees with the points whether or not encode ran first.
    assert [array.point(i) for i in range(size)] == expected
    assert array.encode() == b"".join(p.encode() for p in expected)
    for i in range(size):
        point = array.point(i)
        assert point.encode() == expected[i].encode()
        assert point == expected[i]


def test_add_to_identity_keeps_head():
    # A sum at the identity stops add_to there. The points before `start`
    # and the failing point keep their values, and none is zeroed.
    for size in (3, 7):
        array = PointArray.base_mul(list(range(1, size + 1)))
        array.add([size - 1], -base_mul(size) - H * 5)
        before = array.points()
        with pytest.raises(ValueError, match="identity"):
            H_MULTIPLES.add_to(array, [2] * (size - 2) + [5], start=1)
        after = array.points()
        assert after[0] == before[0]
        assert after[size - 1] == before[size - 1]
        assert after[1:size - 1] == [p + H * 2 for p in before[1:size - 1]]
        assert array.encode() == b"".join(p.encode() for p in after)


@pytest.mark.parametrize("size", [3, 7])  # Both paths of add_to.
def test_add_to_bad_scalar_changes_nothing(size):
    array = PointArray.base_mul(list(range(1, size + 1)))
    before = array.points()
    with pytest.raises(TypeError):
        H_MULTIPLES.add_to(array, [1] * (size - 2) + [1.5], start=1)
    assert array.points() == before


@pytest.mark.parametrize("draws", [[0, 1, 2], [], [1, 0, 0]],
                         ids=["k of 0", "too few", "c and u of 0"])
def test_wrong_opening_reported_before_nonce_errors(draws):
    with pytest.raises(ValueError, match="commitment 0 does not open"):
        proofs.prove_bit(CTX, 0, commit(1, 5), 0, 5, nonces=iter(draws))
