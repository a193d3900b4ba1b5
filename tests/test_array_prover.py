"""Tests of the bit and range provers that make their points in arrays.

The provers keep each proof's points in mpc.group.PointArray objects and
add table multiples of H in place (FixedBase.add_to). Their proofs must
come out byte for byte as the earlier prover, with a Point per bit, made
them, also for forced provers, whose digits need not be 0 or 1. The
expected digests below are SHA-256 digests of proof encodings that the
earlier prover made from the same inputs and nonces. Other tests check the encoded commit path against the object
path, the number of scalars each proof draws, the arrays after a failed
in-place change, and callers that reach a FixedBase while its table is
being built.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mpc import parallel, proofs
from mpc.commitments import commit
from mpc.group import H, Q, FixedBase, PointArray, base_mul
from mpc.proofs import (
    NOISE_BOUND_KIND,
    RANGE_KIND,
    ProofContext,
    commit_noise_bound,
    commit_range,
    range_weights,
    verify_bounded_sum,
    verify_encoded_ranges,
    verify_range,
)
from mpc.validity import ElementBound, InputStatement

CTX = ProofContext(
    job_id=bytes(range(16)),
    spec_digest=hashlib.sha256(b"array prover").digest(),
    party_id="alice",
    round="commit",
)
ROOT = Path(proofs.__file__).resolve().parents[1]


def nonces():
    """Return the test nonces: SHA-256 of a counter, mod q."""
    return iter(
        int.from_bytes(hashlib.sha256(b"nonce %d" % i).digest(), "big") % Q
        for i in range(10_000)
    )


FIRST_NONCE = next(nonces())


def digest(proof) -> str:
    """Return the SHA-256 hex digest of a proof's encoding."""
    return hashlib.sha256(proof.encode()).hexdigest()


# Expected digests, from the earlier prover.

ONE_HOT_DIGITS = [2, -1, Q + 1, 0, 1, 2**200]
FORCED = {
    "bit digit 2": (
        lambda: proofs.prove_bit(CTX, 1, commit(2, 11), 2, 11,
                                 nonces=nonces(), _unchecked=True),
        "e4bf5e2d61130ba89eec8a1c2cd9a61bb80e9683577673a3280bf82272821a9c",
    ),
    "bit wrong opening": (
        lambda: proofs.prove_bit(CTX, 1, commit(1, 12), 0, 11,
                                 nonces=nonces(), _unchecked=True),
        "88d5efd28b5e73448f21c3e07489ccfb2dc7b5e31ec45a4023564ee157700583",
    ),
    "one-hot digits": (
        lambda: proofs.prove_one_hot(
            CTX, 2,
            [commit(v, 11 + i) for i, v in enumerate(ONE_HOT_DIGITS)],
            ONE_HOT_DIGITS, [11 + i for i in range(len(ONE_HOT_DIGITS))],
            nonces=nonces(), _unchecked=True),
        "5ab83f8f83c432da0f67a4fd3daa84302c09d6635e2a048bb8cbd1e5caf33932",
    ),
    "range above hi": (
        lambda: proofs.prove_range(CTX, 3, commit(25, 17), -3, 20, 25, 17,
                                   nonces=nonces(), _unchecked=True),
        "b8f53e072bbcfa0c9f853df0e9bc9784460d6431a54ab8aae42659da5689b278",
    ),
    "range far below lo": (
        lambda: proofs.prove_range(
            CTX, 3, commit(-10**30, 17), 0, 2**64 + 7, -10**30, 17,
            nonces=nonces(), _unchecked=True),
        "e0689fdf573d850a963fd81e365aa5bdea16c81f9d145004410a5bc9e3b62c95",
    ),
    "noise above T": (
        lambda: proofs.prove_noise_bound(CTX, 4, commit(7, 19), 6, 7, 19,
                                         nonces=nonces(), _unchecked=True),
        "71698e54a9130b64379d9cc33cd027a287b641f521b40dd4496ee12db5c7931b",
    ),
    "sum above hi": (
        lambda: proofs.prove_bounded_sum(
            CTX, 5, [commit(3, 5), commit(4, 6)], 0, 5, [3, 4], [5, 6],
            nonces=nonces(), _unchecked=True),
        "20f3624864690bbd1c5078a84f03a0880e0eb8d0d67ee40f8144fdd1d8cc9515",
    ),
    "range at hi": (
        lambda: proofs.prove_range(CTX, 6, commit(1000, 23), 0, 1000, 1000,
                                   23, nonces=nonces()),
        "ddfee75354e0e0f9fe77e94ec836d620ba2523a6ac12e4b9f26c117c7e728b27",
    ),
}


