"""Tests for parties.store: jobs, results, digests and the budget ledger."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import pytest

from parties.config import Policy
from parties.store import (
    DB_FILE,
    SCHEMA_VERSION,
    BudgetExceededError,
    BudgetStateError,
    JobExistsError,
    JobFinishedError,
    Store,
    StoreError,
    UnknownJobError,
)

SPEC = '{"queries": [{"kind": "count", "dataset": "adult"}]}'
POLICY = Policy(
    initiators=("alice",),
    max_epsilon={"adult": 1.0, "visits": 0.3},
    max_delta={"adult": 1e-5, "visits": 1e-6},
)


def job_id(number: int) -> str:
    return f"{number:032x}"


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "state") as opened:
        yield opened


def ledger(tmp_path: Path) -> list[tuple[str, str, float, str]]:
    """Every ledger row, read through a connection of its own."""
    db = sqlite3.connect(tmp_path / "state" / DB_FILE)
    try:
        return db.execute(
            "SELECT dataset, job_id, epsilon, state FROM budget_ledger "
            "ORDER BY dataset, job_id"
        ).fetchall()
    finally:
        db.close()


# Opening


def test_store_uses_wal_mode(store: Store, tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "state" / DB_FILE)
    try:
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        db.close()
    assert mode == "wal"


def test_store_connection_settings(store: Store) -> None:
    db = store._db
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_store_creates_state_dir(tmp_path: Path) -> None:
    state_dir = tmp_path / "a" / "b"
    with Store(state_dir) as opened:
        assert opened.path == state_dir / DB_FILE
    assert (state_dir / DB_FILE).is_file()


def test_store_records_schema_version(store: Store, tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "state" / DB_FILE)
    try:
        version = db.execute("SELECT version FROM schema_version").fetchone()
    finally:
        db.close()
    assert version == (SCHEMA_VERSION,)


def test_store_rejects_newer_schema(tmp_path: Path) -> None:
    Store(tmp_path / "state").close()
    db = sqlite3.connect(tmp_path / "state" / DB_FILE)
    db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="schema version"):
        Store(tmp_path / "state")


def test_store_keeps_data_after_reopen(tmp_path: Path) -> None:
    with Store(tmp_path / "state") as first:
        first.create_job(job_id(1), "alice", SPEC)
        first.reserve_budget(job_id(1), {"adult": (0.5, 0.0)}, POLICY)
        first.spend_budget(job_id(1))
        first.complete_job(job_id(1), {"count": 3})
    with Store(tmp_path / "state") as second:
        record = second.get_job(job_id(1))
        assert record is not None
        assert record.result == {"count": 3}
        assert second.budget(POLICY)["adult"]["spent_epsilon"] == 0.5


# Jobs


def test_create_job_stores_running_job(store: Store) -> None:
    store.create_job(job_id(1), "alice", SPEC)
    record = store.get_job(job_id(1))

    assert record is not None
    assert record.job_id == job_id(1)
    assert record.initiator == "alice"
    assert record.spec_json == SPEC
    assert record.spec["queries"][0]["kind"] == "count"
    assert record.state == "running"
    assert record.phase == "propose"
    assert record.reason == ""
    assert record.culprits == []
    assert record.result is None
    assert [event.phase for event in record.phases] == ["propose"]
    assert record.created_at.endswith("+00:00")
    assert record.updated_at == record.created_at


def test_create_job_rejects_existing(store: Store) -> None:
    store.create_job(job_id(1), "alice", SPEC)
    with pytest.raises(JobExistsError, match=job_id(1)):
        store.create_job(job_id(1), "bob", SPEC)
    record = store.get_job(job_id(1))
    assert record is not None
    assert record.initiator == "alice"


@pytest.mark.parametrize(
    "bad_id", ["", "abc", "0" * 31, "0" * 33, "G" * 32, "A" * 32]
)
def test_create_job_rejects_invalid_id(store: Store, bad_id: str) -> None:
    with pytest.raises(ValueError, match="invalid job id"):
        store.create_job(bad_id, "alice", SPEC)


def test_create_job_rejects_invalid_spec(store: Store) -> None:
    with pytest.raises(ValueError, match="not valid JSON"):
        store.create_job(job_id(1), "alice", "{not json")


def test_create_job_rejects_invalid_initiator(store: Store) -> None:
    with pytest.raises(ValueError, match="invalid party id"):
        store.create_job(job_id(1), "\u0430lice", SPEC)


def test_get_job_unknown_returns_none(store: Store) -> None:
    assert store.get_job(job_id(9)) is None


def test_list_jobs_newest_first(store: Store) -> None:
    for number in range(5):
        store.create_job(job_id(number), "alice", SPEC)

    assert [r.job_id for r in store.list_jobs()] == [
        job_id(n) for n in (4, 3, 2, 1, 0)
    ]
    assert [r.job_id for r in store.list_jobs(limit=2)] == [
        job_id(4),
        job_id(3),
    ]
    assert store.list_jobs(limit=0) == []


def test_list_jobs_rejects_negative_limit(store: Store) -> None:
    with pytest.raises(ValueError, match="limit"):
        store.list_jobs(limit=-1)


def test_record_phase_adds_history(store: Store) -> None:
    store.create_job(job_id(1), "alice", SPEC)
    store.record_phase(job_id(1), "commit", "3 proofs")
    store.record_phase(job_id(1), "echo")
    record = store.get_job(job_id(1))

    assert record is not None
    assert record.phase == "echo"
    assert [(e.phase, e.detail) for e in record.phases] == [
        ("propose", ""),
        ("commit", "3 proofs"),
        ("echo", ""),
    ]


def test_record_phase_unknown_job(store: Store) -> None:
    with pytest.raises(UnknownJobError):
        store.record_phase(job_id(1), "commit")


def test_record_phase_finished_job(store: Store) -> None:
    store.create_job(job_id(1), "alice", SPEC)
    store.abort_job(job_id(1), "timeout", ["bob"], "commit")
    with pytest.raises(JobFinishedError, match="aborted"):
        store.record_phase(job_id(1), "echo")


def test_complete_job_stores_result(store: Store) -> None:
    store.create_job(job_id(1), "alice", SPEC)
    store.record_phase(job_id(1), "check")
    store.complete_job(job_id(1), {"count": 7841, "sd": 2.5})
    record = store.get_job(job_id(1))

    assert record is not None
    assert record.state == "completed"
    assert record.phase == "check"
    assert record.result == {"count": 7841, "sd": 2.5}


def test_complete_job_twice_same_result(store: Store) -> None:
    store.create_job(job_id(1), "alice", SPEC)
    store.complete_job(job_id(1), {"count": 1})
    store.complete_job(job_id(1), {"count": 1})
    with pytest.raises(JobFinishedError, match="completed"):
        store.complete_job(job_id(1), {"count": 2})
    record = store.get_job(job_id(1))
    assert record is not None
    assert record.result == {"count": 1}


def test_complete_job_after_abort(store: Store) -> None:
    store.create_job(job_id(1), "alice", SPEC)
    store.abort_job(job_id(1), "check failed", [], "check")
    with pytest.raises(JobFinishedError, match="aborted"):
        store.complete_job(job_id(1), {"count": 1})


def test_complete_job_spends_reserved_budget(store: Store) -> None:
    store.create_job(job_id(1), "alice", SPEC)
    store.reserve_budget(job_id(1), {"adult": (0.5, 1e-6)}, POLICY)
    store.complete_job(job_id(1), {"count": 1})
    budget = store.budget(POLICY)["adult"]
    assert budget["spent_epsilon"] == 0.5
    assert budget["reserved_epsilon"] == 0.0


def test_abort_job_records_reason_and_culprits(store: Store) -> None:
    store.create_job(job_id(1), "alice", SPEC)
    store.record_phase(job_id(1), "verify")
    store.abort_job(job_id(1), "proof failed", ["bob", "carol"], "verify")
    record = store.get_job(job_id(1))

    assert record is not None
    assert record.state == "aborted"
    assert record.phase == "verify"
    assert record.reason == "proof failed"
    assert record.culprits == ["bob", "carol"]
    assert record.phases[-1].detail == "aborted: proof failed"


def test_abort_job_finished_job_unchanged(store: Store) -> None:
    store.create_job(job_id(1), "alice", SPEC)
    store.abort_job(job_id(1), "first", ["bob"], "commit")
    store.abort_job(job_id(1), "second", ["carol"], "echo")
    store.create_job(job_id(2), "alice", SPEC)
    store.complete_job(job_id(2), {"count": 1})
    store.abort_job(job_id(2), "late", [], "check")

    first = store.get_job(job_id(1))
    second = store.get_job(job_id(2))
    assert first is not None and second is not None
    assert (first.reason, first.culprits, first.phase) == (
        "first",
        ["bob"],
        "commit",
    )
    assert second.state == "completed"
    assert second.result == {"count": 1}


def test_abort_job_unknown_job(store: Store) -> None:
    with pytest.raises(UnknownJobError):
        store.abort_job(job_id(1), "x", [], "propose")


def test_abort_job_releases_reserved_budget(store: Store) -> None:
    store.create_job(job_id(1), "alice", SPEC)
    store.reserve_budget(job_id(1), {"adult": (0.5, 0.0)}, POLICY)
    store.abort_job(job_id(1), "timeout", ["bob"], "share")
    assert store.budget(POLICY)["adult"]["remaining_epsilon"] == 1.0


def test_abort_job_keeps_spent_budget(store: Store) -> None:
    store.create_job(job_id(1), "alice", SPEC)
    store.reserve_budget(job_id(1), {"adult": (0.5, 0.0)}, POLICY)
    store.spend_budget(job_id(1))
    store.abort_job(job_id(1), "check failed", [], "check")
    store.release_budget(job_id(1))
    assert store.budget(POLICY)["adult"]["spent_epsilon"] == 0.5


# Budget


def test_reserve_budget_counts_reserved(store: Store) -> None:
    store.reserve_budget(
        job_id(1), {"adult": (0.25, 1e-6), "visits": (0.1, 0.0)}, POLICY
    )
    budget = store.budget(POLICY)

    assert budget["adult"] == {
        "cap_epsilon": 1.0,
        "spent_epsilon": 0.0,
        "reserved_epsilon": 0.25,
        "remaining_epsilon": 0.75,
        "cap_delta": 1e-5,
        "spent_delta": 0.0,
        "reserved_delta": 1e-6,
        "remaining_delta": 1e-5 - 1e-6,
    }
    assert budget["visits"]["reserved_epsilon"] == 0.1


def test_reserve_budget_exceeds_epsilon(store: Store) -> None:
    store.reserve_budget(job_id(1), {"adult": (0.75, 0.0)}, POLICY)
    with pytest.raises(BudgetExceededError) as info:
        store.reserve_budget(job_id(2), {"adult": (0.5, 0.0)}, POLICY)

    error = info.value
    assert error.dataset == "adult"
    assert error.requested == 0.5
    assert error.remaining == 0.25
    assert "'adult'" in str(error)
    assert "epsilon 0.5" in str(error)
    assert "only 0.25" in str(error)


def test_reserve_budget_exceeds_delta(store: Store) -> None:
    with pytest.raises(BudgetExceededError, match="delta"):
        store.reserve_budget(job_id(1), {"adult": (0.1, 2e-5)}, POLICY)


def test_reserve_budget_all_or_nothing(
    store: Store, tmp_path: Path
) -> None:
    with pytest.raises(BudgetExceededError, match="'visits'"):
        store.reserve_budget(
            job_id(1), {"adult": (0.1, 0.0), "visits": (0.5, 0.0)}, POLICY
        )
    assert ledger(tmp_path) == []


def test_reserve_budget_dataset_without_cap(store: Store) -> None:
    with pytest.raises(BudgetExceededError, match="no epsilon cap"):
        store.reserve_budget(job_id(1), {"census": (0.1, 0.0)}, POLICY)


def test_reserve_budget_tolerates_rounding(store: Store) -> None:
    # 0.1 + 0.1 + 0.1 is 0.30000000000000004 in binary floating point.
    for number in range(3):
        store.reserve_budget(job_id(number), {"visits": (0.1, 0.0)}, POLICY)
    with pytest.raises(BudgetExceededError):
        store.reserve_budget(job_id(3), {"visits": (1e-6, 0.0)}, POLICY)


def test_reserve_budget_exact_cap(store: Store) -> None:
    store.reserve_budget(job_id(1), {"adult": (1.0, 1e-5)}, POLICY)
    assert store.budget(POLICY)["adult"]["remaining_epsilon"] == 0.0


def test_reserve_budget_again_is_noop(
    store: Store, tmp_path: Path
) -> None:
    store.reserve_budget(job_id(1), {"adult": (0.6, 0.0)}, POLICY)
    store.reserve_budget(job_id(1), {"adult": (0.6, 0.0)}, POLICY)
    assert store.budget(POLICY)["adult"]["reserved_epsilon"] == 0.6
    assert len(ledger(tmp_path)) == 1


def test_reserve_budget_again_after_release_is_noop(store: Store) -> None:
    store.reserve_budget(job_id(1), {"adult": (0.6, 0.0)}, POLICY)
    store.release_budget(job_id(1))
    store.reserve_budget(job_id(1), {"adult": (0.6, 0.0)}, POLICY)
    assert store.budget(POLICY)["adult"]["reserved_epsilon"] == 0.0


def test_reserve_budget_again_different_charges(store: Store) -> None:
    store.reserve_budget(job_id(1), {"adult": (0.5, 0.0)}, POLICY)
    with pytest.raises(BudgetStateError, match="already has budget"):
        store.reserve_budget(job_id(1), {"adult": (0.25, 0.0)}, POLICY)


@pytest.mark.parametrize(
    "charge",
    [(-0.1, 0.0), (0.1, -1e-9), (float("nan"), 0.0), (0.1, float("inf"))],
)
def test_reserve_budget_rejects_invalid_charge(
    store: Store, charge: tuple[float, float]
) -> None:
    with pytest.raises(ValueError, match="finite number >= 0"):
        store.reserve_budget(job_id(1), {"adult": charge}, POLICY)


def test_spend_budget_moves_reserved(store: Store) -> None:
    store.reserve_budget(job_id(1), {"adult": (0.5, 1e-6)}, POLICY)
    store.spend_budget(job_id(1))
    store.spend_budget(job_id(1))
    budget = store.budget(POLICY)["adult"]

    assert budget["spent_epsilon"] == 0.5
    assert budget["spent_delta"] == 1e-6
    assert budget["reserved_epsilon"] == 0.0
    assert budget["remaining_epsilon"] == 0.5


def test_spend_budget_after_release(store: Store) -> None:
    store.reserve_budget(job_id(1), {"adult": (0.5, 0.0)}, POLICY)
    store.release_budget(job_id(1))
    with pytest.raises(BudgetStateError, match="do not send"):
        store.spend_budget(job_id(1))


def test_release_budget_keeps_spent(store: Store) -> None:
    store.reserve_budget(job_id(1), {"adult": (0.5, 0.0)}, POLICY)
    store.spend_budget(job_id(1))
    store.release_budget(job_id(1))
    assert store.budget(POLICY)["adult"]["spent_epsilon"] == 0.5


def test_release_budget_frees_cap(store: Store) -> None:
    store.reserve_budget(job_id(1), {"adult": (0.75, 0.0)}, POLICY)
    store.release_budget(job_id(1))
    store.reserve_budget(job_id(2), {"adult": (0.75, 0.0)}, POLICY)
    assert store.budget(POLICY)["adult"]["reserved_epsilon"] == 0.75


def test_budget_lists_datasets_dropped_from_policy(store: Store) -> None:
    store.reserve_budget(job_id(1), {"visits": (0.2, 0.0)}, POLICY)
    store.spend_budget(job_id(1))
    narrow = Policy(("alice",), {"adult": 1.0}, {"adult": 1e-5})
    budget = store.budget(narrow)

    assert budget["visits"]["cap_epsilon"] == 0.0
    assert budget["visits"]["spent_epsilon"] == 0.2
    assert budget["visits"]["remaining_epsilon"] == 0.0
    assert budget["adult"]["remaining_epsilon"] == 1.0


def test_reserve_budget_race_between_threads(tmp_path: Path) -> None:
    # Each round, two connections race for 0.6 of a cap of 1.0, so
    # exactly one may win. Repeated to give the race many chances.
    policy = Policy((), {f"d{n}": 1.0 for n in range(20)}, {})
    Store(tmp_path / "state").close()
    for round_number in range(20):
        dataset = f"d{round_number}"
        barrier = threading.Barrier(2)
        outcomes: list[str] = []
        lock = threading.Lock()

        def reserve(number: int) -> None:
            with Store(tmp_path / "state") as store:
                barrier.wait()
                try:
                    store.reserve_budget(
                        job_id(100 * round_number + number),
                        {dataset: (0.6, 0.0)},
                        policy,
                    )
                    outcome = "reserved"
                except BudgetExceededError:
                    outcome = "exceeded"
            with lock:
                outcomes.append(outcome)

        threads = [
            threading.Thread(target=reserve, args=(n,)) for n in (1, 2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(outcomes) == ["exceeded", "reserved"]
    rows = ledger(tmp_path)
    assert len(rows) == 20
    with Store(tmp_path / "state") as store:
        budget = store.budget(policy)
    assert all(entry["reserved_epsilon"] == 0.6 for entry in budget.values())


# Recovery


def test_recover_aborts_running_jobs(store: Store) -> None:
    store.create_job(job_id(1), "alice", SPEC)
    store.record_phase(job_id(1), "share")
    store.create_job(job_id(2), "alice", SPEC)
    store.complete_job(job_id(2), {"count": 1})

    assert store.recover() == [job_id(1)]
    record = store.get_job(job_id(1))
    assert record is not None
    assert record.state == "aborted"
    assert record.reason == "daemon restarted during phase share"
    assert record.phase == "share"
    completed = store.get_job(job_id(2))
    assert completed is not None
    assert completed.state == "completed"


def test_recover_settles_budget(tmp_path: Path) -> None:
    with Store(tmp_path / "state") as before_crash:
        # Job 1 reserved, job 2 spent before its reveal, job 3 finished.
        for number in (1, 2, 3):
            before_crash.create_job(job_id(number), "alice", SPEC)
            before_crash.reserve_budget(
                job_id(number), {"adult": (0.25, 1e-6)}, POLICY
            )
        before_crash.record_phase(job_id(2), "reveal")
        before_crash.spend_budget(job_id(2))
        before_crash.spend_budget(job_id(3))
        before_crash.complete_job(job_id(3), {"count": 5})

    with Store(tmp_path / "state") as after_restart:
        assert after_restart.recover() == [job_id(1), job_id(2)]
        budget = after_restart.budget(POLICY)["adult"]
        assert budget["spent_epsilon"] == 0.5
        assert budget["reserved_epsilon"] == 0.0
        assert budget["remaining_epsilon"] == 0.5

        # A second recovery changes nothing and counts nothing twice.
        assert after_restart.recover() == []
        assert after_restart.budget(POLICY)["adult"] == budget
    assert [row[3] for row in ledger(tmp_path)] == [
        "released",
        "spent",
        "spent",
    ]


def test_recover_releases_orphan_reservation(store: Store) -> None:
    # A reservation whose job row was never written.
    store.reserve_budget(job_id(7), {"adult": (0.5, 0.0)}, POLICY)
    assert store.recover() == [job_id(7)]
    assert store.budget(POLICY)["adult"]["reserved_epsilon"] == 0.0


# Received messages


def test_record_message_first_then_replay(store: Store) -> None:
    first = digest("commit from bob")

    assert store.record_message(job_id(1), "bob", "commit", first)
    assert not store.record_message(job_id(1), "bob", "commit", first)
    assert store.message_digest(job_id(1), "bob", "commit") == first


def test_record_message_different_digest(store: Store) -> None:
    first = digest("commit from bob")
    store.record_message(job_id(1), "bob", "commit", first)

    assert not store.record_message(
        job_id(1), "bob", "commit", digest("other")
    )
    assert store.message_digest(job_id(1), "bob", "commit") == first


def test_record_message_distinct_keys(store: Store) -> None:
    value = digest("x")
    assert store.record_message(job_id(1), "bob", "commit", value)
    assert store.record_message(job_id(1), "bob", "echo", value)
    assert store.record_message(job_id(1), "carol", "commit", value)
    assert store.record_message(job_id(2), "bob", "commit", value)
    assert store.message_digest(job_id(3), "bob", "commit") is None


def test_record_message_survives_reopen(tmp_path: Path) -> None:
    with Store(tmp_path / "state") as first:
        first.record_message(job_id(1), "bob", "share", digest("s"))
    with Store(tmp_path / "state") as second:
        assert not second.record_message(
            job_id(1), "bob", "share", digest("s")
        )


@pytest.mark.parametrize("bad", [b"", b"x" * 31, b"x" * 64, "x" * 32])
def test_record_message_rejects_invalid_digest(
    store: Store, bad: bytes
) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        store.record_message(job_id(1), "bob", "commit", bad)
