"""Proof cost against the libsecp256k1 operations the proofs need.

Each protocol function is timed beside a minimal implementation of the
same computation that calls libsecp256k1 directly through coincurve's
bindings, with no Python objects around the points. Per bit:

| per bit | base mults | H or X mults | table sums | additions | decodings | encodings | multi-scalar terms |
| --- | --- | --- | --- | --- | --- | --- | --- |
| prove_bit | 3 (k G, u G, and r G to check the witness) | 0 | 1 (u G + c H) | 0.5 | 0 | 3 (C, A0, A1) | 0 |
| verify_bit, alone | 2 | 2 | 0 | 2.5 | 0 | 2 | 0 |
| range proof, proving | 3 (r_t G, k G, u G) | 0 | 1 | 0.5 | 0 | 3 (C_t, A0, A1) | 0 |
| range proof in a batch, verifying | 0 | 0 | 0 | 0 | 3 (C_t, A0, A1) | 0 | 3 (one 256-bit, two 128-bit scalars) |

prove_bit checks that its commitment opens, which its contract requires,
so the minimal implementation does too. A table sum is one combine call
of a point and 32 entries of a table of multiples of H, as
`mpc.group.FixedBase` does; the minimal implementation builds its own
table. A proof checked alone recomputes its first messages. Proofs
checked in a batch fold into one multi-scalar multiplication: the
protocol reads them from their bytes (`verify_encoded_ranges`), and the
minimal implementation decodes the same number of points into one array
and runs the same bucket method (`mpc.group.PointArray`) with random
scalars of the same sizes. The ratio is the protocol function's time
over the minimal one's, both measured in the same round, so machine load
affects both alike. The median over rounds is reported.
"""

from __future__ import annotations

import secrets

import numpy as np
from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

from bench.stats import median, per_call
from mpc.commitments import commit
from mpc.group import H, Q, PointArray, random_scalar
from mpc.proofs import (
    RANGE_KIND,
    ProofContext,
    prove_bit,
    prove_range,
    verify_bit,
    verify_encoded_ranges,
)

CTX = ProofContext(job_id=bytes(16), spec_digest=bytes(32),
                   party_id="bench", round="commit")
SAMPLES = 64
RANGE_BITS = 16
BATCH_PROOFS = 150
"""Range proofs per batch: 2,400 bits, as a chunk of a small bundle."""

_SECP = GLOBAL_CONTEXT.ctx
_COMPRESSED = lib.SECP256K1_EC_COMPRESSED


class _Raw:
    """Random inputs and the libsecp256k1 calls on them."""

    def __init__(self) -> None:
        self.scalars = [secrets.randbelow(Q - 1).to_bytes(32, "big")
                        for _ in range(SAMPLES)]
        self.points = [self.base(i) for i in range(SAMPLES)]
        self.h = self.parse(H.encode())
        self.encodings = [self.encode(p) for p in self.points]
        self._build_table()

    def _build_table(self) -> None:
        """Entry 256*j + e is (e + 1) * 256^j * H, as in FixedBase."""
        self.table = ffi.new("secp256k1_pubkey[]", 32 * 256)
        step = self.h
        for j in range(32):
            row = self.table + 256 * j
            row[0] = step[0]
            for e in range(1, 256):
                lib.secp256k1_ec_pubkey_combine(
                    _SECP, row + e, [row + e - 1, step], 2)
            step = row + 255
        self.table_rows = (int(ffi.cast("uintptr_t", self.table))
                           + 64 * 256 * np.arange(32, dtype=np.uint64))
        self.shift = sum(1 << (8 * j) for j in range(32)) % Q
        self.addresses = np.zeros(33, dtype=np.uint64)
        self.pointers = ffi.cast("secp256k1_pubkey **",
                                 ffi.from_buffer(self.addresses))

    def table_add(self, start, i: int):
        """Return start + c*H for the scalar c of sample i."""
        c = int.from_bytes(self.scalars[i % SAMPLES], "big")
        digits = np.frombuffer(
            ((c - self.shift) % Q).to_bytes(32, "little"), dtype=np.uint8)
        self.addresses[0] = int(ffi.cast("uintptr_t", start))
        self.addresses[1:] = self.table_rows + 64 * digits.astype(np.uint64)
        out = ffi.new("secp256k1_pubkey *")
        lib.secp256k1_ec_pubkey_combine(_SECP, out, self.pointers, 33)
        return out

    def base(self, i: int):
        out = ffi.new("secp256k1_pubkey *")
        lib.secp256k1_ec_pubkey_create(_SECP, out,
                                       self.scalars[i % SAMPLES])
        return out

    def mul(self, point, i: int):
        out = ffi.new("secp256k1_pubkey *", point[0])
        lib.secp256k1_ec_pubkey_tweak_mul(_SECP, out,
                                          self.scalars[i % SAMPLES])
        return out

    def add(self, a, b):
        out = ffi.new("secp256k1_pubkey *")
        lib.secp256k1_ec_pubkey_combine(_SECP, out, [a, b], 2)
        return out

    def encode(self, point) -> bytes:
        out = ffi.new("unsigned char[33]")
        size = ffi.new("size_t *", 33)
        lib.secp256k1_ec_pubkey_serialize(_SECP, out, size, point,
                                          _COMPRESSED)
        return bytes(out)

    def parse(self, data: bytes):
        out = ffi.new("secp256k1_pubkey *")
        lib.secp256k1_ec_pubkey_parse(_SECP, out, data, 33)
        return out

    def _first_messages(self, i: int) -> None:
        """k G, and u G + c H for the simulated branch, encoded."""
        real = self.base(i + 1)
        simulated = self.table_add(self.base(i + 2), i + 3)
        self.encode(real)
        self.encode(simulated)

    def prove_bit(self, i: int) -> None:
        check = self.base(i)
        if i % 2:
            check = self.add(check, self.h)
        self.encode(check)
        self._first_messages(i)
        self.encode(self.points[i % SAMPLES])

    def verify_bit(self, i: int) -> None:
        point = self.points[i % SAMPLES]
        first0 = self.add(self.base(i), self.mul(point, i + 1))
        shifted = self.add(point, self.h)
        first1 = self.add(self.base(i + 2), self.mul(shifted, i + 3))
        self.encode(first0)
        self.encode(first1)

    def prove_range_bit(self, i: int) -> None:
        bit_commitment = self.base(i)
        if i % 2:
            bit_commitment = self.add(bit_commitment, self.h)
        self.encode(bit_commitment)
        self._first_messages(i)