@pytest.mark.parametrize("name", list(FORCED))
def test_proof_matches_earlier_prover(name):
    prove, expected = FORCED[name]
    assert digest(prove()) == expected


# A bit blinding of 0 mod q is a valid witness: the bit commitment of
# digit 1 is then H alone. The earlier prover made these proofs, and
# they verify.

ZERO_BLINDING = {
    "range of one bit, blinding 0": (
        lambda: proofs.prove_range(CTX, 7, H, 0, 1, 1, 0, nonces=nonces()),
        "765f5017d01eb84f8e451f1dc66d6096543c13f3cf10538a1a22dc7f423c2e7d",
    ),
    "top bit blinding 0": (
        lambda: proofs.prove_range(
            CTX, 9, commit(2, FIRST_NONCE), 0, 2, 2, FIRST_NONCE,
            nonces=nonces()),
        "48ea6108239d2b88c46b3cc7a7e194d2d10852fb632b4a2efa75865303c4e3b7",
    ),
    "bounded sum, blindings cancel": (
        lambda: proofs.prove_bounded_sum(
            CTX, 8, [commit(1, 7), commit(0, Q - 7)], 0, 1, [1, 0],
            [7, Q - 7], nonces=nonces()),
        "765f5017d01eb84f8e451f1dc66d6096543c13f3cf10538a1a22dc7f423c2e7d",
    ),
}


@pytest.mark.parametrize("name", list(ZERO_BLINDING))
def test_zero_blinding_matches_earlier_prover(name):
    prove, expected = ZERO_BLINDING[name]
    assert digest(prove()) == expected


def test_commit_range_zero_blinding_verifies():
    commitment, proof = commit_range(CTX, 0, 5, 6, 6, Q)
    verify_range(CTX, 0, commitment, 5, 6, proof)
    statement = InputStatement((ElementBound(5, 6),), (), (1,))
    chunk = parallel.prove_chunk(CTX, statement, 0, [6], [0], [1], [3])
    parallel.verify_chunk(CTX, statement, 0, *chunk)


def test_bounded_sum_cancelling_blindings_verifies():
    members = [commit(1, 7), commit(0, Q - 7)]
    proof = proofs.prove_bounded_sum(CTX, 0, members, 0, 1, [1, 0],
                                     [7, Q - 7])
    verify_bounded_sum(CTX, 0, members, 0, 1, proof)


# A lone bit proof checks its witness in the array of its first
# messages. Each case below has a branch of its own: a blinding of 0 mod
# q (C = H), a test nonce u of 0, and both bits. The digests are the
# earlier prover's.

LONE_BITS = {
    # name: (index, commitment, bit, blinding, nonces)
    "blinding 0": (4, H, 1, 0, nonces),
    "blinding q": (4, H, 1, Q, nonces),
    "bit 0, u of 0": (5, commit(0, 23), 0, 23,
                      lambda: iter([3, 5, 0, *nonces()])),
    "bit 1, u of 0": (5, commit(1, 23), 1, 23,
                      lambda: iter([3, 5, 0, *nonces()])),
    "bit 0": (6, commit(0, 29), 0, 29 + Q, nonces),
    "bit 1": (6, commit(1, 29), 1, 29 + Q, nonces),
}
LONE_BIT_DIGESTS = {
    "blinding 0":
        "95d4f35a99fda9b1a9742908dfa69eeea708c048dbb69aebc7dee8fa13db246b",
    "blinding q":
        "95d4f35a99fda9b1a9742908dfa69eeea708c048dbb69aebc7dee8fa13db246b",
    "bit 0, u of 0":
        "b6d732a189567455a149223f995f1b29871a97bd915006ca8096fd3f8ff702b1",
    "bit 1, u of 0":
        "8d10de1c63ae0e329719587d6397c1f017111b93c944406c39218ab21bef2b8d",
    "bit 0":
        "4827a96125650fac378120a982fe1f9e512a43c4ec83ce62fe393edcd5f11228",
    "bit 1":
        "0df1975eb7b86c3e39185b1202e83491b1e86306d3e1068b5bfdbf39f72708cc",
}


