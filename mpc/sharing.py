"""Additive n-of-n secret sharing over F_p with seed-compressed shares.

Party i splits its vector x_i into one share per party, summing to x_i
mod p. It keeps one share expanded from a seed of its own, sends each peer
but one a 32-byte seed whose PRG expansion is that peer's share, and sends
the remaining peer (the lowest id other than i) the explicit correction
vector x_i minus all the expanded shares. Any m-1 shares are uniform and
independent of x_i, since each expanded share is uniform and the
correction is masked by the kept share.

The commitment blindings r_i (mod q) are shared the same way, from the
same seeds under a separate PRG label, so a seed carries both shares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mpc import field
from mpc.group import Q
from mpc.prg import SEED_BYTES, Prg, new_seed

VALUE_LABEL = b"share/value"
BLINDING_LABEL = b"share/blinding"


@dataclass(frozen=True)
class Share:
    """What one party receives from another: a seed, or the correction.

    `blindings` is empty when the job has no commitments (proofs off).
    """

    seed: bytes = b""
    values: np.ndarray | None = None
    blindings: tuple[int, ...] = ()

    @property
    def is_seed(self) -> bool:
        return bool(self.seed)


def expand_values(seed: bytes, length: int) -> np.ndarray:
    """Return the value share a seed stands for."""
    return Prg(seed, VALUE_LABEL).field_elements(length)


def expand_blindings(seed: bytes, length: int) -> list[int]:
    """Return the blinding share (mod q) a seed stands for."""
    return Prg(seed, BLINDING_LABEL).scalars(length, Q)


def correction_recipient(own_id: str, party_ids: list[str]) -> str:
    """Return the party that receives the explicit correction vector."""
    others = sorted(p for p in party_ids if p != own_id)
    if not others:
        raise ValueError("sharing needs at least one other party")
    return others[0]


def ring_recipient(own_id: str, party_ids: list[str]) -> str:
    """Return the next party after `own_id` in sorted order, cyclically.

    The array path of a job with proofs off (`mpc.fastpath`) sends its
    correction vector here, so every party receives exactly one.
    """
    ordered = sorted(party_ids)
    if len(ordered) < 2 or own_id not in ordered:
        raise ValueError("sharing needs this party and at least one other")
    return ordered[(ordered.index(own_id) + 1) % len(ordered)]


def split(
    own_id: str,
    party_ids: list[str],
    values: np.ndarray,
    blindings: list[int] | None = None,
    recipient: str | None = None,
    overwrite: bool = False,
) -> tuple[Share, dict[str, Share]]:
    """Split a field vector (and optionally blindings) among the parties.

    Returns the share this party keeps and a dict of the shares to send,
    one per peer. The kept share plus all sent shares sum to `values`
    mod p, and their blindings to `blindings` mod q. The correction
    vector goes to `recipient`, by default `correction_recipient`. With
    `overwrite`, `values` itself becomes the correction vector, which
    saves a copy of its size.
    """
    values = field.check_elements(values)
    length = values.shape[0]
    if own_id not in party_ids:
        raise ValueError(f"party {own_id!r} is not among {party_ids}")
    if recipient is None:
        recipient = correction_recipient(own_id, party_ids)
    elif recipient == own_id or recipient not in party_ids:
        raise ValueError(f"recipient {recipient!r} is not a peer")
    with_blindings = blindings is not None
    if with_blindings and len(blindings) != length:
        raise ValueError(
            f"{length} values but {len(blindings)} blindings to share"
        )

    # Expand one seed for the share kept here and one per seed peer.
    own_seed = new_seed()
    kept = Share(
        seed=own_seed,
        values=expand_values(own_seed, length),
        blindings=tuple(expand_blindings(own_seed, length))
        if with_blindings else (),
    )
    correction = values if overwrite else values.copy()
    field.sub_into(correction, kept.values)
    blinding_correction = (
        [(b - k) % Q for b, k in zip(blindings, kept.blindings)]
        if with_blindings else []
    )
    sent: dict[str, Share] = {}
    for peer in party_ids:
        if peer in (own_id, recipient):
            continue
        seed = new_seed()
        sent[peer] = Share(seed=seed)
        field.sub_into(correction, expand_values(seed, length))
        if with_blindings:
            peer_blindings = expand_blindings(seed, length)
            blinding_correction = [
                (c - b) % Q
                for c, b in zip(blinding_correction, peer_blindings)
            ]

    # The correction recipient gets what is left explicitly.
    sent[recipient] = Share(
        values=correction, blindings=tuple(blinding_correction)
    )
    return kept, sent


def open_share(
    share: Share, length: int, with_blindings: bool
) -> tuple[np.ndarray, list[int]]:
    """Return the value and blinding vectors a received share stands for."""
    if share.is_seed:
        if len(share.seed) != SEED_BYTES:
            raise ValueError(
                f"a share seed must be {SEED_BYTES} bytes, "
                f"got {len(share.seed)}"
            )
        values = expand_values(share.seed, length)
        blindings = (
            expand_blindings(share.seed, length) if with_blindings else []
        )
        return values, blindings
    if share.values is None or share.values.shape != (length,):
        got = None if share.values is None else share.values.shape
        raise ValueError(
            f"a share vector must have length {length}, got {got}"
        )
    field.check_elements(share.values)
    if with_blindings:
        if len(share.blindings) != length:
            raise ValueError(
                f"a blinding share must have length {length}, "
                f"got {len(share.blindings)}"
            )
        if any(not 0 <= b < Q for b in share.blindings):
            raise ValueError("a blinding share is not below q")
    return share.values, list(share.blindings)


def reconstruct(vectors: list[np.ndarray], length: int) -> np.ndarray:
    """Sum share vectors mod p."""
    return field.sum_vectors(vectors, length)


__all__ = [
    "Share",
    "split",
    "open_share",
    "reconstruct",
    "correction_recipient",
    "ring_recipient",
    "expand_values",
    "expand_blindings",
]
