"""A render on a cluster of several Ray nodes: spread over them, surviving a node's death, failing when all are gone.

The cluster runs on this machine (``ray.cluster_utils.Cluster``): a head with no
CPUs, so every task goes to a worker node, and worker nodes of one CPU each,
every one with its own raylet and object store. Tasks take and return their
audio; between stages the driver keeps the mix and master blocks in its own work
folder, fetching each from the worker's store that made it. Killing a worker's
raylet loses the tasks running there and the results held in its object store;
Ray re-runs the tasks (``max_retries``) and rebuilds lost results from their
lineage (the farm passes references between tasks), so the render finishes and
still nulls.
"""

from __future__ import annotations

import collections
import os
import threading
import time

import numpy as np
import pytest
import ray
import soundfile
from ray.cluster_utils import Cluster

from farm.engine.executor import LocalExecutor, RayExecutor
from farm.engine.render import render
from farm.errors import RenderError
from tests.helpers.sessions import RATE, tone, write_session, write_stem

WORKERS = 3
OBJECT_STORE_BYTES = 200 * 1024 * 1024
WORKER_ARGS = {"num_cpus": 1, "object_store_memory": OBJECT_STORE_BYTES}
HEAD_ARGS = {
    "num_cpus": 0,
    "object_store_memory": OBJECT_STORE_BYTES,
    "include_dashboard": False,
    # A killed raylet is declared dead after missed health checks: about 5 s
    # here instead of Ray's default of about 30 s.
    "_system_config": {"health_check_period_ms": 1000, "health_check_timeout_ms": 1000, "health_check_failure_threshold": 5},
}
SECONDS = 20.0
TRACKS = 8
CHUNK_S = 2.0
NULL_LEVEL = 10 ** (-120 / 20)
KILL_AT = 0.3
"""Fraction of the render's tasks done when a worker node is killed."""
RENDER_TIMEOUT_S = 120.0
"""A render that has not returned by then hangs: the test fails instead of hanging too."""
NODES_TIMEOUT_S = 60.0


def cluster_cpus() -> float:
    return ray.cluster_resources().get("CPU", 0.0)


def ensure_workers(cluster: Cluster, count: int = WORKERS) -> None:
    """Bring the cluster back to ``count`` live worker nodes (a test before may have killed some)."""
    for _ in range(count - len(cluster.worker_nodes)):
        cluster.add_node(**WORKER_ARGS)
    cluster.wait_for_nodes()
    deadline = time.monotonic() + NODES_TIMEOUT_S
    while cluster_cpus() != count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the cluster shows {cluster_cpus()} CPUs, expected {count}")
        time.sleep(0.2)


def busiest_worker(cluster: Cluster, tasks_seen: collections.Counter):
    """A worker node running a task now (its CPU taken), preferring the one that ran most tasks; and whether it is busy."""
    try:
        from ray._private.state import available_resources_per_node

        free = {node_id: resources.get("CPU", 0.0) for node_id, resources in available_resources_per_node().items()}
    except Exception:  # a developer API: without it, go by the tasks seen only
        free = {}
    node = max(cluster.worker_nodes, key=lambda node: (free.get(node.node_id, 0.0) == 0.0, tasks_seen[node.node_id]))
    return node, free.get(node.node_id, 0.0) == 0.0


def wait_until_idle(quiet_s: float = 3.0, timeout_s: float = 30.0) -> None:
    """Return once no CPU of the cluster has been in use for ``quiet_s`` seconds (tasks left queued run first)."""
    deadline, quiet_since = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        if ray.available_resources().get("CPU", 0.0) < cluster_cpus():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return
        time.sleep(0.1)
    raise TimeoutError(f"the cluster was still busy {timeout_s:g} s after the render failed")


def remove_all_workers_at(cluster: Cluster, at: float):
    """A progress callback that kills every worker node once ``at`` of the render is done; its ``.done`` Event is set then."""
    done = threading.Event()

    def progress(fraction, _audio_s, _stage):
        if fraction >= at and not done.is_set():
            for node in list(cluster.worker_nodes):
                cluster.remove_node(node, allow_graceful=False)
            done.set()

    progress.done = done
    return progress


