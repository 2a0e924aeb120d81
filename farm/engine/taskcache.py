"""A render's use of the :class:`~farm.engine.chunkcache.ChunkCache`: each task's key, its results read back or stored.

A task's key hashes what it reads of the plan (a track group's strips and
their stems' contents, a bus's strip, the master's strip, a deliverable's
plan; the plan's rate, length, chunk grid and mix latency), its plain
arguments (frame ranges, trims) and the keys of the results it takes:
every result a task returns is known by its task's key and its position,
and a whole signal kept between stages (the mix, a master, a stem) by the
keys of its blocks. So a change reaches exactly the tasks downstream of it.

A task whose inputs cannot all be named (a value of a kind the fingerprint
does not know) is run as it would be without a cache, and counted as
neither a hit nor a miss.

A task found in the cache is not read at once: its results are
:class:`LazyRef` placeholders, read (and put to the executor) only when a
task that runs takes one or the render asks for its value
(:class:`CachedExecutor`). So a revision reads only the stored results that
feed what it recomputes: a loudness target change reads the mix, not the
tracks that made it. An entry that turns out corrupted or gone when it is
read has its task run then, counted as a miss. A task that ran
is stored once it has finished, by a thread of the render process, so the
writing overlaps the render (at most :data:`MAX_PENDING_WRITES` wait, so the
results held for it stay bounded). The cache is held to its limit
(:meth:`~farm.engine.chunkcache.ChunkCache.trim`) each time the render has
written :data:`TRIM_SHARE` of it, and when the render ends.

The cache never fails a render: one that cannot be reached when the render
starts is not used (:func:`unreachable` says why, and the report with it); a
read that fails makes its task run; a write that fails (a full disk) is
logged, counted, and the render goes on. A task's meta says
``"cached": True`` when its results were read back.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import Counter, OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from . import tasks
from .blocks import BlockSignal
from .chunkcache import ChunkCache
from .fingerprint import fingerprint, stem_identity
from .plan import RenderPlan
from .prefader import TrackCache

PLAIN = (int, float, str, type(None))
CACHE_NODE = "cache"
"""The node a task read back from the cache is said to have run on."""
MAX_NAMED_REFS = 4096
"""How many results the render remembers the keys of, the most recent first: a task takes the results of its own
chunk and the one before, so this spans a hundred chunks of a big mix while the references it holds stay bounded
(a result whose key was forgotten makes the task that takes it uncached, never wrong)."""
READERS = 4
"""How many stored results a render reads at once for a task that takes several."""
MAX_PENDING_WRITES = 16
"""The most finished tasks whose results wait to be written; the render waits for a slot beyond that."""
TRIM_SHARE = 0.05
"""A render holds the cache to its limit each time it has written this share of it (and when it ends)."""
PROBE_KEY = "0" * 64
"""A key no task has, asked for to learn whether the cache can be reached."""

log = logging.getLogger("mixfarm.cache")


class _Stored:
    """A task found in the cache, read when one of its results is first needed (or run then, if its entry fails)."""

    def __init__(self, owner: "TaskCache", key: str, kind: str, task: Callable[..., Any], plan_ref: Any, args: tuple, num_returns: int) -> None:
        self.owner, self.key, self.kind = owner, key, kind
        self.call = (task, plan_ref, args, num_returns)
        self.refs: list | None = None
        self.lock = threading.Lock()

    def resolved(self, position: int) -> Any:
        with self.lock:
            if self.refs is None:
                self.refs = self.owner._read_or_run(self)
                self.call = None
            return self.refs[position]


class LazyRef:
    """A result of a task found in the cache, standing for the executor's reference until someone needs it."""

    __slots__ = ("stored", "position")

    def __init__(self, stored: _Stored, position: int) -> None:
        self.stored, self.position = stored, position

    def resolved(self) -> Any:
        """The executor's reference to the value (read from the cache now if it has not been)."""
        return self.stored.resolved(self.position)


_reading = threading.local()


def _mark_reader() -> None:
    """A reader thread resolves the arguments of a task it must run (its entry failed) one by one, never waiting on its own pool."""
    _reading.active = True


def _resolve(value: Any) -> Any:
    return value.resolved() if isinstance(value, LazyRef) else value


