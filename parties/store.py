"""The party's durable store: SQLite in WAL mode under its state directory.

One file, `party.sqlite3`, contains the jobs with their phase history, the
results, the digests of received messages (so a replayed message is
recognised) and the privacy-budget ledger. Every change that touches more
than one row runs in one `BEGIN IMMEDIATE` transaction with
`synchronous=FULL`, so once a method returns its change survives a crash,
and a daemon killed at any point restarts with no lost result and no
budget lost or counted twice.

The budget ledger has one row per (dataset, job). A row is `reserved` when
the job is accepted, `spent` just before this party sends its reveal, and
`released` when the job aborts before that. Spent and reserved rows count
against the policy's caps and released rows do not.

A Store is one connection. Its methods are short and synchronous, meant
to be called from the daemon's event loop thread, and a lock makes them
safe from other threads too. Several Store objects, in one process or in
several, may open the same file. SQLite serialises their writes, and the
budget checks read and insert inside one write transaction, so two racing
reservations cannot both pass a cap.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parties.config import DEFAULT_MAX_DELTA, Policy, validate_party_id

DB_FILE = "party.sqlite3"
SCHEMA_VERSION = 1
BUSY_TIMEOUT = 30.0
"""Seconds a write waits for another connection's transaction."""
BUDGET_TOLERANCE = 1e-9
"""Relative slack on a cap, so that e.g. 0.1 + 0.2 fits a cap of 0.3."""

JOB_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
"""A job id: 128 bits as 32 lower-case hex digits."""
_DIGEST_BYTES = 32