def stateful_session(folder):
    """8 tracks x 20 s, each compressed (some eq'd), sends into a reverb bus and a feedback delay that feeds it; a master compressor and the loudness stage."""
    rng = np.random.default_rng(11)
    frames = int(SECONDS * RATE)
    t = np.arange(frames) / RATE
    tracks = []
    for index in range(TRACKS):
        beat = np.exp(-6.0 * ((t * (1 + index % 3)) % 1.0))[:, None]
        audio = tone(55.0 * 2 ** (5 * index / 12), SECONDS, 0.35) * beat
        if index % 2:
            audio = np.hstack([audio, audio * 0.5 + 0.05 * rng.standard_normal((frames, 1))])
        fx = [{"type": "compressor", "threshold_db": -20, "ratio": 3, "release_s": 0.2 + 0.1 * (index % 3)}]
        if index % 3 == 1:
            fx.insert(0, {"type": "eq", "bands": [{"kind": "highpass", "freq_hz": 80}, {"kind": "bell", "freq_hz": 1000, "gain_db": 3}]})
        sends = [{"bus": "verb", "level_db": -10}] + ([{"bus": "echo", "level_db": -12}] if index % 3 == 0 else [])
        tracks.append({"name": f"track{index}", "file": write_stem(folder, f"track{index}.wav", audio), "pan": round(float(np.sin(index)), 2), "fx": fx, "sends": sends})
    return write_session(
        folder,
        {
            "tracks": tracks,
            "buses": [
                {"name": "verb", "fx": [{"type": "reverb", "decay_s": 1.5, "predelay_s": 0.01, "mix": 1.0}]},
                {"name": "echo", "fx": [{"type": "delay", "time_s": 0.3, "feedback": 0.5, "mix": 1.0}], "output": "verb"},
            ],
            "master": {"fx": [{"type": "compressor", "threshold_db": -12, "ratio": 2}], "loudness": {"preset": "spotify"}, "tail_s": 2.0},
        },
    )


def read_master(out, report) -> np.ndarray:
    audio, _ = soundfile.read(out / report["deliverables"][0]["path"], dtype="float64", always_2d=True)
    return audio


def assert_nulls(audio: np.ndarray, reference: np.ndarray) -> None:
    assert audio.shape == reference.shape
    difference = float(np.max(np.abs(audio - reference)))
    assert difference < NULL_LEVEL, f"max |difference| {difference:.3g} (must be below -120 dBFS)"
    assert difference == 0.0, f"not bit-identical: max |difference| {difference:.3g}"


@pytest.fixture(scope="module")
def cluster():
    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args=HEAD_ARGS)
    try:
        for _ in range(WORKERS):
            cluster.add_node(**WORKER_ARGS)
        ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False)
        ensure_workers(cluster)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.fixture(scope="module")
def executor(cluster):
    return RayExecutor()


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """The session and its render by the in-process executor, the reference every cluster render must null against."""
    folder = tmp_path_factory.mktemp("multinode")
    path = stateful_session(folder)
    report = render(path, folder / "local", chunk_s=CHUNK_S, executor=LocalExecutor())
    return path, read_master(folder / "local", report)


class RecordingRayExecutor(RayExecutor):
    """The Ray executor, keeping every argument it submits."""

    def __init__(self):
        super().__init__()
        self.arguments: list = []

    def submit(self, task, *args, num_returns=1):
        self.arguments.extend(args)
        return super().submit(task, *args, num_returns=num_returns)


def test_a_render_spreads_over_the_worker_nodes_shares_no_folder_with_them_and_nulls(cluster, session, tmp_path):
    """The workers get their audio as arguments and give it back as results: no task is told a path into the output folder."""
    ensure_workers(cluster)
    path, reference = session
    executor = RecordingRayExecutor()
    report = render(path, tmp_path / "out", chunk_s=CHUNK_S, executor=executor)
    workers = {node.node_id for node in cluster.worker_nodes}
    busy = {node for node, count in report["nodes"].items() if count > 0}
    assert len(busy) > 1, report["nodes"]
    assert busy <= workers, "a task ran on the head, which has no CPUs"
    assert sum(report["nodes"].values()) == report["tasks"]
    paths = [str(arg) for arg in executor.arguments if isinstance(arg, (str, os.PathLike))]
    assert paths and not [arg for arg in paths if str(tmp_path / "out") in arg], "a task was handed a path into the output folder"
    assert_nulls(read_master(tmp_path / "out", report), reference)


def test_the_cluster_reports_the_cpus_busy_on_each_node_while_a_render_runs(cluster, executor, session, tmp_path):
    ensure_workers(cluster)
    path, _ = session
    seen: list[dict] = []
    render(path, tmp_path / "out", chunk_s=CHUNK_S, executor=executor, on_tasks=lambda metas: seen.append(executor.cluster()))
    workers = {node.node_id for node in cluster.worker_nodes}
    alive = [node for facts in seen for node in facts["nodes"] if node["alive"]]
    assert alive and all(node["cpus_busy"] is not None and 0 <= node["cpus_busy"] <= node["cpus"] for node in alive), alive
    assert any(sum(node["cpus_busy"] for node in facts["nodes"] if node["id"] in workers) > 0 for facts in seen), "no worker was ever seen busy"
    assert all(node["cpus_busy"] == 0 for node in alive if node["id"] not in workers), "the head has no CPUs to be busy"


