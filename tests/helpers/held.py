"""Jobs written straight into a service's store, held queued: marked as waiting for a job that never ends, so the
scheduler never claims them and a test sees them stay where it put them."""

from __future__ import annotations

from pathlib import Path

from farm.queue.jobstore import JobStore
from farm.queue.state import JobState


def held_jobs(data_dir: Path, specs: list[tuple[str, str, int]], final: dict[int, JobState] | None = None) -> list[str]:
    """Create a held queued job per (name, studio, priority) of ``specs`` in order, then move the ones ``final`` names
    by index to that state (succeeded or failed through running, cancelled at once); returns their ids."""
    store = JobStore(Path(data_dir) / "jobs.sqlite3")
    try:
        ids = [store.create(name, studio, priority).id for name, studio, priority in specs]
        with store.writing() as db:
            db.executemany("UPDATE jobs SET waiting = 1 WHERE id = ?", [(job_id,) for job_id in ids])
        for index, state in (final or {}).items():
            if state is not JobState.CANCELLED:
                store.transition(ids[index], JobState.RUNNING)
            store.transition(ids[index], state)
    finally:
        store.close()
    return ids