_SCHEMA = (
    """
    CREATE TABLE schema_version (
        version INTEGER NOT NULL
    )""",
    """
    CREATE TABLE jobs (
        job_id TEXT PRIMARY KEY,
        initiator TEXT NOT NULL,
        spec TEXT NOT NULL,
        state TEXT NOT NULL
            CHECK (state IN ('running', 'completed', 'aborted')),
        phase TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        culprits TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX jobs_by_state ON jobs (state)",
    """
    CREATE TABLE job_phases (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL REFERENCES jobs (job_id),
        phase TEXT NOT NULL,
        at TEXT NOT NULL,
        detail TEXT NOT NULL
    )""",
    "CREATE INDEX job_phases_by_job ON job_phases (job_id, id)",
    """
    CREATE TABLE results (
        job_id TEXT PRIMARY KEY REFERENCES jobs (job_id),
        result TEXT NOT NULL,
        stored_at TEXT NOT NULL
    )""",
    """
    CREATE TABLE message_digests (
        job_id TEXT NOT NULL,
        sender TEXT NOT NULL,
        phase TEXT NOT NULL,
        digest BLOB NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (job_id, sender, phase)
    )""",
    """
    CREATE TABLE budget_ledger (
        dataset TEXT NOT NULL,
        job_id TEXT NOT NULL,
        epsilon REAL NOT NULL CHECK (epsilon >= 0),
        delta REAL NOT NULL CHECK (delta >= 0),
        state TEXT NOT NULL
            CHECK (state IN ('reserved', 'spent', 'released')),
        reserved_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (dataset, job_id)
    )""",
    "CREATE INDEX budget_by_job ON budget_ledger (job_id)",
)


class StoreError(ValueError):
    """A store operation that is not valid for the stored state."""


class JobExistsError(StoreError):
    """A job id that is already in the store."""


class UnknownJobError(StoreError):
    """A job id that is not in the store."""


class JobFinishedError(StoreError):
    """A change to a job that has already completed or aborted."""


class BudgetExceededError(StoreError):
    """A reservation that would take a dataset past its policy cap."""

    def __init__(
        self, message: str, dataset: str, requested: float, remaining: float
    ) -> None:
        super().__init__(message)
        self.dataset = dataset
        self.requested = requested
        self.remaining = remaining


class BudgetStateError(StoreError):
    """A budget transition that the ledger does not allow."""


@dataclass(frozen=True)
class PhaseEvent:
    """One entry of a job's phase history."""

    phase: str
    at: str
    """Wall-clock time, ISO 8601 in UTC."""
    detail: str


@dataclass(frozen=True)
class JobRecord:
    """A stored job with its phase history and result."""

    job_id: str
    initiator: str
    spec_json: str
    state: str
    """`running`, `completed` or `aborted`."""
    phase: str
    """The latest phase, which for an aborted job is where it aborted."""
    reason: str
    culprits: list[str]
    created_at: str
    updated_at: str
    phases: list[PhaseEvent]
    result: dict[str, Any] | None

    @property
    def spec(self) -> Any:
        """The job specification, decoded from `spec_json`."""
        return json.loads(self.spec_json)


def _now() -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.isoformat(timespec="microseconds")


def _check_job_id(job_id: str) -> None:
    if not (isinstance(job_id, str) and JOB_ID_PATTERN.fullmatch(job_id)):
        raise ValueError(
            f"invalid job id {job_id!r}: expected 32 lower-case hex digits "
            "(128 bits)"
        )


def _check_phase(phase: str) -> None:
    if not isinstance(phase, str) or not phase:
        raise ValueError(f"phase must be a non-empty string, got {phase!r}")


class Store:
    """The SQLite store of one party, in `state_dir/party.sqlite3`."""

    def __init__(self, state_dir: Path) -> None:
        """Open the store, creating the directory and schema if needed.

        Raises StoreError when the file was written by a newer schema
        version or the file system cannot hold a WAL database.
        """
        state_dir = Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / DB_FILE
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            self._configure()
            self._create_schema()
        except BaseException:
            self._db.close()
            raise

    def _configure(self) -> None:
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(
                f"cannot switch {self.path} to WAL mode (journal mode is "
                f"{mode!r}); put the state directory on a local file system"
            )
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")

    def _create_schema(self) -> None:
        with self._transaction() as db:
            exists = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' "
                "AND name = 'schema_version'"
            ).fetchone()
            if not exists:
                for statement in _SCHEMA:
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_version (version) VALUES (?)",
                    (SCHEMA_VERSION,),
                )
                return
            row = db.execute("SELECT max(version) FROM schema_version")
            version = row.fetchone()[0]
            if version != SCHEMA_VERSION:
                raise StoreError(
                    f"store {self.path} has schema version {version}, but "
                    f"this program reads version {SCHEMA_VERSION}; run the "
                    "version of the daemon that created it"
                )

    def close(self) -> None:
        """Close the connection. Closing twice is fine."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """Run a block in a write transaction, rolled back on any error."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # SQLite may already have rolled back, e.g. on a full disk.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """Run a block of reads that see one consistent state."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield self._db
            finally:
                self._db.execute("COMMIT")

    # Jobs.

    def create_job(self, job_id: str, initiator: str, spec_json: str) -> None:
        """Store a new job in state `running`, phase `propose`.

        Raises JobExistsError when `job_id` is already stored, whatever its
        state, and ValueError for an invalid id or a spec that is not JSON.
        """
        _check_job_id(job_id)
        validate_party_id(initiator)
        try:
            json.loads(spec_json)
        except (TypeError, ValueError):
            raise ValueError(
                f"the spec of job {job_id} is not valid JSON"
            ) from None

        now = _now()
        with self._transaction() as db:
            try:
                db.execute(
                    "INSERT INTO jobs (job_id, initiator, spec, state, "
                    "phase, created_at, updated_at) "
                    "VALUES (?, ?, ?, 'running', 'propose', ?, ?)",
                    (job_id, initiator, spec_json, now, now),
                )
            except sqlite3.IntegrityError:
                raise JobExistsError(
                    f"job {job_id} already exists; give each job a new id"
                ) from None
            self._add_event(db, job_id, "propose", "", now)

    def get_job(self, job_id: str) -> JobRecord | None:
        """Return the job with its history and result, or None."""
        with self._snapshot() as db:
            return self._read_job(db, job_id)

    def list_jobs(self, limit: int = 50) -> list[JobRecord]:
        """Return up to `limit` jobs, the most recently created first."""
        if type(limit) is not int or limit < 0:
            raise ValueError(f"limit must be an int >= 0, got {limit!r}")
        with self._snapshot() as db:
            rows = db.execute(
                "SELECT job_id FROM jobs ORDER BY rowid DESC LIMIT ?",
                (limit,),
            ).fetchall()
            jobs = [self._read_job(db, job_id) for (job_id,) in rows]
        return [job for job in jobs if job is not None]

    def _read_job(
        self, db: sqlite3.Connection, job_id: str
    ) -> JobRecord | None:
        row = db.execute(
            "SELECT job_id, initiator, spec, state, phase, reason, "
            "culprits, created_at, updated_at FROM jobs WHERE job_id = ?",
            (job_id,),
        ).fetchone()
        if row is None:
            return None
        events = db.execute(
            "SELECT phase, at, detail FROM job_phases WHERE job_id = ? "
            "ORDER BY id",
            (job_id,),
        ).fetchall()
        result_row = db.execute(
            "SELECT result FROM results WHERE job_id = ?", (job_id,)
        ).fetchone()
        result = None if result_row is None else json.loads(result_row[0])
        return JobRecord(
            job_id=row[0],
            initiator=row[1],
            spec_json=row[2],
            state=row[3],
            phase=row[4],
            reason=row[5],
            culprits=json.loads(row[6]),
            created_at=row[7],
            updated_at=row[8],
            phases=[PhaseEvent(*event) for event in events],
            result=result,
        )

    def record_phase(self, job_id: str, phase: str, detail: str = "") -> None:
        """Make `phase` the job's current phase and add it to its history.

        Raises UnknownJobError for a job not stored and JobFinishedError
        for a job that has completed or aborted.
        """
        _check_phase(phase)
        now = _now()
        with self._transaction() as db:
            self._require_running(db, job_id, f"enter phase {phase!r}")
            db.execute(
                "UPDATE jobs SET phase = ?, updated_at = ? WHERE job_id = ?",
                (phase, now, job_id),
            )
            self._add_event(db, job_id, phase, detail, now)

    def complete_job(self, job_id: str, result: dict[str, Any]) -> None:
        """Store the job's result and mark it `completed`.

        Budget rows of the job still `reserved` become `spent`, because a
        completed job has released its figures. Completing a job again
        with an equal result does nothing. Raises JobFinishedError for an
        aborted job or a different second result, UnknownJobError for a
        job not stored.
        """
        if not isinstance(result, dict):
            raise TypeError(f"result must be a dict, got {type(result)}")
        result_json = json.dumps(result, sort_keys=True)
        now = _now()
        with self._transaction() as db:
            state, phase = self._job_state(db, job_id)
            if state == "completed":
                stored = db.execute(
                    "SELECT result FROM results WHERE job_id = ?", (job_id,)
                ).fetchone()
                if stored is not None and stored[0] == result_json:
                    return
            if state != "running":
                raise JobFinishedError(
                    f"job {job_id} is already {state}; it cannot complete "
                    "with a new result"
                )
            db.execute(
                "INSERT INTO results (job_id, result, stored_at) "
                "VALUES (?, ?, ?)",
                (job_id, result_json, now),
            )
            db.execute(
                "UPDATE jobs SET state = 'completed', updated_at = ? "
                "WHERE job_id = ?",
                (now, job_id),
            )
            self._add_event(db, job_id, phase, "completed", now)
            self._move_budget(db, job_id, "reserved", "spent", now)

    def abort_job(
        self, job_id: str, reason: str, culprits: list[str], phase: str
    ) -> None:
        """Mark the job `aborted` in `phase` and release its reserved budget.

        Spent budget stays spent. A job that has already completed or
        aborted is left unchanged. Raises UnknownJobError for a job not
        stored.
        """
        _check_phase(phase)
        for culprit in culprits:
            validate_party_id(culprit)
        now = _now()
        with self._transaction() as db:
            state, _ = self._job_state(db, job_id)
            if state != "running":
                return
            self._abort(db, job_id, reason, list(culprits), phase, now)

    def _abort(
        self,
        db: sqlite3.Connection,
        job_id: str,
        reason: str,
        culprits: list[str],
        phase: str,
        now: str,
    ) -> None:
        db.execute(
            "UPDATE jobs SET state = 'aborted', phase = ?, reason = ?, "
            "culprits = ?, updated_at = ? WHERE job_id = ?",
            (phase, reason, json.dumps(culprits), now, job_id),
        )
        self._add_event(db, job_id, phase, f"aborted: {reason}", now)
        self._move_budget(db, job_id, "reserved", "released", now)

    def recover(self) -> list[str]:
        """Abort the jobs a previous daemon left running; return job ids.

        Call it at start, before any job runs. Each `running` job becomes
        `aborted` with reason "daemon restarted during phase <phase>" and
        its reserved budget is released, while spent budget stays spent.
        Reserved rows left without a running job are settled too: released
        for an aborted or unknown job, spent for a completed one. Returns
        the sorted ids of every job it changed, so a second call returns
        an empty list.
        """
        now = _now()
        touched: set[str] = set()
        with self._transaction() as db:
            running = db.execute(
                "SELECT job_id, phase FROM jobs WHERE state = 'running'"
            ).fetchall()
            for job_id, phase in running:
                reason = f"daemon restarted during phase {phase}"
                self._abort(db, job_id, reason, [], phase, now)
                touched.add(job_id)

            leftovers = db.execute(
                "SELECT DISTINCT ledger.job_id, jobs.state "
                "FROM budget_ledger AS ledger "
                "LEFT JOIN jobs ON jobs.job_id = ledger.job_id "
                "WHERE ledger.state = 'reserved'"
            ).fetchall()
            for job_id, state in leftovers:
                target = "spent" if state == "completed" else "released"
                self._move_budget(db, job_id, "reserved", target, now)
                touched.add(job_id)
        return sorted(touched)

    def _job_state(
        self, db: sqlite3.Connection, job_id: str
    ) -> tuple[str, str]:
        row = db.execute(
            "SELECT state, phase FROM jobs WHERE job_id = ?", (job_id,)
        ).fetchone()
        if row is None:
            raise UnknownJobError(f"job {job_id!r} is not in the store")
        return row[0], row[1]

    def _require_running(
        self, db: sqlite3.Connection, job_id: str, action: str
    ) -> None:
        state, _ = self._job_state(db, job_id)
        if state != "running":
            raise JobFinishedError(
                f"job {job_id} is already {state}, so it cannot {action}"
            )

    @staticmethod
    def _add_event(
        db: sqlite3.Connection, job_id: str, phase: str, detail: str, at: str
    ) -> None:
        db.execute(
            "INSERT INTO job_phases (job_id, phase, at, detail) "
            "VALUES (?, ?, ?, ?)",
            (job_id, phase, at, detail),
        )

    # Privacy budget.

    def reserve_budget(
        self,
        job_id: str,
        charges: Mapping[str, tuple[float, float]],
        policy: Policy,
    ) -> None:
        """Reserve (epsilon, delta) per dataset for a job, all or nothing.

        For each dataset, spent + reserved + requested must stay within
        the policy's caps, up to a relative tolerance of BUDGET_TOLERANCE.
        Raises BudgetExceededError naming the dataset, the amount requested
        and the amount remaining, and then reserves nothing. Reserving
        again for the same job with the same charges does nothing, in any
        state of its rows; with different charges it raises
        BudgetStateError.
        """
        _check_job_id(job_id)
        requested = _check_charges(charges)
        now = _now()
        with self._transaction() as db:
            existing = {
                dataset: (epsilon, delta)
                for dataset, epsilon, delta in db.execute(
                    "SELECT dataset, epsilon, delta FROM budget_ledger "
                    "WHERE job_id = ?",
                    (job_id,),
                )
            }
            if existing:
                if existing == requested:
                    return
                raise BudgetStateError(
                    f"job {job_id} already has budget rows for "
                    f"{existing!r}, which differ from {requested!r}; a job "
                    "reserves its budget once"
                )

            for dataset, (epsilon, delta) in sorted(requested.items()):
                self._check_cap(db, job_id, dataset, epsilon, delta, policy)
            db.executemany(
                "INSERT INTO budget_ledger (dataset, job_id, epsilon, "
                "delta, state, reserved_at, updated_at) "
                "VALUES (?, ?, ?, ?, 'reserved', ?, ?)",
                [
                    (dataset, job_id, epsilon, delta, now, now)
                    for dataset, (epsilon, delta) in sorted(requested.items())
                ],
            )

    @staticmethod
    def _check_cap(
        db: sqlite3.Connection,
        job_id: str,
        dataset: str,
        epsilon: float,
        delta: float,
        policy: Policy,
    ) -> None:
        if dataset not in policy.max_epsilon:
            raise BudgetExceededError(
                f"dataset {dataset!r} has no epsilon cap in the policy, so "
                f"job {job_id} cannot query it; add it to "
                "policy.max_epsilon to allow queries",
                dataset,
                epsilon,
                0.0,
            )
        used_epsilon, used_delta = db.execute(
            "SELECT total(epsilon), total(delta) FROM budget_ledger "
            "WHERE dataset = ? AND state IN ('reserved', 'spent')",
            (dataset,),
        ).fetchone()
        caps = (
            ("epsilon", epsilon, used_epsilon, policy.max_epsilon[dataset]),
            (
                "delta",
                delta,
                used_delta,
                policy.max_delta.get(dataset, DEFAULT_MAX_DELTA),
            ),
        )
        for name, amount, used, cap in caps:
            if used + amount <= cap * (1 + BUDGET_TOLERANCE):
                continue
            remaining = max(cap - used, 0.0)
            raise BudgetExceededError(
                f"privacy budget of dataset {dataset!r} exceeded: job "
                f"{job_id} requests {name} {amount:.6g}, but only "
                f"{remaining:.6g} of the cap {cap:.6g} remains; lower the "
                f"job's {name} or raise policy.max_{name} for {dataset!r}",
                dataset,
                amount,
                remaining,
            )

    def spend_budget(self, job_id: str) -> None:
        """Mark the job's reserved budget spent, durably.

        Call it just before this party sends its reveal. Spending again
        does nothing. Raises BudgetStateError when the job's budget was
        released, because the job aborted and its reveal must not be sent.
        """
        now = _now()
        with self._transaction() as db:
            released = db.execute(
                "SELECT count(*) FROM budget_ledger "
                "WHERE job_id = ? AND state = 'released'",
                (job_id,),
            ).fetchone()[0]
            if released:
                raise BudgetStateError(
                    f"the budget of job {job_id} was released, so it cannot "
                    "be spent; do not send the job's reveal"
                )
            self._move_budget(db, job_id, "reserved", "spent", now)

    def release_budget(self, job_id: str) -> None:
        """Release the job's reserved budget. Spent rows stay spent."""
        now = _now()
        with self._transaction() as db:
            self._move_budget(db, job_id, "reserved", "released", now)

    @staticmethod
    def _move_budget(
        db: sqlite3.Connection, job_id: str, old: str, new: str, now: str
    ) -> None:
        db.execute(
            "UPDATE budget_ledger SET state = ?, updated_at = ? "
            "WHERE job_id = ? AND state = ?",
            (new, now, job_id, old),
        )

    def budget(self, policy: Policy) -> dict[str, dict[str, float]]:
        """Return the budget of each dataset in the policy or the ledger.

        Each entry has cap_, spent_, reserved_ and remaining_ epsilon and
        delta. A dataset in the ledger but no longer in the policy has
        caps of 0.
        """
        used: dict[str, dict[str, float]] = {}
        with self._snapshot() as db:
            rows = db.execute(
                "SELECT dataset, state, total(epsilon), total(delta) "
                "FROM budget_ledger WHERE state != 'released' "
                "GROUP BY dataset, state"
            ).fetchall()
        for dataset, state, epsilon, delta in rows:
            entry = used.setdefault(dataset, {})
            entry[f"{state}_epsilon"] = epsilon
            entry[f"{state}_delta"] = delta

        report = {}
        for dataset in sorted(set(policy.max_epsilon) | set(used)):
            entry = used.get(dataset, {})
            caps = {"epsilon": 0.0, "delta": 0.0}
            if dataset in policy.max_epsilon:
                caps["epsilon"] = policy.max_epsilon[dataset]
                caps["delta"] = policy.max_delta.get(
                    dataset, DEFAULT_MAX_DELTA
                )
            figures: dict[str, float] = {}
            for name, cap in caps.items():
                spent = entry.get(f"spent_{name}", 0.0)
                reserved = entry.get(f"reserved_{name}", 0.0)
                figures[f"cap_{name}"] = cap
                figures[f"spent_{name}"] = spent
                figures[f"reserved_{name}"] = reserved
                figures[f"remaining_{name}"] = max(cap - spent - reserved, 0.0)
            report[dataset] = figures
        return report

    # Received messages.

    def record_message(
        self, job_id: str, sender: str, phase: str, digest: bytes
    ) -> bool:
        """Record the SHA-256 digest of a received message.

        Returns True for the first message of (job_id, sender, phase), and
        False when one was already recorded, whatever its digest, so the
        caller can drop a replay. Compare with `message_digest` to tell a
        replay from a second, different message.
        """
        _check_job_id(job_id)
        validate_party_id(sender)
        _check_phase(phase)
        if not isinstance(digest, bytes) or len(digest) != _DIGEST_BYTES:
            raise ValueError(
                f"digest must be {_DIGEST_BYTES} bytes (SHA-256), got "
                f"{digest!r}"
            )
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO message_digests (job_id, sender, "
                "phase, digest, received_at) VALUES (?, ?, ?, ?, ?)",
                (job_id, sender, phase, digest, _now()),
            )
            return cursor.rowcount == 1

    def message_digest(
        self, job_id: str, sender: str, phase: str
    ) -> bytes | None:
        """Return the recorded digest for (job_id, sender, phase), or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT digest FROM message_digests "
                "WHERE job_id = ? AND sender = ? AND phase = ?",
                (job_id, sender, phase),
            ).fetchone()
        return None if row is None else bytes(row[0])


def _check_charges(
    charges: Mapping[str, tuple[float, float]],
) -> dict[str, tuple[float, float]]:
    checked = {}
    for dataset, charge in charges.items():
        if not isinstance(dataset, str) or not dataset:
            raise ValueError(f"invalid dataset name {dataset!r} in charges")
        epsilon, delta = (float(value) for value in charge)
        for name, value in (("epsilon", epsilon), ("delta", delta)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(
                    f"invalid {name} {value!r} for dataset {dataset!r}: "
                    "it must be a finite number >= 0"
                )
        checked[dataset] = (epsilon, delta)
    return checked