class CachedExecutor:
    """The render's executor with :class:`LazyRef` placeholders turned into real references wherever they are used.

    A task that takes several stored results has them read at once, by :data:`READERS` threads.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.readers = ThreadPoolExecutor(READERS, thread_name_prefix="mixfarm-cache-read", initializer=_mark_reader)

    def put(self, value: Any) -> Any:
        return self.inner.put(value)

    def put_block(self, block: Any) -> Any:
        return self.inner.put_block(block)

    def submit(self, task: Callable[..., Any], *args: Any, num_returns: int = 1) -> Any:
        unread = [arg for arg in args if isinstance(arg, LazyRef) and arg.stored.refs is None]
        if len(unread) > 1 and not getattr(_reading, "active", False):
            list(self.readers.map(LazyRef.resolved, unread))
        return self.inner.submit(task, *map(_resolve, args), num_returns=num_returns)

    def get(self, refs: Any) -> Any:
        return self.inner.get([_resolve(ref) for ref in refs] if isinstance(refs, list) else _resolve(refs))

    def wait(self, refs: list, count: int) -> None:
        self.inner.wait([_resolve(ref) for ref in refs], count)

    def cancel(self, refs: list) -> None:
        self.inner.cancel([ref for ref in refs if not isinstance(ref, LazyRef)])

    def cluster(self) -> dict:
        return self.inner.cluster()

    def shutdown(self) -> None:
        self.inner.shutdown()


class TaskCache:
    """Keys, reads and writes of one render's tasks against ``cache``; :attr:`executor` is the executor the render uses, and
    :attr:`plan` the plan it renders: ``plan`` with its :class:`~farm.engine.prefader.TrackCache` (every stem's identity, found now)."""

    def __init__(self, cache: ChunkCache, plan: RenderPlan, executor: Any) -> None:
        self.cache = cache
        self.plan = plan
        self.inner = executor
        self.executor = CachedExecutor(executor)
        self._globals = (plan.sample_rate, plan.timeline_frames, plan.chunk_frames, plan.mix_latency)
        self._keys: OrderedDict[int, tuple[Any, str]] = OrderedDict()  # id(ref) -> (the ref, kept alive so its id stays its own; its key)
        self._pending: dict[int, tuple[str, list]] = {}  # id(meta ref) -> (key, the task's result refs) of a task that ran
        self._signals: dict[int, list[str | None]] = {}  # id(signal) -> its blocks' keys, in order
        self._stems: dict[str, str] = {}
        self.hits: Counter = Counter()
        self.misses: Counter = Counter()
        self.write_errors = 0
        self.read_errors = 0
        self._unchecked_bytes = 0
        self._count_lock = threading.Lock()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="mixfarm-cache")
        self._slots = threading.BoundedSemaphore(MAX_PENDING_WRITES)
        self.plan = dataclasses.replace(plan, track_cache=TrackCache(cache, self._stem_identities()))

    def submit(self, task: Callable[..., Any], plan_ref: Any, args: tuple, num_returns: int, reads: tuple[BlockSignal, int] | None):
        """Submit ``task(plan, *args)``, or put its stored results; the refs as ``executor.submit`` gives them.

        ``reads``: the signal whose blocks are the last arguments, and how many there are (they are named by the signal's key).
        """
        key = self._task_key(task, args, reads)
        if key is None:
            return self.executor.submit(task, plan_ref, *args, num_returns=num_returns)
        kind = _KINDS[task]
        if self.cache.contains(key):
            self.hits[kind] += 1
            stored = _Stored(self, key, kind, task, plan_ref, args, num_returns)
            meta = self._cached_meta(task, kind, args)
            refs = [LazyRef(stored, position) for position in range(num_returns - 1)] + [self.inner.put_block(meta)]
        else:
            self.misses[kind] += 1
            refs = self._run(key, task, plan_ref, args, num_returns)
        for position, ref in enumerate(refs):
            self._name(ref, fingerprint(key, position))
        return refs[0] if num_returns == 1 else refs

    def _name(self, ref: Any, key: str) -> None:
        """Remember ``ref``'s key, forgetting the oldest beyond :data:`MAX_NAMED_REFS` (and letting go of their references)."""
        self._keys[id(ref)] = (ref, key)
        while len(self._keys) > MAX_NAMED_REFS:
            self._keys.popitem(last=False)

    def _cached_meta(self, task: Callable[..., Any], kind: str, args: tuple) -> dict:
        """The meta of a task read back from the cache, as the task would have made it: it ran nowhere, in no time, now."""
        details = _META_DETAILS[task](self.plan, args)
        return {"kind": kind, "stage": tasks.STAGES[kind], "node": CACHE_NODE, "seconds": 0.0, "started_at": time.time(), "cached": True, "sample_rate": self.plan.sample_rate, **details}

    def _run(self, key: str, task: Callable[..., Any], plan_ref: Any, args: tuple, num_returns: int) -> list:
        """Submit the task (its results stored once it has finished); its refs as a list."""
        submitted = self.executor.submit(task, plan_ref, *args, num_returns=num_returns)
        refs = [submitted] if num_returns == 1 else list(submitted)
        self._pending[id(refs[-1])] = (key, refs)
        return refs

    def _read_or_run(self, stored: _Stored) -> list:
        """The real references of a task found in the cache: its entry put to the executor, or, if the entry fails, the task run now."""
        task, plan_ref, args, num_returns = stored.call
        try:
            values = self.cache.get(stored.key)
        except OSError as exc:
            values = None
            with self._count_lock:
                self.read_errors += 1
                if self.read_errors == 1:
                    log.warning("cache %s: a result could not be read (%s); its task runs instead", self.cache, exc)
        if values is not None and len(values) == num_returns:
            return [self.inner.put_block(value) for value in values[:-1]]  # plain references, as a task's results are
        with self._count_lock:
            self.hits[stored.kind] -= 1
            self.misses[stored.kind] += 1
        refs = self.executor.submit(task, plan_ref, *args, num_returns=num_returns)
        refs = [refs] if num_returns == 1 else list(refs)
        self._writer.submit(self._store_when_done, stored.key, refs)
        return refs[:-1]

    def _store_when_done(self, key: str, refs: list) -> None:
        self.inner.get(refs[-1:])
        self._store(key, refs)

    def put(self, value: Any) -> Any:
        """``executor.put(value)``, its ref named by the value's fingerprint (or left unnamed when it has none)."""
        ref = self.executor.put(value)
        try:
            self._name(ref, fingerprint("value", value))
        except TypeError:
            pass
        return ref

    def add_block(self, signal: BlockSignal, start: int, stop: int, ref: Any) -> None:
        """``signal.add(start, stop, ref)``, remembering the block's key for the signal's own."""
        signal.add(start, stop, ref)
        self._signals.setdefault(id(signal), []).append(self.key_of(ref))

    def finished(self, meta_refs: list) -> None:
        """Have the results of the tasks of ``meta_refs`` that ran (they have finished) written, waiting for a slot."""
        for meta_ref in meta_refs:
            entry = self._pending.pop(id(meta_ref), None)
            if entry is not None:
                self._slots.acquire()
                self._writer.submit(self._store, *entry).add_done_callback(lambda _: self._slots.release())

    def close(self, *, wait: bool = True) -> None:
        """Finish the writes (``wait``), or drop those not begun (a render that failed or was cancelled)."""
        self._writer.shutdown(wait=True, cancel_futures=not wait)
        self.executor.readers.shutdown(wait=True)
        if self._unchecked_bytes:
            self._trim()

    def _store(self, key: str, refs: list) -> None:
        try:
            self._unchecked_bytes += self.cache.put(key, tuple(self.inner.get(refs)))
        except OSError as exc:
            self.write_errors += 1
            if self.write_errors == 1:
                log.warning("cache %s: a result could not be written (%s); the render goes on without storing it", self.cache, exc)
            return
        if self._unchecked_bytes >= TRIM_SHARE * self.cache.limit_bytes:
            self._trim()

    def _trim(self) -> None:
        self._unchecked_bytes = 0
        try:
            self.cache.trim()
        except OSError as exc:
            log.warning("cache %s: could not be held to its limit (%s)", self.cache, exc)

    def key_of(self, ref: Any) -> str | None:
        entry = self._keys.get(id(ref))
        return entry[1] if entry is not None and entry[0] is ref else None

    def signal_key(self, signal: BlockSignal) -> str | None:
        """A key for the whole of ``signal``, from its blocks' keys (None if one has none)."""
        keys = self._signals.get(id(signal))
        if not keys or any(key is None for key in keys):
            return None
        return fingerprint("signal", keys, signal.starts, signal.stops)

    def report(self, metas: list[dict]) -> dict:
        """Hits and misses by task kind, and of the track effects that ran within track tasks (``metas``: every task's), for the render report."""
        effects = Counter()
        for meta in metas:
            effects.update(meta.get("effects_cache", {}))
        return {
            "hits": {kind: count for kind, count in self.hits.items() if count},
            "misses": dict(self.misses),
            "track_effects": {"hits": effects["hits"], "misses": effects["misses"]},
            "corrupt_entries": self.cache.corrupt,
            "read_errors": self.read_errors,
            "write_errors": self.write_errors,
        }

    def _task_key(self, task: Callable[..., Any], args: tuple, reads: tuple[BlockSignal, int] | None) -> str | None:
        scope = _SCOPES.get(task)
        if scope is None:
            return None
        if reads is not None:
            signal, blocks = reads
            signal_key = self.signal_key(signal)
            if signal_key is None:
                return None
            args = (*args[: len(args) - blocks], ("signal", signal_key))
        try:
            what, named_args = scope(self, args)
            named = [self._arg_key(arg) for arg in named_args]
            if any(key is None for key in named):
                return None
            return fingerprint(task.__name__, self._globals, what, named)
        except TypeError:
            return None

    def _arg_key(self, arg: Any) -> Any:
        if isinstance(arg, tuple) and len(arg) == 2 and arg[0] == "signal":
            return arg
        known = self.key_of(arg)
        if known is not None:
            return ("result", known)
        if isinstance(arg, PLAIN) or (isinstance(arg, tuple) and all(isinstance(item, PLAIN) for item in arg)):
            return ("value", arg)
        return None

    def _stem_identities(self) -> dict[str, str]:
        """Every stem the plan reads, by its path: its identity (:func:`~farm.engine.fingerprint.stem_identity`, kept in the cache)."""
        for strip in self.plan.strips:
            for info in strip.stems:
                self._stem(info.path)
        return dict(self._stems)

    def _stem(self, path: str) -> str:
        if path not in self._stems:
            self._stems[path] = stem_identity(path, self.cache)
        return self._stems[path]

    def _strip(self, name: str):
        """A strip as its key sees it: its stems named by their content, not by where this job's copy of them lies
        (neither in its plan nor in its spec's ``file`` and clips: an album's stages read files from a work folder of their own)."""
        strip = self.plan.strip(name)
        spec = strip.spec
        if getattr(spec, "file", None) is not None or getattr(spec, "clips", None):
            clips = [clip.model_copy(update={"file": ""}) for clip in spec.clips] if spec.clips else None
            spec = spec.model_copy(update={"file": None, "clips": clips})
        return dataclasses.replace(strip, spec=spec, stems=tuple(dataclasses.replace(info, path=self._stem(info.path)) for info in strip.stems))


