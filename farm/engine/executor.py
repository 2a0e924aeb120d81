"""Executors run the renderer's tasks: in this process, or on a Ray cluster.

Both follow :class:`Executor`: ``submit`` takes a task function (one of
:mod:`farm.engine.tasks`, as :class:`concurrent.futures.Executor` takes a callable)
with arguments that may be references to earlier results, and hands back
references. The in-process executor runs tasks on threads of this process
as their inputs become ready (or each at once, with one worker); the Ray
executor submits them to a cluster, which runs them when their inputs are
ready, retries them if their worker dies, and frees the driver from holding
any audio.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from typing import Any, Protocol

import numpy as np

from farm.engine.failures import task_failure
from farm.errors import FarmError, RenderError, is_transient

from .allocator import retain_freed_memory

_SIGNALS = (signal.SIGTERM, signal.SIGINT)

TASK_RETRIES = 3
"""How often Ray re-runs a task whose worker or node died."""

NO_CPU_GRACE_S = 30.0
"""How long tasks may wait on a cluster with no CPUs before the render fails."""

WAIT_POLL_S = 1.0

CLUSTER_PROBE_TIMEOUT_S = 0.25
"""How long :func:`running_cluster_address` waits for a recorded cluster to answer."""


class Executor(Protocol):
    """What a render runs its tasks on."""

    name: str

    def put(self, value: Any) -> Any:
        """Hold a value for many tasks to share; returns a reference to it."""

    def put_block(self, block: np.ndarray) -> Any:
        """Hold a block of audio for the few tasks that read it; it goes once no reference to it is left."""

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


RAY_TOKEN_SETUP_LOGGER = "ray._private.authentication.authentication_token_setup"
RAY_TOKEN_ENABLED_NOTICE = "Token authentication is enabled for this Ray cluster"


def _without_token_notice(record: logging.LogRecord) -> bool:
    """A logging filter: drop Ray's notice that a cluster it starts uses token authentication.

    It is printed on every start of a local cluster, asks nothing of the user, and mixfarm wants the safer default it
    announces. Ray's warning that authentication is *disabled* still shows.
    """
    return not record.getMessage().startswith(RAY_TOKEN_ENABLED_NOTICE)


def run_task(task: Callable[..., Any], *args: Any) -> Any:
    """Run ``task(*args)``; an exception other than farm's becomes a RenderError naming the task (transient when its cause is).

    A RenderError carries the task's facts as ``failure`` (:func:`farm.engine.failures.task_failure`), with
    when it started (``started_at``, Unix seconds) and how long it ran (``seconds``).
    """
    started_at = time.time()
    try:
        return task(*args)
    except RenderError as exc:
        if exc.failure is None:
            exc.failure = {**task_failure(task, args, exc), "started_at": started_at, "seconds": time.time() - started_at}
        raise
    except FarmError:
        raise
    except Exception as exc:
        failure = {**task_failure(task, args, exc), "started_at": started_at, "seconds": time.time() - started_at}
        raise RenderError(f"task {task.__name__} failed: {exc}", transient=is_transient(exc), failure=failure) from exc


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return os.cpu_count() or 1


class LocalRef:
    """The result of a task run in this process: finished, or a future (one item of it when ``index`` is set)."""

    __slots__ = ("future", "index")

    def __init__(self, future: Future, index: int | None = None) -> None:
        self.future = future
        self.index = index

    @classmethod
    def of(cls, value: Any) -> LocalRef:
        """A reference to a value already at hand."""
        future: Future = Future()
        future.set_result(value)
        return cls(future)

    @property
    def value(self) -> Any:
        """The result, waiting for it; the task's exception if it failed."""
        result = self.future.result()
        return result if self.index is None else result[self.index]


