"""The cluster's history: samples of the farm, of each studio's jobs and of each node, kept in the job store at three resolutions.

Every :data:`SAMPLE_S` seconds the sampler notes the cluster's CPUs (total
and busy); per studio, its jobs queued, running and finished since the last
sample (a studio sees only its own: other studios' jobs are counted nowhere
it can read); and per node, its CPUs (total and busy: each render task holds
one CPU, so these are also its tasks running), its memory in use (as its
tasks last reported it, :func:`farm.engine.tasks.node_memory_used_bytes`;
none while a node has run no task for :data:`MEMORY_FRESH_S`) and the tasks
that finished on it. Samples are kept at :data:`SAMPLE_S` seconds for an
hour; each whole minute is rolled up into a minute's sample (means, and sums
of what finished) kept for a day, and each quarter hour into one kept for a
week (:data:`RESOLUTIONS`). Nothing older than a week is kept.

The sampler runs in a thread of its own and reads only what the service
already holds (the driver's last report of the cluster, the store), so a
slow or absent cluster never holds up a request, and a failed sample is
logged and skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from .jobstore import JobStore
from .state import JobState

SAMPLE_S = 5
"""Seconds between two samples."""
MEMORY_FRESH_S = 60.0
"""How long a node's memory figure, as its last task reported it, stands."""
HOUR_S, DAY_S, WEEK_S = 3600, 86400, 7 * 86400
RESOLUTIONS = {SAMPLE_S: HOUR_S, 60: DAY_S, 900: WEEK_S}
"""Seconds per sample: how long samples of that resolution are kept."""
WINDOWS = {"hour": (HOUR_S, SAMPLE_S), "day": (DAY_S, 60), "week": (WEEK_S, 900)}
"""What each window of :func:`history` spans and the resolution it reads, in seconds."""
SHORT_ID_CHARS = 8
"""A node id is shown by its first this many characters."""

log = logging.getLogger("mixfarm.history")