def combined(reports: list[dict | None]) -> dict | None:
    """The cache counts of several renders (an album's stages) as one; the first error when a render could not use it."""
    used = [report for report in reports if report is not None]
    if not used:
        return None
    failed = next((report for report in used if "error" in report), None)
    if failed is not None:
        return failed
    total: dict = {"hits": Counter(), "misses": Counter(), "track_effects": Counter(), "corrupt_entries": 0, "read_errors": 0, "write_errors": 0}
    for report in used:
        for part in ("hits", "misses", "track_effects"):
            total[part].update(report[part])
        for count in ("corrupt_entries", "read_errors", "write_errors"):
            total[count] += report[count]
    return {**total, "hits": dict(total["hits"]), "misses": dict(total["misses"]), "track_effects": {"hits": total["track_effects"]["hits"], "misses": total["track_effects"]["misses"]}}


def unreachable(cache: ChunkCache) -> str | None:
    """Why ``cache`` cannot be used now (it cannot be read: a missing bucket, refused credentials), logged; None when it can."""
    try:
        cache.contains(PROBE_KEY)
    except OSError as exc:
        problem = f"{cache}: cannot be read ({exc})"
        log.warning("render cache not used: %s", problem)
        return problem
    return None


_KINDS = {
    tasks.tracks_chunk: "tracks",
    tasks.bus_chunk: "bus",
    tasks.mix_chunk: "mix",
    tasks.match_chunk: "match",
    tasks.master_chunk: "master",
    tasks.deliver_chunk: "deliver",
}