@pytest.mark.parametrize("name", list(LONE_BITS))
def test_lone_bit_matches_earlier_prover(name):
    index, commitment, bit, blinding, draws = LONE_BITS[name]
    proof = proofs.prove_bit(CTX, index, commitment, bit, blinding,
                             nonces=draws())
    assert digest(proof) == LONE_BIT_DIGESTS[name]
    proofs.verify_bit(CTX, index, commitment, proof)
    # Fresh draws verify too, and the proof's points carry their bytes.
    fresh = proofs.prove_bit(CTX, index, commitment, bit, blinding)
    proofs.verify_bit(CTX, index, commitment, fresh)
    assert fresh.encode() == type(fresh).decode(fresh.encode()).encode()


@pytest.mark.parametrize("commitment, bit, blinding", [
    (commit(1, 5), 0, 5),  # The other bit.
    (commit(0, 5), 0, 6),  # Another blinding.
    (commit(1, 5), 1, 0),  # Blinding 0, which the array cannot hold.
    (H, 0, 0),  # Blinding 0 and the other bit.
    (commit(1, 5), 1, 5 + 1),
])
def test_lone_bit_rejects_a_wrong_opening(commitment, bit, blinding):
    with pytest.raises(ValueError, match="commitment 0 does not open to "
                                         "its value and blinding"):
        proofs.prove_bit(CTX, 0, commitment, bit, blinding)


@pytest.mark.parametrize("bit", [2, -1, Q + 1])
def test_lone_bit_rejects_non_bits(bit):
    with pytest.raises(ValueError, match="a value of 0 or 1"):
        proofs.prove_bit(CTX, 0, commit(bit, 5), bit, 5)


# The encoded commit path and the draws of fresh scalars.


