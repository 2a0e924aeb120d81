"""The scheduler: what becomes of a job however its render ends, and that every job ends."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from farm.engine.executor import LocalExecutor
from farm.errors import DriverLost, RenderCancelled, RenderError, UnknownJob
from farm.queue.driver import InProcessDriver, ProcessDriver
from farm.queue.jobfiles import JobFiles
from farm.queue.jobstore import JobStore
from farm.queue.scheduler import Scheduler
from farm.queue.state import FINAL_STATES, JobState
from tests.helpers.sessions import tone, write_session, write_stem

WAIT_S = 120.0


class ScriptedDriver:
    """A driver whose renders do what the test says: ``script(job_id, call_number, progress, cancel)``."""

    def __init__(self, script) -> None:
        self.script = script
        self.calls: list[str] = []
        self.started = self.stopped = False

    def start(self) -> None:
        self.started = True

    def render(self, job_id, session, out_dir, *, progress=None, cancel=None, on_tasks=None, max_duration_s=None, cache=None) -> dict:
        self.calls.append(job_id)
        return self.script(job_id, self.calls.count(job_id), progress, cancel)

    def cluster(self) -> dict:
        return {"nodes": [], "cpus": 2, "cpus_busy": 0}

    def shutdown(self) -> None:
        self.stopped = True


REPORT = {"deliverables": [{"path": "master.wav", "format": "wav", "bytes": 10}], "duration_s": 1.0}


def add_job(store: JobStore, files: JobFiles, tmp_path: Path, name: str = "song", seconds: float = 1.0) -> str:
    """A queued job whose bundle holds a real one-track session."""
    staging = tmp_path / f"staging-{name}"
    bundle = staging / "bundle"
    bundle.mkdir(parents=True)
    stem = write_stem(bundle, "tone.wav", tone(220.0, seconds))
    write_session(bundle, {"tracks": [{"name": "tone", "file": stem}]})
    job = store.create(name, "local", duration_s=seconds)
    files.keep_bundle(job.id, staging)
    return job.id


def wait_until(condition, what: str, timeout_s: float = WAIT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def wait_final(store: JobStore, job_id: str):
    return wait_until(lambda: (job := store.get(job_id)).state in FINAL_STATES and job, f"job {job_id} to end")


@pytest.fixture
def farm(tmp_path):
    """(store, files, start) where ``start(driver, **options)`` runs a scheduler stopped after the test."""
    store = JobStore(tmp_path / "data" / "jobs.sqlite3", busy_timeout_s=0.2)
    files = JobFiles(tmp_path / "data")
    schedulers: list[Scheduler] = []

    def start(driver, **options) -> Scheduler:
        scheduler = Scheduler(store, files, driver, poll_s=0.02, **options)
        scheduler.start()
        schedulers.append(scheduler)
        return scheduler

    yield store, files, start
    for scheduler in schedulers:
        scheduler.stop()
    store.close()


def test_a_job_renders_in_process_to_its_deliverable(farm, tmp_path):
    store, files, start = farm
    job_id = add_job(store, files, tmp_path)
    start(InProcessDriver(LocalExecutor))
    job = wait_final(store, job_id)
    assert job.state is JobState.SUCCEEDED, job.error
    assert [item["name"] for item in job.outputs] == ["master.wav"]
    assert files.output(job_id, "master.wav").size() == job.outputs[0]["bytes"]


def test_a_failure_of_the_render_itself_fails_at_once_without_retries(farm, tmp_path):
    store, files, start = farm
    job_id = add_job(store, files, tmp_path)

    def fail(job_id, call, progress, cancel):
        raise RenderError("the mix is silent: there is no loudness to normalise to the target")

    driver = ScriptedDriver(fail)
    start(driver)
    job = wait_final(store, job_id)
    assert (job.state, job.attempts, driver.calls) == (JobState.FAILED, 1, [job_id])
    assert job.error == "the mix is silent: there is no loudness to normalise to the target"


def test_a_session_that_no_longer_loads_fails_without_retries_or_server_paths(farm, tmp_path):
    store, files, start = farm
    job_id = add_job(store, files, tmp_path)
    files.bundle(job_id).joinpath("stems", "tone.wav").remove()
    start(InProcessDriver(LocalExecutor))
    job = wait_final(store, job_id)
    assert job.state is JobState.FAILED and job.attempts == 1
    assert "tracks[0].file" in job.error and str(tmp_path) not in job.error


def test_a_failure_of_the_infrastructure_is_retried_until_it_passes(farm, tmp_path):
    store, files, start = farm
    job_id = add_job(store, files, tmp_path)

    def flaky(job_id, call, progress, cancel):
        if call < 3:
            raise RenderError("the cluster could not finish a task: worker died", transient=True)
        return REPORT

    driver = ScriptedDriver(flaky)
    start(driver, max_attempts=3)
    job = wait_final(store, job_id)
    assert (job.state, job.attempts, len(driver.calls)) == (JobState.SUCCEEDED, 3, 3)


def test_a_failure_of_the_infrastructure_fails_the_job_after_max_attempts(farm, tmp_path):
    store, files, start = farm
    job_id = add_job(store, files, tmp_path)

    def down(job_id, call, progress, cancel):
        raise RenderError("storage timed out", transient=True)

    driver = ScriptedDriver(down)
    start(driver, max_attempts=2)
    job = wait_final(store, job_id)
    assert (job.state, job.attempts, len(driver.calls)) == (JobState.FAILED, 2, 2)
    assert job.error == "attempt 2 of 2 failed: storage timed out"


def test_a_job_whose_render_kills_the_driver_twice_is_failed_naming_why(farm, tmp_path):
    store, files, start = farm
    job_id = add_job(store, files, tmp_path)

    def crash(job_id, call, progress, cancel):
        raise DriverLost("the render driver process died (exit code -6)")

    driver = ScriptedDriver(crash)
    start(driver)
    job = wait_final(store, job_id)
    assert (job.state, job.interruptions, len(driver.calls)) == (JobState.FAILED, 2, 2)
    assert job.error.startswith("the render driver process died (exit code -6) while it ran, 2 times: this job may be what brings it down")


def test_the_outcome_waits_for_a_store_that_is_locked_and_the_job_still_ends(farm, tmp_path, caplog):
    store, files, start = farm
    job_id = add_job(store, files, tmp_path)
    locked, finish = threading.Event(), threading.Event()

    def render_while_locked(job_id, call, progress, cancel):
        locked.wait(WAIT_S)
        progress(0.5, 0.5, "mixing")
        finish.set()
        return REPORT

    start(ScriptedDriver(render_while_locked))
    wait_until(lambda: store.get(job_id).state is JobState.RUNNING, "the job to run")
    blocker = sqlite3.connect(store.path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    locked.set()
    finish.wait(WAIT_S)
    wait_until(lambda: "the store refused its outcome" in caplog.text, "the outcome to be refused")
    assert store.get(job_id).state is JobState.RUNNING
    blocker.execute("ROLLBACK")
    blocker.close()
    job = wait_final(store, job_id)
    assert job.state is JobState.SUCCEEDED and job.outputs[0]["name"] == "master.wav"


def test_the_watchdog_settles_a_job_marked_running_with_no_render(farm, tmp_path):
    store, files, start = farm
    start(ScriptedDriver(lambda *args: REPORT), max_running=0)  # claims nothing, so only the watchdog acts
    orphan = store.create("orphan", "local")
    store.transition(orphan.id, JobState.RUNNING)  # as if its render thread had died
    job = wait_until(lambda: (job := store.get(orphan.id)).interruptions == 1 and job, "the watchdog")
    assert job.state is JobState.QUEUED and job.error == "requeued: its render was lost while it ran"


def test_cancelling_a_running_job_with_no_render_cancels_it_at_once(farm, tmp_path):
    store, files, start = farm
    scheduler = start(ScriptedDriver(lambda *args: REPORT))
    orphan = store.create("orphan", "local")
    scheduler.stop()
    store.transition(orphan.id, JobState.RUNNING)
    assert scheduler.cancel(orphan.id).state is JobState.CANCELLED


def test_a_cancelled_job_stays_cancelled_when_the_service_stops_meanwhile(farm, tmp_path):
    store, files, start = farm
    job_id = add_job(store, files, tmp_path)
    rendering = threading.Event()

    def until_cancelled(job_id, call, progress, cancel):
        rendering.set()
        cancel.wait(WAIT_S)
        raise RenderCancelled("the render was cancelled")

    scheduler = start(ScriptedDriver(until_cancelled))
    rendering.wait(WAIT_S)
    store.request_cancel(job_id)
    scheduler.stop()
    assert store.get(job_id).state is JobState.CANCELLED


def test_cancel_and_retry_of_an_unknown_job_raise_unknown_job(farm):
    store, files, start = farm
    scheduler = start(ScriptedDriver(lambda *args: REPORT))
    for action in (scheduler.cancel, scheduler.retry):
        with pytest.raises(UnknownJob, match="no job 'missing'"):
            action("missing")


def test_a_killed_driver_process_ends_its_render_and_the_next_one_starts_a_new_process(tmp_path):
    store = JobStore(tmp_path / "data" / "jobs.sqlite3")
    files = JobFiles(tmp_path / "data")
    slow = add_job(store, files, tmp_path, "slow", seconds=120.0)
    quick = add_job(store, files, tmp_path, "quick", seconds=1.0)
    driver = ProcessDriver(LocalExecutor)
    driver.start()
    try:
        first_pid = driver.pid
        progressed = threading.Event()
        outcome: list[BaseException] = []

        def run_slow():
            try:
                driver.render(slow, str(files.session_file(slow)), str(files.out(slow)), progress=lambda *_: progressed.set())
            except BaseException as exc:  # noqa: BLE001 - the test inspects it
                outcome.append(exc)

        worker = threading.Thread(target=run_slow)
        worker.start()
        assert progressed.wait(WAIT_S)
        os.kill(first_pid, signal.SIGKILL)
        worker.join(WAIT_S)
        assert len(outcome) == 1 and isinstance(outcome[0], DriverLost)
        assert str(outcome[0]) == f"the render driver process died (exit code {-signal.SIGKILL})"
        report = driver.render(quick, str(files.session_file(quick)), str(files.out(quick)))
        assert report["deliverables"][0]["path"] == "master.wav"
        assert driver.pid not in (None, first_pid) and driver.restarts == 1
    finally:
        driver.shutdown()
        store.close()
    assert driver.pid is None


@pytest.fixture
def small_disk(tmp_path):
    """A 512 KiB tmpfs (root can mount one; elsewhere the test is skipped)."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=True)


def test_a_render_that_runs_out_of_disk_fails_at_once_saying_so(small_disk, tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    files = JobFiles(small_disk)
    job_id = add_job(store, files, tmp_path, seconds=1.0)
    scheduler = Scheduler(store, files, InProcessDriver(LocalExecutor), poll_s=0.02)
    scheduler.start()
    try:
        job = wait_final(store, job_id)
    finally:
        scheduler.stop()
        store.close()
    assert (job.state, job.attempts) == (JobState.FAILED, 1)
    assert job.error.startswith("out/.mixfarm-render-") and "no space left on device for the render's files" in job.error