_SCOPES: dict[Callable[..., Any], Callable[[TaskCache, tuple], tuple[Any, tuple]]] = {
    tasks.tracks_chunk: lambda run, args: ([run._strip(name) for name in run.plan.group(args[0]).tracks], args),
    tasks.bus_chunk: lambda run, args: (run._strip(args[0]), args),
    tasks.mix_chunk: lambda run, args: (run._strip("master"), args),
    tasks.match_chunk: lambda run, args: ((), args),
    tasks.master_chunk: lambda run, args: ((), args),
    tasks.deliver_chunk: lambda run, args: (run.plan.deliverables[args[0]], args[1:]),
}
"""What each task reads of the plan, and which of its arguments name its inputs (a deliverable by its plan, not its index)."""

_META_DETAILS: dict[Callable[..., Any], Callable[[RenderPlan, tuple], dict]] = {
    tasks.tracks_chunk: lambda plan, args: {"strip": args[0], "tracks": list(plan.group(args[0]).tracks), "start_frame": args[1], "stop_frame": args[2]},
    tasks.bus_chunk: lambda plan, args: {"strip": args[0], "start_frame": args[1], "stop_frame": args[2]},
    tasks.mix_chunk: lambda plan, args: {"strip": "master", "start_frame": args[0], "stop_frame": args[1]},
    tasks.match_chunk: lambda plan, args: {"start_frame": args[0], "stop_frame": args[1]},
    tasks.master_chunk: lambda plan, args: {"start_frame": args[1], "stop_frame": args[2]},
    tasks.deliver_chunk: lambda plan, args: {"output": plan.deliverables[args[0]].path, "start_frame": args[2], "stop_frame": args[3]},
}
"""What a cached task's meta says besides its kind, from its arguments, as :mod:`farm.engine.tasks` says it of a task that ran."""
