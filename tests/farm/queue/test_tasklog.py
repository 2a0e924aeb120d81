"""The task log of every attempt: real renders through the scheduler (in process), its cap, and its removal by retention."""

from __future__ import annotations

import time

from farm.engine.executor import LocalExecutor
from farm.engine.plan import DEFAULT_CHUNK_S
from farm.queue.driver import InProcessDriver
from farm.queue.jobfiles import JobFiles
from farm.queue.jobstore import Attempt, JobStore
from farm.queue.retention import collect
from farm.queue.scheduler import Scheduler
from farm.queue.state import JobState
from farm.queue.studios import StudioPolicies, StudioPolicy
from farm.queue.tasklog import TaskLog, attempt_tasks, next_attempt
from farm.queue.usage import attempts
from tests.farm.queue.test_scheduler import wait_final
from tests.helpers.sessions import THREE_CHUNKS_S, tone, write_session, write_stem

RATE = 48000
CHUNK = int(DEFAULT_CHUNK_S * RATE)


def queued_job(tmp_path, store: JobStore, files: JobFiles, seconds: float, master: dict | None = None, stem_name: str = "tone.wav"):
    staging = tmp_path / f"staging-{time.monotonic_ns()}"
    stem = write_stem(staging / "bundle", stem_name, tone(220.0, seconds), subtype="PCM_24")
    document = {"tracks": [{"name": "tone", "file": stem}], "buses": [{"name": "music"}]}
    document["tracks"][0]["output"] = "music"
    if master:
        document["master"] = master
    write_session(staging / "bundle", document)
    job = store.create("song", "A", duration_s=seconds)
    files.keep_bundle(job.id, staging)
    return job


def run_jobs(store: JobStore, files: JobFiles, *job_ids: str) -> list:
    scheduler = Scheduler(store, files, InProcessDriver(LocalExecutor), poll_s=0.02, max_running=1)
    scheduler.start()
    try:
        return [wait_final(store, job_id) for job_id in job_ids]
    finally:
        scheduler.stop()


def test_a_render_logs_every_task_with_its_stage_node_chunk_and_loudness_pass(tmp_path):
    store, files = JobStore(tmp_path / "data" / "jobs.sqlite3"), JobFiles(tmp_path / "data")
    job = queued_job(tmp_path, store, files, THREE_CHUNKS_S, {"tail_s": 0.0, "loudness": {"preset": "spotify"}})
    (done,) = run_jobs(store, files, job.id)
    assert done.state is JobState.SUCCEEDED, done.error

    logged = attempt_tasks(store, job.id, 1)
    tasks = logged["tasks"]
    assert logged["finished"] == len(tasks) == done.report["tasks"] and logged["sample_rate"] == RATE
    assert {task["stage"] for task in tasks} == {"mix", "loudness", "deliver"}
    assert {task["node"] for task in tasks} == {"local"}
    chunks = sorted((task["start_frame"], task["stop_frame"]) for task in tasks if task["kind"] == "bus")
    assert chunks == [(0, CHUNK), (CHUNK, 2 * CHUNK), (2 * CHUNK, int(THREE_CHUNKS_S * RATE))]
    assert {task["strip"] for task in tasks if task["kind"] == "bus"} == {"music"}
    passes = {task["loudness_pass"] for task in tasks if task["stage"] == "loudness"}
    assert passes == set(range(1, done.report["loudness_passes"] + 1)) and len(passes) >= 1
    assert all(task["loudness_pass"] is None for task in tasks if task["stage"] != "loudness")
    assert {task["output"] for task in tasks if task["stage"] == "deliver"} == {"master.wav"}
    assert [task["started_at"] for task in tasks] == sorted(task["started_at"] for task in tasks)
    assert done.started_at <= tasks[0]["started_at"] and all(task["seconds"] > 0 for task in tasks)
    assert attempt_tasks(store, job.id, 2) == {"tasks": [], "finished": 0, "sample_rate": None}
    store.close()


def test_a_failed_attempt_keeps_the_tasks_before_it_and_the_failed_task_with_its_start(tmp_path):
    store, files = JobStore(tmp_path / "data" / "jobs.sqlite3"), JobFiles(tmp_path / "data")
    job = queued_job(tmp_path, store, files, THREE_CHUNKS_S, stem_name="tone.flac")
    stem = files.bundle(job.id).joinpath("stems", "tone.flac").local_path
    stem.write_bytes(stem.read_bytes()[: stem.stat().st_size * 3 // 5])  # its header still counts the whole length; the last chunk's frames are gone

    (failed,) = run_jobs(store, files, job.id)
    assert failed.state is JobState.FAILED, failed.error
    (record,) = attempts(store, job.id)
    failure = record["failure"]
    assert failure["task"] == "tracks" and failure["chunk"]["start_frame"] > 0
    assert record["started_at"] <= failure["started_at"] <= record["ended_at"] and failure["seconds"] >= 0
    logged = attempt_tasks(store, job.id, 1)
    earlier = [task for task in logged["tasks"] if task["kind"] == "tracks"]
    assert earlier and all(task["stop_frame"] <= failure["chunk"]["start_frame"] for task in earlier)
    assert next_attempt(store, job.id) == 2
    store.close()


def test_an_attempt_keeps_at_most_its_cap_and_counts_the_rest(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    log = TaskLog(store, "job1", 1, max_tasks=5)
    meta = {"kind": "bus", "stage": "mix", "node": "n1", "seconds": 0.1, "strip": "drums", "start_frame": 0, "stop_frame": 10, "sample_rate": RATE}
    log.record([{**meta, "started_at": float(index)} for index in range(3)])
    log.record([{**meta, "started_at": float(index)} for index in range(3, 7)])
    log.record([{**meta, "started_at": 9.0}])
    logged = attempt_tasks(store, "job1", 1)
    assert [task["started_at"] for task in logged["tasks"]] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert logged["finished"] == 8 and logged["sample_rate"] == RATE
    store.close()


def test_retention_removes_a_jobs_task_log_with_its_files(tmp_path):
    store, files = JobStore(tmp_path / "data" / "jobs.sqlite3"), JobFiles(tmp_path / "data")
    policies = StudioPolicies(StudioPolicy(retention_s=1.0))
    old, kept = store.create("old", "A"), store.create("kept", "A")
    for job in (old, kept):
        TaskLog(store, job.id, 1).record([{"kind": "mix", "stage": "mix", "node": "n1", "started_at": 1.0, "seconds": 0.5}])
        store.transition(job.id, JobState.RUNNING)
        store.transition(job.id, JobState.SUCCEEDED, attempt=Attempt("succeeded", 0.5, 1.0))
    with store.writing() as db:
        db.execute("UPDATE jobs SET finished_at = ? WHERE id = ?", (time.time() - 60, old.id))
    assert collect(store, files, policies).purged == [old.id]
    assert attempt_tasks(store, old.id, 1) == {"tasks": [], "finished": 0, "sample_rate": None}
    assert attempt_tasks(store, kept.id, 1)["finished"] == 1
    store.close()
