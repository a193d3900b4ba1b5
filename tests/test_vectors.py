"""Known-answer tests against tests/vectors/, made by scripts/gen_vectors.py.

The vectors pin the generators, the transcript layout and the proof
encodings: a valid proof must verify and must come out byte for byte from
the prover given its recorded blindings and nonces, and every invalid
proof must be rejected for the recorded reason: any encoding error, or
exactly the recorded verification error. A change to a domain label, a
transcript label, the protocol version or the order of appended items
changes the challenges and fails these tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mpc import PROTOCOL_NAME, PROTOCOL_VERSION
from mpc.commitments import commit
from mpc.group import (
    H_LABEL,
    SUITE,
    G,
    H,
    decode_point,
    hash_to_point,
)
from mpc.proofs import (
    BIT_PROOF_BYTES,
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

VECTORS = Path(__file__).parent / "vectors"
TRANSCRIPT = json.loads((VECTORS / "transcript.json").read_text())
PROOFS = json.loads((VECTORS / "proofs.json").read_text())


def _context(data: dict[str, str]) -> ProofContext:
    return ProofContext(
        job_id=bytes.fromhex(data["job_id"]),
        spec_digest=bytes.fromhex(data["spec_digest"]),
        party_id=data["party_id"],
        round=data["round"],
    )


def _decode(entry: dict[str, Any]) -> Any:
    data = bytes.fromhex(entry["proof"])
    kind = entry["kind"]
    if kind == "bit":
        return BitProof.decode(data)
    if kind == "one-hot":
        return OneHotProof.decode(data, len(entry["commitments"]))
    if kind == "noise-bound":
        bound = entry["bound"]
        return RangeProof.decode(data, len(range_weights(-bound, bound)))
    return RangeProof.decode(
        data, len(range_weights(entry["lo"], entry["hi"]))
    )


def _verify(entry: dict[str, Any], batch: Batch | None = None) -> None:
    ctx = _context(entry["context"])
    index = entry["index"]
    points = [decode_point(bytes.fromhex(c)) for c in entry["commitments"]]
    proof = _decode(entry)
    kind = entry["kind"]
    if kind == "bit":
        verify_bit(ctx, index, points[0], proof, batch=batch)
    elif kind == "range":
        lo, hi = entry["lo"], entry["hi"]
        verify_range(ctx, index, points[0], lo, hi, proof, batch=batch)
    elif kind == "one-hot":
        verify_one_hot(ctx, index, points, proof, batch=batch)
    elif kind == "bounded-sum":
        verify_bounded_sum(
            ctx, index, points, entry["lo"], entry["hi"], proof, batch=batch
        )
    else:
        verify_noise_bound(
            ctx, index, points[0], entry["bound"], proof, batch=batch
        )


def _reprove(entry: dict[str, Any]) -> bytes:
    ctx = _context(entry["context"])
    index = entry["index"]
    values = entry["values"]
    blindings = [int(r, 16) for r in entry["blindings"]]
    points = [commit(v, r) for v, r in zip(values, blindings, strict=True)]
    nonces = iter([int(k, 16) for k in entry["nonces"]])
    kind = entry["kind"]
    if kind == "bit":
        proof: Any = prove_bit(
            ctx, index, points[0], values[0], blindings[0], nonces=nonces
        )
    elif kind == "range":
        proof = prove_range(
            ctx,
            index,
            points[0],
            entry["lo"],
            entry["hi"],
            values[0],
            blindings[0],
            nonces=nonces,
        )
    elif kind == "one-hot":
        proof = prove_one_hot(
            ctx, index, points, values, blindings, nonces=nonces
        )
    elif kind == "bounded-sum":
        proof = prove_bounded_sum(
            ctx,
            index,
            points,
            entry["lo"],
            entry["hi"],
            values,
            blindings,
            nonces=nonces,
        )
    else:
        proof = prove_noise_bound(
            ctx,
            index,
            points[0],
            entry["bound"],
            values[0],
            blindings[0],
            nonces=nonces,
        )
    assert next(nonces, None) is None, "the prover drew fewer nonces"
    return proof.encode()


def _ids(entries: list[dict[str, Any]]) -> list[str]:
    return [entry["name"] for entry in entries]


# Generators and transcripts.


def test_vectors_suite_matches():
    assert TRANSCRIPT["protocol"] == PROTOCOL_NAME.decode()
    assert TRANSCRIPT["version"] == PROTOCOL_VERSION
    assert TRANSCRIPT["suite"] == SUITE.decode()


def test_vectors_generators_match():
    generators = TRANSCRIPT["generators"]
    assert generators["G"] == G.encode().hex()
    assert generators["H"] == H.encode().hex()
    assert generators["H_label"] == H_LABEL.decode()
    assert hash_to_point(generators["H_label"].encode()) == H


@pytest.mark.parametrize(
    "case", TRANSCRIPT["challenges"], ids=_ids(TRANSCRIPT["challenges"])
)
def test_vectors_transcript_challenge(case):
    transcript = Transcript(case["domain"].encode())
    for item in case["items"]:
        _append_item(transcript, item)

    assert transcript.challenge() == int(case["challenge"], 16)


def _append_item(transcript: Transcript, item: dict) -> None:
    label, value = item["label"].encode(), item["value"]
    if item["type"] == "bytes":
        transcript.append_bytes(label, bytes.fromhex(value))
    elif item["type"] == "text":
        transcript.append_text(label, value)
    elif item["type"] == "int":
        transcript.append_int(label, value)
    elif item["type"] == "point":
        transcript.append_point(label, decode_point(bytes.fromhex(value)))
    else:
        assert item["type"] == "scalar"
        transcript.append_scalar(label, int(value, 16))


# Proofs.


@pytest.mark.parametrize("entry", PROOFS["valid"], ids=_ids(PROOFS["valid"]))
def test_vectors_valid_proof_verifies(entry):
    _verify(entry)


@pytest.mark.parametrize("entry", PROOFS["valid"], ids=_ids(PROOFS["valid"]))
def test_vectors_valid_proof_replays(entry):
    assert _reprove(entry).hex() == entry["proof"]


@pytest.mark.parametrize("entry", PROOFS["valid"], ids=_ids(PROOFS["valid"]))
def test_vectors_valid_proof_reencodes(entry):
    assert _decode(entry).encode().hex() == entry["proof"]


def test_vectors_valid_proofs_verify_in_one_batch():
    batch = Batch()
    for entry in PROOFS["valid"]:
        _verify(entry, batch)

    assert len(batch) == len(PROOFS["valid"])
    batch.check()


@pytest.mark.parametrize("entry", PROOFS["valid"], ids=_ids(PROOFS["valid"]))
def test_vectors_valid_proof_size(entry):
    size = len(entry["proof"]) // 2
    proof = _decode(entry)
    if entry["kind"] == "bit":
        assert size == BIT_PROOF_BYTES == 162
    elif entry["kind"] == "one-hot":
        assert size == one_hot_proof_size(len(proof.bits))
        assert size == 4 + 162 * len(entry["commitments"]) + 32
    else:
        assert size == range_proof_size(len(proof.bits))
        assert size == 4 + 195 * len(proof.bits)


@pytest.mark.parametrize(
    "entry", PROOFS["invalid"], ids=_ids(PROOFS["invalid"])
)
def test_vectors_invalid_proof_rejected(entry):
    with pytest.raises(ProofError) as info:
        _verify(entry)

    reason = info.value.reason
    if entry["expected"] == "encoding":
        assert reason.startswith("invalid encoding"), reason
    else:
        assert entry["expected"] == "verification"
        assert reason == entry["error"], entry["reason"]


VERIFICATION_FAILURES = [
    entry for entry in PROOFS["invalid"] if entry["expected"] != "encoding"
]


@pytest.mark.parametrize(
    "entry", VERIFICATION_FAILURES, ids=_ids(VERIFICATION_FAILURES)
)
def test_vectors_invalid_proof_rejected_in_batch(entry):
    # Among every valid vector, the bad one is named, whatever its place.
    valid = PROOFS["valid"]
    batch = Batch()
    for other in valid[:3]:
        _verify(other, batch)
    _verify(entry, batch)
    for other in valid[3:]:
        _verify(other, batch)

    with pytest.raises(ProofError) as info:
        batch.check()
    assert (info.value.kind, info.value.index) == (
        entry["kind"],
        entry["index"],
    )
    assert info.value.reason == entry["error"]


def test_vectors_cover_every_kind():
    kinds = {entry["kind"] for entry in PROOFS["valid"]}
    assert kinds == {"bit", "range", "one-hot", "bounded-sum", "noise-bound"}
    for expected in ("encoding", "verification"):
        invalid = {
            entry["kind"]
            for entry in PROOFS["invalid"]
            if entry["expected"] == expected
        }
        assert invalid == kinds, expected


def test_vectors_names_are_unique():
    names = _ids(PROOFS["valid"]) + _ids(PROOFS["invalid"])
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(
    "case", TRANSCRIPT["challenges"], ids=_ids(TRANSCRIPT["challenges"])
)
def test_vectors_transcript_one_update(case):
    # append_points must hash what append_point on each item does.
    transcript = Transcript(case["domain"].encode())
    pending = []
    for item in case["items"]:
        if item["type"] == "point":
            point = decode_point(bytes.fromhex(item["value"]))
            pending.append((item["label"].encode(), point))
            continue
        transcript.append_points(pending)
        pending = []
        _append_item(transcript, item)
    transcript.append_points(pending)

    assert transcript.challenge() == int(case["challenge"], 16)
