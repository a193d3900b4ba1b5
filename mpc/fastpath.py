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
from mpc.prg import SEED_BYTES
from mpc.spec import JobSpec, Query

if TYPE_CHECKING:
    from mpc.job import JobRun

_P = np.uint64(fp.P)


class Folded:
    """The digest a job keeps of a message folded into a running sum.

    It compares equal to a body with the same SHA-256 digest. So a
    byte-identical replay is still ignored and a different second message
    still aborts the job, while the body itself is freed.
    """

    __slots__ = ("digest", "size")

    def __init__(self, body: bytes | bytearray | memoryview) -> None:
        self.digest = hashlib.sha256(body).digest()
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
    np.add(total, vector, out=total)
    np.minimum(total, total - _P, out=total)  # see field._reduce_once


def encode_signed(values: np.ndarray) -> np.ndarray:
    """Embed an int64 vector in F_p, as field.encode_signed does."""
    values = np.asarray(values)
    if values.dtype != np.int64:
        return fp.encode_signed(values)
    if values.size and (values.min() < -fp.HALF or values.max() > fp.HALF):
        return fp.encode_signed(values)  # Raises FieldOverflowError.
    out = values.astype(np.uint64)  # Wraps a negative v to 2^64 + v.
    np.add(out, _P, out=out, where=values < 0)  # ... and on to p + v.
    return out


def decode_signed(elements: np.ndarray) -> np.ndarray:
    """Map reduced field elements to signed int64, reusing the array."""
    out = elements.view(np.int64)  # Every element is below p < 2^63.
    np.subtract(out, np.int64(fp.P), out=out, where=out > fp.HALF)
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


def binomial_noise(plan: dp.NoisePlan, size: int) -> np.ndarray:
    """Sample `size` binomial noise values conditioned on [-T, T].

    The same distribution as `dp.sample_noise`, vectorised: values
    outside the tail bound T (probability at most 2^-40 each) are drawn
    again.
    """
    noise = dp.sample_binomial(plan.coins_per_party, size)
    outside = np.flatnonzero(np.abs(noise) > plan.tail_bound)
    while outside.size:
        noise[outside] = dp.sample_binomial(plan.coins_per_party,
                                            outside.size)
        outside = outside[np.abs(noise[outside]) > plan.tail_bound]
    return noise


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
    reveal body to on arrival. A fold checks the body, adds it to its
    sum and returns the `Folded` marker kept in its place; a malformed
    body raises ValueError, which aborts the job naming the sender.
    """

    def __init__(self, own_id: str, parties: list[str] | tuple[str, ...],
                 length: int) -> None:
        self.own_id = own_id
        self.parties = list(parties)
        self.length = length
        self.share_sum: np.ndarray | None = None
        self.reveal_sum: np.ndarray | None = None
        self.seeds: dict[str, bytes] = {}
        self.bytes_sent = 0
        self.bytes_received = 0

    @property
    def folds(self) -> dict[str, Any]:
        return {"share": self.fold_share, "reveal": self.fold_reveal}

    def _zeros(self) -> np.ndarray:
        return np.zeros(self.length, dtype=np.uint64)

    def fold_share(self, sender: str, body: bytes) -> Folded:
        """Keep a seed share, or add a correction vector to the share sum."""
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
            if self.share_sum is None:
                self.share_sum = self._zeros()
            add_into(self.share_sum, vector)
        elif tag in (wire.SEED_TAG, wire.VECTOR_TAG):
            raise wire.WireError(
                "sent a seed where a vector was due, or the reverse")
        else:
            raise wire.WireError(f"unknown share tag {tag!r}")
        self.bytes_received += len(view)
        return Folded(view)

    def fold_reveal(self, sender: str, body: bytes) -> Folded:
        """Add a peer's reveal to the reveal sum."""
        vector = vector_view(body, self.length)
        if self.reveal_sum is None:
            self.reveal_sum = self._zeros()
        add_into(self.reveal_sum, vector)
        self.bytes_received += len(body)
        return Folded(body)

    def share(self, values: np.ndarray) -> tuple[np.ndarray,
                                                  dict[str, bytes]]:
        """Split this party's field vector; return its kept share and the
        body to send each peer."""
        kept, sent = sharing.split(
            self.own_id, self.parties, values,
            recipient=sharing.ring_recipient(self.own_id, self.parties))
        bodies = {}
        for peer, share in sent.items():
            if share.is_seed:
                bodies[peer] = wire.encode_share(share)
            else:
                bodies[peer] = encode_vector_share(share.values)
        assert kept.values is not None
        return kept.values, bodies

    def partial_sum(self, kept: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """Return this party's reveal: its kept share, every share it
        received, and its noise, summed mod p (reusing `kept`)."""
        total = kept
        if self.share_sum is not None:
            add_into(total, self.share_sum)
            self.share_sum = None
        for seed in self.seeds.values():
            add_into(total, sharing.expand_values(seed, self.length))
        add_into(total, encode_signed(noise))
        return total

    def result(self, own_reveal: np.ndarray) -> np.ndarray:
        """Return the revealed sum as signed int64 (reusing the input)."""
        total = own_reveal
        if self.reveal_sum is not None:
            add_into(total, self.reveal_sum)
            self.reveal_sum = None
        return decode_signed(total)


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
    # The noise is drawn off the event loop while the input is read.
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
        encoded = encode_signed(values)
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
    body = memoryview(total).tobytes()
    round_.bytes_sent += len(body) * len(run.peers)
    await run._broadcast("reveal", body)
    del body
    await run._collect("reveal", run.peers)
    totals = round_.result(total)
    run._leave()
    run._complete(totals, plans, dropped, False)
