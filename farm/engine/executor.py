"""Executors run the renderer's tasks: in this process, or on a Ray cluster.

Both follow :class:`Executor`: ``submit`` takes a task function (one of
:mod:`farm.engine.tasks`, as :class:`concurrent.futures.Executor` takes a callable)
with arguments that may be references to earlier results, and hands back
references. The in-process executor runs each task at once and is what unit
tests use; the Ray executor submits it to a cluster, which runs it when its
inputs are ready, retries it if its worker dies, and frees the driver from
holding any audio.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from farm.errors import FarmError, RenderError, is_transient

_SIGNALS = (signal.SIGTERM, signal.SIGINT)

TASK_RETRIES = 3
"""How often Ray re-runs a task whose worker or node died."""

NO_CPU_GRACE_S = 30.0
"""How long tasks may wait on a cluster with no CPUs before the render fails."""

WAIT_POLL_S = 1.0


class Executor(Protocol):
    """What a render runs its tasks on."""

    name: str

    def put(self, value: Any) -> Any:
        """Hold a value for many tasks to share; returns a reference to it."""

    def submit(self, task: Callable[..., Any], *args: Any, num_returns: int = 1) -> Any:
        """Run ``task(*args)`` (references among ``args`` resolved); a reference, or ``num_returns`` of them."""

    def get(self, refs: Any) -> Any:
        """The values behind a reference or a list of them, waiting for them; a failed task raises RenderError."""

    def wait(self, refs: list, count: int) -> None:
        """Block until at least ``count`` of ``refs`` are done."""

    def cancel(self, refs: list) -> None:
        """Stop the tasks behind ``refs``."""

    def shutdown(self) -> None:
        """Let go of whatever the executor holds."""

    def cluster(self) -> dict:
        """Nodes and CPUs: ``{"nodes": [...], "cpus": total, "cpus_busy": busy}``."""


def _signal_handlers() -> dict:
    """The current handlers of SIGTERM and SIGINT (only the main thread may change them)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {number: signal.getsignal(number) for number in _SIGNALS}


def _restore_signal_handlers(handlers: dict) -> None:
    """Put back handlers that ``ray.init`` replaced, so a server embedding Ray still shuts down its own way."""
    for number, handler in handlers.items():
        if handler is not None:
            signal.signal(number, handler)


def run_task(task: Callable[..., Any], *args: Any) -> Any:
    """Run ``task(*args)``; an exception other than farm's becomes a RenderError naming the task (transient when its cause is)."""
    try:
        return task(*args)
    except FarmError:
        raise
    except Exception as exc:
        raise RenderError(f"task {task.__name__} failed: {exc}", transient=is_transient(exc)) from exc


