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

import functools
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from mpc.commitments import commit, opens
from mpc.group import (
    IDENTITY,
    POINT_BYTES,
    SCALAR_BYTES,
    EncodingError,
    G,
    H,
    H_MULTIPLES,
    Point,
    PointArray,
    Q,
    base_mul,
    decode_point,
    decode_scalar,
    encode_scalar,
    multi_mul,
    random_scalars,
    sum_points,
)
from mpc.transcript import Transcript, encode_int, frame

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
class BitProof:
    """Proof that C commits to 0 or 1: (A0, A1, c0, z0, z1).

    A0 and A1 are the first messages of the two branches. The verifier
    hashes the transcript with them to get the challenge c and sets
    c1 = c - c0. A range or one-hot proof holds one BitProof per bit,
    all sharing one challenge.

    Encoding (162 bytes): A0 || A1 (33 bytes each) || c0 || z0 || z1
    (32 bytes each).
    """

    a0: Point
    a1: Point
    c0: int
    z0: int
    z1: int

    def encode(self) -> bytes:
        return b"".join(
            (
                self.a0.encode(),
                self.a1.encode(),
                encode_scalar(self.c0),
                encode_scalar(self.z0),
                encode_scalar(self.z1),
            )
        )

    @classmethod
    def decode(cls, data: bytes) -> BitProof:
        """Decode a bit proof; raise ProofError unless it is canonical."""
        return _decode_whole(data, BIT_KIND, cls.read)

    @classmethod
    def read(cls, reader: ProofReader) -> BitProof:
        """Read a bit proof; raise EncodingError if it is malformed."""
        data = reader.take(BIT_PROOF_BYTES)
        return cls(
            decode_point(data[:POINT_BYTES]),
            decode_point(data[POINT_BYTES : 2 * POINT_BYTES]),
            decode_scalar(data[2 * POINT_BYTES : 2 * POINT_BYTES + 32]),
            decode_scalar(data[2 * POINT_BYTES + 32 : 2 * POINT_BYTES + 64]),
            decode_scalar(data[2 * POINT_BYTES + 64 :]),
        )


BIT_PROOF_BYTES = 2 * POINT_BYTES + 3 * SCALAR_BYTES


@dataclass(frozen=True)
class RangeProof:
    """Proof that a commitment opens to a value in [lo, hi].

    Used for ranges, bounded sums and noise bounds. `bit_commitments`
    contains C_t for the k weighted bits and `bits` one BitProof per bit.

    Encoding: k (4 bytes) || C_0 .. C_{k-1} (33 bytes each) || the k bit
    proofs (162 bytes each), so 4 + 195*k bytes.
    """

    bit_commitments: tuple[Point, ...]
    bits: tuple[BitProof, ...]

    def encode(self) -> bytes:
        parts = [encode_count(len(self.bit_commitments))]
        parts += [point.encode() for point in self.bit_commitments]
        parts += [bit.encode() for bit in self.bits]
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
        return cls(
            bit_commitments,
            tuple(BitProof.read(reader) for _ in range(count)),
        )


def range_proof_size(bits: int) -> int:
    """Return the encoded size of a RangeProof with `bits` bits."""
    return COUNT_BYTES + (POINT_BYTES + BIT_PROOF_BYTES) * bits


@dataclass(frozen=True)
class OneHotProof:
    """Proof that commitments C_0 .. C_{n-1} hold bits summing to 1.

    `bits` holds one BitProof per element, all sharing one challenge,
    and `sum_blinding` the opening R of sum_i C_i - H = R*G.

    Encoding: n (4 bytes) || the n bit proofs (162 bytes each)
    || sum_blinding, so 4 + 162*n + 32 bytes.
    """

    bits: tuple[BitProof, ...]
    sum_blinding: int

    def encode(self) -> bytes:
        parts = [encode_count(len(self.bits))]
        parts += [bit.encode() for bit in self.bits]
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
        bits = tuple(BitProof.read(reader) for _ in range(count))
        return cls(bits, reader.scalar())


def one_hot_proof_size(members: int) -> int:
    """Return the encoded size of a OneHotProof over `members` elements."""
    return COUNT_BYTES + BIT_PROOF_BYTES * members + SCALAR_BYTES


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


@functools.lru_cache(maxsize=1024, typed=True)
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


@functools.lru_cache(maxsize=256)
def _context_transcript(domain: bytes, ctx: ProofContext) -> Transcript:
    """Return the transcript of a domain and context, shared by every
    proof under them. Callers fork it and never append to it."""
    transcript = Transcript(domain)
    transcript.append_bytes(b"job_id", ctx.job_id)
    transcript.append_bytes(b"spec_digest", ctx.spec_digest)
    transcript.append_text(b"party_id", ctx.party_id)
    transcript.append_text(b"round", ctx.round)
    return transcript


def _start_transcript(
    domain: bytes,
    ctx: ProofContext,
    index: int,
    bounds: Sequence[tuple[bytes, int]],
    commitments: Sequence[Point],
) -> Transcript:
    return _start_encoded_transcript(
        domain, ctx, index, bounds, [point.encode() for point in commitments]
    )


def _start_encoded_transcript(
    domain: bytes,
    ctx: ProofContext,
    index: int,
    bounds: Sequence[tuple[bytes, int]],
    commitments: Sequence[bytes],
) -> Transcript:
    """Start a proof's transcript from its statement's encodings.

    The items are index, G, H, the bounds, n and each C, in one hash
    update, with the hash input of appending each in turn.
    """
    transcript = _context_transcript(domain, ctx).fork()
    transcript.append_framed(_statement(index, bounds, commitments))
    return transcript


