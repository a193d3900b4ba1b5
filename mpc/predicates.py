"""Validity predicates for vector inputs, named by key in a job.

A predicate states the conditions a party's raw input vector must meet,
in the terms the commit bundle already proves (`mpc.validity`): one range
[lo, hi] per element, plus group constraints over sets of elements (a
bounded sum, or one-hot). A job names a predicate in a vector query:

    [[query]]
    kind = "vector"
    length = 8
    predicate = "at_most_k_ones"
    predicate_args = { k = 3 }

and every party then proves, for its vector x of that length, the
element bounds and group constraints the predicate's builder returns for
(length, predicate_args). No new proof is written: a predicate is a
composition of the range, bounded-sum and one-hot proofs, so its
soundness is theirs (docs/sigma.md).

A builder is registered once per process with `register_predicate`,
before the job is parsed. Every party must have the same builder under
the same key, since each builds the statement its peers prove; a party
that does not know the key rejects the job at propose. docs/plugins.md
documents the interface with a worked example, `at_most_k_ones`, which
this module registers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mpc.validity import BOUNDED_SUM, ElementBound, GroupConstraint

KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
"""A registry key: 1-64 lower-case letters, digits and '_', from a
letter."""


@dataclass(frozen=True)
class PredicateStatement:
    """The conditions a predicate puts on a vector of `len(bounds)`
    elements.

    `bounds` has one ElementBound per element. `groups` are constraints
    whose indices count from the vector's first element (0), not from
    the start of the party's whole input; `at_offset` moves them.
    """

    bounds: tuple[ElementBound, ...]
    groups: tuple[GroupConstraint, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "bounds", tuple(self.bounds))
        object.__setattr__(self, "groups", tuple(self.groups))
        for bound in self.bounds:
            if not isinstance(bound, ElementBound):
                raise TypeError(
                    f"bounds must be ElementBound instances, got {bound!r}")
        for group in self.groups:
            if not isinstance(group, GroupConstraint):
                raise TypeError(
                    f"groups must be GroupConstraint instances, got "
                    f"{group!r}")
            if max(group.indices) >= len(self.bounds):
                raise ValueError(
                    f"group index {max(group.indices)} is out of range for "
                    f"{len(self.bounds)} elements")

    def at_offset(self, offset: int) -> tuple[GroupConstraint, ...]:
        """Return the groups with every index moved up by `offset`."""
        return tuple(
            GroupConstraint(g.kind, tuple(k + offset for k in g.indices),
                            g.lo, g.hi)
            for g in self.groups
        )

    def envelope(self) -> tuple[int, int]:
        """Return (min lo, max hi) over the elements."""
        return (min(b.lo for b in self.bounds),
                max(b.hi for b in self.bounds))


PredicateBuilder = Callable[[int, Mapping[str, Any]], PredicateStatement]
"""builder(length, args) -> PredicateStatement.

Pre: length >= 1; args is the query's `predicate_args` table (str keys,
TOML values). Post: len(result.bounds) == length. Raises ValueError,
naming the argument and its value, when args do not suit the
predicate; the job file is then rejected with that message. Must be a
pure function of its arguments: every party calls it and must get the
same statement.
"""

InputSampler = Callable[[int, Mapping[str, Any], np.random.Generator],
                        list[int]]
"""sample(length, args, rng) -> a random vector that satisfies the
predicate, for synthetic inputs in simulations (`mpc.simulate`). `rng`
is a seeded numpy Generator: these are test inputs, never noise."""


@dataclass(frozen=True)
class _Entry:
    builder: PredicateBuilder
    sample: InputSampler | None


_REGISTRY: dict[str, _Entry] = {}


def register_predicate(key: str, builder: PredicateBuilder, *,
                       sample: InputSampler | None = None) -> None:
    """Make `builder` the predicate named `key` in job files.

    `sample`, when given, draws a valid input for synthetic simulation
    inputs. Raises ValueError when the key is malformed or already
    registered: a key names one predicate for the life of the process,
    so two parties cannot mean different statements by it.
    """
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise ValueError(
            f"predicate key must be 1-64 lower-case letters, digits or "
            f"'_', starting with a letter; got {key!r}")
    if key in _REGISTRY:
        raise ValueError(f"predicate {key!r} is already registered")
    if not callable(builder):
        raise TypeError(f"builder must be callable, got {builder!r}")
    _REGISTRY[key] = _Entry(builder, sample)


def registered_predicates() -> tuple[str, ...]:
    """Return the registered keys, sorted."""
    return tuple(sorted(_REGISTRY))


def build_predicate(key: str, length: int,
                    args: Mapping[str, Any]) -> PredicateStatement:
    """Return the statement of predicate `key` for a vector of `length`.

    Raises KeyError for an unknown key and ValueError when the builder
    rejects `args` or returns a statement of the wrong length.
    """
    entry = _REGISTRY.get(key)
    if entry is None:
        raise KeyError(
            f"unknown predicate {key!r}; registered: "
            f"{list(registered_predicates())}")
    built = entry.builder(length, dict(args))
    if not isinstance(built, PredicateStatement):
        raise ValueError(
            f"predicate {key!r} returned {type(built).__name__}, not a "
            "PredicateStatement")
    if len(built.bounds) != length:
        raise ValueError(
            f"predicate {key!r} returned {len(built.bounds)} element "
            f"bounds for a vector of length {length}")
    return built


def predicate_sampler(key: str) -> InputSampler | None:
    """Return the synthetic-input sampler of a predicate, if it has one."""
    entry = _REGISTRY.get(key)
    return entry.sample if entry is not None else None


# The worked example: multi-hot vectors with at most k ones.


def _integer_arg(args: Mapping[str, Any], name: str, low: int,
                 high: int) -> int:
    value = args.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            f"predicate_args.{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(
            f"predicate_args.{name} must be in [{low}, {high}], got "
            f"{value}")
    return value


def at_most_k_ones(length: int, args: Mapping[str, Any]
                   ) -> PredicateStatement:
    """Return the statement that every element is a bit and at most k
    of them are ones.

    Each element gets the range [0, 1] (one bit proof), and the whole
    vector one bounded-sum group [0, k] (a range proof on the sum of the
    element commitments). args: {"k": int}, 1 <= k <= length.
    """
    unknown = set(args) - {"k"}
    if unknown:
        raise ValueError(
            f"predicate_args has unknown keys {sorted(unknown)}; "
            "at_most_k_ones takes only k")
    k = _integer_arg(args, "k", 1, length)
    bounds = (ElementBound(0, 1),) * length
    group = GroupConstraint(BOUNDED_SUM, tuple(range(length)), 0, k)
    return PredicateStatement(bounds, (group,))


def _sample_at_most_k_ones(length: int, args: Mapping[str, Any],
                           rng: np.random.Generator) -> list[int]:
    """Return a vector with a uniform number of ones in [0, k], placed
    at random."""
    k = _integer_arg(args, "k", 1, length)
    ones = rng.choice(length, size=int(rng.integers(0, k + 1)),
                      replace=False)
    vector = [0] * length
    for index in ones:
        vector[int(index)] = 1
    return vector


register_predicate("at_most_k_ones", at_most_k_ones,
                   sample=_sample_at_most_k_ones)
