"""The running service: store, scheduler, events and metrics, built once per app."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from farm.album import is_album, load_album
from farm.engine.executor import RayExecutor
from farm.errors import SessionError
from farm.queue.bundle import check_bundle, unpack_bundle
from farm.queue.driver import ProcessDriver, RenderDriver
from farm.queue.history import ClusterSampler
from farm.queue.jobfiles import JobFiles
from farm.queue.jobstore import Job, JobStore
from farm.queue.retention import RetentionCollector
from farm.queue.scheduler import Scheduler
from farm.queue.state import JobState
from farm.queue.usage import attempts
from farm.queue.webhooks import WebhookSender, deliveries
from farm.session import load, read_document
from farm.storage import Location

from .config import Settings
from .errors import QuotaExceeded
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
    webhooks: WebhookSender
    retention: RetentionCollector
    sampler: ClusterSampler
    _reserved: dict[str, int] = dataclasses.field(default_factory=dict)
    _submitting: dict[str, int] = dataclasses.field(default_factory=dict)
    _quota_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @classmethod
    def create(cls, settings: Settings, driver: RenderDriver | None = None) -> "Service":
        """Check that the storage can be written, open the store under ``settings.data_dir``
        and wire the scheduler, events and metrics.

        Renders run through ``driver``, by default a :class:`farm.queue.driver.ProcessDriver`
        on Ray (a child process that the service supervises).

        Raises StorageError (naming the location) if the storage cannot be written.
        """
        files = JobFiles(settings.storage_root)
        files.check()
        store = JobStore(Path(settings.data_dir) / "jobs.sqlite3", policies=settings.studios)
        events = EventBroker()
        scheduler_box: list[Scheduler] = []
        metrics = FarmMetrics(store, lambda: scheduler_box[0].cluster())
        sampler = ClusterSampler(store, lambda: scheduler_box[0].cluster())

        def tasks_finished(metas: list[dict]) -> None:
            metrics.tasks_finished(metas)
            sampler.tasks_finished(metas)
        scheduler = Scheduler(
            store,
            files,
            driver or ProcessDriver(functools.partial(RayExecutor, settings.address)),
            max_running=settings.max_running,
            max_attempts=settings.max_attempts,
            on_tasks=tasks_finished,
            max_duration_s=settings.max_duration_s,
            cache_root=Location.of(settings.storage_root).joinpath("cache") if settings.cache_limit_bytes else None,
            cache_limit_bytes=settings.cache_limit_bytes,
        )
        scheduler_box.append(scheduler)
        webhooks = WebhookSender(store, settings.studios)
        retention = RetentionCollector(store, files, settings.studios, uploads=Path(settings.data_dir) / "uploads")
        service = cls(settings, files, store, scheduler, events, metrics, webhooks, retention, sampler)
        store.subscribe(metrics.job_changed)
        store.subscribe(lambda job, previous: events.publish("job", service.public_fields(job, with_report=False), job.studio))
        return service

    def start(self) -> None:
        """Start rendering, delivering webhooks, removing expired jobs' files and sampling the cluster's history."""
        self.scheduler.start()
        self.webhooks.start()
        self.retention.start()
        self.sampler.start()

    def stop(self) -> None:
        """Stop rendering (running jobs are queued again) and the rest, and close the store."""
        self.sampler.stop()
        self.retention.stop()
        self.scheduler.stop()
        self.webhooks.stop()
        self.store.close()

    def submit(self, bundle_file, studio: str, name: str | None, priority: int, after: Sequence[str] = ()) -> Job:
        """Check, unpack and validate a bundle, store it, then queue its job, to wait for the jobs ``after``.

        Raises DependencyError (``after`` names a job it cannot wait for),
        QuotaExceeded (the studio has as many jobs queued as it may, or its
        stored bundles would pass its quota), BundleError (bad archive;
        BundleTooLarge over the unpacked limit), SessionError (invalid
        session, with the bundle's paths shown relative to it), StorageError
        (the bundle could not be stored) or OSError (the uploads folder
        cannot be written); nothing is kept then.
        """
        self.store.check_after(studio, after)
        with self._queue_slot(studio):
            bundle_bytes = check_bundle(bundle_file, self.settings.bundle_limit_bytes)
            with self._reservation(studio, bundle_bytes) as reserved:
                staging = Path(tempfile.mkdtemp(prefix="upload-", dir=self._uploads()))
                try:
                    session_path = unpack_bundle(bundle_file, staging / "bundle", self.settings.bundle_limit_bytes)
                    stored_bytes = sum(path.stat().st_size for path in (staging / "bundle").rglob("*") if path.is_file())
                    if stored_bytes > bundle_bytes:
                        reserved.extend(stored_bytes - bundle_bytes)
                        bundle_bytes = stored_bytes
                    session_name, duration_s, song_jobs = self._load(session_path)
                    after = list(dict.fromkeys([*after, *song_jobs]))
                    duration_s += sum(job.duration_s for job in map(self.store.get, song_jobs) if job is not None)
                    job_id = uuid.uuid4().hex[:16]
                    try:
                        self.files.keep_bundle(job_id, staging)
                        job = self.store.create(
                            name or session_name, studio, priority, duration_s, job_id=job_id, bundle_bytes=bundle_bytes, after=after
                        )
                    except BaseException:
                        self.files.remove(job_id)
                        raise
                finally:
                    shutil.rmtree(staging, ignore_errors=True)
        self.scheduler.wake()
        return job

    @contextlib.contextmanager
    def _queue_slot(self, studio: str) -> Iterator[None]:
        """Hold one of the studio's ``max_queued`` places while its upload is checked and stored; raises
        QuotaExceeded when its queued jobs and the uploads under way already take them all."""
        limit = self.settings.studios(studio).max_queued
        with self._quota_lock:
            pending = self._submitting.get(studio, 0)
            if limit is not None:
                queued = self.store.queued_count(studio)
                if queued + pending >= limit:
                    raise QuotaExceeded(f"studio {studio!r}: {queued} job(s) queued and {pending} being uploaded, at its max_queued of {limit}")
            self._submitting[studio] = pending + 1
        try:
            yield
        finally:
            with self._quota_lock:
                self._submitting[studio] -= 1

    def _load(self, session_path: Path) -> tuple[str, float, list[str]]:
        """The name and length in seconds of the session (or album) of an unpacked bundle, checked to last at most
        ``max_duration_s`` and a session's stems read through, and the ids of the jobs whose outputs an album's
        songs take (their length is not counted); its SessionError names files relative to the bundle."""
        try:
            if is_album(read_document(Location.of(session_path))):
                album = load_album(session_path, max_duration_s=self.settings.max_duration_s, jobs_pending=True)
                song_jobs = [song.job.id for song in album.album.songs if song.job is not None]
                return album.album.name, sum(song.duration_s for song in album.songs), song_jobs
            loaded = load(session_path, max_duration_s=self.settings.max_duration_s, check_samples=True)
            return loaded.session.name, loaded.timeline_frames / loaded.sample_rate, []
        except SessionError as exc:
            problems = [self.public_text(problem, session_path.parent) for problem in exc.problems]
            raise SessionError(session_path.name, problems) from None

    @contextlib.contextmanager
    def _reservation(self, studio: str, bundle_bytes: int) -> Iterator["_Reservation"]:
        """Hold ``bundle_bytes`` of the studio's quota while its bundle is stored (so concurrent uploads cannot
        both squeeze under it); raises QuotaExceeded if they do not fit. A project bundle, whose import writes
        media, extends its hold through the reservation yielded."""
        reservation = _Reservation(self, studio)
        reservation.extend(bundle_bytes)
        try:
            yield reservation
        finally:
            with self._quota_lock:
                self._reserved[studio] -= reservation.held_bytes

    def _uploads(self) -> Path:
        folder = Path(self.settings.data_dir) / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def output_location(self, job: Job, name: str) -> Location | None:
        """Where a succeeded job's deliverable ``name``, or the copy of its mix bus, is stored (it may have gone
        since), or None if it has none such."""
        if job.state is not JobState.SUCCEEDED or name not in self.output_names(job):
            return None
        return self.files.output(job.id, name)

    @staticmethod
    def output_names(job: Job) -> list[str]:
        """The names of a job's files: its deliverables, then the copy of its mix bus when the render kept one."""
        mix = (job.report or {}).get("mix") if isinstance(job.report, dict) else None
        return [item["name"] for item in job.outputs] + ([mix["path"]] if mix else [])

    def public_fields(self, job: Job, with_report: bool = True) -> dict:
        """What the API, pages and events show of a job: its fields (the render report and the import report
        of a project only ``with_report``), its error without the server's paths."""
        fields = job.to_dict()
        if not with_report:
            fields.pop("report")
        else:
            fields["import_report"] = self.files.import_report(job.id)
            fields["attempt_history"] = [self.public_attempt(job, record) for record in attempts(self.store, job.id)]
            fields["webhooks"] = deliveries(self.store, job.id)
        fields["error"] = self.job_error(job)
        return fields

    def public_attempt(self, job: Job, record: dict) -> dict:
        """An attempt record (:func:`farm.queue.usage.attempts`) with its error and traceback without the server's paths."""
        folders = (self.files.bundle(job.id), self.files.out(job.id))
        if record["error"]:
            record["error"] = self.public_text(record["error"], *folders)
        if record["failure"]:
            record["failure"]["traceback"] = self.public_text(record["failure"]["traceback"], *folders)
        return record

    def job_error(self, job: Job) -> str | None:
        """The job's error, its bundle's and outputs' paths shown relative to those folders."""
        return None if job.error is None else self.public_text(job.error, self.files.bundle(job.id), self.files.out(job.id))

    def public_text(self, text: str, *folders: str | os.PathLike | Location) -> str:
        """``text`` without the server's absolute paths: the front of every path inside ``folders``, the data
        folder or the storage root is cut off (a folder named alone becomes ``.``)."""
        for prefix in _path_forms([*folders, self.settings.data_dir, self.settings.storage_root]):
            text = text.replace(prefix + "/", "").replace(prefix, ".")
        return text


