"""Pedersen commitments Com(v; r) = r*G + v*H on secp256k1.

Integers are embedded mod q. Commitments are additively homomorphic:
Com(a; r) + Com(b; s) = Com(a + b; r + s). Hiding is perfect; binding
rests on nobody knowing log_G(H), which hash_to_point ensures.
"""

from __future__ import annotations

from mpc.group import G, H, Q, Point, base_mul, random_scalar


def commit(value: int, blinding: int) -> Point:
    """Return Com(value; blinding) = blinding*G + value*H."""
    return base_mul(blinding) + H * (value % Q)


def commit_vector(
    values: list[int], blindings: list[int] | None = None
) -> tuple[list[Point], list[int]]:
    """Commit to each value; draw fresh blindings unless given.

    Returns the commitments and the blindings used.
    """
    if blindings is None:
        blindings = [random_scalar() for _ in values]
    if len(blindings) != len(values):
        raise ValueError(
            f"{len(values)} values but {len(blindings)} blindings"
        )
    return [commit(v, r) for v, r in zip(values, blindings)], blindings


def opens(commitment: Point, value: int, blinding: int) -> bool:
    """Return True if (value, blinding) opens the commitment."""
    return commit(value, blinding) == commitment


__all__ = ["G", "H", "Q", "commit", "commit_vector", "opens"]