class LocalRef:
    """A finished result held in this process."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class LocalExecutor:
    """Runs every task at once, in this process."""

    name = "local"

    def put(self, value: Any) -> LocalRef:
        """Hold a value for tasks to share."""
        return LocalRef(value)

    def submit(self, task: Callable[..., Any], *args: Any, num_returns: int = 1) -> LocalRef | list[LocalRef]:
        """Run ``task`` now; return a reference, or one per result when ``num_returns`` > 1."""
        result = run_task(task, *[arg.value if isinstance(arg, LocalRef) else arg for arg in args])
        if num_returns == 1:
            return LocalRef(result)
        return [LocalRef(value) for value in result]

    def get(self, refs: LocalRef | list[LocalRef]) -> Any:
        """The values behind references."""
        if isinstance(refs, list):
            return [ref.value for ref in refs]
        return refs.value

    def wait(self, refs: list[LocalRef], count: int) -> None:
        """Nothing to wait for: every task has finished."""

    def cancel(self, refs: list[LocalRef]) -> None:
        """Nothing to cancel: every task has finished."""

    def shutdown(self) -> None:
        """Nothing to let go of."""

    def cluster(self) -> dict:
        """Nodes and CPUs: this process only."""
        return {"nodes": [{"id": "local", "alive": True, "cpus": 1}], "cpus": 1, "cpus_busy": 0}


class RayExecutor:
    """Runs tasks on Ray: a local cluster started on demand, or the one at ``address``.

    ``address`` defaults to the ``RAY_ADDRESS`` environment variable; without
    either a local cluster starts with this machine's CPUs.
    """

    name = "ray"

    def __init__(self, address: str | None = None, no_cpu_grace_s: float = NO_CPU_GRACE_S) -> None:
        import ray

        self._ray = ray
        self.no_cpu_grace_s = no_cpu_grace_s
        address = address or os.environ.get("RAY_ADDRESS") or None
        if not ray.is_initialized():
            handlers = _signal_handlers()
            ray.init(address=address, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
            _restore_signal_handlers(handlers)
        self._remotes: dict[Callable[..., Any], Any] = {}

    def _remote(self, task: Callable[..., Any]):
        """``task`` as a Ray remote function that runs it through :func:`run_task`."""
        if task not in self._remotes:

            @functools.wraps(task)
            def named(*args: Any) -> Any:
                return run_task(task, *args)

            self._remotes[task] = self._ray.remote(max_retries=TASK_RETRIES)(named)
        return self._remotes[task]

    def put(self, value: Any):
        """Place a value in the object store once, for many tasks to share."""
        return self._ray.put(value)

    def submit(self, task: Callable[..., Any], *args: Any, num_returns: int = 1):
        """Submit ``task``; Ray runs it when the references among ``args`` are ready."""
        return self._remote(task).options(num_returns=num_returns).remote(*args)

    def get(self, refs):
        """The values behind references, waiting for them.

        A task that raised gives RenderError, transient when its cause was
        (a storage timeout, say); a task the cluster could not finish (its
        worker or node died past Ray's retries, its result was lost) gives a
        transient RenderError.
        """
        self._wait_ready(refs if isinstance(refs, list) else [refs], None)
        try:
            return self._ray.get(refs)
        except self._ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, FarmError):
                raise exc.cause from exc
            raise RenderError(f"a task failed: {exc.cause}", transient=is_transient(exc.cause)) from exc
        except self._ray.exceptions.RayError as exc:
            raise RenderError(f"the cluster could not finish a task: {exc}", transient=True) from exc

    def wait(self, refs: list, count: int) -> None:
        """Block until at least ``count`` of ``refs`` are done."""
        if refs and count > 0:
            self._wait_ready(refs, count)

    def _wait_ready(self, refs: list, count: int | None) -> None:
        """Wait until ``count`` (default all) of ``refs`` are done.

        Raises RenderError when nothing finishes while the cluster has had no
        CPUs for ``no_cpu_grace_s`` seconds: its nodes are gone and the tasks
        could never run.
        """
        count = len(refs) if count is None else min(count, len(refs))
        without_cpus_since = None
        while True:
            ready, _ = self._ray.wait(refs, num_returns=count, timeout=WAIT_POLL_S, fetch_local=False)
            if len(ready) >= count:
                return
            if self._ray.cluster_resources().get("CPU", 0) > 0:
                without_cpus_since = None
                continue
            now = time.monotonic()
            without_cpus_since = without_cpus_since or now
            if now - without_cpus_since >= self.no_cpu_grace_s:
                raise RenderError(
                    f"the cluster has no CPUs left (its worker nodes are gone) and {len(refs) - len(ready)} task(s) "
                    f"waited {self.no_cpu_grace_s:g} s for one; add nodes and retry the job",
                    transient=True,
                )

    def cancel(self, refs: list) -> None:
        """Stop the tasks behind ``refs`` (queued ones never start; running ones are interrupted)."""
        for ref in refs:
            self._ray.cancel(ref, recursive=False)

    def shutdown(self) -> None:
        """Disconnect from the cluster (and stop it, if this process started it)."""
        self._ray.shutdown()

    def cluster(self) -> dict:
        """The cluster's nodes (id, address, alive, CPUs) and its CPUs in total and busy."""
        nodes = [
            {"id": node["NodeID"], "address": node.get("NodeManagerAddress"), "alive": bool(node.get("Alive")), "cpus": node.get("Resources", {}).get("CPU", 0)}
            for node in self._ray.nodes()
        ]
        total = self._ray.cluster_resources().get("CPU", 0)
        available = self._ray.available_resources().get("CPU", 0)
        return {"nodes": nodes, "cpus": total, "cpus_busy": max(total - available, 0)}
