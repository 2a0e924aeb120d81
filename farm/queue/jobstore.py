"""The job store: every job and its history in one SQLite file (WAL mode).

Jobs never vanish: a job is created queued and moves only through
:func:`farm.queue.state.check_transition`; the move is checked and written in
one transaction, so two threads can never both claim a job or step it
twice. The same transaction writes what follows from the move: the attempt
it ends (the basis of accounting, :mod:`farm.queue.usage`), the failure of
the jobs waiting for a job that failed, and the webhook call owed for a job
that ended (:mod:`farm.queue.webhooks`), so none of them is lost to a crash. Everything the service shows (the queue, progress, outputs, reports,
errors) is read from here, so a restart loses nothing: :meth:`JobStore.recover_interrupted`
puts back what was running when the service stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from farm.errors import DependencyError, IllegalTransition, UnknownJob

from .listing import JobFilter
from .state import JobState, check_transition
from .studios import StudioPolicies

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
    interruptions INTEGER NOT NULL DEFAULT 0,
    cpu_s REAL NOT NULL DEFAULT 0,
    after TEXT NOT NULL DEFAULT '[]',
    waiting INTEGER NOT NULL DEFAULT 0,
    purged_at REAL
);
CREATE TABLE IF NOT EXISTS job_deps (
    job_id TEXT NOT NULL,
    after_id TEXT NOT NULL,
    PRIMARY KEY (job_id, after_id)
);
CREATE INDEX IF NOT EXISTS job_deps_after ON job_deps (after_id);
CREATE TABLE IF NOT EXISTS attempts (
    job_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    studio TEXT NOT NULL,
    started_at REAL,
    ended_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    cpu_s REAL NOT NULL DEFAULT 0,
    audio_s REAL NOT NULL DEFAULT 0,
    error TEXT,
    failure TEXT
);
CREATE INDEX IF NOT EXISTS attempts_job ON attempts (job_id, number);
CREATE INDEX IF NOT EXISTS attempts_studio ON attempts (studio, ended_at);
CREATE INDEX IF NOT EXISTS attempts_ended ON attempts (ended_at);
CREATE TABLE IF NOT EXISTS webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    studio TEXT NOT NULL,
    job_id TEXT NOT NULL,
    event TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    delivered_at REAL,
    gave_up_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS webhooks_due ON webhooks (delivered_at, gave_up_at, next_at);
CREATE TABLE IF NOT EXISTS attempt_tasks (
    job_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    kind TEXT NOT NULL,
    stage TEXT NOT NULL,
    node TEXT NOT NULL,
    started_at REAL NOT NULL,
    seconds REAL NOT NULL,
    strip TEXT,
    start_frame INTEGER,
    stop_frame INTEGER,
    loudness_pass INTEGER,
    output TEXT
);
CREATE INDEX IF NOT EXISTS attempt_tasks_job ON attempt_tasks (job_id, attempt);
CREATE TABLE IF NOT EXISTS attempt_task_counts (
    job_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    finished INTEGER NOT NULL,
    sample_rate INTEGER,
    PRIMARY KEY (job_id, attempt)
);
CREATE TABLE IF NOT EXISTS cluster_samples (
    resolution_s INTEGER NOT NULL,
    at REAL NOT NULL,
    cpus REAL NOT NULL,
    cpus_busy REAL NOT NULL,
    PRIMARY KEY (resolution_s, at)
);
CREATE TABLE IF NOT EXISTS studio_samples (
    resolution_s INTEGER NOT NULL,
    at REAL NOT NULL,
    studio TEXT NOT NULL,
    queued REAL NOT NULL,
    running REAL NOT NULL,
    finished INTEGER NOT NULL,
    PRIMARY KEY (resolution_s, at, studio)
);
CREATE TABLE IF NOT EXISTS node_samples (
    resolution_s INTEGER NOT NULL,
    at REAL NOT NULL,
    node_id TEXT NOT NULL,
    address TEXT,
    cpus REAL NOT NULL,
    cpus_busy REAL,
    memory_used_bytes REAL,
    tasks_finished INTEGER NOT NULL,
    PRIMARY KEY (resolution_s, at, node_id)
);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (state, priority DESC, seq);
CREATE INDEX IF NOT EXISTS jobs_studio ON jobs (studio, seq);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished_at);
CREATE INDEX IF NOT EXISTS jobs_studio_state ON jobs (studio, state, seq);
CREATE INDEX IF NOT EXISTS jobs_studio_listing ON jobs (studio, seq, state, priority, name);
CREATE INDEX IF NOT EXISTS jobs_studio_queue ON jobs (studio, state, priority, seq);
"""
INDEXES = """
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (state, waiting, studio, priority DESC, seq);
"""
"""Indexes on columns added since the first schema (made once the columns exist)."""

