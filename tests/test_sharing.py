"""Tests of the seed-compressed additive sharing in mpc.sharing.

Party ids are listed out of sorted order, so the tests also check that
the correction recipient is the lowest other id and not the next party
in the list.
"""

from __future__ import annotations

import numpy as np
import pytest

from mpc import field
from mpc.field import P
from mpc.group import Q
from mpc.prg import SEED_BYTES
from mpc.sharing import (
    Share,
    correction_recipient,
    expand_blindings,
    expand_values,
    open_share,
    reconstruct,
    split,
)

LENGTH = 6
RNG_SEED = 7
ALL_IDS = ["carol", "alice", "frank", "bob", "erin", "dave", "grace"]


def party_ids(m: int) -> list[str]:
    return ALL_IDS[:m]


SPLIT_CASES = [
    pytest.param(m, own, id=f"m{m}-{own}")
    for m in range(2, 8)
    for own in party_ids(m)
]


def random_vector(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, P, size=LENGTH, dtype=np.uint64)


def random_blindings(rng: np.random.Generator) -> list[int]:
    return [int.from_bytes(rng.bytes(32), "big") % Q for _ in range(LENGTH)]


def open_all(kept: Share, sent: dict[str, Share], with_blindings: bool
             ) -> tuple[list[np.ndarray], list[list[int]]]:
    opened = [open_share(s, LENGTH, with_blindings)
              for s in [kept, *sent.values()]]
    return [v for v, _ in opened], [b for _, b in opened]


def sum_blindings(blinding_vectors: list[list[int]]) -> list[int]:
    return [sum(column) % Q for column in zip(*blinding_vectors)]


@pytest.mark.parametrize(("m", "own"), SPLIT_CASES)
def test_split_reconstructs_values_and_blindings(m: int, own: str) -> None:
    rng = np.random.default_rng(RNG_SEED + m)
    ids = party_ids(m)
    values, blindings = random_vector(rng), random_blindings(rng)
    kept, sent = split(own, ids, values, blindings)
    value_shares, blinding_shares = open_all(kept, sent, True)
    assert sorted(sent) == sorted(p for p in ids if p != own)
    assert np.array_equal(reconstruct(value_shares, LENGTH), values)
    assert sum_blindings(blinding_shares) == blindings


@pytest.mark.parametrize(("m", "own"), SPLIT_CASES)
def test_split_one_vector_rest_seeds(m: int, own: str) -> None:
    ids = party_ids(m)
    values = np.arange(LENGTH, dtype=np.uint64)
    _, sent = split(own, ids, values, [0] * LENGTH)
    lowest_other = min(p for p in ids if p != own)
    vector_peers = [p for p, s in sent.items() if not s.is_seed]
    seed_lengths = [len(s.seed) for s in sent.values() if s.is_seed]
    assert vector_peers == [lowest_other]
    assert correction_recipient(own, ids) == lowest_other
    assert seed_lengths == [SEED_BYTES] * (m - 2)
    assert sent[lowest_other].seed == b""
    assert sent[lowest_other].values is not None


def test_split_kept_share_is_seeded() -> None:
    kept, _ = split("alice", ["alice", "bob", "carol"],
                    np.zeros(LENGTH, dtype=np.uint64), [0] * LENGTH)
    assert len(kept.seed) == SEED_BYTES
    assert np.array_equal(kept.values, expand_values(kept.seed, LENGTH))
    assert list(kept.blindings) == expand_blindings(kept.seed, LENGTH)


def test_split_two_parties_masks_vector() -> None:
    values = np.arange(1, LENGTH + 1, dtype=np.uint64)
    _, sent = split("alice", ["alice", "bob"], values, None)
    assert sent["bob"].values is not None
    assert not np.array_equal(sent["bob"].values, values)
    assert not np.any(sent["bob"].values == values)


def test_split_fresh_seeds_each_call() -> None:
    values = np.zeros(LENGTH, dtype=np.uint64)
    ids = ["alice", "bob", "carol"]
    first_kept, first_sent = split("alice", ids, values)
    second_kept, second_sent = split("alice", ids, values)
    assert first_kept.seed != second_kept.seed
    assert first_sent["carol"].seed != second_sent["carol"].seed


@pytest.mark.parametrize("m", [2, 3, 5])
def test_split_signed_values_decode(m: int) -> None:
    ids = party_ids(m)
    signed = [-(field.HALF), -1, 0, 1, 12345, field.HALF]
    kept, sent = split(ids[-1], ids, field.encode_signed(signed))
    value_shares, _ = open_all(kept, sent, False)
    total = reconstruct(value_shares, LENGTH)
    assert field.decode_signed(total).tolist() == signed


@pytest.mark.parametrize("scale", [0, 2, 6])
def test_split_fixed_point_values_decode(scale: int) -> None:
    ids = party_ids(4)
    reals = [-1.5, -0.25, 0.0, 3.75, 1000.5, -99.0]
    kept, sent = split("frank", ids, field.encode_fixed(reals, scale))
    value_shares, _ = open_all(kept, sent, False)
    decoded = field.decode_fixed(reconstruct(value_shares, LENGTH), scale)
    expected = field.decode_fixed(field.encode_fixed(reals, scale), scale)
    assert decoded.tolist() == expected.tolist()