def _statement(index: int, bounds: Sequence[tuple[bytes, int]],
               commitments: Sequence[bytes]) -> bytes:
    """Return the framed items index, G, H, the bounds, n and each C."""
    return b"".join((
        frame(((b"index", encode_int(index)),)),
        _statement_frame(tuple(bounds), len(commitments)),
        frame([(b"C", data) for data in commitments]),
    ))


_BIT_BOUNDS = ((b"lo", 0), (b"hi", 1))


@functools.lru_cache(maxsize=256)
def _statement_frame(bounds: tuple[tuple[bytes, int], ...], count: int
                     ) -> bytes:
    """Return the framed items G, H, the bounds and n, which many proofs
    share, for _statement."""
    return frame((
        (b"G", G.encode()),
        (b"H", H.encode()),
        *((label, encode_int(value)) for label, value in bounds),
        (b"n", encode_int(count)),
    ))


# The AND of OR proofs [CDS94], all bits sharing one challenge c. For
# bit t with commitment C_t and blinding r_t, branch 0 claims C_t = r_t*G
# and branch 1 claims C_t - H = r_t*G. The prover responds on the true
# branch with a Schnorr response z = k + c_b*r_t and simulates the other
# by picking its challenge and response first. Both first messages travel
# in the proof, so a verifier can check many proofs in one batch.


def _first_message(z: int, c: int, statement: Point) -> Point:
    """Return the first message A = z*G - c*X, with X = `statement`."""
    return base_mul(z) + statement * (Q - c)


def _drawer(nonces: Iterator[int] | None, count: int) -> Callable[[], int]:
    """Return a source of the `count` scalars a proof draws: fresh ones
    from the OS CSPRNG, in one read, or the test-only `nonces`."""
    if nonces is None:
        return iter(random_scalars(count)).__next__

    def draw() -> int:
        try:
            return next(nonces) % Q
        except StopIteration:
            raise ValueError(f"the test nonce iterator ran out; this proof "
                             f"draws {count} nonces") from None

    return draw


def _pairs(items: Sequence, flips: Sequence[bool]) -> list[tuple]:
    """Return (A0, A1) per bit from items laid out as the first messages
    are: A_b of each bit's true branch, then A_s of each simulated
    branch. Where the bit is 1, A0 = A_s and A1 = A_b."""
    count = len(flips)
    return [
        (items[count + t], items[t]) if flip else (items[t], items[count + t])
        for t, flip in enumerate(flips)
    ]


# First messages. The true branch b gets A_b = k*G. The other branch s,
# whose statement is X_s = C - s*H = r*G + (d - s)*H for the digit d, is
# simulated: with u drawn and z_s = u + c_s*r, A_s = z_s*G - c_s*X_s =
# u*G + c_s*(s - d)*H. For a bit, s - d is +1 or -1, and A_s = (s - d)*
# ((s - d)*u*G + c_s*H): the secret u goes through constant-time base
# multiplication, and c_s*H, whose scalar the proof reveals, through the
# table of multiples of H. Each bit draws (k, c_s, u).


def _first_scalars(draws: Sequence[tuple[int, int, int]],
                   flips: Sequence[bool]) -> list[int]:
    """Return the scalars whose multiples of G start the first messages:
    k per bit, then (s - d)*u per bit.

    A u of 0 only comes from a test nonce. An array cannot contain the
    identity, so such a start is G until _first_messages takes G off.
    """
    return [k for k, _, _ in draws] + [
        (-u % Q if flip else u) or 1 for flip, (_, _, u) in zip(flips, draws)
    ]


def _first_messages(points: PointArray, offset: int,
                    draws: Sequence[tuple[int, int, int]],
                    bits: Sequence[int], flips: Sequence[bool]
                    ) -> list[tuple[bytes, bytes]]:
    """Finish the first messages in `points` from point `offset` on,
    which hold the multiples of G of _first_scalars, and return the
    encodings of (A0, A1) per bit.

    A value of `bits` other than 0 or 1 comes only from a forced prover.
    It is treated as branch 0, so the resulting proof fails.
    """
    sims = offset + len(bits)
    H_MULTIPLES.add_to(points, [
        c_sim if bit in (0, 1) else c_sim * (1 - bit) % Q
        for bit, (_, c_sim, _) in zip(bits, draws)
    ], start=sims)
    zeros = [sims + t for t, (_, _, u) in enumerate(draws) if not u]
    if zeros:
        points.add(zeros, -G)
    if any(flips):
        points.negate([sims + t for t, flip in enumerate(flips) if flip])
    data = points.encode()
    return _pairs([data[at : at + POINT_BYTES]
                   for at in range(POINT_BYTES * offset, len(data),
                                   POINT_BYTES)], flips)


def _first_frame(firsts: list[tuple[bytes, bytes]]) -> bytes:
    """Return the framed items A0 and A1 of each bit, in order."""
    return frame([
        item
        for first0, first1 in firsts
        for item in ((b"A0", first0), (b"A1", first1))
    ])


def _responses(c: int, draws: tuple[int, int, int], bit: int,
               blinding: int) -> tuple[int, int, int]:
    """Return (c0, z0, z1) of one bit under the challenge c = c0 + c1."""
    k, c_sim, u = draws
    c_real = (c - c_sim) % Q
    z_real = (k + c_real * blinding) % Q
    z_sim = (u + c_sim * blinding) % Q
    if bit == 1:
        return c_sim, z_sim, z_real
    return c_real, z_real, z_sim


