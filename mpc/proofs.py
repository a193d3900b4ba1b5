"""Sigma proofs about Pedersen commitments, non-interactive by Fiat-Shamir.

Five statements about commitments Com(v; r) = r*G + v*H, all built from
one Sigma protocol, the Cramer-Damgard-Schoenmakers OR proof that C opens
to 0 or to 1 [CDS94]:

- bit: C = Com(0; r) or C = Com(1; r);
- range: C = Com(x; r) with lo <= x <= hi, by an AND of bit proofs on a
  weighted bit decomposition of x - lo;
- one-hot: every C_i commits to a bit and the bits sum to 1;
- bounded sum: the sum of the C_i commits to a value in [lo, hi];
- noise bound: C = Com(e; r) with -T <= e <= T.

The proofs of a range, bounded sum or noise bound share their structure
(`RangeProof`) and differ in the domain label of their transcript. Every
challenge is SHA-512 over a labelled transcript (`mpc.transcript`). It
binds the domain, the `ProofContext` (job, spec digest, party, round),
the element index, the bounds, G and H, the statement commitments and
every first message. So a proof made for one of these fails for any
other. docs/sigma.md describes the protocols, the transcript layout and
the encodings.

Errors come in two families. A caller mistake (bounds with hi <= lo, a
witness that does not satisfy the statement) raises `ValueError`. A proof
that fails to decode or to verify raises `ProofError`, whose message names
the proof kind, the index and a reason computed from public data only.

NOTE: Python integers and the branch taken for the real bit are not
constant-time, so a prover sharing a machine with an attacker may leak
its bits through timing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from mpc.commitments import commit, opens
from mpc.group import (
    IDENTITY,
    POINT_BYTES,
    SCALAR_BYTES,
    EncodingError,
    G,
    H,
    Point,
    Q,
    base_mul,
    decode_point,
    decode_scalar,
    encode_scalar,
    random_scalar,
    sum_points,
)
from mpc.transcript import Transcript

BIT_DOMAIN = b"bit/v1"
RANGE_DOMAIN = b"range/v1"
ONE_HOT_DOMAIN = b"one-hot/v1"
BOUNDED_SUM_DOMAIN = b"bounded-sum/v1"
NOISE_BOUND_DOMAIN = b"noise-bound/v1"

BIT_KIND = "bit"
RANGE_KIND = "range"
ONE_HOT_KIND = "one-hot"
BOUNDED_SUM_KIND = "bounded-sum"
NOISE_BOUND_KIND = "noise-bound"

JOB_ID_BYTES = 16
SPEC_DIGEST_BYTES = 32
COUNT_BYTES = 4
"""Width of every count in an encoding: unsigned 32-bit big-endian."""
MAX_RANGE_BITS = 128
"""Widest range, in bits of hi - lo. Shared values live in a 61-bit field,
so no useful range comes near it. The cap keeps hi - lo far below q, which
soundness needs, and bounds the size of a proof a decoder accepts."""

_NEG_H = -H
_ProofT = TypeVar("_ProofT")


class ProofError(Exception):
    """A proof that failed to decode or to verify.

    `kind` names the proof ("bit", "range", "one-hot", "bounded-sum",
    "noise-bound" or "bundle"), `index` the element or group it is about
    (None when the proof was decoded on its own), and `reason` what
    failed. All three are computed from public data only.
    """

    def __init__(self, kind: str, index: int | None, reason: str) -> None:
        # The three fields are the exception's args, so it survives the
        # pickling that a process pool does to return it.
        super().__init__(kind, index, reason)
        self.kind = kind
        self.index = index
        self.reason = reason

    def __str__(self) -> str:
        where = "" if self.index is None else f" {self.index}"
        return f"{self.kind} proof{where} rejected: {self.reason}"


@dataclass(frozen=True)
class ProofContext:
    """The public setting that every transcript binds.

    `job_id` is the 16-byte job id, `spec_digest` the SHA-256 digest of
    the canonical job spec (so the whole statement of the job is bound),
    `party_id` the proving party and `round` the protocol round, such as
    "commit".
    """

    job_id: bytes
    spec_digest: bytes
    party_id: str
    round: str

    def __post_init__(self) -> None:
        if not isinstance(self.job_id, bytes):
            raise TypeError("job_id must be bytes")
        if len(self.job_id) != JOB_ID_BYTES:
            raise ValueError(
                f"job_id must be {JOB_ID_BYTES} bytes, got {len(self.job_id)}"
            )
        if not isinstance(self.spec_digest, bytes):
            raise TypeError("spec_digest must be bytes")
        if len(self.spec_digest) != SPEC_DIGEST_BYTES:
            raise ValueError(
                f"spec_digest must be {SPEC_DIGEST_BYTES} bytes, "
                f"got {len(self.spec_digest)}"
            )
        if not isinstance(self.party_id, str) or not self.party_id:
            raise ValueError("party_id must be a non-empty string")
        if not isinstance(self.round, str) or not self.round:
            raise ValueError("round must be a non-empty string")


@dataclass(frozen=True)
class BitResponse:
    """The per-bit part of an OR proof: c0, z0 and z1, with c1 = c - c0."""

    c0: int
    z0: int
    z1: int


@dataclass(frozen=True)
class BitProof:
    """Proof that C commits to 0 or 1: the challenge c and (c0, z0, z1).

    The challenge travels with the proof because the verifier needs
    c1 = c - c0 to recompute the first message A1, then checks that the
    transcript hashes to c.

    Encoding (128 bytes): c || c0 || z0 || z1, each a 32-byte scalar.
    """

    c: int
    c0: int
    z0: int
    z1: int

    def encode(self) -> bytes:
        return b"".join(
            encode_scalar(s) for s in (self.c, self.c0, self.z0, self.z1)
        )

    @classmethod
    def decode(cls, data: bytes) -> BitProof:
        """Decode a bit proof; raise ProofError unless it is canonical."""
        return _decode_whole(data, BIT_KIND, cls.read)

    @classmethod
    def read(cls, reader: ProofReader) -> BitProof:
        """Read a bit proof; raise EncodingError if it is malformed."""
        return cls(
            reader.scalar(), reader.scalar(), reader.scalar(), reader.scalar()
        )


@dataclass(frozen=True)
class RangeProof:
    """Proof that a commitment opens to a value in [lo, hi].

    Used for ranges, bounded sums and noise bounds. `bit_commitments`
    contains C_t for the k weighted bits, `c` the challenge shared by all
    bits and `responses` one (c0, z0, z1) per bit.

    Encoding: k (4 bytes) || C_0 .. C_{k-1} (33 bytes each) || c
    || (c0 || z0 || z1) per bit, so 4 + 33*k + 32 + 96*k bytes.
    """

    bit_commitments: tuple[Point, ...]
    c: int
    responses: tuple[BitResponse, ...]

    def encode(self) -> bytes:
        parts = [encode_count(len(self.bit_commitments))]
        parts += [point.encode() for point in self.bit_commitments]
        parts.append(encode_scalar(self.c))
        parts += [_encode_response(r) for r in self.responses]
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes, bits: int | None = None) -> RangeProof:
        """Decode a range proof; raise ProofError unless it is canonical.

        When `bits` is given, the encoded bit count must equal it.
        """
        return _decode_whole(
            data, RANGE_KIND, lambda reader: cls.read(reader, bits)
        )

    @classmethod
    def read(cls, reader: ProofReader, bits: int | None) -> RangeProof:
        """Read a range proof; raise EncodingError if it is malformed."""
        count = reader.count()
        if not 1 <= count <= MAX_RANGE_BITS:
            raise EncodingError(
                f"bit count {count} is not in [1, {MAX_RANGE_BITS}]"
            )
        if bits is not None and count != bits:
            raise EncodingError(f"expected {bits} bits, got {count}")
        bit_commitments = tuple(reader.point() for _ in range(count))
        c = reader.scalar()
        responses = tuple(_read_response(reader) for _ in range(count))
        return cls(bit_commitments, c, responses)


@dataclass(frozen=True)
class OneHotProof:
    """Proof that commitments C_0 .. C_{n-1} hold bits summing to 1.

    `c` is the challenge shared by the n bit proofs, `responses` one
    (c0, z0, z1) per element and `sum_blinding` the opening R of
    sum_i C_i - H = R*G.

    Encoding: n (4 bytes) || c || (c0 || z0 || z1) per element
    || sum_blinding, so 4 + 32 + 96*n + 32 bytes.
    """

    c: int
    responses: tuple[BitResponse, ...]
    sum_blinding: int

    def encode(self) -> bytes:
        parts = [encode_count(len(self.responses)), encode_scalar(self.c)]
        parts += [_encode_response(r) for r in self.responses]
        parts.append(encode_scalar(self.sum_blinding))
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes, size: int | None = None) -> OneHotProof:
        """Decode a one-hot proof; raise ProofError unless canonical.

        When `size` is given, the encoded element count must equal it.
        """
        return _decode_whole(
            data, ONE_HOT_KIND, lambda reader: cls.read(reader, size)
        )

    @classmethod
    def read(cls, reader: ProofReader, size: int | None) -> OneHotProof:
        """Read a one-hot proof; raise EncodingError if it is malformed."""
        count = reader.count()
        if count == 0:
            raise EncodingError("a one-hot proof needs at least one element")
        if size is not None and count != size:
            raise EncodingError(f"expected {size} elements, got {count}")
        c = reader.scalar()
        responses = tuple(_read_response(reader) for _ in range(count))
        return cls(c, responses, reader.scalar())


# Encoding helpers.


class ProofReader:
    """A strict reader of proof encodings, for decoders of larger messages.

    Every method raises mpc.group.EncodingError on truncated or
    non-canonical input, and the public decoders turn that into
    ProofError.
    """

    def __init__(self, data: bytes) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("proof data must be bytes")
        self._data = bytes(data)
        self._offset = 0

    def take(self, size: int) -> bytes:
        end = self._offset + size
        if end > len(self._data):
            raise EncodingError("truncated input")
        chunk = self._data[self._offset : end]
        self._offset = end
        return chunk

    def count(self) -> int:
        return int.from_bytes(self.take(COUNT_BYTES), "big")

    def point(self) -> Point:
        return decode_point(self.take(POINT_BYTES))

    def scalar(self) -> int:
        return decode_scalar(self.take(SCALAR_BYTES))

    def finish(self) -> None:
        if self._offset != len(self._data):
            raise EncodingError("trailing bytes after the proof")


def encode_count(count: int) -> bytes:
    """Return a count as 4 bytes big-endian."""
    return count.to_bytes(COUNT_BYTES, "big")


def _encode_response(response: BitResponse) -> bytes:
    return (
        encode_scalar(response.c0)
        + encode_scalar(response.z0)
        + encode_scalar(response.z1)
    )


def _read_response(reader: ProofReader) -> BitResponse:
    return BitResponse(reader.scalar(), reader.scalar(), reader.scalar())


def _decode_whole(
    data: bytes, kind: str, read: Callable[[ProofReader], _ProofT]
) -> _ProofT:
    reader = ProofReader(data)
    try:
        proof = read(reader)
        reader.finish()
    except EncodingError as exc:
        raise ProofError(kind, None, f"invalid encoding: {exc}") from None
    return proof


# Statement checks shared by the provers and verifiers.


def range_weights(lo: int, hi: int) -> tuple[int, ...]:
    """Return the bit weights w_t whose subset sums are exactly [0, hi-lo].

    With B = hi - lo and k = B.bit_length(): w_t = 2^t for t < k-1 and
    w_{k-1} = B - 2^(k-1) + 1. Raises ValueError unless lo < hi and
    k <= MAX_RANGE_BITS.
    """
    if not isinstance(lo, int) or not isinstance(hi, int):
        raise TypeError("range bounds must be integers")
    if hi <= lo:
        raise ValueError(f"a range needs hi > lo, got lo={lo}, hi={hi}")
    span = hi - lo
    k = span.bit_length()
    if k > MAX_RANGE_BITS:
        raise ValueError(
            f"range [{lo}, {hi}] needs {k} bits, more than {MAX_RANGE_BITS}"
        )
    top = span - (1 << (k - 1)) + 1
    return tuple(1 << t for t in range(k - 1)) + (top,)


def _check_index(index: int) -> None:
    if not isinstance(index, int) or index < 0:
        raise ValueError(f"index must be a non-negative int, got {index!r}")


def _check_noise_bound(bound: int) -> None:
    if not isinstance(bound, int) or bound < 1:
        raise ValueError(f"noise bound T must be an int >= 1, got {bound!r}")


def _check_points(commitments: Sequence[Point], kind: str) -> None:
    if not commitments:
        raise ValueError(f"a {kind} proof needs at least one commitment")
    for point in commitments:
        if not isinstance(point, Point):
            raise TypeError(f"{kind} commitments must be Points")
        if point.is_identity:
            raise ValueError(
                f"{kind} commitment is the identity, which has no encoding"
            )


def _check_witness(
    commitments: Sequence[Point],
    values: Sequence[int],
    blindings: Sequence[int],
) -> None:
    if len(values) != len(commitments) or len(blindings) != len(values):
        raise ValueError(
            f"{len(commitments)} commitments, {len(values)} values and "
            f"{len(blindings)} blindings"
        )
    for position, point in enumerate(commitments):
        if not opens(point, values[position], blindings[position]):
            raise ValueError(
                f"commitment {position} does not open to its value and "
                "blinding"
            )


# Fiat-Shamir transcripts. Every proof starts with _start_transcript and
# then appends its bounds, statement commitments and first messages.


def _start_transcript(
    domain: bytes,
    ctx: ProofContext,
    index: int,
    bounds: Sequence[tuple[bytes, int]],
    commitments: Sequence[Point],
) -> Transcript:
    transcript = Transcript(domain)
    transcript.append_bytes(b"job_id", ctx.job_id)
    transcript.append_bytes(b"spec_digest", ctx.spec_digest)
    transcript.append_text(b"party_id", ctx.party_id)
    transcript.append_text(b"round", ctx.round)
    transcript.append_int(b"index", index)
    transcript.append_point(b"G", G)
    transcript.append_point(b"H", H)
    for label, value in bounds:
        transcript.append_int(label, value)
    transcript.append_int(b"n", len(commitments))
    for point in commitments:
        transcript.append_point(b"C", point)
    return transcript


# The AND of OR proofs [CDS94], all bits sharing one
# challenge c. For bit t with commitment C_t and blinding r_t, branch 0
# claims C_t = r_t*G and branch 1 claims C_t - H = r_t*G. The prover
# responds on the true branch with a Schnorr response z = k + c_b*r_t and
# simulates the other by picking its challenge and response first.


def _first_message(z: int, c: int, statement: Point) -> Point:
    """Return the first message A = z*G - c*X, with X = `statement`."""
    return base_mul(z) + statement * (Q - c)


def _drawer(nonces: Iterator[int] | None) -> Callable[[], int]:
    if nonces is None:
        return random_scalar

    def draw() -> int:
        try:
            return next(nonces) % Q
        except StopIteration:
            raise ValueError("the test nonce iterator ran out") from None

    return draw


def _prove_bits(
    transcript: Transcript,
    bit_commitments: Sequence[Point],
    bits: Sequence[int],
    bit_blindings: Sequence[int],
    draw: Callable[[], int],
) -> tuple[int, tuple[BitResponse, ...]]:
    """Return the shared challenge c and one response per bit.

    A value of `bits` other than 0 or 1 only comes from a forced prover.
    It is treated as branch 0, so the resulting proof fails.
    """
    # Step 1: first messages, drawing (k, c_sim, z_sim) for each bit.
    states = []
    for point, bit in zip(bit_commitments, bits, strict=True):
        k, c_sim, z_sim = draw(), draw(), draw()
        if bit == 1:
            first0 = _first_message(z_sim, c_sim, point)
            first1 = base_mul(k)
        else:
            first0 = base_mul(k)
            first1 = _first_message(z_sim, c_sim, point + _NEG_H)
        transcript.append_point(b"A0", first0)
        transcript.append_point(b"A1", first1)
        states.append((k, c_sim, z_sim))

    # Step 2: the challenge, split per bit as c = c0 + c1.
    c = transcript.challenge()
    responses = []
    for (k, c_sim, z_sim), bit, r in zip(
        states, bits, bit_blindings, strict=True
    ):
        c_real = (c - c_sim) % Q
        z_real = (k + c_real * r) % Q
        if bit == 1:
            responses.append(BitResponse(c_sim, z_sim, z_real))
        else:
            responses.append(BitResponse(c_real, z_real, z_sim))
    return c, tuple(responses)


def _check_bits(
    kind: str,
    index: int,
    transcript: Transcript,
    bit_commitments: Sequence[Point],
    c: int,
    responses: Sequence[BitResponse],
) -> None:
    """Recompute every first message and check the shared challenge."""
    # Guard: a zero challenge makes A = z*G pass for any commitment, so
    # the proof would bind nothing. The hash gives 0 with probability
    # 2^-256, so no honest proof carries it.
    if c == 0:
        raise ProofError(kind, index, "zero challenge")
    for response in responses:
        for scalar in (response.c0, response.z0, response.z1):
            _check_scalar(kind, index, scalar)

    for point, response in zip(bit_commitments, responses, strict=True):
        c1 = (c - response.c0) % Q
        first0 = _first_message(response.z0, response.c0, point)
        first1 = _first_message(response.z1, c1, point + _NEG_H)
        if first0.is_identity or first1.is_identity:
            # The identity has no encoding, so it cannot enter a
            # transcript. An honest prover meets it with probability
            # about 2^-256.
            raise ProofError(kind, index, "first message is the identity")
        transcript.append_point(b"A0", first0)
        transcript.append_point(b"A1", first1)

    if transcript.challenge() != c:
        raise ProofError(kind, index, "challenge does not match")


def _check_scalar(kind: str, index: int, scalar: int) -> None:
    if not isinstance(scalar, int) or not 0 <= scalar < Q:
        raise ProofError(kind, index, "scalar is not in [0, q)")


# Bit proofs.


def prove_bit(
    ctx: ProofContext,
    index: int,
    commitment: Point,
    value: int,
    blinding: int,
    *,
    nonces: Iterator[int] | None = None,
    _unchecked: bool = False,
) -> BitProof:
    """Prove that `commitment` = Com(value; blinding) with value in {0, 1}.

    Pre: value in (0, 1) and opens(commitment, value, blinding), else
    ValueError, unless `_unchecked` (tests only) forces a proof through,
    which then fails to verify.
    Post: verify_bit(ctx, index, commitment, proof) accepts.
    `nonces` is a test-only hook for known-answer vectors: the prover
    draws k, c_sim and z_sim from it instead of the OS CSPRNG.
    """
    _check_index(index)
    _check_points([commitment], BIT_KIND)
    if not _unchecked:
        if value not in (0, 1):
            raise ValueError("a bit proof needs a value of 0 or 1")
        _check_witness([commitment], [value], [blinding])

    transcript = _start_transcript(
        BIT_DOMAIN, ctx, index, [(b"lo", 0), (b"hi", 1)], [commitment]
    )
    c, (response,) = _prove_bits(
        transcript, [commitment], [value], [blinding], _drawer(nonces)
    )
    return BitProof(c, response.c0, response.z0, response.z1)


def verify_bit(
    ctx: ProofContext, index: int, commitment: Point, proof: BitProof
) -> None:
    """Verify a bit proof; raise ProofError if it fails."""
    _check_index(index)
    _check_points([commitment], BIT_KIND)
    if not isinstance(proof, BitProof):
        raise TypeError("verify_bit needs a BitProof")
    _check_scalar(BIT_KIND, index, proof.c)

    transcript = _start_transcript(
        BIT_DOMAIN, ctx, index, [(b"lo", 0), (b"hi", 1)], [commitment]
    )
    response = BitResponse(proof.c0, proof.z0, proof.z1)
    _check_bits(BIT_KIND, index, transcript, [commitment], proof.c, [response])


# Range proofs and the two statements built on them.


def _range_digits(offset: int, weights: Sequence[int]) -> list[int]:
    """Return digits d_t with sum_t w_t*d_t = offset (mod q).

    For offset in [0, B] every digit is a bit: the top bit is set when
    offset >= 2^(k-1), and the rest is in [0, 2^(k-1) - 1]. For a forced
    out-of-range offset the top digit comes out as a scalar other than
    0 or 1, so the weighted sum still matches and the bit proof fails.
    """
    k = len(weights)
    top = 1 if offset >= 1 << (k - 1) else 0
    rest = (offset - top * weights[-1]) & ((1 << (k - 1)) - 1)
    low = [(rest >> t) & 1 for t in range(k - 1)]
    low_sum = sum(w * d for w, d in zip(weights[:-1], low, strict=True))
    top_digit = (offset - low_sum) * pow(weights[-1], -1, Q) % Q
    return low + [top_digit]


def _prove_weighted_bits(
    transcript: Transcript,
    lo: int,
    hi: int,
    value: int,
    blinding: int,
    draw: Callable[[], int],
) -> RangeProof:
    """Prove that the statement Com(value; blinding) has lo <= value <= hi.

    `transcript` already binds the context, bounds and statement. The
    caller has checked the witness, or forces it through.
    """
    weights = range_weights(lo, hi)
    k = len(weights)

    # Step 1: bits of value - lo, with blindings that satisfy
    # sum_t w_t*r_t = blinding, so sum_t w_t*C_t = C - lo*H.
    digits = _range_digits(value - lo, weights)
    bit_blindings = [draw() for _ in range(k - 1)]
    low_sum = sum(
        w * r for w, r in zip(weights[:-1], bit_blindings, strict=True)
    )
    top_blinding = (blinding - low_sum) * pow(weights[-1], -1, Q) % Q
    bit_blindings.append(top_blinding)
    bit_commitments = [
        commit(d, r) for d, r in zip(digits, bit_blindings, strict=True)
    ]

    # Step 2: the AND of bit proofs over the same transcript.
    _append_bit_commitments(transcript, bit_commitments)
    c, responses = _prove_bits(
        transcript, bit_commitments, digits, bit_blindings, draw
    )
    return RangeProof(tuple(bit_commitments), c, responses)


def _append_bit_commitments(
    transcript: Transcript, bit_commitments: Sequence[Point]
) -> None:
    transcript.append_int(b"k", len(bit_commitments))
    for point in bit_commitments:
        transcript.append_point(b"C_t", point)


def _weighted_sum(points: Sequence[Point], weights: Sequence[int]) -> Point:
    """Return sum_t w_t*P_t for the range weights, by Horner's rule.

    The low weights are powers of two, so doublings and additions replace
    k-1 scalar multiplications.
    """
    total = IDENTITY
    for point in reversed(points[:-1]):
        total = sum_points([total, total, point])
    return total + points[-1] * weights[-1]


def _check_weighted_bits(
    kind: str,
    index: int,
    transcript: Transcript,
    statement: Point,
    lo: int,
    hi: int,
    proof: RangeProof,
) -> None:
    """Verify a RangeProof for `statement`; raise ProofError if it fails.

    `transcript` already binds the context, bounds and statement.
    """
    weights = range_weights(lo, hi)
    if not isinstance(proof, RangeProof):
        raise TypeError(f"a {kind} proof must be a RangeProof")
    k = len(weights)
    if len(proof.bit_commitments) != k or len(proof.responses) != k:
        raise ProofError(kind, index, f"expected {k} bits")
    for point in proof.bit_commitments:
        # An identity bit commitment cannot come off the wire, because
        # the identity has no encoding. Reject it here too so that an
        # object and its encoding verify alike.
        if not isinstance(point, Point) or point.is_identity:
            raise ProofError(kind, index, "bit commitment is the identity")
    _check_scalar(kind, index, proof.c)

    # Step 1: the bits must recompose the statement, shifted by lo.
    if _weighted_sum(proof.bit_commitments, weights) != statement - H * lo:
        raise ProofError(
            kind, index, "bit commitments do not sum to the commitment"
        )

    # Step 2: every bit proof, against the shared challenge.
    _append_bit_commitments(transcript, proof.bit_commitments)
    _check_bits(
        kind,
        index,
        transcript,
        proof.bit_commitments,
        proof.c,
        proof.responses,
    )


def prove_range(
    ctx: ProofContext,
    index: int,
    commitment: Point,
    lo: int,
    hi: int,
    value: int,
    blinding: int,
    *,
    nonces: Iterator[int] | None = None,
    _unchecked: bool = False,
) -> RangeProof:
    """Prove that `commitment` = Com(value; blinding), lo <= value <= hi.

    Pre: lo < hi (else ValueError); lo <= value <= hi and the commitment
    opens, else ValueError unless `_unchecked` (tests only) forces a
    proof through, which then fails to verify.
    Post: verify_range(ctx, index, commitment, lo, hi, proof) accepts.
    The proof has k = (hi - lo).bit_length() bits. `nonces` is a
    test-only hook for known-answer vectors: the prover draws r_0 ..
    r_{k-2}, then (k, c_sim, z_sim) per bit, from it.
    """
    _check_index(index)
    _check_points([commitment], RANGE_KIND)
    range_weights(lo, hi)
    if not _unchecked:
        if not lo <= value <= hi:
            raise ValueError("value is outside the range [lo, hi]")
        _check_witness([commitment], [value], [blinding])

    transcript = _start_transcript(
        RANGE_DOMAIN, ctx, index, [(b"lo", lo), (b"hi", hi)], [commitment]
    )
    return _prove_weighted_bits(
        transcript, lo, hi, value, blinding, _drawer(nonces)
    )


def verify_range(
    ctx: ProofContext,
    index: int,
    commitment: Point,
    lo: int,
    hi: int,
    proof: RangeProof,
) -> None:
    """Verify a range proof; raise ProofError if it fails.

    Raises ValueError if lo >= hi, because that is the caller's mistake.
    """
    _check_index(index)
    _check_points([commitment], RANGE_KIND)
    transcript = _start_transcript(
        RANGE_DOMAIN, ctx, index, [(b"lo", lo), (b"hi", hi)], [commitment]
    )
    _check_weighted_bits(
        RANGE_KIND, index, transcript, commitment, lo, hi, proof
    )


def prove_bounded_sum(
    ctx: ProofContext,
    index: int,
    commitments: Sequence[Point],
    lo: int,
    hi: int,
    values: Sequence[int],
    blindings: Sequence[int],
    *,
    nonces: Iterator[int] | None = None,
    _unchecked: bool = False,
) -> RangeProof:
    """Prove that sum(values) is in [lo, hi], for C_i = Com(x_i; r_i).

    The proof is a range proof on sum_i C_i = Com(sum x_i; sum r_i) under
    its own domain label. Pre and post conditions are those of
    prove_range with value = sum(values).
    """
    _check_index(index)
    _check_points(commitments, BOUNDED_SUM_KIND)
    range_weights(lo, hi)
    if len(values) != len(commitments) or len(blindings) != len(values):
        raise ValueError(
            f"{len(commitments)} commitments, {len(values)} values and "
            f"{len(blindings)} blindings"
        )
    total = sum(values)
    if not _unchecked:
        if not lo <= total <= hi:
            raise ValueError("sum of values is outside the range [lo, hi]")
        _check_witness(commitments, values, blindings)

    transcript = _start_transcript(
        BOUNDED_SUM_DOMAIN,
        ctx,
        index,
        [(b"lo", lo), (b"hi", hi)],
        commitments,
    )
    return _prove_weighted_bits(
        transcript, lo, hi, total, sum(blindings) % Q, _drawer(nonces)
    )


def verify_bounded_sum(
    ctx: ProofContext,
    index: int,
    commitments: Sequence[Point],
    lo: int,
    hi: int,
    proof: RangeProof,
) -> None:
    """Verify a bounded-sum proof; raise ProofError if it fails."""
    _check_index(index)
    _check_points(commitments, BOUNDED_SUM_KIND)
    transcript = _start_transcript(
        BOUNDED_SUM_DOMAIN,
        ctx,
        index,
        [(b"lo", lo), (b"hi", hi)],
        commitments,
    )
    _check_weighted_bits(
        BOUNDED_SUM_KIND,
        index,
        transcript,
        sum_points(commitments),
        lo,
        hi,
        proof,
    )


def prove_noise_bound(
    ctx: ProofContext,
    index: int,
    commitment: Point,
    bound: int,
    noise: int,
    blinding: int,
    *,
    nonces: Iterator[int] | None = None,
    _unchecked: bool = False,
) -> RangeProof:
    """Prove that `commitment` = Com(noise; blinding) with |noise| <= T.

    `bound` is T >= 1. The proof is a range proof for [-T, T] under its
    own domain label, binding T. Pre and post conditions are those of
    prove_range with lo = -T and hi = T.
    """
    _check_index(index)
    _check_points([commitment], NOISE_BOUND_KIND)
    _check_noise_bound(bound)
    if not _unchecked:
        if not -bound <= noise <= bound:
            raise ValueError("noise is outside [-T, T]")
        _check_witness([commitment], [noise], [blinding])

    transcript = _start_transcript(
        NOISE_BOUND_DOMAIN, ctx, index, [(b"T", bound)], [commitment]
    )
    return _prove_weighted_bits(
        transcript, -bound, bound, noise, blinding, _drawer(nonces)
    )


def verify_noise_bound(
    ctx: ProofContext,
    index: int,
    commitment: Point,
    bound: int,
    proof: RangeProof,
) -> None:
    """Verify a noise-bound proof; raise ProofError if it fails."""
    _check_index(index)
    _check_points([commitment], NOISE_BOUND_KIND)
    _check_noise_bound(bound)
    transcript = _start_transcript(
        NOISE_BOUND_DOMAIN, ctx, index, [(b"T", bound)], [commitment]
    )
    _check_weighted_bits(
        NOISE_BOUND_KIND,
        index,
        transcript,
        commitment,
        -bound,
        bound,
        proof,
    )


# One-hot proofs.


def _one_hot_transcript(
    ctx: ProofContext,
    index: int,
    commitments: Sequence[Point],
    sum_blinding: int,
) -> Transcript:
    transcript = _start_transcript(
        ONE_HOT_DOMAIN, ctx, index, [(b"lo", 0), (b"hi", 1)], commitments
    )
    transcript.append_scalar(b"sum_blinding", sum_blinding)
    return transcript


def prove_one_hot(
    ctx: ProofContext,
    index: int,
    commitments: Sequence[Point],
    values: Sequence[int],
    blindings: Sequence[int],
    *,
    nonces: Iterator[int] | None = None,
    _unchecked: bool = False,
) -> OneHotProof:
    """Prove that every C_i = Com(x_i; r_i) is a bit and sum x_i = 1.

    Pre: every value in (0, 1), sum(values) == 1 and every commitment
    opens, else ValueError unless `_unchecked` (tests only) forces a
    proof through, which then fails to verify.
    Post: verify_one_hot(ctx, index, commitments, proof) accepts.
    The proof reveals R = sum r_i, which leaks nothing beyond the public
    sum 1. `nonces` is a test-only hook: (k, c_sim, z_sim) per element.
    """
    _check_index(index)
    _check_points(commitments, ONE_HOT_KIND)
    if len(values) != len(commitments) or len(blindings) != len(values):
        raise ValueError(
            f"{len(commitments)} commitments, {len(values)} values and "
            f"{len(blindings)} blindings"
        )
    if not _unchecked:
        if any(v not in (0, 1) for v in values) or sum(values) != 1:
            raise ValueError("a one-hot vector needs bits summing to 1")
        _check_witness(commitments, values, blindings)

    sum_blinding = sum(blindings) % Q
    transcript = _one_hot_transcript(ctx, index, commitments, sum_blinding)
    c, responses = _prove_bits(
        transcript, commitments, values, blindings, _drawer(nonces)
    )
    return OneHotProof(c, responses, sum_blinding)


def verify_one_hot(
    ctx: ProofContext,
    index: int,
    commitments: Sequence[Point],
    proof: OneHotProof,
) -> None:
    """Verify a one-hot proof; raise ProofError if it fails."""
    _check_index(index)
    _check_points(commitments, ONE_HOT_KIND)
    if not isinstance(proof, OneHotProof):
        raise TypeError("verify_one_hot needs a OneHotProof")
    if len(proof.responses) != len(commitments):
        raise ProofError(
            ONE_HOT_KIND, index, f"expected {len(commitments)} elements"
        )
    _check_scalar(ONE_HOT_KIND, index, proof.c)
    _check_scalar(ONE_HOT_KIND, index, proof.sum_blinding)

    # Step 1: the bits sum to 1, shown by opening sum_i C_i - H.
    if sum_points(commitments) + _NEG_H != base_mul(proof.sum_blinding):
        raise ProofError(
            ONE_HOT_KIND, index, "sum of commitments does not open to 1"
        )

    # Step 2: every element is a bit.
    transcript = _one_hot_transcript(
        ctx, index, commitments, proof.sum_blinding
    )
    _check_bits(
        ONE_HOT_KIND,
        index,
        transcript,
        commitments,
        proof.c,
        proof.responses,
    )
