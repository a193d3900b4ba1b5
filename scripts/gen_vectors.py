#!/usr/bin/env python3
"""Generate the known-answer vectors in tests/vectors/.

Usage, from the repository root:

    .venv/bin/python scripts/gen_vectors.py [--check]

writes tests/vectors/transcript.json and tests/vectors/proofs.json, or with
--check only compares them with what the code produces now and exits 1
on a difference. The output is deterministic: every blinding and prover
nonce is SHA-512 of a fixed label and a counter, reduced mod q, and the
nonces each proof consumed are recorded beside it, so tests/test_vectors.py
can replay the prover without this script. Every vector in "invalid" is
checked here to be rejected, with the reason it records, before it is
written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from coincurve import PublicKey

from mpc import PROTOCOL_NAME, PROTOCOL_VERSION
from mpc.commitments import commit
from mpc.group import (
    FIELD_PRIME,
    H_LABEL,
    POINT_BYTES,
    SCALAR_BYTES,
    SUITE,
    G,
    H,
    Point,
    Q,
    base_mul,
    decode_point,
    encode_scalar,
)
from mpc.proofs import (
    BIT_PROOF_BYTES,
    COUNT_BYTES,
    BitProof,
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
from mpc.transcript import Transcript

VECTOR_DIR = Path(__file__).resolve().parent.parent / "tests" / "vectors"
SEED_LABEL = b"mpc-joint-stats/test-vectors/v1/"

CONTEXT = ProofContext(
    job_id=bytes.fromhex("000102030405060708090a0b0c0d0e0f"),
    spec_digest=hashlib.sha256(b"known-answer spec").digest(),
    party_id="alice",
    round="commit",
)


def derive_scalar(label: str, counter: int) -> int:
    """Return SHA-512(SEED_LABEL || label || counter) mod q."""
    data = SEED_LABEL + label.encode() + counter.to_bytes(4, "big")
    return int.from_bytes(hashlib.sha512(data).digest(), "big") % Q


class RecordedNonces:
    """Derived nonces for one proof, recording each one drawn."""

    def __init__(self, label: str) -> None:
        self._label = label
        self.drawn: list[int] = []

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        value = derive_scalar(self._label, len(self.drawn))
        self.drawn.append(value)
        return value


def scalar_hex(value: int) -> str:
    return value.to_bytes(32, "big").hex()


def context_json(ctx: ProofContext) -> dict[str, str]:
    return {
        "job_id": ctx.job_id.hex(),
        "spec_digest": ctx.spec_digest.hex(),
        "party_id": ctx.party_id,
        "round": ctx.round,
    }


def context_from_json(data: dict[str, str]) -> ProofContext:
    return ProofContext(
        job_id=bytes.fromhex(data["job_id"]),
        spec_digest=bytes.fromhex(data["spec_digest"]),
        party_id=data["party_id"],
        round=data["round"],
    )


# Transcript vectors.


def _run_transcript(domain: bytes, items: list[dict[str, Any]]) -> int:
    transcript = Transcript(domain)
    for item in items:
        label = item["label"].encode()
        value = item["value"]
        if item["type"] == "bytes":
            transcript.append_bytes(label, bytes.fromhex(value))
        elif item["type"] == "text":
            transcript.append_text(label, value)
        elif item["type"] == "int":
            transcript.append_int(label, value)
        elif item["type"] == "point":
            transcript.append_point(label, decode_point(bytes.fromhex(value)))
        elif item["type"] == "scalar":
            transcript.append_scalar(label, int(value, 16))
        else:
            raise ValueError(f"unknown item type {item['type']!r}")
    return transcript.challenge()


def _derived_point(label: str, seed: str) -> dict[str, Any]:
    point = base_mul(derive_scalar(seed, 0))
    return {"label": label, "type": "point", "value": point.encode().hex()}


def build_transcript_vectors() -> dict[str, Any]:
    context_items = [
        {"label": "job_id", "type": "bytes", "value": CONTEXT.job_id.hex()},
        {
            "label": "spec_digest",
            "type": "bytes",
            "value": CONTEXT.spec_digest.hex(),
        },
        {"label": "party_id", "type": "text", "value": CONTEXT.party_id},
        {"label": "round", "type": "text", "value": CONTEXT.round},
        {"label": "index", "type": "int", "value": 0},
        {"label": "G", "type": "point", "value": G.encode().hex()},
        {"label": "H", "type": "point", "value": H.encode().hex()},
    ]
    cases = [
        ("domain_only", b"range/v1", []),
        ("context", b"bit/v1", context_items),
        (
            "negative_int_and_scalar",
            b"noise-bound/v1",
            [
                {"label": "T", "type": "int", "value": -12345678901234567890},
                {"label": "z", "type": "scalar", "value": scalar_hex(Q - 1)},
            ],
        ),
        # The whole transcript of a bit proof: the context, the bounds,
        # the statement and, last, the two first messages.
        (
            "bit_proof",
            b"bit/v1",
            context_items
            + [
                {"label": "lo", "type": "int", "value": 0},
                {"label": "hi", "type": "int", "value": 1},
                {"label": "n", "type": "int", "value": 1},
                _derived_point("C", "transcript/C"),
                _derived_point("A0", "transcript/A0"),
                _derived_point("A1", "transcript/A1"),
            ],
        ),
        # The next two differ only in where label ends and value begins;
        # the length prefixes keep their challenges apart.
        (
            "split_ab_c",
            b"range/v1",
            [{"label": "ab", "type": "text", "value": "c"}],
        ),
        (
            "split_a_bc",
            b"range/v1",
            [{"label": "a", "type": "text", "value": "bc"}],
        ),
    ]
    vectors = []
    for name, domain, items in cases:
        vectors.append(
            {
                "name": name,
                "domain": domain.decode(),
                "items": items,
                "challenge": scalar_hex(_run_transcript(domain, items)),
            }
        )
    challenges = {v["challenge"] for v in vectors}
    assert len(challenges) == len(vectors), "transcript vectors collide"
    return {
        "description": (
            "Fiat-Shamir transcript vectors. A transcript starts with "
            "protocol, version, suite and domain; each item appends "
            "8-byte big-endian length || label || 8-byte length || "
            "value to SHA-512; the challenge is the digest mod q."
        ),
        "protocol": PROTOCOL_NAME.decode(),
        "version": PROTOCOL_VERSION,
        "suite": SUITE.decode(),
        "generators": {
            "G": G.encode().hex(),
            "H": H.encode().hex(),
            "H_label": H_LABEL.decode(),
        },
        "challenges": vectors,
    }


# Proof vectors.


def statement_json(
    kind: str, index: int, commitments: list[Point], **bounds: int
) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": kind, "index": index}
    entry.update(bounds)
    entry["commitments"] = [point.encode().hex() for point in commitments]
    return entry


def verify_entry(entry: dict[str, Any]) -> None:
    """Decode and verify one proof vector; raise ProofError on failure."""
    ctx = context_from_json(entry["context"])
    index = entry["index"]
    points = [decode_point(bytes.fromhex(c)) for c in entry["commitments"]]
    data = bytes.fromhex(entry["proof"])
    kind = entry["kind"]
    if kind == "bit":
        verify_bit(ctx, index, points[0], BitProof.decode(data))
    elif kind == "range":
        lo, hi = entry["lo"], entry["hi"]
        bits = len(range_weights(lo, hi))
        proof = RangeProof.decode(data, bits)
        verify_range(ctx, index, points[0], lo, hi, proof)
    elif kind == "one-hot":
        proof = OneHotProof.decode(data, len(points))
        verify_one_hot(ctx, index, points, proof)
    elif kind == "bounded-sum":
        lo, hi = entry["lo"], entry["hi"]
        proof = RangeProof.decode(data, len(range_weights(lo, hi)))
        verify_bounded_sum(ctx, index, points, lo, hi, proof)
    elif kind == "noise-bound":
        bound = entry["bound"]
        proof = RangeProof.decode(data, len(range_weights(-bound, bound)))
        verify_noise_bound(ctx, index, points[0], bound, proof)
    else:
        raise ValueError(f"unknown proof kind {kind!r}")


def _prove(
    kind: str,
    index: int,
    commitments: list[Point],
    values: list[int],
    blindings: list[int],
    bounds: dict[str, int],
    **options: Any,
) -> Any:
    if kind == "bit":
        return prove_bit(
            CONTEXT, index, commitments[0], values[0], blindings[0], **options
        )
    if kind == "range":
        return prove_range(
            CONTEXT,
            index,
            commitments[0],
            bounds["lo"],
            bounds["hi"],
            values[0],
            blindings[0],
            **options,
        )
    if kind == "one-hot":
        return prove_one_hot(
            CONTEXT, index, commitments, values, blindings, **options
        )
    if kind == "bounded-sum":
        return prove_bounded_sum(
            CONTEXT,
            index,
            commitments,
            bounds["lo"],
            bounds["hi"],
            values,
            blindings,
            **options,
        )
    return prove_noise_bound(
        CONTEXT,
        index,
        commitments[0],
        bounds["bound"],
        values[0],
        blindings[0],
        **options,
    )


def make_proof(
    name: str,
    kind: str,
    index: int,
    values: list[int],
    *,
    unchecked: bool = False,
    **bounds: int,
) -> dict[str, Any]:
    """Prove with derived blindings and nonces; return the vector entry."""
    blindings = [
        derive_scalar(f"{name}/blinding", i) for i in range(len(values))
    ]
    commitments = [
        commit(v, r) for v, r in zip(values, blindings, strict=True)
    ]
    nonces = RecordedNonces(f"{name}/nonce")
    proof = _prove(
        kind,
        index,
        commitments,
        values,
        blindings,
        bounds,
        nonces=nonces,
        _unchecked=unchecked,
    )

    entry = {"name": name, "context": context_json(CONTEXT)}
    entry.update(statement_json(kind, index, commitments, **bounds))
    entry["values"] = values
    entry["blindings"] = [scalar_hex(r) for r in blindings]
    entry["nonces"] = [scalar_hex(k) for k in nonces.drawn]
    entry["proof"] = proof.encode().hex()
    return entry


ENCODING = "invalid encoding"


def bit_failure(t: int) -> str:
    return f"bit {t} fails its verification equation"


NOT_SUMMING = "bit commitments do not sum to the commitment"
NOT_ONE = "sum of commitments does not open to 1"


def _invalid(
    base: dict[str, Any],
    name: str,
    reason: str,
    error: str,
    *,
    drop: tuple[str, ...] = (),
    **changes: Any,
) -> dict[str, Any]:
    """Return a must-reject vector derived from `base`.

    `error` is the ProofError reason the verifier must give, or
    ENCODING for any reason starting "invalid encoding". Keys in `drop`
    are removed, for a proof verified as another kind.
    """
    entry = {
        key: value
        for key, value in base.items()
        if key not in ("values", "blindings", "nonces", *drop)
    }
    entry.update(changes)
    entry["name"] = name
    entry["reason"] = reason
    if error == ENCODING:
        entry["expected"] = "encoding"
    else:
        entry["expected"] = "verification"
        entry["error"] = error
    return entry


# Offset and size of each field inside one encoded bit proof.
BIT_FIELDS = {
    "a0": (0, POINT_BYTES),
    "a1": (POINT_BYTES, POINT_BYTES),
    "c0": (2 * POINT_BYTES, SCALAR_BYTES),
    "z0": (2 * POINT_BYTES + SCALAR_BYTES, SCALAR_BYTES),
    "z1": (2 * POINT_BYTES + 2 * SCALAR_BYTES, SCALAR_BYTES),
}


def _bit_proof_offset(entry: dict[str, Any], position: int) -> int:
    """Return where bit proof `position` starts in the entry's proof.

    A `position` of -1 means the last bit proof.
    """
    data = bytes.fromhex(entry["proof"])
    if entry["kind"] == "bit":
        start, count = 0, 1
    elif entry["kind"] == "one-hot":
        start, count = COUNT_BYTES, int.from_bytes(data[:COUNT_BYTES], "big")
    else:
        count = int.from_bytes(data[:COUNT_BYTES], "big")
        start = COUNT_BYTES + POINT_BYTES * count
    return start + BIT_PROOF_BYTES * (position % count)


def _field_offset(entry: dict[str, Any], position: int, field: str) -> int:
    return _bit_proof_offset(entry, position) + BIT_FIELDS[field][0]


def _tampered(entry: dict[str, Any], position: int, field: str) -> str:
    """Return the proof with one field of a bit proof changed: a point
    plus G, or a scalar plus 1."""
    offset = _field_offset(entry, position, field)
    size = BIT_FIELDS[field][1]
    old = bytes.fromhex(entry["proof"])[offset : offset + size]
    if size == POINT_BYTES:
        new = (decode_point(old) + G).encode()
    else:
        new = ((int.from_bytes(old, "big") + 1) % Q).to_bytes(size, "big")
    return _replace_bytes(entry["proof"], offset, size, new)


def _with_field(
    entry: dict[str, Any], position: int, field: str, new: bytes
) -> str:
    """Return the proof with one field of a bit proof replaced by `new`,
    which may have another length."""
    offset = _field_offset(entry, position, field)
    return _replace_bytes(entry["proof"], offset, BIT_FIELDS[field][1], new)


def _replace_bytes(hex_data: str, offset: int, size: int, new: bytes) -> str:
    data = bytes.fromhex(hex_data)
    return (data[:offset] + new + data[offset + size :]).hex()


def _off_curve_x() -> int:
    x = 1
    while pow(x**3 + 7, (FIELD_PRIME - 1) // 2, FIELD_PRIME) == 1:
        x += 1
    return x


def _uncompressed(hex_data: str, offset: int) -> bytes:
    point = bytes.fromhex(hex_data)[offset : offset + POINT_BYTES]
    return PublicKey(point).format(compressed=False)


def build_proof_vectors() -> dict[str, Any]:
    valid = [
        make_proof("bit_zero", "bit", 0, [0]),
        make_proof("bit_one", "bit", 1, [1]),
        make_proof("range_16_bits", "range", 2, [1234], lo=0, hi=65535),
        make_proof("range_signed", "range", 3, [-42], lo=-100, hi=100),
        make_proof("range_single_bit", "range", 4, [7], lo=7, hi=8),
        make_proof("one_hot", "one-hot", 0, [0, 1, 0]),
        make_proof("bounded_sum", "bounded-sum", 1, [3, 0, 4], lo=2, hi=10),
        make_proof("noise_bound", "noise-bound", 5, [-37], bound=50),
    ]
    by_name = {entry["name"]: entry for entry in valid}
    invalid = (
        _invalid_bit(by_name["bit_one"])
        + _invalid_range(by_name["range_signed"])
        + _invalid_one_hot(by_name["one_hot"])
        + _invalid_bounded_sum(by_name["bounded_sum"])
        + _invalid_noise_bound(by_name["noise_bound"])
    )

    names = [entry["name"] for entry in valid + invalid]
    assert len(set(names)) == len(names), "vector names repeat"
    for entry in valid:
        verify_entry(entry)
    for entry in invalid:
        _check_rejected(entry)

    return {
        "description": (
            "Sigma proof vectors, protocol version "
            f"{PROTOCOL_VERSION}. A bit proof encodes as A0 || A1 || c0 "
            "|| z0 || z1 (162 bytes); the verifier derives c from the "
            "transcript with A0 and A1 appended and sets c1 = c - c0. "
            "Valid entries verify and replay: proving the values with "
            "the blindings, drawing the listed nonces, gives the proof "
            "bytes. Invalid entries must be rejected: with a reason "
            "starting 'invalid encoding' when expected is 'encoding', "
            "else with exactly the reason in error."
        ),
        "context": context_json(CONTEXT),
        "valid": valid,
        "invalid": invalid,
    }


def _check_rejected(entry: dict[str, Any]) -> None:
    """Raise AssertionError unless the verifier rejects `entry` as its
    expected and error fields require."""
    try:
        verify_entry(entry)
    except ProofError as exc:
        is_encoding = exc.reason.startswith(ENCODING)
        assert is_encoding == (entry["expected"] == "encoding"), (
            entry["name"],
            exc.reason,
        )
        if not is_encoding:
            assert exc.reason == entry["error"], (entry["name"], exc.reason)
    else:
        raise AssertionError(f"vector {entry['name']} was accepted")


def _invalid_bit(bit: dict[str, Any]) -> list[dict[str, Any]]:
    other = replace(CONTEXT, party_id="bob")
    entries = [
        _invalid(
            bit,
            f"bit_tampered_{field}",
            f"{field} changed: {'a point + G' if field[0] == 'a' else '+ 1'}",
            bit_failure(0),
            proof=_tampered(bit, 0, field),
        )
        for field in BIT_FIELDS
    ]
    entries += [
        _invalid(
            bit,
            "bit_first_messages_swapped",
            "A0 and A1 exchanged",
            bit_failure(0),
            proof=_replace_bytes(
                bit["proof"],
                0,
                2 * POINT_BYTES,
                bytes.fromhex(bit["proof"])[POINT_BYTES : 2 * POINT_BYTES]
                + bytes.fromhex(bit["proof"])[:POINT_BYTES],
            ),
        ),
        _invalid(
            bit,
            "bit_a0_identity",
            "A0 as 33 zero bytes, the identity, which has no encoding",
            ENCODING,
            proof=_with_field(bit, 0, "a0", bytes(POINT_BYTES)),
        ),
        _invalid(
            bit,
            "bit_a0_uncompressed",
            "A0 in 65-byte uncompressed form",
            ENCODING,
            proof=_with_field(bit, 0, "a0", _uncompressed(bit["proof"], 0)),
        ),
        _invalid(
            bit,
            "bit_a1_x_not_below_p",
            "A1 with x = p + 1",
            ENCODING,
            proof=_with_field(
                bit, 0, "a1", b"\x02" + (FIELD_PRIME + 1).to_bytes(32, "big")
            ),
        ),
        _invalid(
            bit,
            "bit_a1_x_off_curve",
            "A1 with an x that is not on the curve",
            ENCODING,
            proof=_with_field(
                bit, 0, "a1", b"\x03" + _off_curve_x().to_bytes(32, "big")
            ),
        ),
        _invalid(
            bit,
            "bit_scalar_equals_q",
            "z0 encoded as q, which is not below q",
            ENCODING,
            proof=_with_field(bit, 0, "z0", Q.to_bytes(32, "big")),
        ),
        _invalid(
            bit,
            "bit_c0_all_ones",
            "c0 encoded as 2^256 - 1",
            ENCODING,
            proof=_with_field(bit, 0, "c0", b"\xff" * 32),
        ),
        _invalid(
            bit,
            "bit_trailing_byte",
            "one byte after the proof",
            ENCODING,
            proof=bit["proof"] + "00",
        ),
        _invalid(
            bit,
            "bit_truncated",
            "the last byte is missing",
            ENCODING,
            proof=bit["proof"][:-2],
        ),
        _invalid(
            bit,
            "bit_other_party",
            "the transcript binds party alice, verified for bob",
            bit_failure(0),
            context=context_json(other),
        ),
        _invalid(
            bit,
            "bit_other_index",
            "the transcript binds element index 1, verified for 2",
            bit_failure(0),
            index=2,
        ),
        _invalid(
            make_proof("bit_forced_two", "bit", 0, [2], unchecked=True),
            "bit_value_two",
            "the commitment holds 2, forced through the prover",
            bit_failure(0),
        ),
    ]
    return entries


def _invalid_range(rng: dict[str, Any]) -> list[dict[str, Any]]:
    first_point = COUNT_BYTES  # The bit count comes first.
    x_above_p = (FIELD_PRIME + 1).to_bytes(32, "big")
    data = bytes.fromhex(rng["proof"])
    shifted = decode_point(data[first_point : first_point + POINT_BYTES]) + G
    return [
        _invalid(
            rng,
            "range_truncated",
            "the last byte is missing",
            ENCODING,
            proof=rng["proof"][:-2],
        ),
        _invalid(
            rng,
            "range_trailing_bit_proof",
            "the last bit proof repeated after the proof",
            ENCODING,
            proof=rng["proof"] + data[-BIT_PROOF_BYTES:].hex(),
        ),
        _invalid(
            rng,
            "range_uncompressed_point",
            "bit commitment 0 in 65-byte uncompressed form",
            ENCODING,
            proof=_replace_bytes(
                rng["proof"],
                first_point,
                POINT_BYTES,
                _uncompressed(rng["proof"], first_point),
            ),
        ),
        _invalid(
            rng,
            "range_prefix_04",
            "bit commitment 0 with prefix 04 and 33 bytes",
            ENCODING,
            proof=_replace_bytes(rng["proof"], first_point, 1, b"\x04"),
        ),
        _invalid(
            rng,
            "range_x_not_below_p",
            "bit commitment 0 with x = p + 1",
            ENCODING,
            proof=_replace_bytes(
                rng["proof"], first_point, POINT_BYTES, b"\x02" + x_above_p
            ),
        ),
        _invalid(
            rng,
            "range_x_off_curve",
            "bit commitment 0 with an x that is not on the curve",
            ENCODING,
            proof=_replace_bytes(
                rng["proof"],
                first_point,
                POINT_BYTES,
                b"\x02" + _off_curve_x().to_bytes(32, "big"),
            ),
        ),
        _invalid(
            rng,
            "range_identity_point",
            "bit commitment 0 as 33 zero bytes",
            ENCODING,
            proof=_replace_bytes(
                rng["proof"], first_point, POINT_BYTES, bytes(POINT_BYTES)
            ),
        ),
        _invalid(
            rng,
            "range_a0_identity",
            "A0 of bit 0 as 33 zero bytes",
            ENCODING,
            proof=_with_field(rng, 0, "a0", bytes(POINT_BYTES)),
        ),
        _invalid(
            rng,
            "range_c0_above_q",
            "c0 of bit 0 encoded as q + 1",
            ENCODING,
            proof=_with_field(rng, 0, "c0", (Q + 1).to_bytes(32, "big")),
        ),
        _invalid(
            rng,
            "range_wrong_bit_count",
            "a bit count of 9 for an 8-bit range",
            ENCODING,
            proof=_replace_bytes(rng["proof"], 0, 4, (9).to_bytes(4, "big")),
        ),
        _invalid(
            rng,
            "range_zero_bit_count",
            "a bit count of 0",
            ENCODING,
            proof=_replace_bytes(rng["proof"], 0, 4, bytes(4)),
        ),
        _invalid(
            rng,
            "range_tampered_bit_commitment",
            "bit commitment 0 + G",
            NOT_SUMMING,
            proof=_replace_bytes(
                rng["proof"], first_point, POINT_BYTES, shifted.encode()
            ),
        ),
        _invalid(
            rng,
            "range_tampered_c0_first",
            "c0 of bit 0 + 1",
            bit_failure(0),
            proof=_tampered(rng, 0, "c0"),
        ),
        _invalid(
            rng,
            "range_tampered_z1_last",
            "z1 of bit 7 + 1",
            bit_failure(7),
            proof=_tampered(rng, -1, "z1"),
        ),
        _invalid(
            rng,
            "range_tampered_a1_last",
            "A1 of bit 7 + G, which changes the challenge",
            bit_failure(0),
            proof=_tampered(rng, -1, "a1"),
        ),
        _invalid(
            rng,
            "range_other_hi",
            "verified for hi = 99 instead of 100",
            NOT_SUMMING,
            hi=99,
        ),
        _invalid(
            rng,
            "range_other_job",
            "verified for another job id",
            bit_failure(0),
            context=context_json(replace(CONTEXT, job_id=bytes(16))),
        ),
        _invalid(
            rng,
            "range_other_spec_digest",
            "verified for another spec digest",
            bit_failure(0),
            context=context_json(replace(CONTEXT, spec_digest=bytes(32))),
        ),
        _invalid(
            rng,
            "range_other_round",
            "verified for round reveal",
            bit_failure(0),
            context=context_json(replace(CONTEXT, round="reveal")),
        ),
        _invalid(
            rng,
            "range_as_noise_bound",
            "verified as a noise-bound proof for T = 100: same bits, "
            "another domain label",
            bit_failure(0),
            drop=("lo", "hi"),
            kind="noise-bound",
            bound=100,
        ),
        _invalid(
            rng,
            "range_as_bounded_sum",
            "verified as a bounded sum of its one commitment: same "
            "statement, another domain label",
            bit_failure(0),
            kind="bounded-sum",
        ),
        _invalid(
            make_proof(
                "range_forced",
                "range",
                3,
                [101],
                lo=-100,
                hi=100,
                unchecked=True,
            ),
            "range_hi_plus_1",
            "the value is hi + 1, forced through the prover",
            bit_failure(7),
        ),
        _invalid(
            make_proof(
                "range_forced_low",
                "range",
                3,
                [-101],
                lo=-100,
                hi=100,
                unchecked=True,
            ),
            "range_lo_minus_1",
            "the value is lo - 1, forced through the prover",
            bit_failure(7),
        ),
    ]


def _invalid_one_hot(one_hot: dict[str, Any]) -> list[dict[str, Any]]:
    data = bytes.fromhex(one_hot["proof"])
    sum_blinding = int.from_bytes(data[-SCALAR_BYTES:], "big")
    return [
        _invalid(
            one_hot,
            "one_hot_tampered_sum_blinding",
            "R + 1",
            NOT_ONE,
            proof=(data[:-SCALAR_BYTES] + encode_scalar(sum_blinding + 1))
            .hex(),
        ),
        _invalid(
            one_hot,
            "one_hot_tampered_a0_first",
            "A0 of element 0 + G, which changes the challenge",
            bit_failure(0),
            proof=_tampered(one_hot, 0, "a0"),
        ),
        _invalid(
            one_hot,
            "one_hot_tampered_z1_last",
            "z1 of element 2 + 1",
            bit_failure(2),
            proof=_tampered(one_hot, -1, "z1"),
        ),
        _invalid(
            one_hot,
            "one_hot_sum_blinding_equals_q",
            "R encoded as q",
            ENCODING,
            proof=(data[:-SCALAR_BYTES] + Q.to_bytes(32, "big")).hex(),
        ),
        _invalid(
            one_hot,
            "one_hot_a1_prefix_04",
            "A1 of element 0 with prefix 04 and 33 bytes",
            ENCODING,
            proof=_replace_bytes(
                one_hot["proof"], _field_offset(one_hot, 0, "a1"), 1, b"\x04"
            ),
        ),
        _invalid(
            one_hot,
            "one_hot_wrong_count",
            "an element count of 4 for 3 commitments",
            ENCODING,
            proof=_replace_bytes(
                one_hot["proof"], 0, 4, (4).to_bytes(4, "big")
            ),
        ),
        _invalid(
            one_hot,
            "one_hot_truncated",
            "R is missing",
            ENCODING,
            proof=data[:-SCALAR_BYTES].hex(),
        ),
        _invalid(
            one_hot,
            "one_hot_other_round",
            "verified for round reveal",
            bit_failure(0),
            context=context_json(replace(CONTEXT, round="reveal")),
        ),
        _invalid(
            one_hot,
            "one_hot_reordered",
            "the commitments verified in reverse order",
            bit_failure(0),
            commitments=one_hot["commitments"][::-1],
        ),
        _invalid(
            make_proof(
                "one_hot_forced", "one-hot", 0, [1, 1, 0], unchecked=True
            ),
            "one_hot_two_ones",
            "two elements are 1, forced through the prover",
            NOT_ONE,
        ),
        _invalid(
            make_proof(
                "one_hot_forced_none",
                "one-hot",
                0,
                [0, 0, 0],
                unchecked=True,
            ),
            "one_hot_no_one",
            "no element is 1, forced through the prover",
            NOT_ONE,
        ),
        _invalid(
            make_proof(
                "one_hot_forced_non_bits",
                "one-hot",
                0,
                [1, 1, -1],
                unchecked=True,
            ),
            "one_hot_non_bits_summing_to_1",
            "elements 1, 1 and -1 sum to 1, forced through the prover",
            bit_failure(2),
        ),
    ]


def _invalid_bounded_sum(bounded: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        _invalid(
            bounded,
            "bounded_sum_tampered_z0_first",
            "z0 of bit 0 + 1",
            bit_failure(0),
            proof=_tampered(bounded, 0, "z0"),
        ),
        _invalid(
            bounded,
            "bounded_sum_a1_off_curve",
            "A1 of the last bit with an x that is not on the curve",
            ENCODING,
            proof=_with_field(
                bounded,
                -1,
                "a1",
                b"\x02" + _off_curve_x().to_bytes(32, "big"),
            ),
        ),
        _invalid(
            bounded,
            "bounded_sum_other_lo",
            "verified for lo = 1 instead of 2",
            NOT_SUMMING,
            lo=1,
        ),
        _invalid(
            bounded,
            "bounded_sum_dropped_commitment",
            "verified for the first two of its three commitments",
            NOT_SUMMING,
            commitments=bounded["commitments"][:2],
        ),
        _invalid(
            bounded,
            "bounded_sum_other_party",
            "verified for party bob",
            bit_failure(0),
            context=context_json(replace(CONTEXT, party_id="bob")),
        ),
        _invalid(
            make_proof(
                "bounded_sum_forced",
                "bounded-sum",
                1,
                [5, 4, 2],
                lo=2,
                hi=10,
                unchecked=True,
            ),
            "bounded_sum_above_hi",
            "the sum is 11 > hi = 10, forced through the prover",
            bit_failure(3),
        ),
    ]


def _invalid_noise_bound(noise: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        _invalid(
            noise,
            "noise_other_bound",
            "verified for T = 49 instead of 50",
            NOT_SUMMING,
            bound=49,
        ),
        _invalid(
            noise,
            "noise_other_index",
            "verified for element index 6 instead of 5",
            bit_failure(0),
            index=6,
        ),
        _invalid(
            noise,
            "noise_tampered_a1_first",
            "A1 of bit 0 + G, which changes the challenge",
            bit_failure(0),
            proof=_tampered(noise, 0, "a1"),
        ),
        _invalid(
            noise,
            "noise_z1_equals_q",
            "z1 of the last bit encoded as q",
            ENCODING,
            proof=_with_field(noise, -1, "z1", Q.to_bytes(32, "big")),
        ),
        _invalid(
            noise,
            "noise_as_range",
            "verified as a range proof for [-50, 50]: same bits, another "
            "domain label",
            bit_failure(0),
            drop=("bound",),
            kind="range",
            lo=-50,
            hi=50,
        ),
        _invalid(
            make_proof(
                "noise_forced",
                "noise-bound",
                5,
                [51],
                bound=50,
                unchecked=True,
            ),
            "noise_above_t",
            "the noise is T + 1, forced through the prover",
            bit_failure(6),
        ),
    ]


def render(vectors: dict[str, Any]) -> str:
    return json.dumps(vectors, indent=2) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="compare with the committed files instead of writing them",
    )
    args = parser.parse_args()
    outputs = {
        "transcript.json": render(build_transcript_vectors()),
        "proofs.json": render(build_proof_vectors()),
    }
    stale = []
    for filename, text in outputs.items():
        path = VECTOR_DIR / filename
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(filename)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"stale vectors: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