class _ProvenBits:
    """Bit proofs under one challenge, with their first messages in one
    array: Point objects are made only for a caller that asks for
    BitProofs."""

    def __init__(self, points: PointArray, flips: list[bool],
                 firsts: list[tuple[bytes, bytes]],
                 scalars: list[tuple[int, int, int]]) -> None:
        self._points = points  # As _pairs reads them.
        self._flips = flips  # True for each bit of 1.
        self._firsts = firsts  # The encodings of (A0, A1), per bit.
        self._scalars = scalars  # (c0, z0, z1), per bit.

    def encode(self) -> bytes:
        """Return the BitProof encodings, one after another."""
        parts = []
        for (first0, first1), (c0, z0, z1) in zip(self._firsts,
                                                  self._scalars):
            parts += (first0, first1, c0.to_bytes(SCALAR_BYTES, "big"),
                      z0.to_bytes(SCALAR_BYTES, "big"),
                      z1.to_bytes(SCALAR_BYTES, "big"))
        return b"".join(parts)

    def proofs(self) -> tuple[BitProof, ...]:
        return tuple(
            BitProof(first0, first1, c0, z0, z1)
            for (first0, first1), (c0, z0, z1) in zip(
                _pairs(self._points.points(), self._flips), self._scalars)
        )


def _prove_bits(
    transcript: Transcript,
    bits: Sequence[int],
    bit_blindings: Sequence[int],
    draw: Callable[[], int],
) -> _ProvenBits:
    """Prove that each bit commitment r_t*G + b_t*H, which the transcript
    already binds, commits to a bit, all under one challenge.

    A value of `bits` other than 0 or 1 comes only from a forced prover,
    and its proof fails.
    """
    draws = [(draw(), draw(), draw()) for _ in bits]
    flips = [bit == 1 for bit in bits]
    points = PointArray.base_mul(_first_scalars(draws, flips))
    firsts = _first_messages(points, 0, draws, bits, flips)
    transcript.append_framed(_first_frame(firsts))
    c = transcript.challenge()
    return _ProvenBits(points, flips, firsts, [
        _responses(c, d, bit, r)
        for d, bit, r in zip(draws, bits, bit_blindings, strict=True)
    ])


# Verification in batches. Every check of a proof is a linear equation
# over points that must sum to the identity. A Batch collects the
# equations of many proofs, weights each by a fresh random 128-bit
# scalar of the verifier's, and checks their sum with one multi-scalar
# multiplication: if any equation fails, the weighted sum is the
# identity with probability at most 2^-128. When the sum fails, each
# proof is checked alone, in the order it was added, to name the first
# one that fails.

WEIGHT_BYTES = 16
"""Size of a batch weight: 128 bits, the soundness of a batch check."""
DIRECT_BELOW = 200
"""Batches with fewer points are checked proof by proof (about 65 bits:
measured where one multi-scalar multiplication starts to pay off)."""


def _random_weights(count: int) -> list[int]:
    """Return `count` fresh random 128-bit weights, from one read of the
    OS CSPRNG."""
    data = secrets.token_bytes(WEIGHT_BYTES * count)
    return [int.from_bytes(data[at : at + WEIGHT_BYTES], "big")
            for at in range(0, len(data), WEIGHT_BYTES)]


class Batch:
    """Verification equations of many proofs, checked at once.

    The verify_* functions given `batch=` check at once only what needs
    no curve arithmetic (types, counts, scalars, the challenge), and
    `check` does the curve arithmetic of all of them. Without `batch=`,
    each verify_* function checks its proof alone.
    """

    def __init__(self) -> None:
        self._points: list[Point] = []
        self._scalars: list[int] = []
        self._shared: dict[int, list] = {}
        self._g = 0
        self._h = 0
        self._proofs: list[tuple[str, int, Callable[[], None]]] = []
        self._weights: list[int] = []
        self._block = 8

    def __len__(self) -> int:
        """Return the number of proofs added."""
        return len(self._proofs)

    def weight(self) -> int:
        """Return a fresh random 128-bit weight from the OS CSPRNG."""
        if not self._weights:
            # Blocks grow, so a one-proof batch reads 128 bytes and a
            # large one a few kilobytes at a time.
            self._weights = _random_weights(self._block)
            self._block = min(2 * self._block, 1024)
        return self._weights.pop()

    def add_term(self, point: Point, scalar: int) -> None:
        """Add scalar*point to the sum that must be the identity.

        For a point that enters the batch once; see add_shared_term.
        Every term belongs to the equations of a proof recorded with
        add_proof, whose `diagnose` checks them: a small batch checks
        only those.
        """
        self._points.append(point)
        self._scalars.append(scalar)

    def add_shared_term(self, point: Point, scalar: int) -> None:
        """Add scalar*point for a point that other proofs may add too
        (a statement commitment), so that it is multiplied once."""
        term = self._shared.get(id(point))
        if term is None:
            self._shared[id(point)] = [point, scalar]
        else:
            term[1] += scalar

    def add_base(self, g: int, h: int) -> None:
        """Add g*G + h*H to the sum that must be the identity."""
        self._g += g
        self._h += h

    def add_proof(
        self, kind: str, index: int, diagnose: Callable[[], None]
    ) -> None:
        """Record a proof whose terms were added; `diagnose` checks it
        alone and raises its ProofError."""
        self._proofs.append((kind, index, diagnose))

    def check(self) -> None:
        """Check every equation added; raise the first proof's error.

        Raises ProofError for the first proof, in the order added, that
        fails on its own.
        """
        if not self._proofs:
            return
        size = len(self._points) + len(self._shared)
        if size >= DIRECT_BELOW:
            points = self._points + [t[0] for t in self._shared.values()]
            scalars = self._scalars + [t[1] for t in self._shared.values()]
            points.append(H)
            scalars.append(self._h)
            total = multi_mul(points, scalars) + base_mul(self._g)
            if total.is_identity:
                return
        # A small batch is checked proof by proof, which costs less than
        # a multi-scalar multiplication. A failed large batch is checked
        # the same way, to name the first proof that fails.
        for _, _, diagnose in self._proofs:
            diagnose()
        if size < DIRECT_BELOW:
            return
        kind, index, _ = self._proofs[0]
        # Each proof passed alone, so the batch failed by the 2^-128
        # chance of its weights or by a bug. Reject rather than accept.
        raise ProofError(
            kind, index, "batch check failed though every proof passed alone"
        )


