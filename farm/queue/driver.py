"""Render drivers: what runs a job's render for the scheduler, and where.

The process that drives a render on Ray holds Ray's core worker, and a
crash in there (an abort inside Ray on a cancel race, say) takes the whole
process with it. The service therefore never drives renders itself:
:class:`ProcessDriver` runs them in a child process of its own, which holds
the executor (the Ray driver), and supervises it. When the child dies, every
render it was running ends with :class:`farm.errors.DriverLost` and the next
render starts a fresh child; the service, its API and its job store carry on.

:class:`InProcessDriver` runs renders in the calling thread, for tests and
tools that need no isolation.

Both translate a render's failure into the exceptions the scheduler acts on:
SessionError (the session is invalid), RenderCancelled, RenderError with
``transient`` saying whether trying again may help, and DriverLost.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from farm.errors import (
    DriverLost,
    RenderCancelled,
    RenderError,
    SessionError,
    is_transient,
)

if TYPE_CHECKING:
    from farm.engine.chunkcache import ChunkCache
    from farm.engine.render import Progress

log = logging.getLogger("mixfarm.driver")

READY_TIMEOUT_S = 180.0
"""How long a new driver process may take to connect its executor (start or join Ray)."""

STOP_TIMEOUT_S = 20.0
"""How long a driver process may take to stop its renders and let go of the cluster."""

CLUSTER_REPORT_S = 1.0
"""How often a driver process reports the cluster's nodes and CPUs."""

CANCEL_POLL_S = 0.1

NO_CLUSTER = {"nodes": [], "cpus": 0, "cpus_busy": 0}

TasksDone = Callable[[list[dict]], None]


class RenderDriver(Protocol):
    """What the scheduler renders through."""

    def start(self) -> None:
        """Connect to the cluster (raises RenderError if that fails)."""

    def render(
        self,
        job_id: str,
        session: str | Path,
        out_dir: str | Path,
        *,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        on_tasks: TasksDone | None = None,
        max_duration_s: float | None = None,
        cache: ChunkCache | None = None,
    ) -> dict:
        """Render ``session`` into ``out_dir``, reusing what ``cache`` holds; returns the render report (see :func:`farm.engine.render.render`)."""

    def cluster(self) -> dict:
        """The cluster's nodes and CPUs (total and busy)."""

    def shutdown(self) -> None:
        """Stop rendering and let go of the cluster."""


def render_file(path: str, out_dir: str, **options) -> dict:
    """Render a job's file: a session, or an album (by its ``format``); ``options`` are :func:`farm.engine.render.render`'s."""
    from farm.album import is_album, render_album
    from farm.engine.render import render
    from farm.session import read_document
    from farm.storage import Location

    if is_album(read_document(Location.of(path))):
        return render_album(path, out_dir, **options)
    return render(path, out_dir, **options)


def render_failure(exc: BaseException) -> Exception:
    """The exception the scheduler gets for a render that raised ``exc``."""
    if isinstance(exc, (SessionError, RenderCancelled, RenderError)):
        return exc
    return RenderError(f"{type(exc).__name__}: {exc}", transient=is_transient(exc))


class InProcessDriver:
    """Renders in the calling thread on ``executor`` (see :mod:`farm.engine.executor`)."""

    def __init__(self, executor_factory: Callable[[], Any]) -> None:
        self._executor_factory = executor_factory
        self.executor = None

    def start(self) -> None:
        self.executor = self._executor_factory()

    def render(self, job_id, session, out_dir, *, progress=None, cancel=None, on_tasks=None, max_duration_s=None, cache=None) -> dict:
        try:
            return render_file(
                session, out_dir, executor=self.executor, progress=progress, cancel=cancel, on_tasks=on_tasks, max_duration_s=max_duration_s, cache=cache
            )
        except Exception as exc:  # noqa: BLE001 - every failure is translated for the scheduler
            raise render_failure(exc) from exc

    def cluster(self) -> dict:
        return self.executor.cluster() if self.executor is not None else dict(NO_CLUSTER)

    def shutdown(self) -> None:
        if self.executor is not None:
            self.executor.shutdown()


