"""A party's commit bundle: its input and noise commitments with proofs.

For an input vector x with blindings r and a noise vector e with
blindings rho, the bundle carries C_k = Com(x_k; r_k) and
E_k = Com(e_k; rho_k) for every element k, and proves with `mpc.proofs`:

- a range proof that lo_k <= x_k <= hi_k, with index k;
- per group constraint g, a one-hot proof or a bounded-sum proof over the
  group's elements, with index g;
- a noise-bound proof that |e_k| <= T_k, with index k.

All proofs bind the same `ProofContext`, so a bundle made for one job,
party or round fails for any other. `make_commit_bundle` and
`verify_commit_bundle` are top-level functions of picklable arguments, so
they can run in a process pool. Any failure to decode or verify a bundle
raises `mpc.proofs.ProofError`, naming the proof kind and index.

Bundle encoding (all counts are 4-byte unsigned big-endian):

    n || C_0 .. C_{n-1} || E_0 .. E_{n-1}
      || n range proofs || g || g group proofs || n noise-bound proofs

Points are 33-byte compressed SEC1 and every proof uses the encoding of
its class in `mpc.proofs`. Every count must agree with the statement.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from mpc.commitments import commit
from mpc.group import EncodingError, Point
from mpc.proofs import (
    BOUNDED_SUM_KIND,
    NOISE_BOUND_KIND,
    ONE_HOT_KIND,
    RANGE_KIND,
    Batch,
    OneHotProof,
    ProofContext,
    ProofError,
    ProofReader,
    RangeProof,
    encode_count,
    prove_bounded_sum,
    prove_noise_bound,
    prove_one_hot,
    prove_range,
    range_weights,
    verify_bounded_sum,
    verify_noise_bound,
    verify_one_hot,
    verify_range,
)

ONE_HOT = "one_hot"
BOUNDED_SUM = "bounded_sum"
BUNDLE_KIND = "bundle"


@dataclass(frozen=True)
class ElementBound:
    """The declared range [lo, hi] of one input element; lo < hi."""

    lo: int
    hi: int

    def __post_init__(self) -> None:
        range_weights(self.lo, self.hi)


@dataclass(frozen=True)
class GroupConstraint:
    """A constraint over the input elements at `indices`.

    `kind` is "one_hot" (the elements are bits summing to 1, with lo and
    hi left at 0 and 1) or "bounded_sum" (their sum lies in [lo, hi]).
    """

    kind: str
    indices: tuple[int, ...]
    lo: int = 0
    hi: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "indices", tuple(self.indices))
        if self.kind not in (ONE_HOT, BOUNDED_SUM):
            raise ValueError(
                f"group kind must be {ONE_HOT!r} or {BOUNDED_SUM!r}, "
                f"got {self.kind!r}"
            )
        if not self.indices:
            raise ValueError("a group constraint needs at least one index")
        for index in self.indices:
            if not isinstance(index, int) or index < 0:
                raise ValueError(
                    f"group indices must be non-negative ints, got {index!r}"
                )
        if len(set(self.indices)) != len(self.indices):
            raise ValueError(f"group indices repeat: {self.indices}")
        if self.kind == ONE_HOT and (self.lo, self.hi) != (0, 1):
            raise ValueError(
                "a one_hot group takes no bounds; leave lo=0 and hi=1, "
                f"got lo={self.lo}, hi={self.hi}"
            )
        range_weights(self.lo, self.hi)


@dataclass(frozen=True)
class InputStatement:
    """The statement a party proves about its input and noise vectors.

    `bounds` has one ElementBound per input element, `groups` the group
    constraints, and `noise_bounds` one tail bound T_k >= 1 per element,
    because different queries get different noise.
    """

    bounds: tuple[ElementBound, ...]
    groups: tuple[GroupConstraint, ...]
    noise_bounds: tuple[int, ...]

    def __post_init__(self) -> None:
        for name in ("bounds", "groups", "noise_bounds"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        size = len(self.bounds)
        if size == 0:
            raise ValueError("a statement needs at least one element")
        for bound in self.bounds:
            if not isinstance(bound, ElementBound):
                raise TypeError("bounds must be ElementBound instances")
        if len(self.noise_bounds) != size:
            raise ValueError(
                f"{size} elements but {len(self.noise_bounds)} noise bounds"
            )
        for noise_bound in self.noise_bounds:
            if not isinstance(noise_bound, int) or noise_bound < 1:
                raise ValueError(
                    f"noise bounds must be ints >= 1, got {noise_bound!r}"
                )
            range_weights(-noise_bound, noise_bound)
        for group in self.groups:
            if not isinstance(group, GroupConstraint):
                raise TypeError("groups must be GroupConstraint instances")
            if max(group.indices) >= size:
                raise ValueError(
                    f"group index {max(group.indices)} is out of range for "
                    f"{size} elements"
                )

    @property
    def size(self) -> int:
        """Number of input elements."""
        return len(self.bounds)


def unmet_group(statement: InputStatement, values: Sequence[int]) -> str:
    """Return how `values` break a group constraint, or "" if none.

    A party calls it before it proves anything, to find that its own
    input fails its statement (a one-hot vector that is not one-hot, a
    bounded sum out of bounds). The text names the group, its size and
    its first element, never the values.
    """
    for index, group in enumerate(statement.groups):
        members = [values[k] for k in group.indices]
        total = sum(members)
        where = (f"group {index} ({len(members)} elements from element "
                 f"{group.indices[0]})")
        if group.kind == ONE_HOT:
            if total != 1 or any(v not in (0, 1) for v in members):
                return f"{where} is not one-hot"
        elif not group.lo <= total <= group.hi:
            return (f"{where} sums outside its declared range "
                    f"[{group.lo}, {group.hi}]")
    return ""


@dataclass(frozen=True)
class CommitBundle:
    """A party's commitments and proofs for one round.

    `range_proofs` and `noise_proofs` have one proof per element and
    `group_proofs` one per group constraint: a OneHotProof for a one_hot
    group and a RangeProof for a bounded_sum group.
    """

    commitments: tuple[Point, ...]
    noise_commitments: tuple[Point, ...]
    range_proofs: tuple[RangeProof, ...]
    group_proofs: tuple[OneHotProof | RangeProof, ...]
    noise_proofs: tuple[RangeProof, ...]

    def encode(self) -> bytes:
        parts = [encode_count(len(self.commitments))]
        parts += [point.encode() for point in self.commitments]
        parts += [point.encode() for point in self.noise_commitments]
        parts += [proof.encode() for proof in self.range_proofs]
        parts.append(encode_count(len(self.group_proofs)))
        parts += [proof.encode() for proof in self.group_proofs]
        parts += [proof.encode() for proof in self.noise_proofs]
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes, statement: InputStatement) -> CommitBundle:
        """Decode a bundle whose counts agree with `statement`.

        Raises ProofError, naming the part that is malformed, on any
        truncated, trailing or non-canonical input or wrong count.
        """
        reader = ProofReader(data)
        size = statement.size

        # Step 1: the element count and the commitments.
        with _rejecting(BUNDLE_KIND, None):
            if reader.count() != size:
                raise EncodingError(f"element count is not {size}")
        commitments = []
        for index in range(size):
            with _rejecting(RANGE_KIND, index, "commitment"):
                commitments.append(reader.point())
        noise_commitments = []
        for index in range(size):
            with _rejecting(NOISE_BOUND_KIND, index, "noise commitment"):
                noise_commitments.append(reader.point())

        # Step 2: the proofs, each read with the bit count its bounds fix.
        range_proofs = []
        for index, bound in enumerate(statement.bounds):
            bits = len(range_weights(bound.lo, bound.hi))
            with _rejecting(RANGE_KIND, index):
                range_proofs.append(RangeProof.read(reader, bits))
        with _rejecting(BUNDLE_KIND, None):
            if reader.count() != len(statement.groups):
                raise EncodingError(
                    f"group count is not {len(statement.groups)}"
                )
        group_proofs: list[OneHotProof | RangeProof] = []
        for index, group in enumerate(statement.groups):
            with _rejecting(_group_kind(group), index):
                group_proofs.append(_read_group_proof(reader, group))
        noise_proofs = []
        for index, noise_bound in enumerate(statement.noise_bounds):
            bits = len(range_weights(-noise_bound, noise_bound))
            with _rejecting(NOISE_BOUND_KIND, index):
                noise_proofs.append(RangeProof.read(reader, bits))
        with _rejecting(BUNDLE_KIND, None):
            reader.finish()

        return cls(
            tuple(commitments),
            tuple(noise_commitments),
            tuple(range_proofs),
            tuple(group_proofs),
            tuple(noise_proofs),
        )


@contextmanager
def _rejecting(
    kind: str, index: int | None, part: str | None = None
) -> Iterator[None]:
    """Turn an EncodingError inside the block into a ProofError."""
    try:
        yield
    except EncodingError as exc:
        where = "" if part is None else f" of the {part}"
        reason = f"invalid encoding{where}: {exc}"
        raise ProofError(kind, index, reason) from None


def _group_kind(group: GroupConstraint) -> str:
    return ONE_HOT_KIND if group.kind == ONE_HOT else BOUNDED_SUM_KIND


def _read_group_proof(
    reader: ProofReader, group: GroupConstraint
) -> OneHotProof | RangeProof:
    if group.kind == ONE_HOT:
        return OneHotProof.read(reader, len(group.indices))
    return RangeProof.read(reader, len(range_weights(group.lo, group.hi)))


def _check_lengths(
    statement: InputStatement, **vectors: Sequence[int]
) -> None:
    for name, vector in vectors.items():
        if len(vector) != statement.size:
            raise ValueError(
                f"{name} has {len(vector)} entries, but the statement has "
                f"{statement.size} elements"
            )


def make_commit_bundle(
    ctx: ProofContext,
    statement: InputStatement,
    values: list[int],
    blindings: list[int],
    noise: list[int],
    noise_blindings: list[int],
    *,
    _unchecked: bool = False,
) -> bytes:
    """Commit to `values` and `noise` and prove the statement; encode.

    Pre: the four lists have statement.size entries, every value is in
    its bounds, every group constraint is satisfied and |noise[k]| <=
    statement.noise_bounds[k], else ValueError. `_unchecked` (tests only)
    forces an unsatisfied witness through, giving a bundle that fails.
    Post: verify_commit_bundle(ctx, statement, result) accepts.
    """
    _check_lengths(
        statement,
        values=values,
        blindings=blindings,
        noise=noise,
        noise_blindings=noise_blindings,
    )

    # Step 1: commitments to every input and noise element.
    commitments = [
        commit(v, r) for v, r in zip(values, blindings, strict=True)
    ]
    noise_commitments = [
        commit(e, r) for e, r in zip(noise, noise_blindings, strict=True)
    ]

    # Step 2: one range proof per element.
    range_proofs = [
        prove_range(
            ctx,
            index,
            commitments[index],
            bound.lo,
            bound.hi,
            values[index],
            blindings[index],
            _unchecked=_unchecked,
        )
        for index, bound in enumerate(statement.bounds)
    ]

    # Step 3: one proof per group constraint.
    group_proofs: list[OneHotProof | RangeProof] = []
    for index, group in enumerate(statement.groups):
        members = [commitments[k] for k in group.indices]
        member_values = [values[k] for k in group.indices]
        member_blindings = [blindings[k] for k in group.indices]
        if group.kind == ONE_HOT:
            proof: OneHotProof | RangeProof = prove_one_hot(
                ctx,
                index,
                members,
                member_values,
                member_blindings,
                _unchecked=_unchecked,
            )
        else:
            proof = prove_bounded_sum(
                ctx,
                index,
                members,
                group.lo,
                group.hi,
                member_values,
                member_blindings,
                _unchecked=_unchecked,
            )
        group_proofs.append(proof)

    # Step 4: one noise-bound proof per element.
    noise_proofs = [
        prove_noise_bound(
            ctx,
            index,
            noise_commitments[index],
            noise_bound,
            noise[index],
            noise_blindings[index],
            _unchecked=_unchecked,
        )
        for index, noise_bound in enumerate(statement.noise_bounds)
    ]

    bundle = CommitBundle(
        tuple(commitments),
        tuple(noise_commitments),
        tuple(range_proofs),
        tuple(group_proofs),
        tuple(noise_proofs),
    )
    return bundle.encode()


def verify_commit_bundle(
    ctx: ProofContext, statement: InputStatement, data: bytes
) -> CommitBundle:
    """Decode a bundle and verify every proof in it against `statement`.

    Returns the decoded bundle. Raises ProofError, naming the first proof
    kind and index that failed, on any decoding or verification failure.
    """
    bundle = CommitBundle.decode(data, statement)
    commitments = bundle.commitments

    # The cheap checks run proof by proof, the curve arithmetic of all
    # of them in one batch. Its errors come in the same order: range
    # proofs, group proofs, then noise proofs, each by index.
    batch = Batch()
    for index, bound in enumerate(statement.bounds):
        verify_range(
            ctx,
            index,
            commitments[index],
            bound.lo,
            bound.hi,
            bundle.range_proofs[index],
            batch=batch,
        )
    for index, group in enumerate(statement.groups):
        members = [commitments[k] for k in group.indices]
        proof = bundle.group_proofs[index]
        if group.kind == ONE_HOT:
            assert isinstance(proof, OneHotProof)
            verify_one_hot(ctx, index, members, proof, batch=batch)
        else:
            assert isinstance(proof, RangeProof)
            verify_bounded_sum(
                ctx, index, members, group.lo, group.hi, proof, batch=batch
            )
    for index, noise_bound in enumerate(statement.noise_bounds):
        verify_noise_bound(
            ctx,
            index,
            bundle.noise_commitments[index],
            noise_bound,
            bundle.noise_proofs[index],
            batch=batch,
        )
    batch.check()
    return bundle