class Draws:
    """A stand-in for random_scalars: seeded scalars per call, and a
    record of how many each call requested and how many were read."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.requested: list[int] = []
        self.read: list[int] = []
        self.replay = False
        self.calls: list[list[int]] = []

    def __call__(self, count: int) -> list[int]:
        if self.replay:
            scalars = self.calls[len(self.requested)]
        else:
            scalars = [self.rng.randrange(1, Q) for _ in range(count)]
            self.calls.append(scalars)
        self.requested.append(count)
        self.read.append(0)
        return _Counted(scalars, self.read, len(self.read) - 1)

    def rewind(self) -> None:
        """Hand out the same scalars again, call by call."""
        self.replay = True
        self.requested.clear()
        self.read.clear()


class _Counted(list):
    """A list of scalars that counts the items read by iterating it."""

    def __init__(self, scalars, counts, slot) -> None:
        super().__init__(scalars)
        self._counts, self._slot = counts, slot

    def __iter__(self):
        for scalar in super().__iter__():
            self._counts[self._slot] += 1
            yield scalar


BOUNDS = [(0, 1), (-3, 4), (0, 255), (5, 2**64), (-(2**126), 2**126)]
NOISE_BOUNDS = [1, 3, 1000, 2**100, 2]
VALUES = [1, -3, 200, 2**40, 12345]
NOISE = [-1, 0, 999, -(2**99), 2]


def chunk_statement() -> InputStatement:
    return InputStatement(tuple(ElementBound(lo, hi) for lo, hi in BOUNDS),
                          (), tuple(NOISE_BOUNDS))


def test_chunk_matches_object_path(monkeypatch):
    # prove_chunk makes each proof from arrays, without a Point per bit.
    # commit_range and commit_noise_bound make the same proofs as objects.
    draws = Draws(1)
    monkeypatch.setattr(proofs, "random_scalars", draws)
    rng = random.Random(2)
    blindings = [rng.randrange(1, Q) for _ in BOUNDS]
    noise_blindings = [rng.randrange(1, Q) for _ in BOUNDS]
    statement = chunk_statement()
    chunk = parallel.prove_chunk(CTX, statement, 0, VALUES, blindings,
                                 NOISE, noise_blindings)
    sizes = []
    for (lo, hi), t in zip(BOUNDS, NOISE_BOUNDS):
        sizes += [len(range_weights(lo, hi)), len(range_weights(-t, t))]
    assert draws.requested == [4 * k - 1 for k in sizes]
    assert draws.read == draws.requested

    draws.rewind()
    parts: list[list[bytes]] = [[], [], [], []]
    for index, ((lo, hi), t) in enumerate(zip(BOUNDS, NOISE_BOUNDS)):
        commitment, proof = commit_range(CTX, index, lo, hi, VALUES[index],
                                         blindings[index])
        noise_commitment, noise_proof = commit_noise_bound(
            CTX, index, t, NOISE[index], noise_blindings[index])
        for part, item in zip(parts, (commitment, noise_commitment, proof,
                                      noise_proof)):
            part.append(item.encode())
    assert list(chunk) == [b"".join(part) for part in parts]
    parallel.verify_chunk(CTX, statement, 0, *chunk)
    assert verify_encoded_ranges(CTX, [
        (RANGE_KIND, 0, BOUNDS, chunk[0], chunk[2]),
        (NOISE_BOUND_KIND, 0, [(-t, t) for t in NOISE_BOUNDS], chunk[1],
         chunk[3]),
    ])


@pytest.mark.parametrize("size", [1, 2, 5])
def test_fresh_draw_counts_match_use(monkeypatch, size):
    draws = Draws(size)
    monkeypatch.setattr(proofs, "random_scalars", draws)
    values = [1] + [0] * (size - 1)
    blindings = list(range(3, 3 + size))
    members = [commit(v, r) for v, r in zip(values, blindings)]

    proofs.prove_bit(CTX, 0, members[0], 1, blindings[0])
    proofs.prove_one_hot(CTX, 0, members, values, blindings)
    forced = [2, -1, Q + 1][:size] + [0] * (size - 3)
    proofs.prove_one_hot(CTX, 0, members, forced, blindings,
                         _unchecked=True)
    proofs.prove_bounded_sum(CTX, 0, members, -size, 3 * size, values,
                             blindings)
    k = len(range_weights(-size, 3 * size))
    assert draws.requested == [3, 3 * size, 3 * size, 4 * k - 1]
    assert draws.read == draws.requested


def test_chunk_from_offset_verifies():
    rng = random.Random(4)
    statement = chunk_statement()
    tail = parallel.prove_chunk(
        CTX, statement, 2, VALUES[2:], [rng.randrange(1, Q) for _ in
                                        VALUES[2:]],
        NOISE[2:], [rng.randrange(1, Q) for _ in NOISE[2:]])
    parallel.verify_chunk(CTX, statement, 2, *tail)


# Arrays after a failed in-place change. A zeroed point would make
# libsecp256k1 abort the process, so the checks run in a subprocess.

AFTER_FAILURES = """
from mpc.group import H, H_MULTIPLES, G, Q, PointArray, base_mul

def fails(call, error):
    try:
        call()
    except error:
        return
    raise AssertionError(f"{call} did not raise {error.__name__}")

def usable(array, expected):
    assert array.points() == expected, "points"
    assert array.encode() == b"".join(p.encode() for p in expected)
    array.multi_mul([1] * len(array))
    H_MULTIPLES.add_to(array, [1] * len(array))
    array.add(range(len(array)), G)
    array.negate(range(len(array)))

array = PointArray.base_mul([1, 2, 3])
fails(lambda: array.add([0, 1, 2], -base_mul(2)), ValueError)
usable(array, [-base_mul(1), base_mul(2), base_mul(3)])

array = PointArray.base_mul([1, 2, 3])
fails(lambda: array.add([0, 5], G), IndexError)
fails(lambda: array.add([0.0], G), TypeError)
fails(lambda: array.negate([1, -1]), IndexError)
# Indices are checked before any point changes.
usable(array, [base_mul(1), base_mul(2), base_mul(3)])

