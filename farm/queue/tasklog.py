"""The task log: where, when and for how long each render task of an attempt ran, for the job's task timeline.

Each attempt at a job (numbered from 1 in the order the attempts ran, as
:func:`farm.queue.usage.attempts` lists them) keeps one compact row per
finished task in ``attempt_tasks``: its kind and stage, node, start (Unix
seconds) and duration, its strip, its chunk's frames, its loudness pass and
its deliverable. Rows are written a batch of finished tasks at a time. An
attempt keeps at most :data:`MAX_TASKS_PER_ATTEMPT` rows; ``attempt_task_counts``
counts every task that finished, so a capped log says how many it left out.
The task that failed an attempt is the attempt's ``failure``
(:class:`farm.queue.jobstore.Attempt`), not a row here. Retention removes a
job's task log with its files (:mod:`farm.queue.retention`).
"""

from __future__ import annotations

import logging
import sqlite3

from .jobstore import JobStore

MAX_TASKS_PER_ATTEMPT = 20_000
"""The most task rows one attempt keeps (a long render has tens of thousands of chunks' tasks)."""

COLUMNS = ("kind", "stage", "node", "started_at", "seconds", "strip", "start_frame", "stop_frame", "loudness_pass", "output")

log = logging.getLogger("mixfarm.tasklog")


def next_attempt(store: JobStore, job_id: str) -> int:
    """The number the attempt now starting at ``job_id`` gets: one more than the attempts recorded."""
    with store.reading() as db:
        return int(db.execute("SELECT COUNT(*) FROM attempts WHERE job_id = ?", (job_id,)).fetchone()[0]) + 1


class TaskLog:
    """Writes the finished tasks of one attempt at a job; a store that refuses a batch costs the log that batch, never the render."""

    def __init__(self, store: JobStore, job_id: str, attempt: int, max_tasks: int = MAX_TASKS_PER_ATTEMPT) -> None:
        self.store, self.job_id, self.attempt, self.max_tasks = store, job_id, attempt, max_tasks
        self.kept = 0

    def record(self, metas: list[dict]) -> None:
        """Keep the tasks of ``metas`` (:mod:`farm.engine.tasks` meta dicts) up to the cap, and count them all."""
        kept = metas[: max(self.max_tasks - self.kept, 0)]
        rows = [(self.job_id, self.attempt, *(meta.get(column) for column in COLUMNS)) for meta in kept]
        rate = next((meta["sample_rate"] for meta in metas if meta.get("sample_rate")), None)
        try:
            with self.store.writing() as db:
                db.executemany(f"INSERT INTO attempt_tasks (job_id, attempt, {', '.join(COLUMNS)}) VALUES ({', '.join('?' * (len(COLUMNS) + 2))})", rows)
                db.execute(
                    "INSERT INTO attempt_task_counts (job_id, attempt, finished, sample_rate) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (job_id, attempt) DO UPDATE SET finished = finished + excluded.finished, sample_rate = COALESCE(sample_rate, excluded.sample_rate)",
                    (self.job_id, self.attempt, len(metas), rate),
                )
        except sqlite3.Error as exc:
            log.warning("job %s attempt %d: %d task(s) not logged: %s", self.job_id, self.attempt, len(metas), exc)
            return
        self.kept += len(kept)


def attempt_tasks(store: JobStore, job_id: str, attempt: int) -> dict:
    """The logged tasks of attempt ``attempt`` at ``job_id``, first started first, with ``finished`` (every task that
    finished, logged or not) and the render's ``sample_rate`` in Hz (None before a task logged it)."""
    with store.reading() as db:
        rows = db.execute(f"SELECT {', '.join(COLUMNS)} FROM attempt_tasks WHERE job_id = ? AND attempt = ? ORDER BY started_at", (job_id, attempt)).fetchall()
        counts = db.execute("SELECT finished, sample_rate FROM attempt_task_counts WHERE job_id = ? AND attempt = ?", (job_id, attempt)).fetchone()
    return {
        "tasks": [dict(row) for row in rows],
        "finished": counts["finished"] if counts else 0,
        "sample_rate": counts["sample_rate"] if counts else None,
    }


def forget(store: JobStore, job_id: str) -> None:
    """Remove the task log of every attempt at ``job_id``."""
    with store.writing() as db:
        db.execute("DELETE FROM attempt_tasks WHERE job_id = ?", (job_id,))
        db.execute("DELETE FROM attempt_task_counts WHERE job_id = ?", (job_id,))
