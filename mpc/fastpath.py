"""Semi-honest mode for large vectors: the array path of a job.

A job with `proofs = "none"` runs only propose, share and reveal, and
shares no blindings. This module runs its share and reveal phases on
numpy uint64 vectors of any length up to 10^7 elements, with no Python
loop over the elements:

- `input_array` computes a party's input as one int64 array (vector
  queries read a dataset column or take an in-memory vector);
- `noise_array` samples the party's noise per element, vectorised for
  the binomial mechanism;
- `ArrayRound` folds each incoming share and reveal into a running sum
  the moment it arrives (`JobRun.folds`), so a party keeps one sum, not
  one vector per peer, and only a digest of each message to recognise a
  replay;
- `run_semi_honest` runs the two phases over the job's transport.

Each party sends one correction vector to one peer and 32-byte seeds to
the others (`mpc.sharing`), then its reveal to every peer: 8n bytes plus
(m-1) times 8n bytes for an n-element job with m parties, which is the
least a party must send when every party learns the sum. The correction
vector goes to the next party in sorted order (`sharing.ring_recipient`)
rather than to the lowest other id, so that every party also receives
exactly one: with the lowest id the first party would receive m - 1
vectors, one after another, while others receive none.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np

from mpc import dp
from mpc import field as fp
from mpc import queries as qry
from mpc import sharing, wire
from mpc.prg import SEED_BYTES, Prg, new_seed
from mpc.spec import JobSpec, Query

if TYPE_CHECKING:
    from mpc.job import JobRun

_P = np.uint64(fp.P)
_P_SIGNED = np.int64(fp.P)
_HALF_SIGNED = np.int64(fp.HALF)
_BLOCK = 1 << 15
"""Elements per step of the blocked loops, so temporaries stay in cache."""
NOISE_LABEL = b"noise/binomial"
_NOISE_CHUNK_WORDS = 1 << 17
"""64-bit words of coins drawn at a time (1 MiB) by `binomial_noise`."""


class Folded:
    """The digest a job keeps of a message folded into a running sum.

    It compares equal to a body with the same SHA-256 digest. So a
    byte-identical replay is still ignored and a different second message
    still aborts the job, while the body itself is freed.
    """

    __slots__ = ("digest", "size")

    def __init__(self, body: bytes | bytearray | memoryview,
                 digest: bytes = b"") -> None:
        """Keep the size and SHA-256 of `body`. `digest`, when not empty,
        must be that SHA-256 (a transport that checked it passes it), and
        the body is not hashed again."""
        self.digest = digest or hashlib.sha256(body).digest()
        self.size = len(body)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Folded):
            return (self.size, self.digest) == (other.size, other.digest)
        if isinstance(other, (bytes, bytearray, memoryview)):
            return (len(other) == self.size
                    and hashlib.sha256(other).digest() == self.digest)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Folded({self.size} bytes, sha256 {self.digest.hex()[:16]})"


def add_into(total: np.ndarray, vector: np.ndarray) -> None:
    """Add a reduced vector into `total` mod p, in place."""
    fp.add_into(total, vector)


def encode_signed(values: np.ndarray,
                  out: np.ndarray | None = None) -> np.ndarray:
    """Embed an int64 vector in F_p, as field.encode_signed does.

    The result goes to `out` (a uint64 array of the same length) when it
    is given, or to a new array, and is returned.
    """
    values = np.asarray(values)
    if values.dtype != np.int64 or (values.size and (
            values.min() < -fp.HALF or values.max() > fp.HALF)):
        encoded = fp.encode_signed(values)  # May raise FieldOverflowError.
        if out is None:
            return encoded
        out[:] = encoded
        return out
    if out is None:
        out = np.empty(values.shape, dtype=np.uint64)
    # A negative v cast to uint64 wraps to 2^64 + v, and adding p takes it
    # on to p + v mod 2^64. v >> 63 (arithmetic) is all ones for a
    # negative v and 0 otherwise, so masking it with p selects the addend
    # without a masked (`where=`) loop, which numpy runs several times
    # slower.
    scratch = np.empty(min(_BLOCK, values.size), dtype=np.int64)
    for start in range(0, values.size, _BLOCK):
        part = values[start:start + _BLOCK]
        addend = scratch[:part.size]
        target = out[start:start + _BLOCK]
        np.right_shift(part, 63, out=addend)
        np.bitwise_and(addend, _P_SIGNED, out=addend)
        np.add(part.view(np.uint64), addend.view(np.uint64), out=target)
    return out


def decode_signed(elements: np.ndarray) -> np.ndarray:
    """Map reduced field elements to signed int64, reusing the array."""
    out = elements.view(np.int64)  # Every element is below p < 2^63.
    # (HALF - x) >> 63 is all ones exactly when x > HALF, so the masked
    # value subtracts p from those elements only.
    scratch = np.empty(min(_BLOCK, out.size), dtype=np.int64)
    for start in range(0, out.size, _BLOCK):
        part = out[start:start + _BLOCK]
        shift = scratch[:part.size]
        np.subtract(_HALF_SIGNED, part, out=shift)
        np.right_shift(shift, 63, out=shift)
        np.bitwise_and(shift, _P_SIGNED, out=shift)
        np.subtract(part, shift, out=part)
    return out


def vector_view(data: bytes | bytearray | memoryview,
                length: int) -> np.ndarray:
    """Return a body of `length` little-endian field elements as a view.

    No copy is made. Raises WireError on a wrong size or an element that
    is not below p.
    """
    if len(data) != 8 * length:
        raise wire.WireError(
            f"expected a vector of {length} elements ({8 * length} bytes), "
            f"got {len(data)} bytes"
        )
    values = np.frombuffer(data, dtype="<u8")
    if length and values.max() >= _P:
        raise wire.WireError("a vector element is not below p")
    return values


def encode_vector_share(values: np.ndarray) -> bytes:
    """Encode a correction vector as a share body, with one copy."""
    return b"".join((wire.VECTOR_TAG,
                     memoryview(np.ascontiguousarray(values, dtype="<u8"))))


# Inputs and noise.


def _int_vector(vector: Any, query: Query) -> np.ndarray:
    if vector is None or len(vector) != query.length:
        raise qry.QueryError(
            f"no input vector of length {query.length} for query "
            f"{query.name!r}"
        )
    array = np.asarray(vector)
    if array.dtype.kind in "iu" and array.dtype != np.uint64:
        return array.astype(np.int64, copy=False)
    # Python ints beyond int64, floats or uint64: checked element-wise,
    # raising ValueError for a non-integer or a value the field cannot
    # hold. Integer arrays, the usual case, never come here.
    return fp._as_int_array(array)


def _int_elements(elements: list[int]) -> np.ndarray:
    try:
        return np.array(elements, dtype=np.int64)
    except OverflowError:
        return fp._as_int_array(np.array(elements, dtype=object))


def input_array(spec: JobSpec, source: qry.DataSource | None,
                vectors: dict[str, Any]) -> tuple[np.ndarray, dict[str, int]]:
    """Return a party's input vector as int64, and the dropped counts.

    A vector query reads its column with `queries.vector_input` when it
    names a dataset, and takes `vectors[query.name]` otherwise. Other
    queries contribute their local aggregates. Raises ValueError (or
    QueryError) when the data cannot serve the job.
    """
    parts: list[np.ndarray] = []
    dropped: dict[str, int] = {}
    for query in spec.queries:
        if query.kind == "vector" and not query.dataset:
            parts.append(_int_vector(vectors.get(query.name), query))
            continue
        if source is None:
            raise qry.QueryError(f"dataset {query.dataset!r} not found")
        if query.kind == "vector":
            parts.append(qry.vector_input(query, source))
            dropped[query.name] = 0
            continue
        elements, lost = qry.local_aggregate(query, source)
        parts.append(_int_elements(elements))
        dropped[query.name] = lost
    return np.concatenate(parts), dropped


def check_vector_bounds(spec: JobSpec, values: np.ndarray) -> str:
    """Say which vector element lies outside its query's clip, or "".

    Other queries' elements come from clipped records and cannot.
    """
    offset = 0
    for query in spec.queries:
        size = query.num_elements
        if query.kind == "vector":
            low, high = query.scaled_clip()
            part = values[offset:offset + size]
            bad = np.flatnonzero((part < low) | (part > high))
            if bad.size:
                return (f"input element {offset + int(bad[0])} is outside "
                        f"its declared range [{low}, {high}]")
        offset += size
    return ""


def _centred_binomial(prg: Prg, coins: int, size: int) -> np.ndarray:
    """Sample Binomial(coins, 1/2) - coins/2 `size` times from a PRG.

    Each sample counts the ones among `coins` bits of the stream, and no
    bit goes into two samples, as in `dp.sample_binomial` with os.urandom
    bits.
    Pre: 0 < coins <= 64 * _NOISE_CHUNK_WORDS, coins even.
    """
    full, rem = divmod(coins, 64)
    width = full + (rem > 0)
    rows = max(1, _NOISE_CHUNK_WORDS // width)
    out = np.empty(size, dtype=np.int64)
    for start in range(0, size, rows):
        stop = min(size, start + rows)
        words = np.empty((stop - start, width), dtype="<u8")
        prg.read_into(memoryview(words))
        if rem:
            words[:, -1] &= np.uint64((1 << rem) - 1)
        out[start:stop] = dp._popcount_rows(words.astype(np.uint64,
                                                         copy=False))
    out -= coins // 2
    return out


def binomial_noise(plan: dp.NoisePlan, size: int) -> np.ndarray:
    """Sample `size` binomial noise values conditioned on [-T, T].

    The same distribution as `dp.sample_noise`, vectorised: values
    outside the tail bound T (probability at most 2^-40 each) are drawn
    again. The coins come from the AES-CTR PRG keyed by a fresh seed from
    the OS CSPRNG, because os.urandom costs about 15 times as much per
    byte (see docs/dp.md). Plans with more coins than one draw takes
    (above 8 * 2^20, far beyond any job's) use `dp.sample_binomial`.
    """
    coins = plan.coins_per_party
    if coins == 0 or coins > 64 * _NOISE_CHUNK_WORDS:

        def draw(count: int) -> np.ndarray:
            return dp.sample_binomial(coins, count)
    else:
        prg = Prg(new_seed(), NOISE_LABEL)

        def draw(count: int) -> np.ndarray:
            return _centred_binomial(prg, coins, count)

    noise = draw(size)
    outside = np.flatnonzero(np.abs(noise) > plan.tail_bound)
    while outside.size:
        noise[outside] = draw(outside.size)
        outside = outside[np.abs(noise[outside]) > plan.tail_bound]
    return noise


def _vectorised_noise(plans: list[list[dp.NoisePlan | None]]) -> bool:
    """Return True when every noise plan of a job is binomial or absent,
    so that `noise_array` is numpy work that can run in a thread."""
    return all(plan is None or plan.mechanism == "binomial"
               for groups in plans for plan in groups)


def noise_array(spec: JobSpec, plans: list[list[dp.NoisePlan | None]]
                ) -> np.ndarray:
    """Return a party's noise for every element of the job, as int64.

    Binomial noise is vectorised. Discrete Laplace noise comes from the
    exact per-sample sampler of `mpc.dp`, which loops in Python: use the
    binomial mechanism for long vectors.
    """
    parts: list[np.ndarray] = []
    for query, groups in zip(spec.queries, plans):
        sizes = [1, 1] if query.kind == "mean" else [query.num_elements]
        for plan, size in zip(groups, sizes):
            if plan is None:
                parts.append(np.zeros(size, dtype=np.int64))
            elif plan.mechanism == "binomial":
                parts.append(binomial_noise(plan, size))
            else:
                parts.append(np.asarray(dp.sample_noise(plan, size),
                                        dtype=np.int64))
    return np.concatenate(parts)


# The share and reveal phases.


class ArrayRound:
    """The running sums of one party's array path in one job.

    `folds` are the functions `JobRun.deliver` hands each share and
    reveal body to on arrival, with the body's SHA-256 when the transport
    checked it. A fold checks the body, adds it to its sum and returns
    the `Folded` marker kept in its place. A malformed body raises
    ValueError, which aborts the job naming the sender.
    """

    def __init__(self, own_id: str, parties: list[str] | tuple[str, ...],
                 length: int) -> None:
        self.own_id = own_id
        self.parties = list(parties)
        self.length = length
        # A sum is the first vector folded into it, as a read-only view of
        # its body, until a second one arrives.
        self.share_sum: np.ndarray | None = None
        self.reveal_sum: np.ndarray | None = None
        self._buffer: np.ndarray | None = None
        self._input: np.ndarray | None = None
        self.seeds: dict[str, bytes] = {}
        self.bytes_sent = 0
        self.bytes_received = 0

    @property
    def folds(self) -> dict[str, Any]:
        return {"share": self.fold_share, "reveal": self.fold_reveal}

    def input_vector(self) -> np.ndarray:
        """Return an uninitialised field vector for this party's input.

        `share` turns it into the correction vector in place and sends it
        with no copy, because the spare 64-bit word before it in memory
        takes the share tag.
        """
        self._buffer = np.empty(self.length + 1, dtype="<u8")
        self._input = self._buffer[1:]
        return self._input

    def _vector_body(self) -> memoryview:
        """Return the tag and the correction vector of `_buffer` as one
        share body, and freeze the buffer, which peers may read later."""
        assert self._buffer is not None
        tag_index = 7  # The last byte of the spare word.
        self._buffer.view(np.uint8)[tag_index] = wire.VECTOR_TAG[0]
        self._buffer.flags.writeable = False
        body = memoryview(self._buffer).cast("B")[tag_index:]
        self._buffer = self._input = None
        return body

    def fold_share(self, sender: str, body: bytes,
                   digest: bytes = b"") -> Folded:
        """Keep a seed share, or add a correction vector to the share sum.

        `digest` is the body's SHA-256 if the transport checked it, or
        empty.
        """
        view = memoryview(body)
        tag = bytes(view[:1])
        expects_vector = sharing.ring_recipient(
            sender, self.parties) == self.own_id
        if tag == wire.SEED_TAG and not expects_vector:
            if len(view) != 1 + SEED_BYTES:
                raise wire.WireError(
                    f"a seed share must be {SEED_BYTES} bytes, got "
                    f"{len(view) - 1}")
            self.seeds[sender] = bytes(view[1:])
        elif tag == wire.VECTOR_TAG and expects_vector:
            vector = vector_view(view[1:], self.length)
            self.share_sum = _fold_vector(self.share_sum, vector)
        elif tag in (wire.SEED_TAG, wire.VECTOR_TAG):
            raise wire.WireError(
                "sent a seed where a vector was due, or the reverse")
        else:
            raise wire.WireError(f"unknown share tag {tag!r}")
        self.bytes_received += len(view)
        return Folded(view, digest)

    def fold_reveal(self, sender: str, body: bytes,
                    digest: bytes = b"") -> Folded:
        """Add a peer's reveal to the reveal sum (`digest` as in
        fold_share)."""
        vector = vector_view(body, self.length)
        self.reveal_sum = _fold_vector(self.reveal_sum, vector)
        self.bytes_received += len(body)
        return Folded(body, digest)

    def share(self, values: np.ndarray) -> tuple[
            np.ndarray, dict[str, bytes | memoryview]]:
        """Split this party's field vector; return its kept share and the
        body to send each peer.

        A vector from `input_vector` becomes the correction vector and is
        overwritten. Any other vector is copied first.
        """
        if values is not self._input:
            self.input_vector()[:] = values
        kept, sent = sharing.split(
            self.own_id, self.parties, self._input,
            recipient=sharing.ring_recipient(self.own_id, self.parties),
            overwrite=True)
        bodies: dict[str, bytes | memoryview] = {}
        for peer, share in sent.items():
            if share.is_seed:
                bodies[peer] = wire.encode_share(share)
            else:
                bodies[peer] = self._vector_body()
        assert kept.values is not None
        return kept.values, bodies

    def partial_sum(self, kept: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """Return this party's reveal: its kept share, every share it
        received, and its noise, summed mod p (reusing `kept`).

        The returned array is read-only, because its memory is sent as the
        reveal body and a peer may read it after this party moved on.
        """
        total = kept
        if self.share_sum is not None:
            add_into(total, self.share_sum)
            self.share_sum = None
        for seed in self.seeds.values():
            add_into(total, sharing.expand_values(seed, self.length))
        add_into(total, encode_signed(noise))
        total.flags.writeable = False
        return total

    def result(self, own_reveal: np.ndarray) -> np.ndarray:
        """Return the revealed sum as signed int64.

        The sum is built in the peers' reveal sum, so `own_reveal` is not
        changed.
        """
        total = _fold_vector(self.reveal_sum, own_reveal)
        self.reveal_sum = None
        if not total.flags.writeable:
            total = total.copy()
        return decode_signed(total)


def _fold_vector(total: np.ndarray | None,
                 vector: np.ndarray) -> np.ndarray:
    """Return `total` plus `vector` mod p, or `vector` itself when there
    is no total yet. A read-only total is copied before the addition."""
    if total is None:
        return vector
    if not total.flags.writeable:
        total = total.copy()
    add_into(total, vector)
    return total


async def run_semi_honest(run: JobRun,
                          plans: list[list[dp.NoisePlan | None]]) -> None:
    """Run the share and reveal phases of a job with proofs off.

    `run.array_round` must have been folding this job's messages since
    the run was created. Completes the run with an unverified result.
    """
    from mpc.job import JobAborted

    round_: ArrayRound = run.array_round
    own = run.party.party_id
    spec = run.spec
    run._enter("share", f"{round_.length} elements, array path")
    # The noise is drawn off the event loop while the input is read and
    # the shares are exchanged. Binomial noise is numpy and AES work, so a
    # thread serves and its array is not copied between processes.
    if _vectorised_noise(plans):
        noise_draw = asyncio.ensure_future(
            asyncio.to_thread(noise_array, spec, plans))
    else:
        noise_draw = asyncio.ensure_future(
            run.party.run_cpu(noise_array, spec, plans))
    try:
        values, dropped = run.party.hooks.input_array(run.job_hex, spec)
        problem = ("" if values.shape == (round_.length,) else
                   f"input has {values.size} elements, not "
                   f"{round_.length}")
        problem = problem or check_vector_bounds(spec, values)
        if problem:
            raise qry.QueryError(problem)
        encoded = encode_signed(values, out=round_.input_vector())
    except ValueError as exc:
        noise_draw.cancel()
        raise JobAborted(
            "share", f"party {own} cannot compute its input: {exc}", [own],
        ) from None
    del values
    kept, bodies = round_.share(encoded)
    del encoded
    round_.bytes_sent += sum(len(body) for body in bodies.values())
    try:
        await run._broadcast("share", bodies)
        del bodies
        await run._collect("share", run.peers)
    except BaseException:
        noise_draw.cancel()
        raise
    run._leave()

    run._enter("reveal")
    noise = await noise_draw
    total = round_.partial_sum(kept, noise)
    del kept, noise
    # Nothing is revealed in a job that a peer or a check aborted.
    if run._abort.done():
        run._raise_abort()
    # The budget is spent once this party's noisy share leaves it.
    run.party.hooks.before_reveal(run.job_hex)
    run.revealed = True
    body = memoryview(total).cast("B")  # Read-only, sent with no copy.
    round_.bytes_sent += len(body) * len(run.peers)
    await run._broadcast("reveal", body)
    del body
    await run._collect("reveal", run.peers)
    totals = round_.result(total)
    run._leave()
    run._complete(totals, plans, dropped, False)
