"""The job store: every job and its history in one SQLite file (WAL mode).

Jobs never vanish: a job is created queued and moves only through
:func:`farm.queue.state.check_transition`; the move is checked and written in
one transaction, so two threads can never both claim a job or step it
twice. Everything the service shows (the queue, progress, outputs, reports,
errors) is read from here, so a restart loses nothing: :meth:`JobStore.recover_interrupted`
puts back what was running when the service stopped.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from farm.errors import IllegalTransition, UnknownJob

from .state import JobState, check_transition

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    studio TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    progress REAL NOT NULL DEFAULT 0,
    audio_s REAL NOT NULL DEFAULT 0,
    duration_s REAL NOT NULL DEFAULT 0,
    outputs TEXT NOT NULL DEFAULT '[]',
    report TEXT,
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    bundle_bytes INTEGER NOT NULL DEFAULT 0,
    interruptions INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (state, priority DESC, seq);
CREATE INDEX IF NOT EXISTS jobs_studio ON jobs (studio, seq);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished_at);
CREATE INDEX IF NOT EXISTS jobs_studio_state ON jobs (studio, state, seq);
"""

ADDED_COLUMNS = {
    "bundle_bytes": "INTEGER NOT NULL DEFAULT 0",
    "interruptions": "INTEGER NOT NULL DEFAULT 0",
}
"""Columns added since the first schema: a store written before them gains them on open."""

BUSY_TIMEOUT_S = 5.0
"""How long a write waits for another connection's lock on the file before it fails."""

MAX_INTERRUPTIONS = 2
"""A job that was running this many times when its service or render driver died is failed:
it may be what kills them."""

_LIST_COLUMNS = (
    "id, name, studio, priority, state, attempts, created_at, started_at, finished_at, "
    "progress, audio_s, duration_s, outputs, error, cancel_requested, bundle_bytes, interruptions"
)


@dataclasses.dataclass(frozen=True)
class Job:
    """One render job as stored. Times are Unix seconds; ``progress`` runs 0..1."""

    id: str
    name: str
    studio: str
    priority: int
    state: JobState
    attempts: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    progress: float
    audio_s: float
    duration_s: float
    outputs: list[dict]
    report: dict | None
    error: str | None
    cancel_requested: bool
    bundle_bytes: int = 0
    interruptions: int = 0

    def to_dict(self) -> dict:
        """JSON-ready fields."""
        fields = dataclasses.asdict(self)
        fields["state"] = self.state.value
        return fields


Listener = Callable[[Job, JobState | None], None]
"""Called after every change with the job as it now is and its previous state (None if new)."""


