"""Commit bundles made and verified in chunks of elements, on all cores.

`make_commit_bundle` and `verify_commit_bundle` (mpc.validity) handle a
whole bundle in one call, so one party's bundle keeps one core busy.
Here the elements are split into chunks that run as separate calls of a
process pool (`run_cpu`), and the results are put together:

- proving: each chunk commits to its elements and proves their ranges
  and noise bounds; one more call proves the group constraints. The
  parts are joined into exactly the bytes `make_commit_bundle` encodes,
  so a verifier cannot tell the difference.
- verifying: the bundle's layout follows from the statement (every
  proof's size is fixed by its bit count), so the bundle is cut into
  each chunk's commitments and proofs, and each chunk is decoded and
  verified on its own. A bundle whose layout is off is decoded whole by
  `CommitBundle.decode`, whose error names the malformed part.

A failed check raises the ProofError of the first failing proof in the
order `verify_commit_bundle` checks them: range proofs, group proofs,
then noise proofs, each by index.
"""

from __future__ import annotations

import asyncio
import functools
import gc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from mpc.commitments import commit
from mpc.group import POINT_BYTES, EncodingError, decode_point
from mpc.proofs import (
    BOUNDED_SUM_KIND,
    COUNT_BYTES,
    NOISE_BOUND_KIND,
    ONE_HOT_KIND,
    RANGE_KIND,
    Batch,
    OneHotProof,
    ProofContext,
    ProofError,
    ProofReader,
    RangeProof,
    commit_encoded,
    encode_count,
    one_hot_proof_size,
    prove_bounded_sum,
    prove_one_hot,
    range_proof_size,
    range_weights,
    verify_bounded_sum,
    verify_encoded_ranges,
    verify_noise_bound,
    verify_one_hot,
    verify_range,
)
from mpc.validity import (
    ONE_HOT,
    CommitBundle,
    ElementBound,
    InputStatement,
    verify_commit_bundle,
)

RunCpu = Callable[..., Awaitable[Any]]

INVALID_ENCODING = "invalid encoding"
"""Prefix of the reason of every decoding error, here as in
mpc.validity and mpc.proofs."""

_KIND_ORDER = {RANGE_KIND: 0, ONE_HOT_KIND: 1, BOUNDED_SUM_KIND: 1,
               NOISE_BOUND_KIND: 2}


def chunk_bounds(weights: Sequence[int], chunks: int) -> list[tuple[int, int]]:
    """Split indices 0..len(weights) into at most `chunks` runs of about
    equal total weight."""
    total = sum(weights)
    chunks = max(1, min(chunks, len(weights)))
    out, start, acc = [], 0, 0
    for index, weight in enumerate(weights):
        acc += weight
        if len(out) < chunks - 1 and acc * chunks >= total * (len(out) + 1):
            out.append((start, index + 1))
            start = index + 1
    if start < len(weights):
        out.append((start, len(weights)))
    return out


def _element_weights(statement: InputStatement) -> list[int]:
    """Return the bits each element's range and noise proofs take."""
    return [len(range_weights(b.lo, b.hi)) + len(range_weights(-t, t))
            for b, t in zip(statement.bounds, statement.noise_bounds)]


_F = TypeVar("_F", bound=Callable[..., Any])


def _gc_paused(function: _F) -> _F:
    """Pause the cyclic garbage collector while `function` runs.

    A chunk makes hundreds of thousands of short-lived objects without
    cycles. The collector would walk them again and again (about a tenth
    of a chunk's time) and free nothing.
    """

    @functools.wraps(function)
    def paused(*args: Any, **kwargs: Any) -> Any:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return paused  # type: ignore[return-value]


# Proving.


