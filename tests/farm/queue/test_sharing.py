"""Sharing the farm: fair share between studios by weight, per-studio running limits, priorities that change,
jobs that wait for others, and the attempts every job's accounting is made of."""

from __future__ import annotations

import threading
import time

import pytest

from farm.engine.executor import LocalExecutor
from farm.errors import DependencyError, IllegalTransition, RenderError
from farm.queue.driver import InProcessDriver
from farm.queue.jobfiles import JobFiles
from farm.queue.jobstore import JobStore
from farm.queue.scheduler import Scheduler
from farm.queue.state import JobState
from farm.queue.studios import StudioPolicies, StudioPolicy
from farm.queue.usage import attempts, usage
from tests.farm.queue.test_scheduler import (
    REPORT,
    ScriptedDriver,
    wait_final,
    wait_until,
)
from tests.helpers.sessions import tone, write_session, write_stem


class GatedDriver(ScriptedDriver):
    """Renders that run until the test releases them, recording when each started and ended and how many of each
    studio's ran at once."""

    def __init__(self, store: JobStore, hold: bool = True) -> None:
        super().__init__(self._render)
        self.store = store
        self.hold = hold
        self.gates: dict[str, threading.Event] = {}
        self.order: list[str] = []
        self.ended: list[str] = []
        self.running: dict[str, int] = {}
        self.most_running: dict[str, int] = {}
        self._lock = threading.Lock()

    def release(self, job_id: str) -> None:
        self.gates.setdefault(job_id, threading.Event()).set()

    def _render(self, job_id, call, progress, cancel):
        studio = self.store.get(job_id).studio
        with self._lock:
            self.order.append(job_id)
            self.running[studio] = self.running.get(studio, 0) + 1
            self.most_running[studio] = max(self.most_running.get(studio, 0), self.running[studio])
            gate = self.gates.setdefault(job_id, threading.Event())
        if self.hold:
            gate.wait(60)
        else:
            time.sleep(0.005)
        with self._lock:
            self.running[studio] -= 1
            self.ended.append(job_id)
        return REPORT


class BundlelessFiles(JobFiles):
    """Job files whose every job has a session, for drivers that never read it."""

    def session_file(self, job_id):
        return self.root.joinpath("session.yaml")


def queue(store: JobStore, studio: str, count: int, priority: int = 0, after=()) -> list[str]:
    return [store.create(f"{studio} {index}", studio, priority, after=after).id for index in range(count)]


@pytest.fixture
def shared(tmp_path):
    """``make(policies) -> (store, start)``: a store with those studio policies and ``start(driver, **options)`` for its scheduler."""
    made: list = []

    def make(policies: StudioPolicies = StudioPolicies()):
        store = JobStore(tmp_path / f"data{len(made)}" / "jobs.sqlite3", policies=policies)
        files = BundlelessFiles(tmp_path / f"data{len(made)}")
        schedulers: list[Scheduler] = []
        made.append((store, schedulers))

        def start(driver, **options) -> Scheduler:
            scheduler = Scheduler(store, files, driver, poll_s=0.02, **options)
            scheduler.start()
            schedulers.append(scheduler)
            return scheduler

        return store, start

    yield make
    for store, schedulers in made:
        for scheduler in schedulers:
            scheduler.stop()
        store.close()


def test_a_small_studio_is_not_starved_by_a_large_backlog(shared):
    store, start = shared()
    a_jobs = queue(store, "A", 50)
    driver = GatedDriver(store)
    start(driver, max_running=2)
    wait_until(lambda: len(driver.order) == 2, "A's first two jobs to start")
    assert sorted(driver.order) == sorted(a_jobs[:2]), "two renders start at once, in either order"
    b_jobs = queue(store, "B", 5)

    driver.release(a_jobs[0])
    wait_until(lambda: len(driver.order) == 3, "the freed slot to be taken")
    assert driver.order[2] == b_jobs[0], "the slot A's first job freed goes to B, whose share is smaller"
    assert a_jobs[2] not in driver.ended

    for job_id in a_jobs + b_jobs:
        driver.release(job_id)
    for job_id in a_jobs + b_jobs:
        assert wait_final(store, job_id).state is JobState.SUCCEEDED


def test_a_studio_never_runs_more_than_its_max_running(shared):
    store, start = shared(StudioPolicies(studios={"A": StudioPolicy(max_running=1)}))
    a_jobs = queue(store, "A", 50)
    b_jobs = queue(store, "B", 5)
    driver = GatedDriver(store, hold=False)
    start(driver, max_running=2)
    for job_id in a_jobs + b_jobs:
        assert wait_final(store, job_id).state is JobState.SUCCEEDED
    assert driver.most_running["A"] == 1
    assert driver.most_running["B"] == 1