class ClusterSampler:
    """Samples the farm into the store every ``interval_s`` (see the module docstring).

    ``cluster`` returns the cluster's facts as the scheduler knows them (its
    nodes with ``cpus_busy`` each); :meth:`tasks_finished` takes the meta of
    finished tasks, for the memory and tasks of each node.
    """

    def __init__(self, store: JobStore, cluster: Callable[[], dict], interval_s: float = SAMPLE_S) -> None:
        self.store, self.cluster, self.interval_s = store, cluster, interval_s
        self._lock = threading.Lock()
        self._finished: Counter[str] = Counter()
        self._memory: dict[str, tuple[float, int]] = {}
        self._last_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tasks_finished(self, metas: list[dict], now_s: float | None = None) -> None:
        """Count finished tasks per node and note each node's memory in use as they report it at ``now_s`` (Unix seconds, default now)."""
        now = time.time() if now_s is None else now_s
        with self._lock:
            for meta in metas:
                self._finished[meta["node"]] += 1
                if meta.get("memory_used_bytes") is not None:
                    self._memory[meta["node"]] = (now, meta["memory_used_bytes"])

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="mixfarm-history", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout_s)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s - time.time() % self.interval_s):
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - a missed sample is a gap in a chart, never a reason to stop
                log.exception("history: the sample failed; trying again next time")

    def sample(self, now_s: float | None = None) -> None:
        """Take one sample at ``now_s`` (Unix seconds, default now), roll up what is complete and drop what is too old."""
        now_s = time.time() if now_s is None else now_s
        at = float(int(now_s // SAMPLE_S) * SAMPLE_S)
        facts = self.cluster()
        since = self._last_at if self._last_at is not None else at - SAMPLE_S
        with self._lock:
            per_node, self._finished = self._finished, Counter()
            self._memory = {node: seen for node, seen in self._memory.items() if now_s - seen[0] <= MEMORY_FRESH_S}
            memory = {node: used for node, (_, used) in self._memory.items()}
        nodes = [node for node in facts.get("nodes", []) if node.get("alive", True)]
        studios = self.store.studios()
        with self.store.writing() as db:
            db.execute(
                "INSERT OR REPLACE INTO cluster_samples (resolution_s, at, cpus, cpus_busy) VALUES (?, ?, ?, ?)",
                (SAMPLE_S, at, facts.get("cpus", 0), facts.get("cpus_busy", 0)),
            )
            db.executemany(
                "INSERT OR REPLACE INTO studio_samples (resolution_s, at, studio, queued, running, finished) VALUES (?, ?, ?, ?, ?, ?)",
                [(SAMPLE_S, at, studio, *figures) for studio, figures in _studio_figures(db, studios, since).items()],
            )
            db.executemany(
                "INSERT OR REPLACE INTO node_samples (resolution_s, at, node_id, address, cpus, cpus_busy, memory_used_bytes, tasks_finished) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (SAMPLE_S, at, node["id"], node.get("address"), node.get("cpus", 0), node.get("cpus_busy"), memory.get(node["id"]), per_node.get(node["id"], 0))
                    for node in nodes
                ],
            )
            resolutions = sorted(RESOLUTIONS)
            for source, target in zip(resolutions, resolutions[1:]):
                _roll_up(db, source, target, now_s)
            for resolution, kept_s in RESOLUTIONS.items():
                for table in ("cluster_samples", "studio_samples", "node_samples"):
                    db.execute(f"DELETE FROM {table} WHERE resolution_s = ? AND at < ?", (resolution, now_s - kept_s))
        self._last_at = now_s


def _studio_figures(db, studios: list[str], since: float) -> dict[str, list[int]]:
    """Each of ``studios``: [queued, running, finished since ``since``] (an idle studio too, so means count its zeros)."""
    figures = {studio: [0, 0, 0] for studio in studios}
    for studio, state, count in db.execute("SELECT studio, state, COUNT(*) FROM jobs WHERE state IN (?, ?) GROUP BY studio, state", (JobState.QUEUED.value, JobState.RUNNING.value)):
        figures.setdefault(studio, [0, 0, 0])[0 if state == JobState.QUEUED.value else 1] = count
    for studio, count in db.execute("SELECT studio, COUNT(*) FROM jobs WHERE finished_at >= ? GROUP BY studio", (since,)):
        figures.setdefault(studio, [0, 0, 0])[2] = count
    return figures


def _roll_up(db, source: int, target: int, now_s: float) -> None:
    """Roll the ``source``-second samples of every whole ``target``-second span not rolled up yet into one sample each."""
    done = db.execute("SELECT MAX(at) FROM cluster_samples WHERE resolution_s = ?", (target,)).fetchone()[0]
    begin = done + target if done is not None else 0.0
    end = (now_s // target) * target
    if end <= begin:
        return
    span = f"CAST(at / {target} AS INTEGER) * {target} AS span"
    within = "WHERE resolution_s = ? AND at >= ? AND at < ?"
    db.execute(
        f"INSERT OR REPLACE INTO cluster_samples (resolution_s, at, cpus, cpus_busy) SELECT ?, {span}, AVG(cpus), AVG(cpus_busy) FROM cluster_samples {within} GROUP BY span",
        (target, source, begin, end),
    )
    db.execute(
        f"INSERT OR REPLACE INTO studio_samples (resolution_s, at, studio, queued, running, finished) "
        f"SELECT ?, {span}, studio, AVG(queued), AVG(running), SUM(finished) FROM studio_samples {within} GROUP BY span, studio",
        (target, source, begin, end),
    )
    db.execute(
        f"INSERT OR REPLACE INTO node_samples (resolution_s, at, node_id, address, cpus, cpus_busy, memory_used_bytes, tasks_finished) "
        f"SELECT ?, {span}, node_id, MAX(address), AVG(cpus), AVG(cpus_busy), AVG(memory_used_bytes), SUM(tasks_finished) FROM node_samples {within} GROUP BY span, node_id",
        (target, source, begin, end),
    )


def history(store: JobStore, window: str, studio: str | None = None, now_s: float | None = None) -> dict:
    """The samples of the last ``window`` (:data:`WINDOWS`: hour, day or week), oldest first: the farm's CPUs with
    ``studio``'s jobs queued, running and finished (None: every studio's together), and each node's samples with its
    id, short id and last known address."""
    span_s, resolution = WINDOWS[window]
    now_s = time.time() if now_s is None else now_s
    since = now_s - span_s
    clause, params = ("AND s.studio = ?", [studio]) if studio is not None else ("", [])
    with store.reading() as db:
        farm = db.execute(
            "SELECT c.at, COALESCE(SUM(s.queued), 0) AS queued, COALESCE(SUM(s.running), 0) AS running, COALESCE(SUM(s.finished), 0) AS finished, "
            f"c.cpus, c.cpus_busy FROM cluster_samples c LEFT JOIN studio_samples s ON s.resolution_s = c.resolution_s AND s.at = c.at {clause} "
            "WHERE c.resolution_s = ? AND c.at >= ? GROUP BY c.at ORDER BY c.at",
            [*params, resolution, since],
        ).fetchall()
        rows = db.execute(
            "SELECT at, node_id, address, cpus, cpus_busy, memory_used_bytes, tasks_finished FROM node_samples WHERE resolution_s = ? AND at >= ? ORDER BY node_id, at",
            (resolution, since),
        ).fetchall()
    nodes: dict[str, dict] = {}
    for row in rows:
        node = nodes.setdefault(row["node_id"], {"id": row["node_id"], "short_id": short_id(row["node_id"]), "address": None, "samples": []})
        node["address"] = row["address"] or node["address"]
        node["samples"].append({key: row[key] for key in ("at", "cpus", "cpus_busy", "memory_used_bytes", "tasks_finished")})
    return {
        "window": window,
        "resolution_s": resolution,
        "from": since,
        "to": now_s,
        "samples": [dict(row) for row in farm],
        "nodes": list(nodes.values()),
    }


def node_addresses(store: JobStore, node_ids: list[str]) -> dict[str, str]:
    """The last address sampled for each of ``node_ids`` that the history holds."""
    marks = ", ".join("?" * len(node_ids))
    with store.reading() as db:
        rows = db.execute(
            f"SELECT node_id, address, MAX(at) FROM node_samples WHERE node_id IN ({marks}) AND address IS NOT NULL GROUP BY node_id", node_ids
        ).fetchall()
    return {row["node_id"]: row["address"] for row in rows}


def short_id(node_id: str) -> str:
    """A node id as shown: its first :data:`SHORT_ID_CHARS` characters."""
    return node_id[:SHORT_ID_CHARS]