@_gc_paused
def prove_chunk(ctx: ProofContext, statement: InputStatement, start: int,
                values: list[int], blindings: list[int], noise: list[int],
                noise_blindings: list[int]) -> tuple[bytes, bytes, bytes,
                                                      bytes]:
    """Commit to elements start.. of a chunk and prove their ranges and
    noise bounds; return the encoded commitments, noise commitments,
    range proofs and noise proofs."""
    commitments, noise_commitments, ranges, noises = [], [], [], []
    for offset, (value, blinding, e, rho) in enumerate(
            zip(values, blindings, noise, noise_blindings, strict=True)):
        index = start + offset
        bound = statement.bounds[index]
        noise_bound = statement.noise_bounds[index]
        commitment, proof = commit_encoded(
            RANGE_KIND, ctx, index, bound.lo, bound.hi, value, blinding)
        noise_commitment, noise_proof = commit_encoded(
            NOISE_BOUND_KIND, ctx, index, -noise_bound, noise_bound, e, rho)
        commitments.append(commitment)
        noise_commitments.append(noise_commitment)
        ranges.append(proof)
        noises.append(noise_proof)
    return (b"".join(commitments), b"".join(noise_commitments),
            b"".join(ranges), b"".join(noises))


@_gc_paused
def prove_groups(ctx: ProofContext, statement: InputStatement,
                 values: list[int], blindings: list[int]) -> bytes:
    """Prove every group constraint; return the encoded group proofs."""
    parts = []
    for index, group in enumerate(statement.groups):
        member_values = [values[k] for k in group.indices]
        member_blindings = [blindings[k] for k in group.indices]
        members = [commit(v, r) for v, r in
                   zip(member_values, member_blindings, strict=True)]
        if group.kind == ONE_HOT:
            proof: Any = prove_one_hot(ctx, index, members, member_values,
                                       member_blindings)
        else:
            proof = prove_bounded_sum(ctx, index, members, group.lo,
                                      group.hi, member_values,
                                      member_blindings)
        parts.append(proof.encode())
    return b"".join(parts)


async def make_bundle(run_cpu: RunCpu, chunks: int, ctx: ProofContext,
                      statement: InputStatement, values: list[int],
                      blindings: list[int], noise: list[int],
                      noise_blindings: list[int]) -> bytes:
    """Make the bytes of `make_commit_bundle` in up to `chunks` calls of
    `run_cpu` at once, plus one for the group proofs."""
    size = statement.size
    for name, vector in (("values", values), ("blindings", blindings),
                         ("noise", noise),
                         ("noise_blindings", noise_blindings)):
        if len(vector) != size:
            raise ValueError(
                f"{name} has {len(vector)} entries, but the statement has "
                f"{size} elements"
            )
    runs = chunk_bounds(_element_weights(statement), chunks)
    calls = [
        run_cpu(prove_chunk, ctx, statement, a, values[a:b],
                blindings[a:b], noise[a:b], noise_blindings[a:b])
        for a, b in runs
    ]
    if statement.groups:
        calls.append(run_cpu(prove_groups, ctx, statement, values,
                             blindings))
    parts = await asyncio.gather(*calls)
    groups = parts.pop() if statement.groups else b""
    return b"".join([
        encode_count(size),
        *(p[0] for p in parts),
        *(p[1] for p in parts),
        *(p[2] for p in parts),
        encode_count(len(statement.groups)),
        groups,
        *(p[3] for p in parts),
    ])


# Verifying.


@dataclass(frozen=True)
class BundleLayout:
    """Where each part of a bundle lies, as the statement fixes it."""

    size: int
    range_offsets: list[int]
    """Start of each element's range proof; one more entry at the end."""
    group_offsets: list[int]
    noise_offsets: list[int]

    @property
    def total(self) -> int:
        return self.noise_offsets[-1]


def bundle_layout(statement: InputStatement) -> BundleLayout:
    """Return the layout every bundle for `statement` must have."""
    n = statement.size
    offset = COUNT_BYTES + 2 * POINT_BYTES * n

    def runs(sizes: list[int], start: int) -> list[int]:
        out = [start]
        for s in sizes:
            out.append(out[-1] + s)
        return out

    range_offsets = runs(
        [range_proof_size(len(range_weights(b.lo, b.hi)))
         for b in statement.bounds], offset)
    group_sizes = [
        one_hot_proof_size(len(g.indices)) if g.kind == ONE_HOT else
        range_proof_size(len(range_weights(g.lo, g.hi)))
        for g in statement.groups
    ]
    group_offsets = runs(group_sizes, range_offsets[-1] + COUNT_BYTES)
    noise_offsets = runs(
        [range_proof_size(len(range_weights(-t, t)))
         for t in statement.noise_bounds], group_offsets[-1])
    return BundleLayout(n, range_offsets, group_offsets, noise_offsets)