def _add_bit_terms(
    batch: Batch,
    c: int,
    bit_commitments: Sequence[Point],
    proofs: Sequence[BitProof],
    extra: Sequence[int] | None = None,
    *,
    shared: bool,
) -> None:
    """Add the two equations of every bit proof to `batch`.

    Bit t: z0*G = A0 + c0*C_t and z1*G = A1 + c1*(C_t - H), each times
    its own weight. `extra` adds a scalar per C_t from other equations,
    so that each C_t enters the multiplication once. With `shared`, the
    C_t are statement commitments, which other proofs may add too.
    """
    add_commitment = batch.add_shared_term if shared else batch.add_term
    weight = batch.weight
    g = h = 0
    for t, (point, proof) in enumerate(
        zip(bit_commitments, proofs, strict=True)
    ):
        rho0, rho1 = weight(), weight()
        c1 = c - proof.c0
        batch.add_term(proof.a0, rho0)
        batch.add_term(proof.a1, rho1)
        scalar = rho0 * proof.c0 + rho1 * c1
        if extra is not None:
            scalar += extra[t]
        add_commitment(point, scalar % Q)
        g -= rho0 * proof.z0 + rho1 * proof.z1
        h -= rho1 * c1
    batch.add_base(g % Q, h % Q)


def _check_bit_proofs(
    kind: str, index: int, proofs: Sequence[BitProof]
) -> None:
    """Check the types, points and scalars of bit proofs (no curve
    arithmetic)."""
    for proof in proofs:
        if type(proof) is not BitProof:
            raise TypeError(f"a {kind} proof must contain BitProofs")
        a0, a1 = proof.a0, proof.a1
        if not (
            type(a0) is Point
            and type(a1) is Point
            and not a0.is_identity
            and not a1.is_identity
        ):
            # The identity has no encoding, so it cannot come off the
            # wire or enter a transcript; reject it as an object too.
            raise ProofError(kind, index, "first message is the identity")
        c0, z0, z1 = proof.c0, proof.z0, proof.z1
        if not (
            type(c0) is int
            and type(z0) is int
            and type(z1) is int
            and 0 <= c0 < Q
            and 0 <= z0 < Q
            and 0 <= z1 < Q
        ):
            raise ProofError(kind, index, "scalar is not in [0, q)")


def _bits_challenge(
    kind: str,
    index: int,
    transcript: Transcript,
    proofs: Sequence[BitProof],
) -> int:
    """Append every first message and return the shared challenge."""
    transcript.append_points(
        (label, first)
        for proof in proofs
        for label, first in ((b"A0", proof.a0), (b"A1", proof.a1))
    )
    c = transcript.challenge()
    # Guard: a zero challenge makes A = z*G pass for any commitment, so
    # the proof would bind nothing. The hash gives 0 with probability
    # 2^-256, so no honest proof meets it.
    if c == 0:
        raise ProofError(kind, index, "zero challenge")
    return c


def _diagnose_bits(
    kind: str,
    index: int,
    c: int,
    bit_commitments: Sequence[Point],
    proofs: Sequence[BitProof],
) -> None:
    """Check each bit proof's equations directly; raise on the first
    that fails."""
    for t, (point, proof) in enumerate(
        zip(bit_commitments, proofs, strict=True)
    ):
        c1 = (c - proof.c0) % Q
        if _first_message(proof.z0, proof.c0, point) != proof.a0 or (
            _first_message(proof.z1, c1, point + _NEG_H) != proof.a1
        ):
            raise ProofError(
                kind, index, f"bit {t} fails its verification equation"
            )