class JobStore:
    """SQLite-backed jobs, safe to share between threads.

    A write that cannot be made (the file locked longer than
    ``busy_timeout_s``, read-only, a disk error) raises sqlite3's error.
    """

    def __init__(self, path: str | Path, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), timeout=busy_timeout_s, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._add_missing_columns()
        self._listeners: list[Listener] = []

    def _add_missing_columns(self) -> None:
        present = {row["name"] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for name, declaration in ADDED_COLUMNS.items():
            if name not in present:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {declaration}")

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` after every change of any job."""
        self._listeners.append(listener)

    def _notify(self, job: Job, previous: JobState | None) -> None:
        for listener in list(self._listeners):
            listener(job, previous)

    def create(
        self, name: str, studio: str, priority: int = 0, duration_s: float = 0.0, job_id: str | None = None, bundle_bytes: int = 0
    ) -> Job:
        """Add a queued job; returns it. ``bundle_bytes`` is the size of its unpacked bundle (counted against its studio)."""
        job_id = job_id or uuid.uuid4().hex[:16]
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs (id, name, studio, priority, state, created_at, duration_s, bundle_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, name, studio, int(priority), JobState.QUEUED.value, time.time(), float(duration_s), int(bundle_bytes)),
            )
            job = self._get(job_id)
        self._notify(job, None)
        return job

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        with self._lock:
            return self._get(job_id)

    def _get(self, job_id: str) -> Job | None:
        row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def list(self, *, studio: str | None = None, state: JobState | None = None, limit: int = 50, offset: int = 0) -> tuple[list[Job], int]:
        """Jobs newest first, filtered by studio and state, without their reports; returns (page, total matching)."""
        where, params = [], []
        if studio is not None:
            where.append("studio = ?")
            params.append(studio)
        if state is not None:
            where.append("state = ?")
            params.append(JobState(state).value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM jobs {clause}", params).fetchone()[0]
            rows = self._db.execute(
                f"SELECT {_LIST_COLUMNS}, NULL AS report FROM jobs {clause} ORDER BY seq DESC LIMIT ? OFFSET ?", [*params, limit, offset]
            ).fetchall()
        return [_job(row) for row in rows], total

    def transition(self, job_id: str, target: JobState, *, expect: JobState | None = None, **fields) -> Job:
        """Move a job to ``target`` (checked) and set ``fields``; returns the job as now stored.

        With ``expect``, the move happens only if the job is still in that
        state (compare-and-set within the transaction). Raises UnknownJob for an
        unknown id and IllegalTransition for a move the job's state does not
        allow or an ``expect`` that no longer holds.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                job = self._get(job_id)
                if job is None:
                    raise UnknownJob(job_id)
                if expect is not None and job.state is not JobState(expect):
                    raise IllegalTransition(f"the job is {job.state.value}, no longer {JobState(expect).value}")
                target = check_transition(job.state, target)
                now = time.time()
                if target is JobState.RUNNING:
                    fields.setdefault("started_at", now)
                    fields.setdefault("attempts", job.attempts + 1)
                if target.is_final:
                    fields.setdefault("finished_at", now)
                if target is JobState.QUEUED:
                    fields.update(progress=0.0, audio_s=0.0, cancel_requested=0, finished_at=None)
                self._update(job_id, state=target.value, **fields)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            updated = self._get(job_id)
        self._notify(updated, job.state)
        return updated

    def claim_next(self) -> Job | None:
        """Move the most urgent queued job (highest priority, then oldest) to running and return it.

        The choice and the move are one transaction, so processes sharing the
        file never claim the same job.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT id, attempts FROM jobs WHERE state = ? ORDER BY priority DESC, seq ASC LIMIT 1", (JobState.QUEUED.value,)
                ).fetchone()
                if row is not None:
                    self._update(row["id"], state=JobState.RUNNING.value, started_at=time.time(), attempts=row["attempts"] + 1)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            if row is None:
                return None
            job = self._get(row["id"])
        self._notify(job, JobState.QUEUED)
        return job

    def record_progress(self, job_id: str, progress: float, audio_s: float) -> Job:
        """Store a running job's progress (0..1) and seconds of audio rendered."""
        with self._lock:
            self._update(job_id, progress=float(min(max(progress, 0.0), 1.0)), audio_s=float(audio_s))
            job = self._get(job_id)
        self._notify(job, job.state)
        return job

    def request_cancel(self, job_id: str) -> Job:
        """Mark a running job for cancellation; the scheduler stops it."""
        with self._lock:
            self._update(job_id, cancel_requested=1)
            job = self._get(job_id)
        self._notify(job, job.state)
        return job

    def recover_interrupted(self, reason: str, max_interruptions: int = MAX_INTERRUPTIONS) -> list[Job]:
        """Settle every job still marked running after its service or render driver died; returns them as now stored.

        A job whose cancel was requested becomes cancelled; one interrupted
        ``max_interruptions`` times (this one included) fails, since it may be
        what kills the farm; any other is queued again. ``reason`` (what died)
        goes into the error text.
        """
        return [self.interrupted(job_id, reason, max_interruptions) for job_id in self.running_ids()]

    def interrupted(self, job_id: str, reason: str, max_interruptions: int = MAX_INTERRUPTIONS) -> Job:
        """Settle one running job whose render died with ``reason``; see :meth:`recover_interrupted`."""
        with self._lock:
            job = self._get(job_id)
            if job is None:
                raise UnknownJob(job_id)
            count = job.interruptions + 1
            if job.cancel_requested:
                return self.transition(job_id, JobState.CANCELLED, expect=JobState.RUNNING, error=f"cancelled; {reason} while it ran", interruptions=count)
            if count >= max_interruptions:
                error = f"{reason} while it ran, {count} times: this job may be what brings it down, so it is not run again (retry it to try once more)"
                return self.transition(job_id, JobState.FAILED, expect=JobState.RUNNING, error=error, interruptions=count)
            return self.transition(job_id, JobState.QUEUED, expect=JobState.RUNNING, error=f"requeued: {reason} while it ran", interruptions=count)

    def running_ids(self) -> list[str]:
        """The ids of the jobs marked running."""
        with self._lock:
            return [row["id"] for row in self._db.execute("SELECT id FROM jobs WHERE state = ?", (JobState.RUNNING.value,))]

    def studio_bundle_bytes(self, studio: str) -> int:
        """Bytes of unpacked bundles the studio's jobs keep in storage."""
        with self._lock:
            return int(self._db.execute("SELECT COALESCE(SUM(bundle_bytes), 0) FROM jobs WHERE studio = ?", (studio,)).fetchone()[0])

    def counts(self) -> dict[JobState, int]:
        """How many jobs are in each state."""
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state").fetchall()
        counts = {state: 0 for state in JobState}
        counts.update({JobState(row["state"]): row["n"] for row in rows})
        return counts

    def finished_since(self, since: float, studio: str | None = None) -> list[tuple[float, float, str]]:
        """(finished_at, audio seconds, state) of jobs (of ``studio``, or all) that ended after ``since``, oldest first."""
        clause, params = ("AND studio = ? ", [studio]) if studio is not None else ("", [])
        with self._lock:
            rows = self._db.execute(
                f"SELECT finished_at, duration_s, state FROM jobs WHERE finished_at >= ? {clause}ORDER BY finished_at", [since, *params]
            ).fetchall()
        return [(row["finished_at"], row["duration_s"], row["state"]) for row in rows]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _update(self, job_id: str, **fields) -> None:
        encoded = {key: json.dumps(value) if key in ("outputs", "report") else value for key, value in fields.items()}
        assignments = ", ".join(f"{key} = ?" for key in encoded)
        self._db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", [*encoded.values(), job_id])


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        name=row["name"],
        studio=row["studio"],
        priority=row["priority"],
        state=JobState(row["state"]),
        attempts=row["attempts"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        progress=row["progress"],
        audio_s=row["audio_s"],
        duration_s=row["duration_s"],
        outputs=json.loads(row["outputs"]),
        report=json.loads(row["report"]) if row["report"] else None,
        error=row["error"],
        cancel_requested=bool(row["cancel_requested"]),
        bundle_bytes=row["bundle_bytes"],
        interruptions=row["interruptions"],
    )
