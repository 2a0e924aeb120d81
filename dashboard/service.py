"""The running service: store, scheduler, events and metrics, built once per app."""

from __future__ import annotations

import dataclasses
import functools
import shutil
import tempfile
import uuid
from pathlib import Path

from farm.bundle import unpack_bundle
from farm.driver import ProcessDriver, RenderDriver
from farm.executor import RayExecutor
from farm.jobfiles import JobFiles
from farm.jobstate import JobState
from farm.plan import compile_plan
from farm.scheduler import Scheduler
from farm.session import load
from farm.store import Job, JobStore

from .config import Settings
from .events import EventBroker
from .metrics import FarmMetrics


@dataclasses.dataclass
class Service:
    """Everything a request handler needs."""

    settings: Settings
    files: JobFiles
    store: JobStore
    scheduler: Scheduler
    events: EventBroker
    metrics: FarmMetrics

    @classmethod
    def create(cls, settings: Settings, driver: RenderDriver | None = None) -> "Service":
        """Check that the storage can be written, open the store under ``settings.data_dir``
        and wire the scheduler, events and metrics.

        Renders run through ``driver``, by default a :class:`farm.driver.ProcessDriver`
        on Ray (a child process that the service supervises).

        Raises StorageError (naming the location) if the storage cannot be written.
        """
        files = JobFiles(settings.storage_root)
        files.check()
        store = JobStore(Path(settings.data_dir) / "jobs.sqlite3")
        events = EventBroker()
        scheduler_box: list[Scheduler] = []
        metrics = FarmMetrics(store, lambda: scheduler_box[0].cluster())
        scheduler = Scheduler(
            store,
            files,
            driver or ProcessDriver(functools.partial(RayExecutor, settings.address)),
            max_running=settings.max_running,
            max_attempts=settings.max_attempts,
            on_tasks=metrics.tasks_finished,
        )
        scheduler_box.append(scheduler)
        store.subscribe(metrics.job_changed)
        store.subscribe(lambda job, previous: events.publish("job", job_summary(job), job.studio))
        return cls(settings, files, store, scheduler, events, metrics)

    def start(self) -> None:
        """Start rendering."""
        self.scheduler.start()

    def stop(self) -> None:
        """Stop rendering (running jobs are queued again) and close the store."""
        self.scheduler.stop()
        self.store.close()

    def submit(self, bundle_file, studio: str, name: str | None, priority: int) -> Job:
        """Unpack and validate a bundle, store it, then queue its job.

        Raises BundleError (bad archive), SessionError (invalid session) or
        StorageError (the bundle could not be stored); nothing is kept then.
        """
        staging = Path(tempfile.mkdtemp(prefix="upload-", dir=self._uploads()))
        try:
            session_path = unpack_bundle(bundle_file, staging / "bundle", self.settings.max_upload_bytes)
            loaded = load(session_path)
            duration_s = compile_plan(loaded).timeline_frames / loaded.sample_rate
            job_id = uuid.uuid4().hex[:16]
            try:
                self.files.keep_bundle(job_id, staging)
                job = self.store.create(name or loaded.session.name, studio, priority, duration_s, job_id=job_id)
            except BaseException:
                self.files.remove(job_id)
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self.scheduler.wake()
        return job

    def _uploads(self) -> Path:
        folder = Path(self.settings.data_dir) / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def output_location(self, job: Job, name: str) -> str | Path | None:
        """Where a succeeded job's deliverable ``name`` is stored (it may have gone since), or None if it has none such."""
        if job.state is not JobState.SUCCEEDED or name not in {item["name"] for item in job.outputs}:
            return None
        return self.files.output(job.id, name)


def job_summary(job: Job) -> dict:
    """What events and lists carry of a job (no report)."""
    fields = job.to_dict()
    fields.pop("report")
    return fields


