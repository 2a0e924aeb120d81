"""Retention: finished jobs' files are removed once they are older than their studio's ``retention_days``.

A job that succeeded, failed or was cancelled longer ago than its studio's
retention (:class:`farm.queue.studios.StudioPolicy`) loses its folder in
storage (bundle, outputs and any work folder a render left), local or
object storage alike, and its task log (:mod:`farm.queue.tasklog`) goes
with them. Its record stays in the store with its report, its attempts and
its usage; ``purged_at`` says when the files went, downloads
of its outputs answer 410 from then on, and it can no longer be retried.
Upload folders that an interrupted upload left are removed after a day.

The service runs a collection every :data:`INTERVAL_S`; ``mixfarm gc``
runs one by hand (it may run while the service does: the store is shared).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import threading
import time
from pathlib import Path

from farm.errors import StorageError

from .jobfiles import JobFiles
from .jobstore import JobStore
from .state import FINAL_STATES
from .studios import StudioPolicies
from .tasklog import forget

INTERVAL_S = 3600.0
STALE_UPLOAD_S = 86400.0
"""How old an upload's staging folder must be to count as left by an upload that died."""

log = logging.getLogger("mixfarm.retention")


@dataclasses.dataclass
class Collection:
    """What one collection did: the jobs whose files went, the bytes of bundle they held, stale upload folders
    removed, and the jobs whose files could not be removed (id: why)."""

    purged: list[str] = dataclasses.field(default_factory=list)
    bundle_bytes: int = 0
    uploads_removed: int = 0
    errors: dict[str, str] = dataclasses.field(default_factory=dict)


def expired(store: JobStore, policies: StudioPolicies, now_s: float) -> list[tuple[str, int]]:
    """(id, bundle bytes) of every finished job whose files are past its studio's retention at ``now_s`` and still kept."""
    finals = [state.value for state in FINAL_STATES]
    with store.reading() as db:
        rows = db.execute(
            f"SELECT id, studio, finished_at, bundle_bytes FROM jobs WHERE purged_at IS NULL AND finished_at IS NOT NULL "
            f"AND state IN ({', '.join('?' * len(finals))}) ORDER BY finished_at",
            finals,
        ).fetchall()
    keep = {}
    found = []
    for row in rows:
        if row["studio"] not in keep:
            keep[row["studio"]] = policies(row["studio"]).retention_s
        retention_s = keep[row["studio"]]
        if retention_s is not None and row["finished_at"] < now_s - retention_s:
            found.append((row["id"], row["bundle_bytes"]))
    return found


def collect(store: JobStore, files: JobFiles, policies: StudioPolicies, now_s: float | None = None, uploads: Path | None = None, dry_run: bool = False) -> Collection:
    """Remove the files of every job past its retention (see the module docstring) and stale upload folders under
    ``uploads``; with ``dry_run`` only say what would go."""
    now_s = time.time() if now_s is None else now_s
    done = Collection()
    for job_id, bundle_bytes in expired(store, policies, now_s):
        if dry_run:
            done.purged.append(job_id)
            done.bundle_bytes += bundle_bytes
            continue
        if not _mark(store, job_id, now_s):
            continue
        try:
            files.purge(job_id)
        except StorageError as exc:
            _unmark(store, job_id, bundle_bytes)
            done.errors[job_id] = str(exc)
            log.error("retention: %s", exc)
            continue
        forget(store, job_id)
        done.purged.append(job_id)
        done.bundle_bytes += bundle_bytes
    if uploads is not None and uploads.is_dir():
        for folder in uploads.iterdir():
            if folder.is_dir() and folder.stat().st_mtime < now_s - STALE_UPLOAD_S:
                if not dry_run:
                    shutil.rmtree(folder, ignore_errors=True)
                done.uploads_removed += 1
    return done


def _mark(store: JobStore, job_id: str, now_s: float) -> bool:
    """Mark the job purged (so it can no longer be retried) if it is still finished and kept; False if it is not."""
    finals = [state.value for state in FINAL_STATES]
    with store.writing() as db:
        changed = db.execute(
            f"UPDATE jobs SET purged_at = ?, bundle_bytes = 0 WHERE id = ? AND purged_at IS NULL AND state IN ({', '.join('?' * len(finals))})",
            [now_s, job_id, *finals],
        ).rowcount
    return changed == 1


def _unmark(store: JobStore, job_id: str, bundle_bytes: int) -> None:
    with store.writing() as db:
        db.execute("UPDATE jobs SET purged_at = NULL, bundle_bytes = ? WHERE id = ?", (bundle_bytes, job_id))


class RetentionCollector:
    """Runs :func:`collect` at start and then every ``interval_s``, in a thread of its own."""

    def __init__(self, store: JobStore, files: JobFiles, policies: StudioPolicies, uploads: Path | None = None, interval_s: float = INTERVAL_S) -> None:
        self.store, self.files, self.policies, self.uploads, self.interval_s = store, files, policies, uploads, interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="mixfarm-retention", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout_s)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                done = collect(self.store, self.files, self.policies, uploads=self.uploads)
                if done.purged or done.uploads_removed:
                    log.info("retention: removed the files of %d job(s) (%d bytes of bundles) and %d stale upload(s)", len(done.purged), done.bundle_bytes, done.uploads_removed)
            except Exception:  # noqa: BLE001 - a failed collection is tried again next time
                log.exception("retention: the collection failed")
            self._stop.wait(self.interval_s)