def _raw_batch(raw: _Raw, bits: int):
    """Return a minimal batch check of `bits` bits: decode 3 points per
    bit into one array and one multi-scalar multiplication over them."""
    encodings = [raw.encodings[i % SAMPLES] for i in range(3 * bits)]
    scalars = [secrets.randbelow(Q) if i % 3 == 0 else secrets.randbits(128)
               for i in range(3 * bits)]

    def run(_: int) -> None:
        PointArray(encodings).multi_mul(scalars)

    return run


def measure(rounds: int = 5) -> dict:
    """Return per-operation times (microseconds) and the four ratios."""
    raw = _Raw()
    blindings = [random_scalar() for _ in range(SAMPLES)]
    bits = [i % 2 for i in range(SAMPLES)]
    points = [commit(b, r) for b, r in zip(bits, blindings)]
    proofs = [prove_bit(CTX, i, points[i], bits[i], blindings[i])
              for i in range(SAMPLES)]
    values = [secrets.randbelow(1 << RANGE_BITS) for _ in range(8)]
    value_points = [commit(v, r) for v, r in zip(values, blindings)]
    high = (1 << RANGE_BITS) - 1
    encoded_ranges = b"".join(
        prove_range(CTX, i, value_points[i % 8], 0, high, values[i % 8],
                    blindings[i % 8]).encode()
        for i in range(BATCH_PROOFS)
    )
    batch_parts = [(
        RANGE_KIND, 0, [(0, high)] * BATCH_PROOFS,
        b"".join(value_points[i % 8].encode() for i in range(BATCH_PROOFS)),
        encoded_ranges,
    )]

    def j(i: int) -> int:
        return i % SAMPLES

    def verify_batch(_: int) -> None:
        if not verify_encoded_ranges(CTX, batch_parts):
            raise RuntimeError("an honest batch of range proofs failed")

    cases = {
        "prove_bit": (
            lambda i: prove_bit(CTX, j(i), points[j(i)], bits[j(i)],
                                blindings[j(i)]),
            raw.prove_bit, 200, 1, 1),
        "verify_bit, alone": (
            lambda i: verify_bit(CTX, j(i), points[j(i)], proofs[j(i)]),
            raw.verify_bit, 200, 1, 1),
        "range proof per bit, proving": (
            lambda i: prove_range(CTX, i % 8, value_points[i % 8], 0, high,
                                  values[i % 8], blindings[i % 8]),
            raw.prove_range_bit, 12, RANGE_BITS, RANGE_BITS),
        "range proof per bit, verifying in a batch": (
            verify_batch, _raw_batch(raw, BATCH_PROOFS * RANGE_BITS), 1,
            BATCH_PROOFS * RANGE_BITS, 1),
    }
    out: dict = {"operations_us": {}, "cases": {}, "rounds": rounds}
    for name, (protocol, ops, calls, per, raw_calls) in cases.items():
        ratios, proto_times, raw_times = [], [], []
        for _ in range(rounds):
            t_proto = per_call(protocol, calls, repeats=1) / per
            t_raw = per_call(ops, calls * raw_calls,
                             repeats=1) * raw_calls / per
            ratios.append(t_proto / t_raw)
            proto_times.append(t_proto)
            raw_times.append(t_raw)
        out["cases"][name] = {
            "protocol_us": median(proto_times) * 1e6,
            "raw_us": median(raw_times) * 1e6,
            "ratio": median(ratios),
        }
    out["operations_us"] = {
        "base mult (k G)": per_call(raw.base, 2000) * 1e6,
        "variable-base mult (c X)": per_call(
            lambda i: raw.mul(raw.points[j(i)], i + 1), 2000) * 1e6,
        "addition": per_call(
            lambda i: raw.add(raw.points[j(i)], raw.points[j(i + 1)]),
            2000) * 1e6,
        "encoding": per_call(lambda i: raw.encode(raw.points[j(i)]),
                             2000) * 1e6,
        "decoding": per_call(lambda i: raw.parse(raw.encodings[j(i)]),
                             2000) * 1e6,
    }
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(measure(), indent=2))