@dataclass
class _Pending:
    """A render the driver process is running for a caller waiting in :meth:`ProcessDriver.render`."""

    progress: Progress | None
    on_tasks: TasksDone | None
    generation: int
    done: threading.Event = field(default_factory=threading.Event)
    outcome: tuple = ()

    def finish(self, outcome: tuple) -> None:
        if not self.done.is_set():
            self.outcome = outcome
            self.done.set()

    def result(self) -> dict:
        kind, *values = self.outcome
        if kind == "done":
            return values[0]
        if kind == "cancelled":
            raise RenderCancelled("the render was cancelled")
        if kind == "session":
            raise SessionError(*values)
        if kind == "failed":
            raise RenderError(*values)
        raise DriverLost(values[0])


class ProcessDriver:
    """Runs renders in a supervised child process that holds the executor.

    ``executor_factory`` is called in the child (so it must pickle: a class,
    or a :func:`functools.partial` of one). The child is started by
    :meth:`start` and started again, on the next render, after it died.
    ``restarts`` counts the times it had to be.
    """

    def __init__(self, executor_factory: Callable[[], Any], *, ready_timeout_s: float = READY_TIMEOUT_S) -> None:
        self._executor_factory = executor_factory
        self.ready_timeout_s = ready_timeout_s
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._process = None
        self._connection = None
        self._generation = 0
        self._pending: dict[str, _Pending] = {}
        self._cluster = dict(NO_CLUSTER)
        self._closed = False
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        """The driver process's id while it runs."""
        with self._lock:
            return self._process.pid if self._process is not None and self._process.is_alive() else None

    def start(self) -> None:
        """Start the driver process and wait until its executor is connected.

        Raises RenderError (transient) if it fails to, or takes longer than ``ready_timeout_s``.
        """
        with self._lock:
            self._ensure_running()

    def _ensure_running(self):
        """The connection to a running driver process, started first if there is none (call with the lock held)."""
        if self._closed:
            raise DriverLost("the render driver has been shut down")
        if self._connection is not None:
            return self._connection
        if self._generation:
            self.restarts += 1
            log.warning("starting the render driver process again (restart %d)", self.restarts)
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=serve_renders, args=(theirs, self._executor_factory), name="mixfarm-render-driver")
        process.start()
        theirs.close()
        try:
            ready = ours.poll(self.ready_timeout_s)
            message = ours.recv() if ready else ("timeout",)
        except (EOFError, OSError):
            message = ("exited",)
        if message[0] != "ready":
            process.kill()
            process.join()
            ours.close()
            raise RenderError(_startup_failure(message, process.exitcode, self.ready_timeout_s), transient=True)
        self._generation += 1
        self._process, self._connection, self._cluster = process, ours, message[1]
        threading.Thread(target=self._read, args=(ours, process, self._generation), name="mixfarm-driver-reader", daemon=True).start()
        return ours

    def render(self, job_id, session, out_dir, *, progress=None, cancel=None, on_tasks=None, max_duration_s=None, cache=None) -> dict:
        with self._lock:
            connection = self._ensure_running()
            pending = _Pending(progress, on_tasks, self._generation)
            self._pending[job_id] = pending
        try:
            self._send(connection, ("render", job_id, session, out_dir, max_duration_s, cache))
            cancel_sent = False
            while not pending.done.wait(CANCEL_POLL_S):
                if cancel is not None and cancel.is_set() and not cancel_sent:
                    self._send(connection, ("cancel", job_id))
                    cancel_sent = True
            return pending.result()
        finally:
            with self._lock:
                self._pending.pop(job_id, None)

    def cluster(self) -> dict:
        """The cluster as the driver process last reported it (no nodes while it is down)."""
        return dict(self._cluster)

    def shutdown(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Ask the driver process to stop its renders and leave the cluster; kill it if it takes longer than ``timeout_s``."""
        with self._lock:
            self._closed = True
            process, connection = self._process, self._connection
        if process is None:
            return
        try:
            self._send(connection, ("stop",))
        except DriverLost:
            pass
        process.join(timeout_s)
        if process.is_alive():
            log.warning("the render driver process did not stop within %g s: killing it", timeout_s)
            process.kill()
            process.join()

    def _send(self, connection, message: tuple) -> None:
        try:
            with self._send_lock:
                connection.send(message)
        except (OSError, ValueError) as exc:
            raise DriverLost(f"the render driver process cannot be reached ({exc})") from None

    def _read(self, connection, process, generation: int) -> None:
        """Hand each message of the driver process to its render; when it dies, end every render it ran."""
        while True:
            try:
                message = connection.recv()
            except (EOFError, OSError):
                break
            self._dispatch(message)
        process.join(STOP_TIMEOUT_S)
        with self._lock:
            if self._connection is connection:
                self._process, self._connection, self._cluster = None, None, dict(NO_CLUSTER)
            lost = [pending for pending in self._pending.values() if pending.generation == generation]
            closed = self._closed
        connection.close()
        if lost or not closed:
            log.error("the render driver process died (exit code %s) with %d render(s) running", process.exitcode, len(lost))
        for pending in lost:
            pending.finish(("lost", f"the render driver process died (exit code {process.exitcode})"))

    def _dispatch(self, message: tuple) -> None:
        kind, *values = message
        if kind == "cluster":
            self._cluster = values[0]
            return
        with self._lock:
            pending = self._pending.get(values[0])
        if pending is None:
            return
        try:
            if kind == "progress" and pending.progress is not None:
                pending.progress(*values[1:])
            elif kind == "tasks" and pending.on_tasks is not None:
                pending.on_tasks(values[1])
            elif kind == "outcome":
                pending.finish(values[1])
        except Exception:  # noqa: BLE001 - a failing callback must not stop the reader of every render
            log.exception("render driver: handling %s of job %s failed", kind, values[0])


def _startup_failure(message: tuple, exit_code: int | None, timeout_s: float) -> str:
    if message[0] == "failed":
        return f"the render driver could not connect to the cluster: {message[1]}"
    if message[0] == "timeout":
        return f"the render driver did not connect to the cluster within {timeout_s:g} s"
    return f"the render driver process exited while starting (exit code {exit_code})"


def serve_renders(connection, executor_factory: Callable[[], Any]) -> None:
    """The driver process: connect the executor, then run the renders the parent asks for until it says stop or goes away.

    Termination signals are ignored: the parent stops this process through
    the pipe, after it has decided what becomes of the renders in flight.
    """
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)
    send_lock = threading.Lock()

    def send(message: tuple) -> None:
        try:
            with send_lock:
                connection.send(message)
        except (OSError, ValueError):
            pass

    try:
        executor = executor_factory()
        facts = executor.cluster()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which decides
        send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    send(("ready", facts))
    stopping = threading.Event()
    renders: dict[str, tuple[threading.Thread, threading.Event]] = {}
    threading.Thread(target=_report_cluster, args=(executor, send, stopping), name="mixfarm-cluster-report", daemon=True).start()
    while True:
        try:
            kind, *values = connection.recv()
        except (EOFError, OSError):
            break
        if kind == "stop":
            break
        if kind == "render":
            job_id = values[0]
            cancel = threading.Event()
            thread = threading.Thread(target=_render_one, args=(executor, send, cancel, *values), name=f"mixfarm-render-{job_id}", daemon=True)
            renders[job_id] = (thread, cancel)
            thread.start()
        elif kind == "cancel" and values[0] in renders:
            renders[values[0]][1].set()
    stopping.set()
    for thread, cancel in renders.values():
        cancel.set()
    for thread, _ in renders.values():
        thread.join(STOP_TIMEOUT_S)
    executor.shutdown()


def _render_one(executor, send: Callable[[tuple], None], cancel: threading.Event, job_id: str, session, out_dir, max_duration_s, cache) -> None:
    try:
        report = render_file(
            session,
            out_dir,
            executor=executor,
            max_duration_s=max_duration_s,
            progress=lambda fraction, audio_s, stage: send(("progress", job_id, fraction, audio_s, stage)),
            cancel=cancel,
            on_tasks=lambda metas: send(("tasks", job_id, metas)),
            cache=cache,
        )
        outcome = ("done", report)
    except RenderCancelled:
        outcome = ("cancelled",)
    except SessionError as exc:
        outcome = ("session", exc.source, exc.problems)
    except Exception as exc:  # noqa: BLE001 - every failure goes back to the parent, classified
        failure = render_failure(exc)
        outcome = ("failed", str(failure), failure.transient, failure.failure)
    send(("outcome", job_id, outcome))


def _report_cluster(executor, send: Callable[[tuple], None], stopping: threading.Event) -> None:
    while not stopping.wait(CLUSTER_REPORT_S):
        try:
            send(("cluster", executor.cluster()))
        except Exception:  # noqa: BLE001 - a missed report is no reason to stop rendering
            log.exception("render driver: reading the cluster's state failed")