def _finish(batch: Batch | None, local: Batch) -> None:
    """Check a proof's own batch unless the caller's batch took it."""
    if batch is None:
        local.check()


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
    draws k, c_sim and u from it instead of the OS CSPRNG.
    """
    _check_index(index)
    _check_points([commitment], BIT_KIND)
    if not _unchecked and value not in (0, 1):
        raise ValueError("a bit proof needs a value of 0 or 1")
    flips = [value == 1]
    # The witness check rides along in the same array: point 0 is
    # blinding*G, and the commitment must be that plus value*H.
    check = [] if _unchecked or not blinding % Q else [blinding]
    try:
        draw = _drawer(nonces, 3)
        draws = [(draw(), draw(), draw())]
        points = PointArray.base_mul(check + _first_scalars(draws, flips))
        if check and value == 1:
            points.add([0], H)
        firsts = _first_messages(points, len(check), draws, [value], flips)
    except ValueError:
        # Only test nonces fail here (a nonce of 0, or too few). A wrong
        # witness is the caller's first mistake, so it is reported first.
        if check:
            _check_witness([commitment], [value], [blinding])
        raise
    encoded = commitment.encode()
    if check and points.encode()[:POINT_BYTES] != encoded:
        raise ValueError("commitment 0 does not open to its value and "
                         "blinding")
    if not check and not _unchecked:
        _check_witness([commitment], [value], [blinding])

    (encoded0, encoded1), = firsts
    transcript = _context_transcript(BIT_DOMAIN, ctx).fork()
    # The items of _statement and _first_frame, framed in one call. In
    # paired runs that made a lone bit proof about 3 us (2%) faster.
    transcript.append_framed(b"".join((
        frame(((b"index", encode_int(index)),)),
        _statement_frame(_BIT_BOUNDS, 1),
        frame(((b"C", encoded), (b"A0", encoded0), (b"A1", encoded1))),
    )))
    c = transcript.challenge()
    (first0, first1), = _pairs(
        [points.point(len(check)), points.point(len(check) + 1)], flips)
    return BitProof(first0, first1, *_responses(c, draws[0], value, blinding))


def verify_bit(
    ctx: ProofContext,
    index: int,
    commitment: Point,
    proof: BitProof,
    *,
    batch: Batch | None = None,
) -> None:
    """Verify a bit proof; raise ProofError if it fails.

    With `batch`, the curve arithmetic waits for `batch.check()`.
    """
    _check_index(index)
    _check_points([commitment], BIT_KIND)
    if not isinstance(proof, BitProof):
        raise TypeError("verify_bit needs a BitProof")
    _check_bit_proofs(BIT_KIND, index, [proof])

    transcript = _start_transcript(
        BIT_DOMAIN, ctx, index, _BIT_BOUNDS, [commitment]
    )
    c = _bits_challenge(BIT_KIND, index, transcript, [proof])
    diagnose = partial(
        _diagnose_bits, BIT_KIND, index, c, [commitment], [proof]
    )
    if batch is None:
        diagnose()  # Three points: below DIRECT_BELOW.
        return
    _add_bit_terms(batch, c, [commitment], [proof], shared=True)
    batch.add_proof(BIT_KIND, index, diagnose)


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


def _weighted_bits(
    transcript: Transcript,
    lo: int,
    hi: int,
    value: int,
    blinding: int,
    nonces: Iterator[int] | None,
) -> tuple[PointArray, _ProvenBits]:
    """Prove that the statement Com(value; blinding) has lo <= value <= hi;
    return the bit commitments and the bit proofs.

    `transcript` already binds the context, bounds and statement. The
    caller has checked the witness, or forces it through.
    """
    weights = range_weights(lo, hi)
    k = len(weights)
    draw = _drawer(nonces, 4 * k - 1)

    # Step 1: bits of value - lo, with blindings that satisfy
    # sum_t w_t*r_t = blinding, so sum_t w_t*C_t = C - lo*H.
    digits = _range_digits(value - lo, weights)
    bit_blindings = [draw() for _ in range(k - 1)]
    low_sum = sum(
        w * r for w, r in zip(weights[:-1], bit_blindings, strict=True)
    )
    top_blinding = (blinding - low_sum) * pow(weights[-1], -1, Q) % Q
    bit_blindings.append(top_blinding)
    # A bit blinding of 0 comes from a caller's blinding, such as 0 for a
    # one-bit range. Its commitment d*H starts as G, which is taken off
    # again, because an array cannot contain the identity.
    bit_commitments = PointArray.base_mul([r or 1 for r in bit_blindings])
    bit_commitments.add(
        [t for t, (d, r) in enumerate(zip(digits, bit_blindings))
         if d == 1 and r], H)
    for t, (digit, r) in enumerate(zip(digits, bit_blindings)):
        # Digits other than 0 and 1 come only from a forced prover.
        if digit not in (0, 1) or not r:
            bit_commitments.add([t], H * digit - (IDENTITY if r else G))

    # Step 2: the AND of bit proofs over the same transcript.
    data = bit_commitments.encode()
    _append_bit_commitments(transcript, [
        data[at : at + POINT_BYTES] for at in range(0, len(data), POINT_BYTES)
    ])
    bits = _prove_bits(transcript, digits, bit_blindings, draw)
    return bit_commitments, bits


def _range_proof(bit_commitments: PointArray,
                 bits: _ProvenBits) -> RangeProof:
    return RangeProof(tuple(bit_commitments.points()), bits.proofs())


def _prove_weighted_bits(
    transcript: Transcript,
    lo: int,
    hi: int,
    value: int,
    blinding: int,
    nonces: Iterator[int] | None = None,
) -> RangeProof:
    """Return _weighted_bits' proof as a RangeProof."""
    return _range_proof(
        *_weighted_bits(transcript, lo, hi, value, blinding, nonces)
    )


def _encode_weighted_bits(
    bit_commitments: PointArray, bits: _ProvenBits
) -> bytes:
    """Return the encoding of the RangeProof of these parts."""
    return b"".join((encode_count(len(bit_commitments)),
                     bit_commitments.encode(), bits.encode()))