def _points(data: bytes, kind: str, start: int, part: str) -> list:
    points = []
    for k in range(len(data) // POINT_BYTES):
        try:
            points.append(decode_point(
                data[k * POINT_BYTES:(k + 1) * POINT_BYTES]))
        except EncodingError as exc:
            raise ProofError(kind, start + k,
                             f"{INVALID_ENCODING} of the {part}: {exc}"
                             ) from None
    return points


def _range_proofs(data: bytes, kind: str, start: int,
                  bits: list[int]) -> list[RangeProof]:
    reader = ProofReader(data)
    proofs = []
    for k, count in enumerate(bits):
        try:
            proofs.append(RangeProof.read(reader, count))
        except EncodingError as exc:
            raise ProofError(kind, start + k,
                             f"{INVALID_ENCODING}: {exc}") from None
    return proofs


def _check_chunk_sizes(start: int, bounds: Sequence[ElementBound],
                       noise_bounds: Sequence[int], commitments: bytes,
                       noise_commitments: bytes, ranges: bytes,
                       noises: bytes) -> None:
    """Raise ValueError unless a chunk's parts have the sizes that
    bundle_layout gives its elements (a caller's slicing mistake)."""
    sizes = {
        "commitments": (len(commitments), POINT_BYTES * len(bounds)),
        "noise commitments": (len(noise_commitments),
                              POINT_BYTES * len(noise_bounds)),
        "range proofs": (len(ranges), sum(
            range_proof_size(len(range_weights(b.lo, b.hi)))
            for b in bounds)),
        "noise proofs": (len(noises), sum(
            range_proof_size(len(range_weights(-t, t)))
            for t in noise_bounds)),
    }
    for part, (got, expected) in sizes.items():
        if got != expected:
            raise ValueError(
                f"chunk from element {start}: {got} bytes of {part}, "
                f"expected {expected}; slice the bundle by bundle_layout"
            )


@_gc_paused
def verify_chunk(ctx: ProofContext, statement: InputStatement, start: int,
                 commitments: bytes, noise_commitments: bytes,
                 ranges: bytes, noises: bytes) -> None:
    """Decode and verify the range and noise proofs of one chunk."""
    bounds = statement.bounds[start:start + len(commitments) // POINT_BYTES]
    noise_bounds = statement.noise_bounds[start:start + len(bounds)]
    _check_chunk_sizes(start, bounds, noise_bounds, commitments,
                       noise_commitments, ranges, noises)
    if verify_encoded_ranges(ctx, [
        (RANGE_KIND, start, [(b.lo, b.hi) for b in bounds], commitments,
         ranges),
        (NOISE_BOUND_KIND, start, [(-t, t) for t in noise_bounds],
         noise_commitments, noises),
    ]):
        return
    # Something failed: decode and verify proof by proof to name it.
    points = _points(commitments, RANGE_KIND, start, "commitment")
    noise_points = _points(noise_commitments, NOISE_BOUND_KIND, start,
                           "noise commitment")
    range_proofs = _range_proofs(
        ranges, RANGE_KIND, start,
        [len(range_weights(b.lo, b.hi)) for b in bounds])
    noise_proofs = _range_proofs(
        noises, NOISE_BOUND_KIND, start,
        [len(range_weights(-t, t)) for t in noise_bounds])
    batch = Batch()
    for k, (point, bound, proof) in enumerate(
            zip(points, bounds, range_proofs, strict=True)):
        verify_range(ctx, start + k, point, bound.lo, bound.hi, proof,
                     batch=batch)
    for k, (point, t, proof) in enumerate(
            zip(noise_points, noise_bounds, noise_proofs, strict=True)):
        verify_noise_bound(ctx, start + k, point, t, proof, batch=batch)
    batch.check()


@_gc_paused
def verify_groups(ctx: ProofContext, statement: InputStatement,
                  commitments: bytes, groups: bytes) -> None:
    """Decode and verify every group proof against the commitments."""
    points = _points(commitments, RANGE_KIND, 0, "commitment")
    reader = ProofReader(groups)
    batch = Batch()
    for index, group in enumerate(statement.groups):
        members = [points[k] for k in group.indices]
        kind = ONE_HOT_KIND if group.kind == ONE_HOT else BOUNDED_SUM_KIND
        try:
            if group.kind == ONE_HOT:
                proof: Any = OneHotProof.read(reader, len(group.indices))
            else:
                proof = RangeProof.read(
                    reader, len(range_weights(group.lo, group.hi)))
        except EncodingError as exc:
            raise ProofError(kind, index, f"{INVALID_ENCODING}: {exc}"
                             ) from None
        if group.kind == ONE_HOT:
            verify_one_hot(ctx, index, members, proof, batch=batch)
        else:
            verify_bounded_sum(ctx, index, members, group.lo, group.hi,
                               proof, batch=batch)
    batch.check()


def commitments_of(data: bytes, statement: InputStatement) -> CommitBundle:
    """Decode only a bundle's commitments and noise commitments.

    The proofs are left out: this is what the check phase needs of a
    bundle whose proofs were verified elsewhere.
    """
    n = statement.size
    points = _points(data[COUNT_BYTES:COUNT_BYTES + POINT_BYTES * n],
                     RANGE_KIND, 0, "commitment")
    noise = _points(
        data[COUNT_BYTES + POINT_BYTES * n:COUNT_BYTES + 2 * POINT_BYTES * n],
        NOISE_BOUND_KIND, 0, "noise commitment")
    return CommitBundle(tuple(points), tuple(noise), (), (), ())


def _layout_matches(data: bytes, layout: BundleLayout,
                    statement: InputStatement) -> bool:
    def count_at(offset: int) -> int:
        return int.from_bytes(data[offset:offset + COUNT_BYTES], "big")

    return (len(data) == layout.total
            and count_at(0) == layout.size
            and count_at(layout.range_offsets[-1]) == len(statement.groups))


async def verify_bundle(run_cpu: RunCpu, chunks: int, ctx: ProofContext,
                        statement: InputStatement,
                        data: bytes) -> CommitBundle:
    """Verify a bundle as `verify_commit_bundle` does, in up to `chunks`
    calls of `run_cpu` at once (plus one for the group proofs).

    Returns a CommitBundle holding the commitments only. Raises the
    ProofError of the first failing proof.
    """
    layout = bundle_layout(statement)
    if not _layout_matches(data, layout, statement):
        # Malformed: the whole decoder names the part that is off.
        return await run_cpu(verify_commit_bundle, ctx, statement, data)
    n = statement.size
    comm = COUNT_BYTES
    noise_comm = COUNT_BYTES + POINT_BYTES * n
    calls = []
    for a, b in chunk_bounds(_element_weights(statement), chunks):
        calls.append(run_cpu(
            verify_chunk, ctx, statement, a,
            data[comm + POINT_BYTES * a:comm + POINT_BYTES * b],
            data[noise_comm + POINT_BYTES * a:noise_comm + POINT_BYTES * b],
            data[layout.range_offsets[a]:layout.range_offsets[b]],
            data[layout.noise_offsets[a]:layout.noise_offsets[b]],
        ))
    if statement.groups:
        calls.append(run_cpu(
            verify_groups, ctx, statement,
            data[comm:comm + POINT_BYTES * n],
            data[layout.group_offsets[0]:layout.group_offsets[-1]],
        ))
    results = await asyncio.gather(*calls, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    errors = [f for f in failures if isinstance(f, ProofError)]
    if len(errors) != len(failures):
        raise next(f for f in failures if not isinstance(f, ProofError))
    if any(e.reason.startswith(INVALID_ENCODING) for e in errors):
        # A chunk decodes only its own part, so another chunk may fail a
        # check before this encoding error would be reached. Decode the
        # whole bundle, which names the first malformed part, as
        # verify_commit_bundle does, whatever the chunk count.
        return await run_cpu(verify_commit_bundle, ctx, statement, data)
    if errors:
        raise min(errors, key=lambda e: (_KIND_ORDER.get(e.kind, 3),
                                         e.index or 0))
    return commitments_of(data, statement)