class _Reservation:
    """Bytes of a studio's quota held for one upload while it is stored."""

    def __init__(self, service: Service, studio: str) -> None:
        self.service = service
        self.studio = studio
        self.held_bytes = 0

    def extend(self, more_bytes: int) -> None:
        """Hold ``more_bytes`` more; raises QuotaExceeded if the studio's stored and held bundles would pass its quota."""
        service = self.service
        quota = service.settings.studios(self.studio).quota_bytes
        with service._quota_lock:
            held = service._reserved.get(self.studio, 0)
            used = service.store.studio_bundle_bytes(self.studio) + held - self.held_bytes
            wanted = self.held_bytes + more_bytes
            if quota is not None and used + wanted > quota:
                raise QuotaExceeded(
                    f"studio {self.studio!r}: this bundle unpacks to {wanted} bytes and the studio's stored bundles "
                    f"take {used} bytes already; together {used + wanted} bytes, over its quota of {quota} bytes (quota_mb)"
                )
            service._reserved[self.studio] = held + more_bytes
            self.held_bytes = wanted


def _path_forms(folders: list[str | os.PathLike | Location]) -> list[str]:
    """The ways each of ``folders`` may be written in a message (as given, absolute, resolved), longest first."""
    forms: set[str] = set()
    for folder in folders:
        location = Location.of(folder)
        if location.is_remote:
            forms.add(str(location))
        else:
            given = Path(str(folder).removeprefix("file://"))
            forms.update({str(given), str(location), str(location.local_path.resolve())})
    return sorted((form for form in forms if form not in ("", ".")), key=len, reverse=True)