def _append_bit_commitments(
    transcript: Transcript, encodings: Sequence[bytes]
) -> None:
    transcript.append_int(b"k", len(encodings))
    transcript.append_encoded((b"C_t", data) for data in encodings)


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
    batch: Batch | None,
) -> None:
    """Verify a RangeProof for `statement`; raise ProofError if it fails.

    `transcript` already binds the context, bounds and statement. With
    `batch`, the curve arithmetic waits for `batch.check()`.
    """
    weights = range_weights(lo, hi)
    if not isinstance(proof, RangeProof):
        raise TypeError(f"a {kind} proof must be a RangeProof")
    k = len(weights)
    if len(proof.bit_commitments) != k or len(proof.bits) != k:
        raise ProofError(kind, index, f"expected {k} bits")
    for point in proof.bit_commitments:
        # An identity bit commitment cannot come off the wire, because
        # the identity has no encoding. Reject it here too so that an
        # object and its encoding verify alike.
        if not isinstance(point, Point) or point.is_identity:
            raise ProofError(kind, index, "bit commitment is the identity")
    _check_bit_proofs(kind, index, proof.bits)
    _append_bit_commitments(
        transcript, [point.encode() for point in proof.bit_commitments]
    )
    c = _bits_challenge(kind, index, transcript, proof.bits)

    diagnose = partial(
        _diagnose_weighted_bits, kind, index, statement, lo, weights, c, proof
    )
    if batch is None and 3 * k + 1 < DIRECT_BELOW:
        diagnose()
        return

    # The bits recompose the statement, shifted by lo:
    # rho*(sum_t w_t*C_t - statement + lo*H) = 0, and every bit proof
    # holds. C_t enters once, with the scalars of both checks.
    target = Batch() if batch is None else batch
    rho = target.weight()
    target.add_shared_term(statement, Q - rho)
    target.add_base(0, rho * lo % Q)
    _add_bit_terms(
        target,
        c,
        proof.bit_commitments,
        proof.bits,
        [rho * w for w in weights],
        shared=False,
    )
    target.add_proof(kind, index, diagnose)
    _finish(batch, target)