def test_slots_are_shared_by_weight(shared):
    store, start = shared(StudioPolicies(studios={"A": StudioPolicy(weight=3.0)}))
    queue(store, "A", 20)
    queue(store, "B", 20)
    driver = GatedDriver(store)
    start(driver, max_running=4)
    wait_until(lambda: len(driver.order) == 4, "four jobs to start")
    time.sleep(0.2)
    assert len(driver.order) == 4
    assert driver.running == {"A": 3, "B": 1}
    for job_id in list(driver.gates):
        driver.release(job_id)


def test_a_changed_priority_reorders_the_queue(shared):
    store, _ = shared()
    first, second, third = queue(store, "A", 3)
    assert store.set_priority(third, 5).priority == 5
    store.set_priority(first, -1)
    claimed = [store.claim_next().id for _ in range(3)]
    assert claimed == [third, second, first]
    assert store.claim_next() is None


def test_priority_orders_only_within_a_studio(shared):
    store, _ = shared()
    (a_low,) = queue(store, "A", 1, priority=0)
    b_urgent = queue(store, "B", 2, priority=100)
    claimed = [store.claim_next().id for _ in range(3)]
    assert claimed == [a_low, b_urgent[0], b_urgent[1]], "B's priority does not jump it past A's share"


def test_a_chain_of_dependencies_runs_in_order(shared):
    store, start = shared()
    (first,) = queue(store, "A", 1, priority=0)
    (second,) = queue(store, "A", 1, priority=5, after=[first])
    (third,) = queue(store, "A", 1, priority=9, after=[second])
    (free,) = queue(store, "A", 1, priority=1)
    driver = GatedDriver(store, hold=False)
    start(driver, max_running=4)
    for job_id in (first, second, third, free):
        assert wait_final(store, job_id).state is JobState.SUCCEEDED
    order = driver.order
    assert order.index(first) < order.index(second) < order.index(third)
    assert driver.ended.index(first) < order.index(second) and driver.ended.index(second) < order.index(third)
    assert store.get(third).after == [second]


def test_a_failed_dependency_fails_its_dependants_with_the_reason(shared):
    store, start = shared()
    (first,) = queue(store, "A", 1)
    (second,) = queue(store, "A", 1, after=[first])
    (third,) = queue(store, "A", 1, after=[second])

    def fail(job_id, call, progress, cancel):
        raise RenderError("the mix is silent: there is no loudness to normalise to the target")

    start(ScriptedDriver(fail), max_running=2)
    assert wait_final(store, first).state is JobState.FAILED
    second_job, third_job = wait_final(store, second), wait_final(store, third)
    assert second_job.state is JobState.FAILED and third_job.state is JobState.FAILED
    assert second_job.error == f"job {first} (A 0), which this job waits for, failed: the mix is silent: there is no loudness to normalise to the target"
    assert third_job.error.startswith(f"job {second} (A 0), which this job waits for, failed: job {first} (A 0)")
    assert second_job.attempts == 0


def test_a_cancelled_dependency_fails_its_dependants(shared):
    store, _ = shared()
    (first,) = queue(store, "A", 1)
    (second,) = queue(store, "A", 1, after=[first])
    changes = []
    store.subscribe(lambda job, previous: changes.append((job.id, job.state)))
    store.transition(first, JobState.CANCELLED, error="cancelled before it ran")
    assert store.get(second).state is JobState.FAILED
    assert store.get(second).error == f"job {first} (A 0), which this job waits for, cancelled: cancelled before it ran"
    assert (second, JobState.FAILED) in changes
    assert store.claim_next() is None


def test_dependencies_are_checked_when_a_job_is_queued(shared):
    store, _ = shared()
    (mine,) = queue(store, "A", 1)
    (theirs,) = queue(store, "B", 1)
    with pytest.raises(DependencyError, match=r"^after\[0\]: no job 'nope' of studio 'A'$"):
        store.create("x", "A", after=["nope"])
    with pytest.raises(DependencyError, match=rf"^after\[1\]: no job '{theirs}' of studio 'A'$"):
        store.create("x", "A", after=[mine, theirs])
    store.transition(mine, JobState.CANCELLED)
    with pytest.raises(DependencyError, match=rf"^after\[0\]: job '{mine}' is cancelled, so this job could never run"):
        store.create("x", "A", after=[mine])
    with pytest.raises(DependencyError, match="more than the 100 a job may wait for"):
        store.create("x", "B", after=[f"id{index}" for index in range(101)])
    assert store.counts()[JobState.QUEUED] == 1


def test_a_waiting_job_does_not_hold_back_its_studio(shared):
    store, _ = shared()
    (first,) = queue(store, "A", 1)
    (blocked,) = queue(store, "A", 1, priority=9, after=[first])
    (other,) = queue(store, "A", 1)
    assert store.claim_next().id == first
    assert store.claim_next().id == other
    assert store.claim_next() is None
    store.transition(first, JobState.SUCCEEDED)
    assert store.claim_next().id == blocked