def test_a_worker_node_killed_mid_render_loses_nothing(cluster, executor, session, tmp_path):
    ensure_workers(cluster)
    path, reference = session
    tasks_seen: collections.Counter = collections.Counter()
    killed: list[tuple[str, float, bool]] = []

    def on_tasks(metas):
        tasks_seen.update(meta["node"] for meta in metas)

    def progress(fraction, _audio_s, _stage):
        # Runs in the render's loop, so the node dies while later chunks are in flight and the rest not yet submitted.
        if fraction >= KILL_AT and not killed:
            node, running = busiest_worker(cluster, tasks_seen)
            cluster.remove_node(node, allow_graceful=False)
            killed.append((node.node_id, fraction, running))

    report = render(path, tmp_path / "out", chunk_s=CHUNK_S, executor=executor, progress=progress, on_tasks=on_tasks)
    assert killed and killed[0][1] < 0.5, f"the node was not killed mid-render: {killed}"
    assert len(cluster.worker_nodes) == WORKERS - 1
    survivors = {node.node_id for node in cluster.worker_nodes}
    assert any(report["nodes"].get(node, 0) > 0 for node in survivors)
    assert_nulls(read_master(tmp_path / "out", report), reference)
    print(f"killed {killed[0][0][:8]} at {killed[0][1]:.0%} done (running a task: {killed[0][2]}); tasks per node: {report['nodes']}")


def render_with_timeout(cluster: Cluster, *args, **kwargs) -> dict:
    """``render`` in a thread, so a render that hangs fails the test instead of hanging it: {"report"} or {"error"}."""
    outcome: dict = {}

    def run():
        try:
            outcome["report"] = render(*args, **kwargs)
        except BaseException as exc:  # handed to the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="render-under-test", daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(RENDER_TIMEOUT_S)
    if thread.is_alive():
        # Give the stuck render its CPUs back so it can end before the cluster shuts down.
        ensure_workers(cluster)
        thread.join(NODES_TIMEOUT_S)
        pytest.fail(f"render() still running {RENDER_TIMEOUT_S:g} s after the cluster lost all its CPUs: it hangs instead of failing")
    outcome["seconds"] = time.monotonic() - started
    return outcome


def test_a_render_whose_node_pool_vanishes_fails_with_a_clear_error_instead_of_hanging(cluster, executor, session, tmp_path):
    ensure_workers(cluster)
    path, _ = session
    progress = remove_all_workers_at(cluster, KILL_AT)
    outcome = render_with_timeout(cluster, path, tmp_path / "out", chunk_s=CHUNK_S, executor=executor, progress=progress)
    assert progress.done.is_set(), "the render finished before the workers could be removed"
    error = outcome.get("error")
    assert isinstance(error, RenderError), f"expected RenderError, got {error!r}"
    assert "no CPUs" in str(error), str(error)
    assert not (tmp_path / "out" / "report.json").exists()
    print(f"render failed {outcome['seconds']:.1f} s after it started: {error}")


def test_fetching_a_result_whose_node_died_fails_once_no_cpus_are_left_to_make_it_again(cluster):
    """The result is made and held on a worker node; with every worker gone Ray can only rebuild it by re-running its task, which never starts."""
    ensure_workers(cluster)
    executor = RayExecutor(no_cpu_grace_s=3.0)
    ref = executor.submit(np.full, (200_000, 2), 0.5)  # 3.2 MB: kept in the worker's object store, not sent to the driver
    executor.wait([ref], 1)
    for node in list(cluster.worker_nodes):
        cluster.remove_node(node, allow_graceful=False)
    outcome: dict = {}

    def fetch():
        try:
            outcome["value"] = executor.get(ref)
        except BaseException as exc:  # handed to the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=fetch, name="get-under-test", daemon=True)
    thread.start()
    thread.join(RENDER_TIMEOUT_S)
    if thread.is_alive():
        ensure_workers(cluster)
        thread.join(NODES_TIMEOUT_S)
        pytest.fail(f"get() still waiting {RENDER_TIMEOUT_S:g} s after the cluster lost all its CPUs: it hangs instead of failing")
    error = outcome.get("error")
    assert isinstance(error, RenderError) and error.transient, f"expected a transient RenderError, got {outcome!r}"
    assert "no CPUs" in str(error) and "lost result" in str(error), str(error)


def test_a_render_that_failed_leaves_no_tasks_behind_to_write_into_its_output_folder(cluster, session, tmp_path):
    """When the cluster loses its nodes the render fails; tasks of it that run when nodes come back write nothing."""
    ensure_workers(cluster)
    path, _ = session
    impatient = RayExecutor(no_cpu_grace_s=5.0)
    progress = remove_all_workers_at(cluster, KILL_AT)
    outcome = render_with_timeout(cluster, path, tmp_path / "out", chunk_s=CHUNK_S, executor=impatient, progress=progress)
    assert progress.done.is_set() and isinstance(outcome.get("error"), RenderError), outcome
    assert sorted(item.name for item in (tmp_path / "out").iterdir()) == []
    ensure_workers(cluster)
    wait_until_idle()
    left = sorted(str(item.relative_to(tmp_path / "out")) for item in (tmp_path / "out").rglob("*"))
    assert left == [], f"tasks of the failed render ran once nodes came back and wrote {left}"
