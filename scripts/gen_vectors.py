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
checked here to be rejected before it is written.
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
from mpc.group import FIELD_PRIME, H_LABEL, SUITE, G, H, Point, Q, decode_point
from mpc.proofs import (
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


def _invalid(
    base: dict[str, Any], name: str, reason: str, expected: str, **changes
) -> dict[str, Any]:
    """Return a must-reject vector derived from `base`."""
    entry = {
        key: value
        for key, value in base.items()
        if key not in ("values", "blindings", "nonces")
    }
    entry.update(changes)
    entry["name"] = name
    entry["reason"] = reason
    entry["expected"] = expected
    return entry


def _replace_bytes(hex_data: str, offset: int, size: int, new: bytes) -> str:
    data = bytes.fromhex(hex_data)
    return (data[:offset] + new + data[offset + size :]).hex()


def _off_curve_x() -> int:
    x = 1
    while pow(x**3 + 7, (FIELD_PRIME - 1) // 2, FIELD_PRIME) == 1:
        x += 1
    return x


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
    bit = by_name["bit_one"]
    rng = by_name["range_signed"]
    first_point = 4  # A range proof starts with its 4-byte bit count.
    encoded_point = bytes.fromhex(rng["proof"])[first_point : first_point + 33]
    uncompressed = PublicKey(encoded_point).format(compressed=False)
    x_above_p = (FIELD_PRIME + 1).to_bytes(32, "big")
    other = replace(CONTEXT, party_id="bob")

    invalid = [
        _invalid(
            bit,
            "bit_tampered_c0",
            "c0 + 1 changes the recomputed A0",
            "verification",
            proof=_replace_bytes(
                bit["proof"],
                32,
                32,
                ((int(bit["proof"][64:128], 16) + 1) % Q).to_bytes(32, "big"),
            ),
        ),
        _invalid(
            bit,
            "bit_tampered_z1",
            "z1 + 1 changes the recomputed A1",
            "verification",
            proof=_replace_bytes(
                bit["proof"],
                96,
                32,
                ((int(bit["proof"][192:256], 16) + 1) % Q).to_bytes(32, "big"),
            ),
        ),
        _invalid(
            bit,
            "bit_scalar_equals_q",
            "z0 encoded as q, which is not below q",
            "encoding",
            proof=_replace_bytes(bit["proof"], 64, 32, Q.to_bytes(32, "big")),
        ),
        _invalid(
            bit,
            "bit_trailing_byte",
            "one byte after the proof",
            "encoding",
            proof=bit["proof"] + "00",
        ),
        _invalid(
            bit,
            "bit_other_party",
            "the transcript binds party alice, verified for bob",
            "verification",
            context=context_json(other),
        ),
        _invalid(
            bit,
            "bit_other_index",
            "the transcript binds element index 1, verified for 2",
            "verification",
            index=2,
        ),
        _invalid(
            make_proof("bit_forced_two", "bit", 0, [2], unchecked=True),
            "bit_value_two",
            "the commitment holds 2, forced through the prover",
            "verification",
        ),
        _invalid(
            rng,
            "range_truncated",
            "the last byte is missing",
            "encoding",
            proof=rng["proof"][:-2],
        ),
        _invalid(
            rng,
            "range_uncompressed_point",
            "bit commitment 0 in 65-byte uncompressed form",
            "encoding",
            proof=_replace_bytes(rng["proof"], first_point, 33, uncompressed),
        ),
        _invalid(
            rng,
            "range_prefix_04",
            "bit commitment 0 with prefix 04 and 33 bytes",
            "encoding",
            proof=_replace_bytes(rng["proof"], first_point, 1, b"\x04"),
        ),
        _invalid(
            rng,
            "range_x_not_below_p",
            "bit commitment 0 with x = p + 1",
            "encoding",
            proof=_replace_bytes(
                rng["proof"], first_point, 33, b"\x02" + x_above_p
            ),
        ),
        _invalid(
            rng,
            "range_x_off_curve",
            "bit commitment 0 with an x that is not on the curve",
            "encoding",
            proof=_replace_bytes(
                rng["proof"],
                first_point,
                33,
                b"\x02" + _off_curve_x().to_bytes(32, "big"),
            ),
        ),
        _invalid(
            rng,
            "range_identity_point",
            "bit commitment 0 as 33 zero bytes",
            "encoding",
            proof=_replace_bytes(rng["proof"], first_point, 33, bytes(33)),
        ),
        _invalid(
            rng,
            "range_wrong_bit_count",
            "a bit count of 9 for an 8-bit range",
            "encoding",
            proof=_replace_bytes(rng["proof"], 0, 4, (9).to_bytes(4, "big")),
        ),
        _invalid(
            rng,
            "range_other_hi",
            "verified for hi = 99 instead of 100",
            "verification",
            hi=99,
        ),
        _invalid(
            rng,
            "range_other_job",
            "verified for another job id",
            "verification",
            context=context_json(replace(CONTEXT, job_id=bytes(16))),
        ),
        _invalid(
            rng,
            "range_other_spec_digest",
            "verified for another spec digest",
            "verification",
            context=context_json(replace(CONTEXT, spec_digest=bytes(32))),
        ),
        _invalid(
            rng,
            "range_other_round",
            "verified for round reveal",
            "verification",
            context=context_json(replace(CONTEXT, round="reveal")),
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
            "verification",
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
            "verification",
        ),
        _invalid(
            make_proof(
                "one_hot_forced", "one-hot", 0, [1, 1, 0], unchecked=True
            ),
            "one_hot_two_ones",
            "two elements are 1, forced through the prover",
            "verification",
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
            "verification",
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
            "verification",
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
            "verification",
        ),
        _invalid(
            by_name["noise_bound"],
            "noise_other_bound",
            "verified for T = 49 instead of 50",
            "verification",
            bound=49,
        ),
    ]

    for entry in valid:
        verify_entry(entry)
    for entry in invalid:
        try:
            verify_entry(entry)
        except ProofError as exc:
            is_encoding = "invalid encoding" in exc.reason
            assert is_encoding == (entry["expected"] == "encoding"), entry
        else:
            raise AssertionError(f"vector {entry['name']} was accepted")

    return {
        "description": (
            "Sigma proof vectors. Valid entries verify and replay: proving "
            "the values with the blindings, drawing the listed nonces, "
            "gives the proof bytes. Invalid entries must be rejected, with "
            "an encoding error when expected is 'encoding'."
        ),
        "context": context_json(CONTEXT),
        "valid": valid,
        "invalid": invalid,
    }


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
