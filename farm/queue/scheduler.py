"""The scheduler: runs queued jobs on the cluster, most urgent first.

A background thread claims jobs from the store (highest priority, then
oldest) while fewer than ``max_running`` run, and renders each in a thread of
its own through a render driver (:mod:`farm.queue.driver`): the service's driver
runs Ray in a supervised child process, so a crash in there costs the jobs
it ran an attempt, never the service. Progress goes to the store as tasks
finish.

What becomes of a job whose render ends:

- it succeeded, or its session turned out invalid (failed, not retried);
- it failed and the failure is the infrastructure's (a lost worker or node, a
  storage timeout): queued again, up to ``max_attempts`` attempts; any other
  failure fails at once, since trying again would fail the same way;
- it was cancelled: cancelled, also when the service stops meanwhile;
- the service stopped: queued again, as it was;
- the render driver, or the service itself, died while it ran: queued again,
  unless that happened :data:`farm.queue.jobstore.MAX_INTERRUPTIONS` times, when it is
  failed, naming why (the job may be what kills them).

Every job ends in one of those states whatever happens: the outcome is
written to the store until the store takes it, and a watchdog settles any job
the store shows running that no render of this scheduler is running.

A job's files live under ``jobs/<id>/`` of a local folder or of object
storage (:mod:`farm.queue.jobfiles`): ``bundle/`` holds the session and its stems,
``out/`` the deliverables and ``report.json``.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from farm.engine.chunkcache import DEFAULT_LIMIT_BYTES, ChunkCache
from farm.errors import (
    DriverLost,
    IllegalTransition,
    RenderCancelled,
    RenderError,
    SessionError,
    UnknownJob,
)
from farm.session import DEFAULT_MAX_DURATION_S
from farm.storage import Location

from .driver import RenderDriver
from .jobfiles import JobFiles, job_folder
from .jobsongs import fetch_job_songs
from .jobstore import Attempt, Job, JobStore
from .state import JobState
from .tasklog import TaskLog, next_attempt

if TYPE_CHECKING:

    from farm.engine.render import Progress

PROGRESS_INTERVAL_S = 0.25
DEFAULT_MAX_ATTEMPTS = 3
CAPACITY_REFRESH_S = 2.0
WATCHDOG_INTERVAL_S = 2.0
"""How often the watchdog looks for jobs the store shows running that no render runs."""
STORE_RETRY_S = (0.1, 5.0)
"""First and longest pause between attempts to write a job's outcome to a store that refuses it."""

SERVICE_DIED = "the service stopped unexpectedly"
RENDER_LOST = "its render was lost"

log = logging.getLogger("mixfarm.scheduler")