def test_split_parties_add_up() -> None:
    # Every party splits its vector and sums the shares it receives. The
    # sum of those partial sums is the sum of all inputs.
    rng = np.random.default_rng(RNG_SEED)
    ids = party_ids(4)
    inputs = {p: random_vector(rng) for p in ids}
    received: dict[str, list[np.ndarray]] = {p: [] for p in ids}
    for own, values in inputs.items():
        kept, sent = split(own, ids, values)
        received[own].append(open_share(kept, LENGTH, False)[0])
        for peer, share in sent.items():
            received[peer].append(open_share(share, LENGTH, False)[0])
    partials = [reconstruct(vectors, LENGTH) for vectors in received.values()]
    assert np.array_equal(reconstruct(partials, LENGTH),
                          reconstruct(list(inputs.values()), LENGTH))


def test_split_without_blindings() -> None:
    ids = party_ids(3)
    values = np.arange(LENGTH, dtype=np.uint64)
    kept, sent = split("alice", ids, values)
    value_shares, blinding_shares = open_all(kept, sent, False)
    assert kept.blindings == ()
    assert all(s.blindings == () for s in sent.values())
    assert blinding_shares == [[], [], []]
    assert np.array_equal(reconstruct(value_shares, LENGTH), values)


def test_split_rejects_unknown_party() -> None:
    with pytest.raises(ValueError, match="zoe"):
        split("zoe", ["alice", "bob"], np.zeros(2, dtype=np.uint64))


def test_split_rejects_blinding_count() -> None:
    with pytest.raises(ValueError, match="blindings"):
        split("alice", ["alice", "bob"], np.zeros(2, dtype=np.uint64), [1])


def test_split_rejects_element_not_below_p() -> None:
    with pytest.raises(ValueError, match="not below p"):
        split("alice", ["alice", "bob"], np.array([P], dtype=np.uint64))


def test_correction_recipient_rejects_single_party() -> None:
    with pytest.raises(ValueError, match="other party"):
        correction_recipient("alice", ["alice"])


def vector_share(length: int = LENGTH, blindings: int = LENGTH) -> Share:
    return Share(values=np.zeros(length, dtype=np.uint64),
                 blindings=tuple(range(blindings)))


@pytest.mark.parametrize(
    ("share", "with_blindings", "message"),
    [
        pytest.param(vector_share(LENGTH - 1), False, "length",
                     id="short-vector"),
        pytest.param(vector_share(LENGTH + 1), False, "length",
                     id="long-vector"),
        pytest.param(Share(), False, "length", id="no-vector"),
        pytest.param(vector_share(blindings=LENGTH - 1), True, "blinding",
                     id="short-blindings"),
        pytest.param(vector_share(blindings=LENGTH + 1), True, "blinding",
                     id="long-blindings"),
        pytest.param(vector_share(blindings=0), True, "blinding",
                     id="missing-blindings"),
        pytest.param(
            Share(values=np.full(LENGTH, P, dtype=np.uint64)), False,
            "not below p", id="element-p",
        ),
        pytest.param(
            Share(values=np.zeros(LENGTH, dtype=np.uint64),
                  blindings=(Q,) + (0,) * (LENGTH - 1)),
            True, "not below q", id="blinding-q",
        ),
        pytest.param(
            Share(values=np.zeros(LENGTH, dtype=np.uint64),
                  blindings=(-1,) + (0,) * (LENGTH - 1)),
            True, "not below q", id="blinding-negative",
        ),
        pytest.param(Share(seed=bytes(SEED_BYTES - 1)), False, "32 bytes",
                     id="short-seed"),
        pytest.param(Share(seed=bytes(SEED_BYTES + 1)), True, "32 bytes",
                     id="long-seed"),
    ],
)
def test_open_share_rejects(share: Share, with_blindings: bool,
                            message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_share(share, LENGTH, with_blindings)


def test_open_share_rejects_signed_dtype() -> None:
    share = Share(values=np.zeros(LENGTH, dtype=np.int64))
    with pytest.raises(TypeError, match="uint64"):
        open_share(share, LENGTH, False)


def test_open_share_seed_without_blindings() -> None:
    seed = bytes(range(SEED_BYTES))
    values, blindings = open_share(Share(seed=seed), LENGTH, False)
    assert np.array_equal(values, expand_values(seed, LENGTH))
    assert blindings == []


def test_expand_labels_independent() -> None:
    # Value and blinding shares from one seed come from separate streams.
    seed = bytes(range(SEED_BYTES))
    values = expand_values(seed, 4)
    blindings = expand_blindings(seed, 4)
    assert [int(v) for v in values] != [b % P for b in blindings]
    assert all(0 <= b < Q for b in blindings)