for size in (2, 6):  # Both paths of add_to.
    array = PointArray.base_mul(list(range(1, size)) + [-5])
    array.add([size - 1], -(H * 5) - base_mul(-5))
    to_identity = [0] * (size - 1) + [5]
    fails(lambda: H_MULTIPLES.add_to(array, to_identity), ValueError)
    usable(array, [base_mul(i) for i in range(1, size)] + [-(H * 5)])
    fails(lambda: H_MULTIPLES.add_to(array, [1.5] * size), TypeError)
    fails(lambda: H_MULTIPLES.add_to(array, [1] * (size + 1)), ValueError)

fails(lambda: PointArray.base_mul([1, Q]), ValueError)
fails(lambda: PointArray.base_mul([1, 2.0]), TypeError)
empty = PointArray.base_mul([])
usable(empty, [])
fails(lambda: empty.point(0), IndexError)
print("done")
"""


def test_arrays_usable_after_failed_changes():
    done = subprocess.run([sys.executable, "-c", AFTER_FAILURES], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip() == "done"


# Callers that reach a FixedBase while another caller builds its table, as
# the provers of several parties do on threads in mpc.simulate.
# NOTE: both tests pause the builder at lines of FixedBase._entries found
# by name (self._table), so a rewrite of that method may make them pass
# without checking anything.


def _add_seven_h(table: FixedBase, outcomes: list) -> None:
    array = PointArray.base_mul([5])
    try:
        table.add_to(array, [7])
    except Exception as exc:  # Recorded for the assertion.
        outcomes.append(f"{type(exc).__name__}: {exc}")
    else:
        outcomes.append(array.point(0) == base_mul(5) + H * 7 or "wrong")


def test_table_complete_when_visible():
    # Pause the builder at each line after the table is visible, and let
    # a caller on another thread use it meanwhile.
    table = FixedBase(H)
    outcomes: list = []
    code = FixedBase._entries.__code__
    seen: set[int] = set()

    def trace(frame, event, arg):
        if frame.f_code is not code:
            return None

        def line(frame, event, arg):
            if (event == "line" and frame.f_lineno not in seen
                    and getattr(table, "_table", None) is not None):
                seen.add(frame.f_lineno)
                other = threading.Thread(target=_add_seven_h,
                                         args=(table, outcomes), daemon=True)
                other.start()
                other.join(2)
            return line

        return line

    sys.settrace(trace)
    try:
        _add_seven_h(table, outcomes)
    finally:
        sys.settrace(None)
    assert all(outcome is True for outcome in outcomes), outcomes


TWO_BUILDERS = """
import inspect, sys, threading
from mpc.group import FixedBase, H, PointArray, base_mul

table = FixedBase(H)
expected = base_mul(5) + H * 7
outcomes = []

def add_seven_h(name):
    array = PointArray.base_mul([5])
    table.add_to(array, [7])
    outcomes.append((name, array.point(0) == expected))

def on_thread(name):
    other = threading.Thread(target=add_seven_h, args=(name,), daemon=True)
    other.start()
    other.join(0.5)  # A lock may hold it back until the builder ends.

lines, first = inspect.getsourcelines(FixedBase._entries)
stores = [n for n, text in enumerate(lines, first)
          if "self._table = " in text]
if not stores:
    print("no store")
    sys.exit(0)
code = FixedBase._entries.__code__
steps = []

def trace(frame, event, arg):
    if frame.f_code is not code:
        return None
    def line(frame, event, arg):
        if event != "line":
            return line
        if frame.f_lineno == stores[0] and not steps:
            steps.append(1)
            on_thread("A")  # Builds and stores a table of its own first.
        elif steps == [1] and frame.f_lineno != stores[0]:
            steps.append(2)
            on_thread("C")  # Arrives just after B stored its table.
        return line
    return line

sys.settrace(trace)
add_seven_h("B")
sys.settrace(None)
for thread in threading.enumerate():
    if thread is not threading.current_thread():
        thread.join(10)
print(sorted(outcomes))
"""


def test_two_builders_of_one_table():
    # Two callers that found no table build one each. The second to store
    # its table must not free the rows that a third caller still reads.
    done = subprocess.run([sys.executable, "-c", TWO_BUILDERS], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() != "no store", (
        "FixedBase._entries no longer stores self._table: update the "
        "lines this test pauses at")
    assert done.returncode == 0, (done.returncode, done.stderr[-300:])
    assert done.stdout.strip() == str(
        [("A", True), ("B", True), ("C", True)])