class Scheduler:
    """Claims queued jobs and renders them; see the module docstring.

    Parameters
    ----------
    store : JobStore
    files : JobFiles
        Where the jobs' bundles and outputs live.
    driver : RenderDriver
        What renders run through (:mod:`farm.queue.driver`); started by :meth:`start`.
    max_running : int, optional
        Jobs rendering at once; default: the cluster's CPU count, followed as
        nodes join and leave.
    max_attempts : int
        Attempts per job before a failure of the infrastructure fails it for good.
    on_tasks : callable, optional
        Called with the meta dicts of finished tasks (for metrics).
    max_duration_s : float, optional
        The longest session a job may render, in seconds (None: no limit).
    """

    def __init__(
        self,
        store: JobStore,
        files: JobFiles,
        driver: RenderDriver,
        *,
        max_running: int | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        on_tasks: Callable[[list[dict]], None] | None = None,
        max_duration_s: float | None = DEFAULT_MAX_DURATION_S,
        poll_s: float = 0.1,
        cache_root: Location | None = None,
        cache_limit_bytes: int | None = None,
    ) -> None:
        self.store = store
        self.files = files
        self.driver = driver
        self.max_running = max_running
        self.max_attempts = max_attempts
        self.on_tasks = on_tasks
        self.max_duration_s = max_duration_s
        self.poll_s = poll_s
        self.cache_root = cache_root
        self.cache_limit_bytes = cache_limit_bytes
        self._running: dict[str, tuple[threading.Thread, threading.Event]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._capacity = (-CAPACITY_REFRESH_S, 1)
        self._watchdog_at = 0.0
        self.started = False

    def start(self) -> None:
        """Settle what a previous process left running, start the driver, start claiming."""
        for job in self.store.recover_interrupted(SERVICE_DIED):
            log.warning("job %s was running when the service died: now %s", job.id, job.state.value)
        self.driver.start()
        self.started = True
        self._thread = threading.Thread(target=self._loop, name="mixfarm-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop claiming; stop running renders and queue them again (cancelled ones stay cancelled),
        waiting up to ``timeout_s`` each; then stop the driver."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            running = list(self._running.values())
        for _, cancel in running:
            cancel.set()
        for thread, _ in running:
            thread.join(timeout_s)
        if self._thread:
            self._thread.join(timeout_s)
        if self.started:
            self.driver.shutdown()

    def wake(self) -> None:
        """Look at the queue now (after a submit or retry)."""
        self._wake.set()

    def cluster(self) -> dict:
        """The cluster's nodes and CPUs (total and busy), as the driver sees it."""
        return self.driver.cluster()

    @property
    def capacity(self) -> int:
        """Jobs allowed to render at once: ``max_running``, or the cluster's CPUs now (nodes come and go)."""
        if self.max_running is not None:
            return self.max_running
        now = time.monotonic()
        if now - self._capacity[0] >= CAPACITY_REFRESH_S:
            self._capacity = (now, max(1, int(self.driver.cluster()["cpus"])))
        return self._capacity[1]

    @property
    def running(self) -> int:
        """Jobs rendering now."""
        with self._lock:
            return len(self._running)

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job at once, or stop a running one; returns the job (UnknownJob if there is none)."""
        job = self._job(job_id)
        if job.state is JobState.QUEUED:
            try:
                return self.store.transition(job_id, JobState.CANCELLED, expect=JobState.QUEUED, error="cancelled before it ran")
            except IllegalTransition:
                job = self._job(job_id)
        if job.state is JobState.RUNNING:
            job = self.store.request_cancel(job_id)
            with self._lock:
                entry = self._running.get(job_id)
            if entry:
                entry[1].set()
                return job
            return self.store.interrupted(job_id, RENDER_LOST)
        return self.store.transition(job_id, JobState.CANCELLED)

    def retry(self, job_id: str) -> Job:
        """Queue a failed or cancelled job again (IllegalTransition for any other, UnknownJob if there is none)."""
        job = self._job(job_id)
        if job.state not in (JobState.FAILED, JobState.CANCELLED):
            raise IllegalTransition(f"only failed or cancelled jobs can be retried; this one is {job.state.value}")
        if job.purged_at is not None:
            raise IllegalTransition(f"its files were removed by the retention policy at {_utc(job.purged_at)}; submit it again")
        job = self.store.transition(job_id, JobState.QUEUED, expect=job.state, error=None, attempts=0, interruptions=0)
        self.wake()
        return job

    def _job(self, job_id: str) -> Job:
        job = self.store.get(job_id)
        if job is None:
            raise UnknownJob(job_id)
        return job

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                while self.running < self.capacity and not self._stop.is_set() and self._claim():
                    pass
                self._watch()
            except Exception:  # noqa: BLE001 - the scheduler must outlive any one failure
                log.exception("scheduler: claiming the next job failed; trying again")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def _watch(self) -> None:
        """Settle every job the store shows running that no render of this scheduler runs (the watchdog)."""
        now = time.monotonic()
        if now - self._watchdog_at < WATCHDOG_INTERVAL_S:
            return
        self._watchdog_at = now
        with self._lock:
            live = set(self._running)
        for job_id in self.store.running_ids():
            if job_id not in live:
                job = self.store.interrupted(job_id, RENDER_LOST)
                log.error("watchdog: job %s was running with no render: now %s", job_id, job.state.value)

    def _claim(self) -> bool:
        """Claim the next job and start rendering it; False when the queue is empty.

        Claiming, registering and starting the render happen under one lock,
        so a cancel never finds the job running with no render to stop, and
        a stop never finds a render it cannot join.
        """
        cancel = threading.Event()
        with self._lock:
            job = self.store.claim_next()
            if job is None:
                return False
            thread = threading.Thread(target=self._run, args=(job, cancel), name=f"mixfarm-job-{job.id}", daemon=True)
            self._running[job.id] = (thread, cancel)
            thread.start()
        return True

    def _run(self, job: Job, cancel: threading.Event) -> None:
        try:
            usage = _Usage(self.on_tasks, self._task_log(job))
            target, fields = self._render(job, cancel, usage)
            self._settle(job, target, fields, usage)
        finally:
            with self._lock:
                if self._running.get(job.id, (None,))[0] is threading.current_thread():
                    del self._running[job.id]
            self.wake()

    def _task_log(self, job: Job) -> TaskLog | None:
        """The task log of the attempt at ``job`` now starting; None if the store cannot say its number (nothing is logged then)."""
        try:
            return TaskLog(self.store, job.id, next_attempt(self.store, job.id))
        except sqlite3.Error as exc:
            log.warning("job %s: its tasks are not logged: %s", job.id, exc)
            return None

    def _render(self, job: Job, cancel: threading.Event, usage: "_Usage") -> tuple[JobState | None, dict]:
        """Render the job; returns the state it moves to and the fields to store (None: the store already moved it).

        ``usage`` counts the task seconds of this attempt; a failure's facts go into ``usage.failure``.
        """
        try:
            session = self.files.session_file(job.id)
            if session is None:
                raise SessionError("session", ["no session.yaml, session.json or album.yaml at the bundle's root"])
            fetch_job_songs(self.store, self.files, job.id, session)
            self.files.clear_out(job.id)
            report = self.driver.render(
                job.id,
                str(session),
                str(self.files.out(job.id)),
                progress=self._progress_writer(job.id),
                cancel=cancel,
                on_tasks=usage.tasks_finished,
                max_duration_s=self.max_duration_s,
                cache=self._cache(job.studio),
            )
            report["usage"] = {"cpu_s": usage.cpu_s, "audio_s": report["duration_s"], "job_cpu_s": job.cpu_s + usage.cpu_s, "attempt": job.attempts}
            outputs = [{"name": item["path"], "format": item["format"], "bytes": item["bytes"]} for item in report["deliverables"]]
            usage.audio_s = report["duration_s"]
            return JobState.SUCCEEDED, dict(outputs=outputs, report=report, progress=1.0, audio_s=report["duration_s"], error=None)
        except RenderCancelled:
            if self._stop.is_set() and not self._cancel_requested(job.id):
                return JobState.QUEUED, dict(error="requeued: the service stopped while it ran")
            return JobState.CANCELLED, dict(error="cancelled while running")
        except DriverLost as exc:
            if self._stop.is_set():
                return JobState.QUEUED, dict(error="requeued: the service stopped while it ran")
            self.store.interrupted(job.id, self._relative(job.id, str(exc)), cpu_s=usage.cpu_s)
            return None, {}
        except SessionError as exc:
            return JobState.FAILED, dict(error=self._relative(job.id, "\n".join(["invalid session:", *exc.problems])))
        except Exception as exc:  # noqa: BLE001 - any failure of one job must not stop the farm
            if isinstance(exc, RenderError) and exc.failure:
                usage.failure = {key: self._relative(job.id, value) if isinstance(value, str) else value for key, value in exc.failure.items()}
            return self._failed_attempt(job, exc)

    def _cache(self, studio: str) -> ChunkCache | None:
        """The studio's own render cache (a folder named by a hash of its name), or None when the farm keeps none."""
        if self.cache_root is None:
            return None
        return ChunkCache(self.cache_root.joinpath(hashlib.sha256(studio.encode()).hexdigest()[:32]), self.cache_limit_bytes or DEFAULT_LIMIT_BYTES)

    def _progress_writer(self, job_id: str) -> Progress:
        """A progress callback that writes to the store at most every PROGRESS_INTERVAL_S; a store that refuses is skipped."""
        last_write = [0.0]

        def progress(fraction: float, audio_s: float, stage: str) -> None:
            now = time.monotonic()
            if now - last_write[0] >= PROGRESS_INTERVAL_S or fraction >= 1.0:
                last_write[0] = now
                try:
                    self.store.record_progress(job_id, fraction, audio_s, stage)
                except (sqlite3.Error, OSError) as exc:
                    log.warning("job %s: progress not stored: %s", job_id, exc)

        return progress

    def _cancel_requested(self, job_id: str) -> bool:
        try:
            job = self.store.get(job_id)
        except (sqlite3.Error, OSError):
            return False
        return job is not None and job.cancel_requested

    def _failed_attempt(self, job: Job, exc: Exception) -> tuple[JobState, dict]:
        transient = isinstance(exc, RenderError) and exc.transient
        message = self._relative(job.id, str(exc) if isinstance(exc, RenderError) else f"{type(exc).__name__}: {exc}")
        if not transient:
            log.warning("job %s failed: %s", job.id, message)
            return JobState.FAILED, dict(error=message)
        error = f"attempt {job.attempts} of {self.max_attempts} failed: {message}"
        log.warning("job %s failed: %s", job.id, error)
        retry = job.attempts < self.max_attempts or self._stop.is_set()
        return (JobState.QUEUED if retry else JobState.FAILED), dict(error=error)

    def _settle(self, job: Job, target: JobState | None, fields: dict, usage: "_Usage") -> None:
        """Move a job this thread ran to ``target`` with the attempt it ends, unless someone else (a cancel) moved it meanwhile.

        A store that refuses the write (locked, read-only, a disk error) is
        tried again, pausing longer each time, until it takes it or the
        scheduler stops (the next start settles the job then).
        """
        pause_s = STORE_RETRY_S[0]
        while target is not None:
            outcome = "requeued" if target is JobState.QUEUED else target.value
            attempt = Attempt(outcome, usage.cpu_s, usage.audio_s, fields.get("error"), usage.failure)
            try:
                self.store.transition(job.id, target, expect=JobState.RUNNING, attempt=attempt, **fields)
                return
            except IllegalTransition as exc:
                log.warning("job %s: not marked %s: %s", job.id, target.value, exc)
                return
            except (sqlite3.Error, OSError) as exc:
                log.error("job %s: the store refused its outcome (%s): trying again in %g s", job.id, exc, pause_s)
            if self._stop.wait(pause_s):
                return
            pause_s = min(pause_s * 2, STORE_RETRY_S[1])

    def _relative(self, job_id: str, text: str) -> str:
        """``text`` with the job's folders written relative to its bundle (no server paths in what a studio reads)."""
        bundle, out = self.files.bundle(job_id), self.files.out(job_id)
        for folder, shown in ((bundle, ""), (out, "out/"), (job_folder(self.files.root, job_id), "")):
            for form in _forms(folder):
                text = text.replace(form + "/", shown)
        return text


def _utc(unix_s: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(unix_s))


class _Usage:
    """What one attempt at a job used: the seconds its tasks ran (CPU seconds: a task holds one CPU), the audio it
    delivered, and the facts of the task that failed it; finished tasks' meta also go to ``task_log`` and on to ``forward``."""

    def __init__(self, forward: Callable[[list[dict]], None] | None, task_log: TaskLog | None = None) -> None:
        self.forward = forward
        self.task_log = task_log
        self.cpu_s = 0.0
        self.audio_s = 0.0
        self.failure: dict | None = None

    def tasks_finished(self, metas: list[dict]) -> None:
        self.cpu_s += sum(meta["seconds"] for meta in metas)
        if self.task_log:
            self.task_log.record(metas)
        if self.forward:
            self.forward(metas)


def _forms(folder: Location) -> list[str]:
    """The ways a folder's path can appear in a message: as given, and (a local one) resolved."""
    forms = [str(folder)]
    if folder.is_local:
        forms.append(str(folder.local_path.resolve()))
    return list(dict.fromkeys(forms))
