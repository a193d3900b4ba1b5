"""Proof cost against the libsecp256k1 operations the proofs need.

A bit proof (CDS OR proof) and its verification reduce to a handful of
curve operations, here called through coincurve exactly as a minimal
implementation would call them:

| per bit | base mults | variable-base mults | additions | encodings |
| --- | --- | --- | --- | --- |
| prove_bit | 2 (k G, z G) | 1 (c X) | 1.5 (A, and C - H half the time) | 3 (C, A0, A1) |
| verify_bit | 2 | 2 | 3 (A0, A1, C - H) | 3 |
| range proof, per bit, proving | 3 (r G for C_t, k G, z G) | 1 | 2 | 4 (C_t twice, A0, A1) |
| range proof, per bit, verifying | 2 | 2 | 4 (with the recomposition) | 3 |

The ratio is the protocol function's time over the time of those raw
operations. Both are measured in the same round, so machine load affects
both alike. The median over rounds is reported.
"""

from __future__ import annotations

import secrets

from coincurve import PublicKey

from bench.stats import median, per_call
from mpc.commitments import commit
from mpc.group import Q, H, random_scalar
from mpc.proofs import (
    ProofContext,
    prove_bit,
    prove_range,
    verify_bit,
    verify_range,
)

CTX = ProofContext(job_id=bytes(16), spec_digest=bytes(32),
                   party_id="bench", round="commit")
SAMPLES = 64
RANGE_BITS = 16


class _Raw:
    """Random inputs and the raw coincurve operations on them."""

    def __init__(self) -> None:
        self.scalars = [secrets.randbelow(Q - 1).to_bytes(32, "big")
                        for _ in range(SAMPLES)]
        self.points = [PublicKey.from_valid_secret(s) for s in self.scalars]
        self.h = PublicKey(H.encode())

    def base(self, i: int) -> PublicKey:
        return PublicKey.from_valid_secret(self.scalars[i % SAMPLES])

    def mul(self, i: int) -> PublicKey:
        return self.points[i % SAMPLES].multiply(
            self.scalars[(i + 1) % SAMPLES])

    def add(self, a: PublicKey, b: PublicKey) -> PublicKey:
        return PublicKey.combine_keys([a, b])

    def prove_bit(self, i: int) -> None:
        k, z = self.base(i), self.base(i + 1)
        cx = self.mul(i)
        a = self.add(z, cx)
        if i % 2 == 0:
            self.add(self.points[i % SAMPLES], self.h)
        for point in (self.points[i % SAMPLES], k, a):
            point.format()

    def verify_bit(self, i: int) -> None:
        z0, z1 = self.base(i), self.base(i + 1)
        c0, c1 = self.mul(i), self.mul(i + 1)
        a0 = self.add(z0, c0)
        self.add(self.points[i % SAMPLES], self.h)
        a1 = self.add(z1, c1)
        for point in (self.points[i % SAMPLES], a0, a1):
            point.format()

    def prove_range_bit(self, i: int) -> None:
        ct = self.base(i + 2)
        if i % 2:
            ct = self.add(ct, self.h)
        self.prove_bit(i)
        ct.format()

    def verify_range_bit(self, i: int) -> None:
        self.verify_bit(i)
        self.add(self.points[i % SAMPLES], self.points[(i + 1) % SAMPLES])


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
    ranges = [prove_range(CTX, i, value_points[i], 0, high, values[i],
                          blindings[i]) for i in range(8)]

    def j(i: int) -> int:
        return i % SAMPLES

    cases = {
        "prove_bit": (
            lambda i: prove_bit(CTX, j(i), points[j(i)], bits[j(i)],
                                blindings[j(i)]),
            raw.prove_bit, 200, 1),
        "verify_bit": (
            lambda i: verify_bit(CTX, j(i), points[j(i)], proofs[j(i)]),
            raw.verify_bit, 200, 1),
        "range proof per bit, proving": (
            lambda i: prove_range(CTX, i % 8, value_points[i % 8], 0, high,
                                  values[i % 8], blindings[i % 8]),
            raw.prove_range_bit, 12, RANGE_BITS),
        "range proof per bit, verifying": (
            lambda i: verify_range(CTX, i % 8, value_points[i % 8], 0, high,
                                   ranges[i % 8]),
            raw.verify_range_bit, 12, RANGE_BITS),
    }
    out: dict = {"operations_us": {}, "cases": {}}
    for name, (protocol, ops, calls, per) in cases.items():
        ratios, proto_times, raw_times = [], [], []
        for _ in range(rounds):
            t_proto = per_call(protocol, calls, repeats=1) / per
            t_raw = per_call(ops, calls * per, repeats=1)
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
        "variable-base mult (c X)": per_call(raw.mul, 2000) * 1e6,
        "addition": per_call(
            lambda i: raw.add(raw.points[j(i)], raw.points[j(i + 1)]),
            2000) * 1e6,
        "encoding": per_call(lambda i: raw.points[j(i)].format(),
                             2000) * 1e6,
    }
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(measure(), indent=2))
