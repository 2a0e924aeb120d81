"""The scheduler: runs queued jobs on the cluster, most urgent first.

A background thread claims jobs from the store (highest priority, then
oldest) while fewer than ``max_running`` run, and renders each in a thread of
its own on the shared executor. Progress goes to the store as tasks finish.
An attempt that fails is retried up to ``max_attempts`` with its error kept;
an invalid session fails at once (retrying cannot fix it). Cancelling a
running job stops its Ray tasks. On start, jobs left running by a previous
process are queued again, so none is lost.

A job's files live under ``jobs/<id>/`` of a local folder or of object
storage (:mod:`farm.jobfiles`): ``bundle/`` holds the session and its stems,
``out/`` the deliverables and ``report.json``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .errors import RenderCancelled, SessionError
from .jobfiles import JobFiles
from .jobstate import IllegalTransition, JobState
from .render import render
from .store import Job, JobStore

PROGRESS_INTERVAL_S = 0.25
DEFAULT_MAX_ATTEMPTS = 3
CAPACITY_REFRESH_S = 2.0

log = logging.getLogger("mixfarm.scheduler")


class Scheduler:
    """Claims queued jobs and renders them; see the module docstring.

    Parameters
    ----------
    store : JobStore
    files : JobFiles
        Where the jobs' bundles and outputs live.
    executor_factory : callable
        Returns the executor to render on (called once, on :meth:`start`).
    max_running : int, optional
        Jobs rendering at once; default: the cluster's CPU count, followed as
        nodes join and leave.
    max_attempts : int
        Attempts per job before it fails for good.
    on_tasks : callable, optional
        Called with the meta dicts of finished tasks (for metrics).
    """

    def __init__(
        self,
        store: JobStore,
        files: JobFiles,
        executor_factory: Callable[[], object],
        *,
        max_running: int | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        on_tasks: Callable[[list[dict]], None] | None = None,
        poll_s: float = 0.1,
    ) -> None:
        self.store = store
        self.files = files
        self._executor_factory = executor_factory
        self.executor = None
        self.max_running = max_running
        self.max_attempts = max_attempts
        self.on_tasks = on_tasks
        self.poll_s = poll_s
        self._running: dict[str, tuple[threading.Thread, threading.Event]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._capacity = (-CAPACITY_REFRESH_S, 1)

    def start(self) -> None:
        """Requeue what a previous process left running, connect the executor, start claiming."""
        for job_id in self.store.requeue_running():
            log.warning("job %s was running when the service stopped: queued again", job_id)
        self.executor = self._executor_factory()
        self._thread = threading.Thread(target=self._loop, name="mixfarm-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop claiming; stop running renders and queue them again, waiting up to ``timeout_s`` each;
        then let go of the cluster."""
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
        if self.executor is not None:
            self.executor.shutdown()

    def wake(self) -> None:
        """Look at the queue now (after a submit or retry)."""
        self._wake.set()

    @property
    def capacity(self) -> int:
        """Jobs allowed to render at once: ``max_running``, or the cluster's CPUs now (nodes come and go)."""
        if self.max_running is not None:
            return self.max_running
        now = time.monotonic()
        if now - self._capacity[0] >= CAPACITY_REFRESH_S:
            self._capacity = (now, max(1, int(self.executor.cluster()["cpus"])))
        return self._capacity[1]

    @property
    def running(self) -> int:
        """Jobs rendering now."""
        with self._lock:
            return len(self._running)

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job at once, or stop a running one; returns the job."""
        job = self.store.get(job_id)
        if job is None:
            raise KeyError(job_id)
        if job.state is JobState.QUEUED:
            try:
                return self.store.transition(job_id, JobState.CANCELLED, expect=JobState.QUEUED, error="cancelled before it ran")
            except IllegalTransition:
                job = self.store.get(job_id)
        if job.state is JobState.RUNNING:
            job = self.store.request_cancel(job_id)
            with self._lock:
                entry = self._running.get(job_id)
            if entry:
                entry[1].set()
            return job
        return self.store.transition(job_id, JobState.CANCELLED)

    def retry(self, job_id: str) -> Job:
        """Queue a failed or cancelled job again (IllegalTransition for any other)."""
        job = self.store.get(job_id)
        if job is None:
            raise KeyError(job_id)
        if job.state not in (JobState.FAILED, JobState.CANCELLED):
            raise IllegalTransition(f"only failed or cancelled jobs can be retried; this one is {job.state.value}")
        job = self.store.transition(job_id, JobState.QUEUED, expect=job.state, error=None, attempts=0)
        self.wake()
        return job

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                while self.running < self.capacity and not self._stop.is_set():
                    job = self.store.claim_next()
                    if job is None:
                        break
                    self._launch(job)
            except Exception:  # noqa: BLE001 - the scheduler must outlive any one failure
                log.exception("scheduler: claiming the next job failed; trying again")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def _launch(self, job: Job) -> None:
        cancel = threading.Event()
        thread = threading.Thread(target=self._run, args=(job, cancel), name=f"mixfarm-job-{job.id}", daemon=True)
        with self._lock:
            self._running[job.id] = (thread, cancel)
        if self.store.get(job.id).cancel_requested:
            cancel.set()
        thread.start()

    def _run(self, job: Job, cancel: threading.Event) -> None:
        last_write = [0.0]

        def progress(fraction: float, audio_s: float) -> None:
            now = time.monotonic()
            if now - last_write[0] >= PROGRESS_INTERVAL_S or fraction >= 1.0:
                last_write[0] = now
                self.store.record_progress(job.id, fraction, audio_s)

        try:
            session = self.files.session_file(job.id)
            if session is None:
                raise SessionError(str(self.files.bundle(job.id)), ["no session.yaml or session.json at the bundle's root"])
            self.files.clear_out(job.id)
            report = render(session, self.files.out(job.id), executor=self.executor, progress=progress, cancel=cancel, on_tasks=self.on_tasks)
            outputs = [{"name": item["path"], "format": item["format"], "bytes": item["bytes"]} for item in report["deliverables"]]
            self._finish(job, JobState.SUCCEEDED, outputs=outputs, report=report, progress=1.0, audio_s=report["duration_s"], error=None)
        except RenderCancelled:
            if self._stop.is_set():
                self._finish(job, JobState.QUEUED, error="requeued: the service stopped while it ran")
            else:
                self._finish(job, JobState.CANCELLED, error="cancelled while running")
        except SessionError as exc:
            self._finish(job, JobState.FAILED, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - any failure of one job must not stop the farm
            self._failed_attempt(job, exc)
        finally:
            with self._lock:
                self._running.pop(job.id, None)
            self.wake()

    def _finish(self, job: Job, target: JobState, **fields) -> None:
        """Move a job this thread ran, unless someone else (a cancel) has moved it meanwhile."""
        try:
            self.store.transition(job.id, target, expect=JobState.RUNNING, **fields)
        except IllegalTransition as exc:
            log.warning("job %s: not marked %s: %s", job.id, target.value, exc)

    def _failed_attempt(self, job: Job, exc: Exception) -> None:
        error = f"attempt {job.attempts} of {self.max_attempts}: {type(exc).__name__}: {exc}"
        log.warning("job %s failed: %s", job.id, error)
        retry = job.attempts < self.max_attempts or self._stop.is_set()
        self._finish(job, JobState.QUEUED if retry else JobState.FAILED, error=error)
