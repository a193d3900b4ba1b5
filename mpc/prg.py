"""A PRG: AES-256 in CTR mode keyed by a 32-byte seed.

Each stream is bound to a domain label: the AES key is
HMAC-SHA256(seed, label), the counter starts at zero. Field elements and
scalars come from the stream by rejection sampling, so they are uniform
and never reduced from a wider integer with bias.
"""

from __future__ import annotations

import hashlib
import hmac
import os

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from mpc.field import P

SEED_BYTES = 32
_MASK61 = np.uint64((1 << 61) - 1)
_BLOCK_BYTES = 1 << 18
"""Stream bytes encrypted per AES call when filling a buffer."""
_ZEROS = memoryview(bytes(_BLOCK_BYTES))
_HEADROOM = 15
"""Spare bytes after a step's output (AES block size - 1) for
`update_into` to write in place. cryptography 50.0 needs none, and the
margin keeps the code independent of the release. A step without it goes
through `update` and a copy."""


def new_seed() -> bytes:
    """Return a fresh 32-byte seed from the operating system's CSPRNG."""
    return os.urandom(SEED_BYTES)


class Prg:
    """A deterministic stream of bytes, field elements and scalars."""

    def __init__(self, seed: bytes, label: bytes) -> None:
        if len(seed) != SEED_BYTES:
            raise ValueError(
                f"PRG seed must be {SEED_BYTES} bytes, got {len(seed)}"
            )
        key = hmac.new(seed, b"mpc-prg/v1/" + label, hashlib.sha256).digest()
        cipher = Cipher(algorithms.AES(key), modes.CTR(bytes(16)))
        self._encryptor = cipher.encryptor()

    def read(self, n: int) -> bytes:
        """Return the next n bytes of the stream."""
        return self._encryptor.update(bytes(n))

    def read_into(self, buffer: memoryview) -> None:
        """Overwrite a writable byte buffer with the next bytes of the stream.

        The stream is the same as `read` returns, but no input or output
        copy of the buffer's size is allocated.
        """
        view = memoryview(buffer).cast("B")
        total = len(view)
        offset = 0
        while offset < total:
            size = min(_BLOCK_BYTES, total - offset)
            if total - offset >= size + _HEADROOM:
                self._encryptor.update_into(_ZEROS[:size], view[offset:])
            else:
                view[offset:offset + size] = self._encryptor.update(
                    _ZEROS[:size])
            offset += size

    def field_elements(self, n: int) -> np.ndarray:
        """Return n uniform elements of F_p as uint64.

        Each candidate is a little-endian 64-bit word masked to 61 bits and
        rejected when it equals p (probability 2^-61 per draw).
        """
        words = np.empty(n, dtype="<u8")
        self.read_into(memoryview(words))
        np.bitwise_and(words, _MASK61, out=words)
        if n == 0 or words.max() < np.uint64(P):
            # No candidate rejected, the usual case: the loop below would
            # return exactly these words.
            return words.astype(np.uint64, copy=False)
        out = np.empty(n, dtype=np.uint64)
        good = words[words < np.uint64(P)]
        out[:good.size] = good
        filled = good.size
        while filled < n:
            want = n - filled
            words = np.frombuffer(self.read(8 * want), dtype="<u8") & _MASK61
            good = words[words < np.uint64(P)]
            out[filled:filled + good.size] = good
            filled += good.size
        return out

    def scalars(self, n: int, order: int) -> list[int]:
        """Return n uniform integers in [0, order), by rejection sampling."""
        nbytes = (order.bit_length() + 7) // 8
        excess = 8 * nbytes - order.bit_length()
        out: list[int] = []
        while len(out) < n:
            candidate = int.from_bytes(self.read(nbytes), "big") >> excess
            if candidate < order:
                out.append(candidate)
        return out