def _diagnose_weighted_bits(
    kind: str,
    index: int,
    statement: Point,
    lo: int,
    weights: Sequence[int],
    c: int,
    proof: RangeProof,
) -> None:
    if _weighted_sum(proof.bit_commitments, weights) != statement - H * lo:
        raise ProofError(
            kind, index, "bit commitments do not sum to the commitment"
        )
    _diagnose_bits(kind, index, c, proof.bit_commitments, proof.bits)


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
    r_{k-2}, then (k, c_sim, u) per bit, from it.
    """
    _check_index(index)
    _check_points([commitment], RANGE_KIND)
    domain, labels = _weighted_kind(RANGE_KIND, lo, hi)
    if not _unchecked:
        if not lo <= value <= hi:
            raise ValueError("value is outside the range [lo, hi]")
        _check_witness([commitment], [value], [blinding])

    transcript = _start_transcript(domain, ctx, index, labels, [commitment])
    return _prove_weighted_bits(
        transcript, lo, hi, value, blinding, nonces
    )


def commit_range(
    ctx: ProofContext,
    index: int,
    lo: int,
    hi: int,
    value: int,
    blinding: int,
) -> tuple[Point, RangeProof]:
    """Return Com(value; blinding) and its proof that lo <= value <= hi.

    As prove_range, for a commitment made here: it opens by
    construction, so only the range of `value` is checked (ValueError).
    """
    commitment, *parts = _commit_weighted(
        RANGE_KIND, ctx, index, lo, hi, value, blinding
    )
    return commitment, _range_proof(*parts)


def commit_encoded(
    kind: str,
    ctx: ProofContext,
    index: int,
    lo: int,
    hi: int,
    value: int,
    blinding: int,
) -> tuple[bytes, bytes]:
    """As commit_range (kind "range") or commit_noise_bound (kind
    "noise-bound", with lo = -T and hi = T), but return the encodings of
    the commitment and the proof. It makes no Point object per bit, so
    it is faster."""
    commitment, *parts = _commit_weighted(
        kind, ctx, index, lo, hi, value, blinding
    )
    return commitment.encode(), _encode_weighted_bits(*parts)


def _weighted_kind(
    kind: str, lo: int, hi: int
) -> tuple[bytes, list[tuple[bytes, int]]]:
    """Return the domain and the bound labels of the transcript of a
    range or noise-bound proof for [lo, hi].

    Raises ValueError for another kind, or bounds that the proof's
    verify function rejects.
    """
    if kind == RANGE_KIND:
        range_weights(lo, hi)
        return RANGE_DOMAIN, [(b"lo", lo), (b"hi", hi)]
    if kind == NOISE_BOUND_KIND:
        _check_noise_bound(hi)
        if lo != -hi:
            raise ValueError(f"a noise bound needs lo = -hi, got {lo}, {hi}")
        return NOISE_BOUND_DOMAIN, [(b"T", hi)]
    raise ValueError(f"{kind} proofs are not range or noise-bound proofs")


def _commit_weighted(
    kind: str,
    ctx: ProofContext,
    index: int,
    lo: int,
    hi: int,
    value: int,
    blinding: int,
) -> tuple[Point, PointArray, _ProvenBits]:
    """Commit to a value in [lo, hi] and prove it, as a proof of `kind`;
    return the commitment, the bit commitments and the bit proofs."""
    _check_index(index)
    domain, labels = _weighted_kind(kind, lo, hi)
    if not lo <= value <= hi:
        if kind == NOISE_BOUND_KIND:
            raise ValueError("noise is outside [-T, T]")
        raise ValueError("value is outside the range [lo, hi]")
    commitment = commit(value, blinding)
    transcript = _start_transcript(domain, ctx, index, labels, [commitment])
    return (commitment, *_weighted_bits(
        transcript, lo, hi, value, blinding, None
    ))


def verify_range(
    ctx: ProofContext,
    index: int,
    commitment: Point,
    lo: int,
    hi: int,
    proof: RangeProof,
    *,
    batch: Batch | None = None,
) -> None:
    """Verify a range proof; raise ProofError if it fails.

    Raises ValueError if lo >= hi, because that is the caller's mistake.
    With `batch`, the curve arithmetic waits for `batch.check()`.
    """
    _check_index(index)
    _check_points([commitment], RANGE_KIND)
    domain, labels = _weighted_kind(RANGE_KIND, lo, hi)
    transcript = _start_transcript(domain, ctx, index, labels, [commitment])
    _check_weighted_bits(
        RANGE_KIND, index, transcript, commitment, lo, hi, proof, batch
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
        transcript, lo, hi, total, sum(blindings) % Q, nonces
    )


def verify_bounded_sum(
    ctx: ProofContext,
    index: int,
    commitments: Sequence[Point],
    lo: int,
    hi: int,
    proof: RangeProof,
    *,
    batch: Batch | None = None,
) -> None:
    """Verify a bounded-sum proof; raise ProofError if it fails.

    With `batch`, the curve arithmetic waits for `batch.check()`.
    """
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
        batch,
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
    domain, labels = _weighted_kind(NOISE_BOUND_KIND, -bound, bound)
    if not _unchecked:
        if not -bound <= noise <= bound:
            raise ValueError("noise is outside [-T, T]")
        _check_witness([commitment], [noise], [blinding])

    transcript = _start_transcript(domain, ctx, index, labels, [commitment])
    return _prove_weighted_bits(
        transcript, -bound, bound, noise, blinding, nonces
    )


def commit_noise_bound(
    ctx: ProofContext,
    index: int,
    bound: int,
    noise: int,
    blinding: int,
) -> tuple[Point, RangeProof]:
    """Return Com(noise; blinding) and its proof that |noise| <= T.

    As prove_noise_bound, for a commitment made here: it opens by
    construction, so only the bound is checked (ValueError).
    """
    _check_noise_bound(bound)
    commitment, *parts = _commit_weighted(
        NOISE_BOUND_KIND, ctx, index, -bound, bound, noise, blinding
    )
    return commitment, _range_proof(*parts)


def verify_noise_bound(
    ctx: ProofContext,
    index: int,
    commitment: Point,
    bound: int,
    proof: RangeProof,
    *,
    batch: Batch | None = None,
) -> None:
    """Verify a noise-bound proof; raise ProofError if it fails.

    With `batch`, the curve arithmetic waits for `batch.check()`.
    """
    _check_index(index)
    _check_points([commitment], NOISE_BOUND_KIND)
    _check_noise_bound(bound)
    domain, labels = _weighted_kind(NOISE_BOUND_KIND, -bound, bound)
    transcript = _start_transcript(domain, ctx, index, labels, [commitment])
    _check_weighted_bits(
        NOISE_BOUND_KIND,
        index,
        transcript,
        commitment,
        -bound,
        bound,
        proof,
        batch,
    )


# Encoded range proofs in bulk.
#
# verify_encoded_ranges reads range and noise-bound proofs straight from
# their bytes into one libsecp256k1 array and checks all their equations
# in one multi-scalar multiplication, with fresh weights as Batch uses.
# It makes no Python object per point or bit proof. It only returns
# whether everything holds: on False the caller decodes and verifies
# proof by proof, which names the first failure.

RangePart = tuple[str, int, Sequence[tuple[int, int]], bytes, bytes]
"""(kind, start, bounds, commitments, proofs): range or noise-bound
proofs of elements start.., each element's (lo, hi) (for a noise bound
T, (-T, T)), and the statement commitments and the proofs, each back to
back in their encodings."""

# Offsets of the fields in an encoded BitProof.
_A1_AT = POINT_BYTES
_C0_AT = 2 * POINT_BYTES
_Z0_AT = _C0_AT + SCALAR_BYTES
_Z1_AT = _Z0_AT + SCALAR_BYTES


class _EncodedEquations:
    """Weighted equation terms over encoded points, summed to identity.

    `points` contains encodings, one or several laid end to end, and
    `scalars` one scalar per point, in the same order.
    """

    def __init__(self) -> None:
        self.points: list[bytes] = []
        self.scalars: list[int] = []
        self.g = 0
        self.h = 0

    def holds(self) -> bool:
        try:
            points = PointArray.decode(b"".join(self.points))
        except EncodingError:
            return False
        total = points.multi_mul(self.scalars, [(H, self.h), (G, -self.g)])
        return total.is_identity


def verify_encoded_ranges(
    ctx: ProofContext, parts: Sequence[RangePart]
) -> bool:
    """Return True if every proof in `parts` verifies.

    Makes the checks of decoding each proof and calling verify_range or
    verify_noise_bound with one Batch. Returns False if any encoding,
    count or equation fails, without naming it. Raises ValueError for
    bounds that those functions reject.
    """
    equations = _EncodedEquations()
    for kind, start, bounds, commitments, data in parts:
        if kind not in (RANGE_KIND, NOISE_BOUND_KIND):
            raise ValueError(f"no bulk check for {kind} proofs")
        # Slices of bytes are bytes, whatever buffer the caller passed.
        commitments, data = bytes(commitments), bytes(data)
        if len(commitments) != POINT_BYTES * len(bounds):
            return False
        offset = 0
        for j, (lo, hi) in enumerate(bounds):
            size = range_proof_size(len(range_weights(lo, hi)))
            statement = commitments[POINT_BYTES * j : POINT_BYTES * (j + 1)]
            proof = data[offset : offset + size]
            offset += size
            if not _add_encoded_range(
                equations, ctx, kind, start + j, lo, hi, statement, proof
            ):
                return False
        if offset != len(data):
            return False
    return equations.holds()


def _add_encoded_range(
    equations: _EncodedEquations,
    ctx: ProofContext,
    kind: str,
    index: int,
    lo: int,
    hi: int,
    statement: bytes,
    proof: bytes,
) -> bool:
    """Add one encoded proof's equations; return False if its counts,
    scalars or challenge already fail."""
    _check_index(index)
    domain, labels = _weighted_kind(kind, lo, hi)
    weights = range_weights(lo, hi)
    k = len(weights)
    if len(proof) != range_proof_size(k):
        return False
    if proof[:COUNT_BYTES] != encode_count(k):
        return False

    # The transcript of _check_weighted_bits, from the encodings.
    transcript = _start_encoded_transcript(
        domain, ctx, index, labels, [statement]
    )
    first = COUNT_BYTES + POINT_BYTES * k
    _append_bit_commitments(transcript, [
        proof[at : at + POINT_BYTES] for at in range(COUNT_BYTES, first,
                                                     POINT_BYTES)
    ])
    pairs = [proof[at : at + _C0_AT]
             for at in range(first, len(proof), BIT_PROOF_BYTES)]
    transcript.append_encoded(
        item
        for pair in pairs
        for item in ((b"A0", pair[:_A1_AT]), (b"A1", pair[_A1_AT:]))
    )
    c = transcript.challenge()
    if c == 0:
        return False

    # rho*(sum_t w_t*C_t - C + lo*H), and per bit rho0*(A0 + c0*C_t -
    # z0*G) and rho1*(A1 + c1*(C_t - H) - z1*G), as _add_bit_terms has.
    # The points go in as the statement, the k bit commitments, then
    # the k pairs (A0, A1).
    *bit_weights, rho = _random_weights(2 * k + 1)
    commitment_scalars, pair_scalars = [], []
    g, h = 0, rho * lo
    for t, w in enumerate(weights):
        at = first + BIT_PROOF_BYTES * t + _C0_AT
        c0 = int.from_bytes(proof[at : at + SCALAR_BYTES], "big")
        z0 = int.from_bytes(
            proof[at + SCALAR_BYTES : at + 2 * SCALAR_BYTES], "big")
        z1 = int.from_bytes(
            proof[at + 2 * SCALAR_BYTES : at + 3 * SCALAR_BYTES], "big")
        if c0 >= Q or z0 >= Q or z1 >= Q:
            return False
        rho0, rho1 = bit_weights[2 * t], bit_weights[2 * t + 1]
        c1 = c - c0
        commitment_scalars.append(rho0 * c0 + rho1 * c1 + rho * w)
        pair_scalars += (rho0, rho1)
        g += rho0 * z0 + rho1 * z1
        h -= rho1 * c1
    equations.points += (statement, proof[COUNT_BYTES:first], *pairs)
    equations.scalars.append(-rho)
    equations.scalars += commitment_scalars
    equations.scalars += pair_scalars
    equations.g += g
    equations.h += h
    return True


# One-hot proofs.


def _one_hot_transcript(
    ctx: ProofContext,
    index: int,
    commitments: Sequence[Point],
    sum_blinding: int,
) -> Transcript:
    transcript = _start_transcript(
        ONE_HOT_DOMAIN, ctx, index, _BIT_BOUNDS, commitments
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
    sum 1. `nonces` is a test-only hook: (k, c_sim, u) per element.
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
    bits = _prove_bits(transcript, values, blindings,
                       _drawer(nonces, 3 * len(values)))
    return OneHotProof(bits.proofs(), sum_blinding)


def verify_one_hot(
    ctx: ProofContext,
    index: int,
    commitments: Sequence[Point],
    proof: OneHotProof,
    *,
    batch: Batch | None = None,
) -> None:
    """Verify a one-hot proof; raise ProofError if it fails.

    With `batch`, the curve arithmetic waits for `batch.check()`.
    """
    _check_index(index)
    _check_points(commitments, ONE_HOT_KIND)
    if not isinstance(proof, OneHotProof):
        raise TypeError("verify_one_hot needs a OneHotProof")
    if len(proof.bits) != len(commitments):
        raise ProofError(
            ONE_HOT_KIND, index, f"expected {len(commitments)} elements"
        )
    _check_bit_proofs(ONE_HOT_KIND, index, proof.bits)
    _check_scalar(ONE_HOT_KIND, index, proof.sum_blinding)
    transcript = _one_hot_transcript(
        ctx, index, commitments, proof.sum_blinding
    )
    c = _bits_challenge(ONE_HOT_KIND, index, transcript, proof.bits)

    diagnose = partial(_diagnose_one_hot, index, c, commitments, proof)
    if batch is None and 3 * len(commitments) < DIRECT_BELOW:
        diagnose()
        return

    # The bits sum to 1: rho*(sum_i C_i - H - R*G) = 0, and every
    # element is a bit.
    target = Batch() if batch is None else batch
    rho = target.weight()
    target.add_base(-rho * proof.sum_blinding % Q, Q - rho)
    _add_bit_terms(
        target,
        c,
        commitments,
        proof.bits,
        [rho] * len(commitments),
        shared=True,
    )
    target.add_proof(ONE_HOT_KIND, index, diagnose)
    _finish(batch, target)


def _diagnose_one_hot(
    index: int, c: int, commitments: Sequence[Point], proof: OneHotProof
) -> None:
    if sum_points(commitments) + _NEG_H != base_mul(proof.sum_blinding):
        raise ProofError(
            ONE_HOT_KIND, index, "sum of commitments does not open to 1"
        )
    _diagnose_bits(ONE_HOT_KIND, index, c, commitments, proof.bits)