ADDED_COLUMNS = {
    "bundle_bytes": "INTEGER NOT NULL DEFAULT 0",
    "interruptions": "INTEGER NOT NULL DEFAULT 0",
    "cpu_s": "REAL NOT NULL DEFAULT 0",
    "after": "TEXT NOT NULL DEFAULT '[]'",
    "waiting": "INTEGER NOT NULL DEFAULT 0",
    "purged_at": "REAL",
    "stage": "TEXT NOT NULL DEFAULT ''",
}
"""Columns added since the first schema: a store written before them gains them on open."""

BUSY_TIMEOUT_S = 5.0
"""How long a write waits for another connection's lock on the file before it fails."""

MAX_STAGE_CHARS = 200
"""The longest stage description kept."""

MAX_AFTER = 100
"""The most jobs one job may wait for."""

STUDIOS_REFRESH_S = 5.0
"""How often the claim looks again for studios whose jobs another process created."""

MAX_INTERRUPTIONS = 2
"""A job that was running this many times when its service or render driver died is failed:
it may be what kills them."""

_LIST_COLUMNS = (
    "id, name, studio, priority, state, attempts, created_at, started_at, finished_at, "
    "progress, audio_s, duration_s, outputs, error, cancel_requested, bundle_bytes, interruptions, cpu_s, after, purged_at, stage"
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
    cpu_s: float = 0.0
    after: list[str] = dataclasses.field(default_factory=list)
    purged_at: float | None = None
    stage: str = ""
    """What a running job's render is doing, in words (e.g. ``"loudness pass 2"``); empty before it starts."""

    def to_dict(self) -> dict:
        """JSON-ready fields (a shallow copy: the outputs, report and after are the job's own, not to be changed)."""
        fields = {field.name: getattr(self, field.name) for field in _JOB_FIELDS}
        fields["state"] = self.state.value
        return fields


_JOB_FIELDS = dataclasses.fields(Job)


@dataclasses.dataclass(frozen=True)
class Attempt:
    """How one attempt at a job ended: ``outcome`` (succeeded, failed, cancelled, requeued or interrupted), the CPU
    seconds its tasks took, the seconds of audio it delivered (a succeeded one), its error and, for a task that
    failed, ``failure``: the task's kind, strip, chunk, node and the tail of its traceback."""

    outcome: str
    cpu_s: float = 0.0
    audio_s: float = 0.0
    error: str | None = None
    failure: dict | None = None


WEBHOOK_JOB_FIELDS = ("id", "name", "studio", "state", "priority", "created_at", "started_at", "finished_at", "attempts", "audio_s", "cpu_s", "outputs", "error")
"""What a webhook call tells of the job that ended."""


def webhook_body(job: Job) -> dict:
    """The JSON body of the webhook call owed for ``job`` reaching a final state."""
    fields = job.to_dict()
    return {"event": f"job.{job.state.value}", "job": {key: fields[key] for key in WEBHOOK_JOB_FIELDS}}


Listener = Callable[[Job, JobState | None], None]
"""Called after every change with the job as it now is and its previous state (None if new)."""


class JobStore:
    """SQLite-backed jobs, safe to share between threads.

    A write that cannot be made (the file locked longer than
    ``busy_timeout_s``, read-only, a disk error) raises sqlite3's error.
    """

    def __init__(self, path: str | Path, busy_timeout_s: float = BUSY_TIMEOUT_S, policies: StudioPolicies | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.policies = policies or StudioPolicies()
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), timeout=busy_timeout_s, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._add_missing_columns()
        self._db.executescript(INDEXES)
        self._listeners: list[Listener] = []
        self._studios: set[str] = set()
        self._studios_read_at = -STUDIOS_REFRESH_S
        self._served: dict[str, int] = {}
        self._serves = 0

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The database, held for this thread, for the modules that query the store's other tables."""
        with self._lock:
            yield self._db

    @contextlib.contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """The database in one write transaction (BEGIN IMMEDIATE ... COMMIT; ROLLBACK on any error)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

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
        self,
        name: str,
        studio: str,
        priority: int = 0,
        duration_s: float = 0.0,
        job_id: str | None = None,
        bundle_bytes: int = 0,
        after: Sequence[str] = (),
    ) -> Job:
        """Add a queued job; returns it. ``bundle_bytes`` is the size of its unpacked bundle (counted against its studio).

        The job waits until every job of ``after`` (ids of the same studio's
        jobs) has succeeded, and fails if one of them fails or is cancelled.
        Raises DependencyError naming the id for an unknown job, another
        studio's, one that already failed or was cancelled, or more than
        :data:`MAX_AFTER` of them.
        """
        job_id = job_id or uuid.uuid4().hex[:16]
        after = list(dict.fromkeys(after))
        with self._lock:
            with self.writing() as db:
                waiting = self._check_after(db, studio, after)
                db.execute(
                    "INSERT INTO jobs (id, name, studio, priority, state, created_at, duration_s, bundle_bytes, after, waiting) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (job_id, name, studio, int(priority), JobState.QUEUED.value, time.time(), float(duration_s), int(bundle_bytes), json.dumps(after), waiting),
                )
                db.executemany("INSERT INTO job_deps (job_id, after_id) VALUES (?, ?)", [(job_id, after_id) for after_id in after])
            self._studios.add(studio)
            job = self._get(job_id)
        self._notify(job, None)
        return job

    def check_after(self, studio: str, after: Sequence[str]) -> None:
        """Raise DependencyError unless a job of ``studio`` may wait for the jobs ``after`` (see :meth:`create`)."""
        with self._lock:
            self._check_after(self._db, studio, list(dict.fromkeys(after)))

    @staticmethod
    def _check_after(db: sqlite3.Connection, studio: str, after: list[str]) -> int:
        """Check ``after`` (see :meth:`create`); returns how many of its jobs have not succeeded yet."""
        if len(after) > MAX_AFTER:
            raise DependencyError(f"after: {len(after)} jobs, more than the {MAX_AFTER} a job may wait for")
        unfinished = 0
        for index, after_id in enumerate(after):
            row = db.execute("SELECT studio, state FROM jobs WHERE id = ?", (after_id,)).fetchone()
            if row is None or row["studio"] != studio:
                raise DependencyError(f"after[{index}]: no job {after_id!r} of studio {studio!r}")
            if row["state"] in (JobState.FAILED.value, JobState.CANCELLED.value):
                raise DependencyError(f"after[{index}]: job {after_id!r} is {row['state']}, so this job could never run (retry that job first)")
            unfinished += row["state"] != JobState.SUCCEEDED.value
        return unfinished

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        with self._lock:
            return self._get(job_id)

    def _get(self, job_id: str) -> Job | None:
        row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def list(
        self, listing: JobFilter | None = None, *, studio: str | None = None, state: JobState | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Job], int]:
        """Jobs that ``listing`` keeps (default: every job, newest first), of ``studio`` and in ``state`` when given,
        without their reports; returns (page, total matching)."""
        listing = listing or JobFilter()
        if studio is not None:
            listing = dataclasses.replace(listing, studio=studio)
        if state is not None:
            listing = dataclasses.replace(listing, states=(JobState(state),))
        clause, params = listing.where()
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM jobs {clause}", params).fetchone()[0]
            rows = self._db.execute(
                f"SELECT {_LIST_COLUMNS}, NULL AS report FROM jobs WHERE seq IN (SELECT seq FROM jobs {clause} ORDER BY {listing.order()} LIMIT ? OFFSET ?) "
                f"ORDER BY {listing.order()}",
                [*params, limit, offset],
            ).fetchall()
        return [_job(row) for row in rows], total

    def queue_positions(self, job_ids: Sequence[str]) -> dict[str, int]:
        """The place (1 = claimed next) of each queued job of ``job_ids`` among its studio's queued jobs, in the order
        they are claimed: highest priority, then oldest. A job waiting for others keeps its place but is passed
        over until they succeed. Jobs that are not queued are left out.

        The jobs of a studio are taken in claim order and each one's place is
        the last one's plus the jobs between them (index range counts), so a
        page of jobs costs about as much as counting up to its last one once.
        """
        if not job_ids:
            return {}
        marks = ", ".join("?" * len(job_ids))
        positions: dict[str, int] = {}
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, studio, priority, seq FROM jobs WHERE id IN ({marks}) AND +state = ? ORDER BY studio, priority DESC, seq",
                [*job_ids, JobState.QUEUED.value],
            ).fetchall()
            previous = None
            for row in rows:
                if previous is None or previous["studio"] != row["studio"]:
                    positions[row["id"]] = 1 + self._queued_between(row["studio"], None, row)
                else:
                    positions[row["id"]] = positions[previous["id"]] + 1 + self._queued_between(row["studio"], previous, row)
                previous = row
        return positions

    def _queued_between(self, studio: str, first: sqlite3.Row | None, last: sqlite3.Row) -> int:
        """How many of ``studio``'s queued jobs are claimed after ``first`` (None: from the start) and before ``last``."""
        ranges = []
        if first is None:
            ranges += [("priority > ?", [last["priority"]])]
        elif first["priority"] == last["priority"]:
            ranges += [("priority = ? AND seq > ? AND seq < ?", [last["priority"], first["seq"], last["seq"]])]
        else:
            ranges += [("priority = ? AND seq > ?", [first["priority"], first["seq"]]), ("priority < ? AND priority > ?", [first["priority"], last["priority"]])]
        if first is None or first["priority"] != last["priority"]:
            ranges += [("priority = ? AND seq < ?", [last["priority"], last["seq"]])]
        counts = " + ".join(f"(SELECT COUNT(*) FROM jobs WHERE studio = ? AND state = ? AND {clause})" for clause, _ in ranges)
        params = [value for _, values in ranges for value in (studio, JobState.QUEUED.value, *values)]
        return int(self._db.execute(f"SELECT {counts}", params).fetchone()[0])

    def transition(self, job_id: str, target: JobState, *, expect: JobState | None = None, attempt: Attempt | None = None, **fields) -> Job:
        """Move a job to ``target`` (checked) and set ``fields``; returns the job as now stored.

        With ``expect``, the move happens only if the job is still in that
        state (compare-and-set within the transaction). ``attempt``, the
        attempt that this move ends, is recorded with it and its CPU seconds
        added to the job's. A job that fails or is cancelled fails the queued
        jobs waiting for it, and theirs in turn, naming it. Raises UnknownJob
        for an unknown id and IllegalTransition for a move the job's state
        does not allow or an ``expect`` that no longer holds.
        """
        changes: list[tuple[Job, JobState]] = []
        with self._lock:
            with self.writing():
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
                if target is not JobState.RUNNING:
                    fields["stage"] = ""
                if target is JobState.QUEUED:
                    fields.update(progress=0.0, audio_s=0.0, cancel_requested=0, finished_at=None)
                if attempt is not None:
                    self._record_attempt(job, attempt, now)
                    fields["cpu_s"] = job.cpu_s + attempt.cpu_s
                self._update(job_id, state=target.value, **fields)
                changes.append((self._get(job_id), job.state))
                self._settled(changes[-1][0], changes)
            updated = changes[0][0]
        for changed, previous in changes:
            self._notify(changed, previous)
        return updated

    def _settled(self, job: Job, changes: list[tuple[Job, JobState]]) -> None:
        """Within the transaction of ``job``'s move: owe its webhook call if it ended; if it succeeded, its dependants
        wait for one job fewer; if it failed or was cancelled, they fail."""
        if not job.state.is_final:
            return
        if job.studio in self.policies.webhook_studios:
            self._db.execute(
                "INSERT INTO webhooks (studio, job_id, event, body, created_at, next_at) VALUES (?, ?, ?, ?, ?, ?)",
                (job.studio, job.id, f"job.{job.state.value}", json.dumps(webhook_body(job), sort_keys=True), time.time(), time.time()),
            )
        if job.state is JobState.SUCCEEDED:
            self._db.execute("UPDATE jobs SET waiting = waiting - 1 WHERE id IN (SELECT job_id FROM job_deps WHERE after_id = ?)", (job.id,))
            return
        dependants = self._db.execute(
            "SELECT j.id FROM job_deps d JOIN jobs j ON j.id = d.job_id WHERE d.after_id = ? AND j.state = ?", (job.id, JobState.QUEUED.value)
        ).fetchall()
        first_line = (job.error or job.state.value).splitlines()[0]
        for row in dependants:
            error = f"job {job.id} ({job.name}), which this job waits for, {job.state.value}: {first_line}"
            self._update(row["id"], state=JobState.FAILED.value, finished_at=time.time(), error=error)
            dependant = self._get(row["id"])
            changes.append((dependant, JobState.QUEUED))
            self._settled(dependant, changes)

    def _record_attempt(self, job: Job, attempt: Attempt, now: float) -> None:
        self._db.execute(
            "INSERT INTO attempts (job_id, number, studio, started_at, ended_at, outcome, cpu_s, audio_s, error, failure) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job.id,
                job.attempts,
                job.studio,
                job.started_at,
                now,
                attempt.outcome,
                attempt.cpu_s,
                attempt.audio_s,
                attempt.error,
                json.dumps(attempt.failure) if attempt.failure else None,
            ),
        )

    def set_priority(self, job_id: str, priority: int) -> Job:
        """Change a job's priority (UnknownJob if there is none); a queued one is claimed by it from now on."""
        with self._lock:
            if self._get(job_id) is None:
                raise UnknownJob(job_id)
            self._update(job_id, priority=int(priority))
            job = self._get(job_id)
        self._notify(job, job.state)
        return job

    def claim_next(self) -> Job | None:
        """Move the next job to running and return it; None when no job is ready or every studio with one is at its limit.

        The slot goes to the studio with the fewest running jobs per unit of
        its weight among those below their ``max_running`` with a ready job
        (queued, and every job it waits for succeeded); ties go to the studio
        this store served least recently (round robin). Within the studio,
        the highest priority and then the oldest job goes first. The choice and the move are one
        transaction, so processes sharing the file never claim the same job.
        """
        with self._lock:
            with self.writing() as db:
                row = self._choose(db)
                if row is not None:
                    self._update(row["id"], state=JobState.RUNNING.value, started_at=time.time(), attempts=row["attempts"] + 1)
            if row is None:
                return None
            job = self._get(row["id"])
        self._notify(job, JobState.QUEUED)
        return job

    def _choose(self, db: sqlite3.Connection) -> sqlite3.Row | None:
        running = dict(db.execute("SELECT studio, COUNT(*) FROM jobs WHERE state = ? GROUP BY studio", (JobState.RUNNING.value,)).fetchall())
        ranked = []
        for studio in self._known_studios(db):
            policy = self.policies(studio)
            count = running.get(studio, 0)
            if policy.max_running is None or count < policy.max_running:
                ranked.append((count / policy.weight, self._served.get(studio, 0), studio))
        for _, _, studio in sorted(ranked):
            row = db.execute(
                "SELECT seq, id, attempts FROM jobs WHERE state = ? AND waiting = 0 AND studio = ? ORDER BY priority DESC, seq LIMIT 1",
                (JobState.QUEUED.value, studio),
            ).fetchone()
            if row is not None:
                self._serves += 1
                self._served[studio] = self._serves
                return row
        return None

    def _known_studios(self, db: sqlite3.Connection) -> set[str]:
        """Every studio with jobs in the store: kept as jobs are created here, and read again every
        :data:`STUDIOS_REFRESH_S` for those another process created (one index seek per studio)."""
        now = time.monotonic()
        if now >= self._studios_read_at + STUDIOS_REFRESH_S:
            self._studios.update(row[0] for row in db.execute(_STUDIOS))
            self._studios_read_at = now
        return self._studios

    def studios(self) -> list[str]:
        """Every studio with jobs in the store, by name (one seek of the studio index each)."""
        with self._lock:
            return [row[0] for row in self._db.execute(_STUDIOS)]

    def queued_count(self, studio: str) -> int:
        """How many of the studio's jobs are queued."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM jobs WHERE studio = ? AND state = ?", (studio, JobState.QUEUED.value)).fetchone()[0])

    def record_progress(self, job_id: str, progress: float, audio_s: float, stage: str = "") -> Job:
        """Store a running job's progress (0..1), seconds of audio rendered, and the stage at work (words)."""
        with self._lock:
            self._update(job_id, progress=float(min(max(progress, 0.0), 1.0)), audio_s=float(audio_s), stage=stage[:MAX_STAGE_CHARS])
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

    def interrupted(self, job_id: str, reason: str, max_interruptions: int = MAX_INTERRUPTIONS, cpu_s: float = 0.0) -> Job:
        """Settle one running job whose render died with ``reason``, after ``cpu_s`` task seconds; see :meth:`recover_interrupted`."""
        with self._lock:
            job = self._get(job_id)
            if job is None:
                raise UnknownJob(job_id)
            count = job.interruptions + 1
            if job.cancel_requested:
                target, error = JobState.CANCELLED, f"cancelled; {reason} while it ran"
            elif count >= max_interruptions:
                target = JobState.FAILED
                error = f"{reason} while it ran, {count} times: this job may be what brings it down, so it is not run again (retry it to try once more)"
            else:
                target, error = JobState.QUEUED, f"requeued: {reason} while it ran"
            attempt = Attempt(outcome="interrupted", cpu_s=cpu_s, error=reason)
            return self.transition(job_id, target, expect=JobState.RUNNING, attempt=attempt, error=error, interruptions=count)

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
        encoded = {key: json.dumps(value) if key in ("outputs", "report", "after") else value for key, value in fields.items()}
        assignments = ", ".join(f"{key} = ?" for key in encoded)
        self._db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", [*encoded.values(), job_id])


_STUDIOS = """
WITH RECURSIVE studios(studio) AS (
    SELECT MIN(studio) FROM jobs
    UNION ALL
    SELECT (SELECT MIN(studio) FROM jobs WHERE studio > studios.studio) FROM studios WHERE studios.studio IS NOT NULL
)
SELECT studio FROM studios WHERE studio IS NOT NULL
"""
"""Every studio with jobs, one seek of the studio index each (not a scan of every job)."""


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
        cpu_s=row["cpu_s"],
        after=json.loads(row["after"]),
        purged_at=row["purged_at"],
        stage=row["stage"],
    )