class LocalExecutor:
    """Runs tasks in this process, on ``workers`` threads (default: every CPU it may use).

    A task starts when the references among its arguments are ready, so a
    render's chunks run side by side as on a cluster, with no start-up cost.
    The audio work releases the GIL (numpy, the numba kernels, libsndfile),
    so threads use several cores. With one worker every task runs at once,
    in the calling thread.
    """

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = available_cpus() if workers is None else workers
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ValueError(f"workers: must be a positive integer, got {workers!r}")
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="mixfarm-task") if self.workers > 1 else None

    def put(self, value: Any) -> LocalRef:
        """Hold a value for tasks to share."""
        return LocalRef.of(value)

    def put_block(self, block: np.ndarray) -> LocalRef:
        """Hold a block of audio for the tasks that read it."""
        return LocalRef.of(block)

    def submit(self, task: Callable[..., Any], *args: Any, num_returns: int = 1) -> LocalRef | list[LocalRef]:
        """Run ``task`` once its inputs are ready; return a reference, or one per result when ``num_returns`` > 1."""
        future: Future = Future()
        if self._pool is None:
            _settle(future, task, args)
        else:
            self._when_ready([arg.future for arg in args if isinstance(arg, LocalRef)], lambda: self._pool.submit(_settle, future, task, args))
        if num_returns == 1:
            return LocalRef(future)
        return [LocalRef(future, index) for index in range(num_returns)]

    @staticmethod
    def _when_ready(inputs: list[Future], start: Callable[[], Any]) -> None:
        """Call ``start`` once every future in ``inputs`` is done (at once if they are).

        A future keeps the callbacks it has called, so they hold ``start`` (and
        through it the task's arguments) only until it runs: otherwise every
        finished chunk would keep the next one's audio alive.
        """
        pending = [start, len(inputs) + 1]
        lock = threading.Lock()

        def one_done(_: Future | None = None) -> None:
            with lock:
                pending[1] -= 1
                ready = pending[0] if pending[1] == 0 else None
                if ready is not None:
                    pending[0] = None
            if ready is not None:
                ready()

        for future in inputs:
            future.add_done_callback(one_done)
        one_done()

    def get(self, refs: LocalRef | list[LocalRef]) -> Any:
        """The values behind references, waiting for them; a failed task's exception is raised."""
        if isinstance(refs, list):
            return [ref.value for ref in refs]
        return refs.value

    def wait(self, refs: list[LocalRef], count: int) -> None:
        """Block until at least ``count`` of ``refs`` are done."""
        pending = {ref.future for ref in refs}
        done = len(refs) - len(pending)
        while pending and done < count:
            finished, pending = futures_wait(pending, return_when=FIRST_COMPLETED)
            done += len(finished)

    def cancel(self, refs: list[LocalRef]) -> None:
        """Stop the tasks behind ``refs`` that have not started; running ones finish."""
        for ref in refs:
            ref.future.cancel()

    def shutdown(self) -> None:
        """Stop the worker threads, dropping tasks not yet started."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def cluster(self) -> dict:
        """Nodes and CPUs: this process, with one CPU per worker thread."""
        return {"nodes": [{"id": "local", "alive": True, "cpus": self.workers, "cpus_busy": 0}], "cpus": self.workers, "cpus_busy": 0}


def _settle(future: Future, task: Callable[..., Any], args: tuple) -> None:
    """Run ``task`` on the resolved ``args`` into ``future``; a failed input fails it with the same exception."""
    if not future.set_running_or_notify_cancel():
        return
    try:
        resolved = [arg.value if isinstance(arg, LocalRef) else arg for arg in args]
    except BaseException as exc:
        future.set_exception(exc)
        return
    try:
        future.set_result(run_task(task, *resolved))
    except BaseException as exc:
        future.set_exception(exc)


@dataclasses.dataclass(frozen=True)
class SharedRef:
    """A value :meth:`RayExecutor.put` placed for many tasks: a key, and its object reference.

    The reference sits in a tuple, so Ray hands tasks the reference rather
    than the value, and each worker fetches and unpickles the value once
    (:func:`_shared_value`): a render plan takes milliseconds to unpickle,
    and hundreds of tasks share it.
    """

    key: str
    refs: tuple


SHARED_VALUES_KEPT = 16
"""How many shared values a Ray worker keeps unpickled (the most recently used)."""

_shared_values: collections.OrderedDict[str, Any] = collections.OrderedDict()


def _shared_value(arg: Any) -> Any:
    """``arg``, or the value behind it if it is a :class:`SharedRef` (fetched once per worker process)."""
    if not isinstance(arg, SharedRef):
        return arg
    if arg.key in _shared_values:
        _shared_values.move_to_end(arg.key)
        return _shared_values[arg.key]
    import ray

    value = ray.get(arg.refs[0])
    _shared_values[arg.key] = value
    while len(_shared_values) > SHARED_VALUES_KEPT:
        _shared_values.popitem(last=False)
    return value


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
            token_setup = logging.getLogger(RAY_TOKEN_SETUP_LOGGER)
            token_setup.addFilter(_without_token_notice)
            try:
                ray.init(address=address, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
            finally:
                token_setup.removeFilter(_without_token_notice)
            _restore_signal_handlers(handlers)
        self._remotes: dict[Callable[..., Any], Any] = {}

    def _remote(self, task: Callable[..., Any]):
        """``task`` as a Ray remote function that runs it through :func:`run_task`."""
        if task not in self._remotes:

            @functools.wraps(task)
            def named(*args: Any) -> Any:
                retain_freed_memory()
                return run_task(task, *[_shared_value(arg) for arg in args])

            self._remotes[task] = self._ray.remote(max_retries=TASK_RETRIES)(named)
        return self._remotes[task]

    def put_block(self, block: np.ndarray) -> Any:
        """Place a block of audio in the object store: a plain reference, which Ray hands tasks as the array and frees once none is left."""
        return self._ray.put(block)

    def put(self, value: Any) -> SharedRef:
        """Place a value in the object store once, for many tasks to share; each worker unpickles it once."""
        return SharedRef(uuid.uuid4().hex, (self._ray.put(value),))

    def submit(self, task: Callable[..., Any], *args: Any, num_returns: int = 1):
        """Submit ``task``; Ray runs it when the references among ``args`` are ready."""
        return self._remote(task).options(num_returns=num_returns).remote(*args)

    def get(self, refs):
        """The values behind references, waiting for them.

        A task that raised gives RenderError, transient when its cause was
        (a storage timeout, say); a task the cluster could not finish (its
        worker or node died past Ray's retries, its result was lost) gives a
        transient RenderError. So does a result whose node died after it was
        made, when Ray must re-run its task to rebuild it and the cluster has
        had no CPUs for ``no_cpu_grace_s`` seconds.
        """
        many = refs if isinstance(refs, list) else [refs]
        self._wait_ready(many, None)
        without_cpus = _CpuWatch(self._ray, self.no_cpu_grace_s)
        while True:
            try:
                return self._ray.get(refs, timeout=WAIT_POLL_S)
            except self._ray.exceptions.GetTimeoutError:
                without_cpus.check(f"the task(s) that must make {len(many)} lost result(s) again")
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
        without_cpus = _CpuWatch(self._ray, self.no_cpu_grace_s)
        while True:
            ready, _ = self._ray.wait(refs, num_returns=count, timeout=WAIT_POLL_S, fetch_local=False)
            if len(ready) >= count:
                return
            without_cpus.check(f"{len(refs) - len(ready)} task(s)")

    def cancel(self, refs: list) -> None:
        """Stop the tasks behind ``refs`` (queued ones never start; running ones are interrupted)."""
        for ref in refs:
            self._ray.cancel(ref, recursive=False)

    def shutdown(self) -> None:
        """Disconnect from the cluster (and stop it, if this process started it)."""
        self._ray.shutdown()

    def cluster(self) -> dict:
        """The cluster's nodes (id, address, alive, CPUs, CPUs busy: each render task holds one) and its CPUs in total and busy."""
        available = _available_cpus_per_node()
        nodes = []
        for node in self._ray.nodes():
            cpus = node.get("Resources", {}).get("CPU", 0)
            busy = max(cpus - available[node["NodeID"]], 0) if node["NodeID"] in available else None
            nodes.append({"id": node["NodeID"], "address": node.get("NodeManagerAddress"), "alive": bool(node.get("Alive")), "cpus": cpus, "cpus_busy": busy})
        total = self._ray.cluster_resources().get("CPU", 0)
        available = self._ray.available_resources().get("CPU", 0)
        return {"nodes": nodes, "cpus": total, "cpus_busy": max(total - available, 0)}


def _available_cpus_per_node() -> dict[str, float]:
    """Each live Ray node's CPUs not held by a task, by node id; empty where Ray cannot tell (it keeps this call private)."""
    try:
        from ray._private.state import available_resources_per_node

        return {node_id: resources.get("CPU", 0) for node_id, resources in available_resources_per_node().items()}
    except Exception:  # noqa: BLE001 - a missing per-node figure must not cost the cluster's facts
        return {}


class _CpuWatch:
    """Times how long a Ray cluster has had no CPUs, for a wait that must not outlast its nodes."""

    def __init__(self, ray: Any, grace_s: float) -> None:
        self._ray = ray
        self._grace_s = grace_s
        self._since: float | None = None

    def check(self, waiting: str) -> None:
        """Called while ``waiting`` (what, in words) still waits: RenderError once the cluster has had no CPUs for the grace time."""
        if self._ray.cluster_resources().get("CPU", 0) > 0:
            self._since = None
            return
        now = time.monotonic()
        self._since = self._since or now
        if now - self._since >= self._grace_s:
            raise RenderError(
                f"the cluster has no CPUs left (its worker nodes are gone) and {waiting} waited {self._grace_s:g} s "
                "for one; add nodes and retry the job",
                transient=True,
            )


def running_cluster_address() -> str | None:
    """The address of the Ray cluster ``ray start`` last started on this machine, if it is still up; else None.

    ``ray start --head`` records the cluster's address in
    ``ray_current_cluster`` in Ray's temporary folder (``ray`` under
    ``$RAY_TMPDIR``, else ``$TMPDIR`` on Linux, else ``/tmp``), which is how
    ``ray.init`` finds it too; the cluster counts as up when its GCS port
    accepts a connection. Ray is not imported, so the check takes
    milliseconds.
    """
    folder = os.path.join(_system_temp_dir(), "ray")
    try:
        with open(os.path.join(folder, "ray_current_cluster")) as handle:
            address = handle.read().strip()
        host, port = address.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=CLUSTER_PROBE_TIMEOUT_S):
            return address
    except (OSError, ValueError):
        return None


