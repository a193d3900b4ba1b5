"""Fiat-Shamir transcripts: SHA-512 over length-prefixed, labelled items.

A transcript starts with the framework name, protocol version, group
suite and the proof's domain label, then binds the job id, the round, the
proving party, the statement and every first message. Each appended item
is its label and its value, each prefixed by an 8-byte big-endian length,
so no two different sequences of items hash the same input. The challenge
is the 512-bit digest reduced mod q, whose bias is below 2^-256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from mpc import PROTOCOL_NAME, PROTOCOL_VERSION
from mpc.group import Q, SUITE, Point, encode_scalar


def encode_int(value: int) -> bytes:
    """Return a signed integer's transcript encoding: its decimal text."""
    return str(int(value)).encode("ascii")


def frame(items: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Return the hash input of (label, value) items: each label and
    value prefixed by its 8-byte big-endian length."""
    parts = []
    for label, value in items:
        parts += (
            len(label).to_bytes(8, "big"), label,
            len(value).to_bytes(8, "big"), value,
        )
    return b"".join(parts)


class Transcript:
    """An append-only Fiat-Shamir transcript."""

    def __init__(self, domain: bytes) -> None:
        self._hash = hashlib.sha512()
        self.append_bytes(b"protocol", PROTOCOL_NAME)
        self.append_int(b"version", PROTOCOL_VERSION)
        self.append_bytes(b"suite", SUITE)
        self.append_bytes(b"domain", domain)

    def append_bytes(self, label: bytes, value: bytes) -> None:
        for item in (label, value):
            self._hash.update(len(item).to_bytes(8, "big"))
            self._hash.update(item)

    def append_text(self, label: bytes, value: str) -> None:
        self.append_bytes(label, value.encode("utf-8"))

    def append_int(self, label: bytes, value: int) -> None:
        """Append a signed integer as its decimal text, so any size fits."""
        self.append_bytes(label, encode_int(value))

    def append_point(self, label: bytes, point: Point) -> None:
        self.append_bytes(label, point.encode())

    def append_points(self, items: Iterable[tuple[bytes, Point]]) -> None:
        """Append (label, point) items in order, in one hash update.

        The hash input is the same as append_point's for each item.
        """
        self.append_encoded(
            (label, point.encode()) for label, point in items
        )

    def append_encoded(self, items: Iterable[tuple[bytes, bytes]]) -> None:
        """Append (label, value) items in order, in one hash update.

        The hash input is the same as append_bytes's for each item.
        """
        self._hash.update(frame(items))

    def append_framed(self, data: bytes) -> None:
        """Append items that `frame` has already turned into bytes."""
        self._hash.update(data)

    def append_scalar(self, label: bytes, scalar: int) -> None:
        self.append_bytes(label, encode_scalar(scalar))

    def fork(self) -> Transcript:
        """Return an independent copy of the transcript so far."""
        copy = Transcript.__new__(Transcript)
        copy._hash = self._hash.copy()
        return copy

    def challenge(self) -> int:
        """Return the challenge: SHA-512 of the transcript, mod q."""
        return int.from_bytes(self._hash.copy().digest(), "big") % Q