def test_usage_is_the_sum_of_the_task_seconds_of_every_attempt(tmp_path):
    store = JobStore(tmp_path / "data" / "jobs.sqlite3")
    files = JobFiles(tmp_path / "data")
    seen: list[dict] = []
    ids = []
    for index, seconds in enumerate((2.0, 3.0)):
        staging = tmp_path / f"staging{index}"
        stem = write_stem(staging / "bundle", "tone.wav", tone(220.0, seconds))
        write_session(staging / "bundle", {"tracks": [{"name": "tone", "file": stem}]})
        job = store.create(f"song {index}", "A", duration_s=seconds)
        files.keep_bundle(job.id, staging)
        ids.append(job.id)
    scheduler = Scheduler(store, files, InProcessDriver(LocalExecutor), poll_s=0.02, max_running=1, on_tasks=seen.extend)
    scheduler.start()
    try:
        jobs = [wait_final(store, job_id) for job_id in ids]
    finally:
        scheduler.stop()
    assert all(job.state is JobState.SUCCEEDED for job in jobs)
    task_s = sum(meta["seconds"] for meta in seen)
    assert task_s > 0
    figures = usage(store, "A", 0.0, time.time() + 1)
    assert figures["total"]["cpu_s"] == pytest.approx(task_s, rel=1e-9)
    assert figures["total"]["audio_s"] == pytest.approx(5.0)
    assert figures["total"]["jobs"] == 2 and figures["total"]["attempts"] == 2
    assert [day["day"] for day in figures["days"]] == [time.strftime("%Y-%m-%d", time.gmtime())]
    for job in jobs:
        (record,) = attempts(store, job.id)
        assert record["outcome"] == "succeeded" and record["cpu_s"] == pytest.approx(job.cpu_s)
        assert job.report["usage"]["cpu_s"] == pytest.approx(job.cpu_s)
    assert usage(store, "B", 0.0, time.time() + 1)["total"]["cpu_s"] == 0
    store.close()


def test_a_failed_task_is_recorded_with_its_kind_strip_chunk_node_and_traceback(tmp_path):
    store = JobStore(tmp_path / "data" / "jobs.sqlite3")
    files = JobFiles(tmp_path / "data")
    staging = tmp_path / "staging"
    stem = write_stem(staging / "bundle", "tone.wav", tone(220.0, 80.0))
    write_session(staging / "bundle", {"tracks": [{"name": "tone", "file": stem}]})
    job = store.create("song", "A", duration_s=80.0)
    files.keep_bundle(job.id, staging)
    stem_path = files.bundle(job.id).joinpath(*stem.split("/")).local_path
    kept_bytes = stem_path.stat().st_size // 5
    driver = InProcessDriver(LocalExecutor)
    render = driver.render

    def truncating(*args, progress=None, **options):
        def truncate_then_report(fraction, audio_s, stage):
            if stem_path.stat().st_size > kept_bytes:
                with open(stem_path, "r+b") as handle:
                    handle.truncate(kept_bytes)
            progress(fraction, audio_s, stage)

        return render(*args, progress=truncate_then_report, **options)

    driver.render = truncating
    scheduler = Scheduler(store, files, driver, poll_s=0.02, max_running=1)
    scheduler.start()
    try:
        failed = wait_final(store, job.id)
    finally:
        scheduler.stop()
    assert failed.state is JobState.FAILED, failed.error
    assert failed.error.startswith("task tracks_chunk failed: stems/tone.wav: truncated WAV: data chunk declares 15360000 bytes, file holds")
    (record,) = attempts(store, job.id)
    assert record["outcome"] == "failed"
    failure = record["failure"]
    assert (failure["task"], failure["strip"], failure["tracks"]) == ("tracks", "track group 1", ["tone"])
    assert failure["chunk"]["start_frame"] < failure["chunk"]["stop_frame"]
    assert failure["node"] == "local" and failure["host"]
    assert "AudioFileError" in failure["traceback"] and str(tmp_path) not in failure["traceback"]
    store.close()


def test_a_purged_job_cannot_be_retried(shared):
    store, _ = shared()
    (job_id,) = queue(store, "A", 1)
    store.transition(job_id, JobState.CANCELLED)
    with store.writing() as db:
        db.execute("UPDATE jobs SET purged_at = 1 WHERE id = ?", (job_id,))
    scheduler = Scheduler(store, JobFiles(store.path.parent), ScriptedDriver(lambda *a: REPORT))
    with pytest.raises(IllegalTransition, match="removed by the retention policy at 1970-01-01 00:00:01 UTC"):
        scheduler.retry(job_id)