def _system_temp_dir() -> str:
    """The folder Ray keeps its temporary files under, chosen as Ray chooses it."""
    if "RAY_TMPDIR" in os.environ:
        return os.environ["RAY_TMPDIR"]
    if sys.platform.startswith("linux") and "TMPDIR" in os.environ:
        return os.environ["TMPDIR"]
    return "/tmp" if sys.platform.startswith(("linux", "darwin")) else tempfile.gettempdir()


@dataclasses.dataclass(frozen=True)
class ExecutorChoice:
    """Which executor a render runs on, and why (the render report says so)."""

    kind: str
    """``"ray"`` or ``"local"``."""
    address: str | None
    reason: str

    def build(self) -> Executor:
        """Start (or join) the chosen executor."""
        return RayExecutor(self.address) if self.kind == "ray" else LocalExecutor()


def choose_executor(kind: str = "auto", address: str | None = None) -> ExecutorChoice:
    """The executor for ``kind`` (``"auto"``, ``"ray"`` or ``"local"``) and cluster ``address``.

    ``auto`` runs on Ray when there is a cluster to run on: ``address``, else
    ``$RAY_ADDRESS``, else one running on this machine
    (:func:`running_cluster_address`). With none, it renders in this process
    on threads: starting a cluster costs seconds that a render on one
    machine never wins back, as threads already use every core.
    """
    if kind == "local":
        return ExecutorChoice("local", None, "asked for: rendered in this process")
    given = address or os.environ.get("RAY_ADDRESS") or None
    if kind == "ray":
        return ExecutorChoice("ray", given, f"asked for: Ray at {given}" if given else "asked for: Ray (a cluster on this machine, joined or started)")
    if kind != "auto":
        raise ValueError(f"executor: must be one of auto, ray, local; got {kind!r}")
    if given:
        return ExecutorChoice("ray", given, f"a cluster address was given: Ray at {given}")
    running = running_cluster_address()
    if running:
        return ExecutorChoice("ray", running, f"joined the Ray cluster running on this machine at {running}")
    return ExecutorChoice("local", None, f"no Ray cluster is running here: rendered in this process on {available_cpus()} thread(s)")
