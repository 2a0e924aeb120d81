"""Accounting: what each job, studio and day used, read from the attempts the job store records.

Every attempt at a job (:class:`farm.queue.jobstore.Attempt`) is recorded
when it ends, in the same transaction as the job's move, with the CPU
seconds its tasks ran (a task holds one CPU while it runs, so its wall time
is its CPU time) and the seconds of audio it delivered (only a succeeded
attempt delivers any). An attempt counts on the UTC day it ended. This is
the basis of a studio's bill: a failed or interrupted attempt's CPU seconds
count too, since the farm spent them.
"""

from __future__ import annotations

import json

from .jobstore import JobStore

DAY_S = 86400.0
MAX_DAYS = 366
"""The longest span one usage query covers, in days."""


def usage(store: JobStore, studio: str | None, from_s: float, to_s: float) -> dict:
    """CPU and audio seconds of the attempts that ended in ``[from_s, to_s)`` (Unix seconds), per UTC day and in all,
    of ``studio`` (None: every studio, each also given apart)."""
    clause, params = ("AND studio = ?", [studio]) if studio is not None else ("", [])
    with store.reading() as db:
        rows = db.execute(
            "SELECT date(ended_at, 'unixepoch') AS day, studio, COUNT(DISTINCT job_id) AS jobs, COUNT(*) AS attempts, "
            f"SUM(cpu_s) AS cpu_s, SUM(audio_s) AS audio_s FROM attempts WHERE ended_at >= ? AND ended_at < ? {clause} "
            "GROUP BY day, studio ORDER BY day, studio",
            [from_s, to_s, *params],
        ).fetchall()
        totals = db.execute(
            f"SELECT COUNT(DISTINCT job_id), COUNT(*), COALESCE(SUM(cpu_s), 0), COALESCE(SUM(audio_s), 0) FROM attempts WHERE ended_at >= ? AND ended_at < ? {clause}",
            [from_s, to_s, *params],
        ).fetchone()
    days = [
        {"day": row["day"], "studio": row["studio"], "jobs": row["jobs"], "attempts": row["attempts"], "cpu_s": row["cpu_s"], "audio_s": row["audio_s"]}
        for row in rows
    ]
    return {
        "from": from_s,
        "to": to_s,
        "studio": studio,
        "days": days,
        "total": {"jobs": totals[0], "attempts": totals[1], "cpu_s": totals[2], "audio_s": totals[3]},
    }


def studio_totals(store: JobStore) -> dict[str, tuple[float, float]]:
    """Every studio's CPU and audio seconds over all time: {studio: (cpu_s, audio_s)}."""
    with store.reading() as db:
        rows = db.execute("SELECT studio, SUM(cpu_s), SUM(audio_s) FROM attempts GROUP BY studio").fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


def attempts(store: JobStore, job_id: str) -> list[dict]:
    """The recorded attempts at a job, first first: number, times, outcome, CPU and audio seconds, error and failure facts."""
    with store.reading() as db:
        rows = db.execute(
            "SELECT number, started_at, ended_at, outcome, cpu_s, audio_s, error, failure FROM attempts WHERE job_id = ? ORDER BY rowid", (job_id,)
        ).fetchall()
    return [{**dict(row), "failure": json.loads(row["failure"]) if row["failure"] else None} for row in rows]
