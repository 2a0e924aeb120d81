"""The job store: its state machine, claim order, concurrency and persistence."""

from __future__ import annotations

import itertools
import sqlite3
import threading

import pytest

from farm.errors import IllegalTransition, UnknownJob
from farm.queue.jobstore import MAX_INTERRUPTIONS, SCHEMA, JobStore
from farm.queue.state import (
    FINAL_STATES,
    MOVE_PHRASES,
    STATE_PHRASES,
    TRANSITIONS,
    JobState,
    check_transition,
)

# The shortest legal path from a new (queued) job to each state.
PATH_TO = {
    JobState.QUEUED: [],
    JobState.RUNNING: [JobState.RUNNING],
    JobState.SUCCEEDED: [JobState.RUNNING, JobState.SUCCEEDED],
    JobState.FAILED: [JobState.RUNNING, JobState.FAILED],
    JobState.CANCELLED: [JobState.CANCELLED],
}

ALLOWED = [(source, target) for source in JobState for target in sorted(TRANSITIONS[source], key=lambda s: s.value)]
ILLEGAL = [(source, target) for source, target in itertools.product(JobState, JobState) if target not in TRANSITIONS[source]]


@pytest.fixture
def store(tmp_path):
    opened = JobStore(tmp_path / "jobs.sqlite3")
    yield opened
    opened.close()


def job_in(store: JobStore, state: JobState, **create):
    job = store.create(create.pop("name", "song"), create.pop("studio", "local"), **create)
    for step in PATH_TO[state]:
        job = store.transition(job.id, step)
    assert job.state is state
    return job


def test_the_transition_table_is_the_documented_life_of_a_job():
    assert TRANSITIONS[JobState.QUEUED] == {JobState.RUNNING, JobState.CANCELLED, JobState.FAILED}
    assert TRANSITIONS[JobState.RUNNING] == {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.QUEUED}
    assert TRANSITIONS[JobState.SUCCEEDED] == set()
    assert TRANSITIONS[JobState.FAILED] == {JobState.QUEUED}
    assert TRANSITIONS[JobState.CANCELLED] == {JobState.QUEUED}
    assert FINAL_STATES == {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}
    assert all(state.is_final == (state in FINAL_STATES) for state in JobState)


def test_job_states_are_str_enum_values():
    assert JobState("running") is JobState.RUNNING and JobState.RUNNING == "running"


@pytest.mark.parametrize(("source", "target"), ALLOWED, ids=[f"{s.value}->{t.value}" for s, t in ALLOWED])
def test_allowed_transition_moves_the_stored_job(store, source, target):
    job = job_in(store, source)
    moved = store.transition(job.id, target)
    assert moved.state is target
    assert store.get(job.id).state is target


@pytest.mark.parametrize(("source", "target"), ILLEGAL, ids=[f"{s.value}->{t.value}" for s, t in ILLEGAL])
def test_illegal_transition_raises_naming_both_states_and_leaves_the_job_alone(store, source, target):
    job = job_in(store, source)
    before = store.get(job.id)
    with pytest.raises(IllegalTransition) as caught:
        store.transition(job.id, target, error="must not be written")
    message = str(caught.value)
    assert message.startswith(f"the job {STATE_PHRASES[source]}, so it cannot {MOVE_PHRASES[target]}")
    assert store.get(job.id) == before


@pytest.mark.parametrize(("source", "target"), ILLEGAL, ids=[f"{s.value}->{t.value}" for s, t in ILLEGAL])
def test_check_transition_refuses_every_illegal_move(source, target):
    with pytest.raises(IllegalTransition, match=f"so it cannot {MOVE_PHRASES[target]}"):
        check_transition(source.value, target.value)


def test_a_refused_move_says_what_can_be_done_instead():
    with pytest.raises(IllegalTransition) as caught:
        check_transition("succeeded", "cancelled")
    assert str(caught.value) == "the job has succeeded, so it cannot be cancelled; its outputs are ready (submit it again to render it again)"
    with pytest.raises(IllegalTransition) as caught:
        check_transition("failed", "cancelled")
    assert str(caught.value) == "the job has failed, so it cannot be cancelled; retry it to run it again"


def test_check_transition_returns_the_target_as_a_state():
    assert check_transition("queued", "running") is JobState.RUNNING


def test_transition_of_an_unknown_job_raises_unknown_job_naming_it(store):
    with pytest.raises(UnknownJob, match="no job 'nope'"):
        store.transition("nope", JobState.RUNNING)


def test_running_stamps_start_and_counts_the_attempt(store):
    job = store.create("song", "local")
    assert job.attempts == 0 and job.started_at is None and job.finished_at is None
    running = store.transition(job.id, JobState.RUNNING)
    assert running.attempts == 1 and running.started_at >= job.created_at
    again = store.transition(store.transition(job.id, JobState.QUEUED).id, JobState.RUNNING)
    assert again.attempts == 2


def test_final_states_stamp_the_finish_time(store):
    for state in FINAL_STATES:
        job = job_in(store, state)
        assert job.finished_at is not None and job.finished_at >= job.created_at


def test_queueing_again_resets_progress_and_the_cancel_request(store):
    job = job_in(store, JobState.RUNNING)
    store.record_progress(job.id, 0.5, 12.0)
    store.request_cancel(job.id)
    failed = store.transition(job.id, JobState.FAILED, error="boom")
    assert failed.progress == 0.5 and failed.cancel_requested
    queued = store.transition(job.id, JobState.QUEUED)
    assert (queued.progress, queued.audio_s, queued.cancel_requested, queued.finished_at) == (0.0, 0.0, False, None)
    assert queued.error == "boom"


def test_a_running_jobs_stage_is_kept_until_it_ends(store):
    job = job_in(store, JobState.RUNNING)
    assert store.get(job.id).stage == ""
    assert store.record_progress(job.id, 0.4, 3.0, "loudness pass 2").stage == "loudness pass 2"
    assert store.record_progress(job.id, 0.5, 3.0, "x" * 500).stage == "x" * 200
    assert store.transition(job.id, JobState.SUCCEEDED).stage == ""


def test_record_progress_clamps_to_zero_and_one(store):
    job = job_in(store, JobState.RUNNING)
    assert store.record_progress(job.id, 1.7, 3.0).progress == 1.0
    assert store.record_progress(job.id, -0.2, 3.0).progress == 0.0


def test_claim_takes_highest_priority_then_oldest(store):
    created = [store.create(f"job{index}", "local", priority) for index, priority in enumerate([0, 5, 1, 5, -3, 1, 5])]
    claimed = []
    while (job := store.claim_next()) is not None:
        assert job.state is JobState.RUNNING
        claimed.append(job.name)
    expected = [job.name for job in sorted(created, key=lambda job: (-job.priority, created.index(job)))]
    assert claimed == expected == ["job1", "job3", "job6", "job2", "job5", "job0", "job4"]


def test_claim_skips_jobs_that_are_not_queued(store):
    cancelled = store.create("cancelled", "local", 9)
    store.transition(cancelled.id, JobState.CANCELLED)
    waiting = store.create("waiting", "local", 0)
    assert store.claim_next().id == waiting.id
    assert store.claim_next() is None


def test_a_job_queued_again_keeps_its_age(store):
    old = store.create("old", "local")
    store.create("new", "local")
    store.transition(old.id, JobState.RUNNING)
    store.transition(old.id, JobState.QUEUED)
    assert store.claim_next().id == old.id


@pytest.mark.parametrize("stores", [1, 2], ids=["one-store", "two-stores-one-file"])
def test_concurrent_claims_never_hand_out_a_job_twice(tmp_path, stores):
    opened = [JobStore(tmp_path / "jobs.sqlite3") for _ in range(stores)]
    ids = {opened[0].create(f"job{index}", "local", index % 3).id for index in range(120)}
    claims: list[list[str]] = [[] for _ in range(6)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(claims))

    def worker(index: int) -> None:
        store = opened[index % stores]
        start.wait()
        try:
            while (job := store.claim_next()) is not None:
                claims[index].append(job.id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(len(claims))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert not errors, f"claim_next raised: {errors[:3]!r}"
        flat = [job_id for claimed in claims for job_id in claimed]
        assert len(flat) == len(set(flat)), "a job was claimed twice"
        assert set(flat) == ids
        assert all(opened[0].get(job_id).attempts == 1 for job_id in ids)
    finally:
        for store in opened:
            store.close()


def test_recover_interrupted_puts_back_only_running_jobs_with_the_reason(store):
    running = [job_in(store, JobState.RUNNING, name=f"r{index}") for index in range(2)]
    others = {state: job_in(store, state) for state in (JobState.QUEUED, JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)}
    recovered = store.recover_interrupted("the service stopped unexpectedly")
    assert sorted(job.id for job in recovered) == sorted(job.id for job in running)
    for job in running:
        again = store.get(job.id)
        assert again.state is JobState.QUEUED
        assert again.error == "requeued: the service stopped unexpectedly while it ran"
        assert (again.attempts, again.interruptions) == (1, 1)
    for state, job in others.items():
        assert store.get(job.id).state is state
    assert store.recover_interrupted("the service stopped unexpectedly") == []


def test_a_job_cancelled_while_running_stays_cancelled_when_its_render_is_interrupted(store):
    job = job_in(store, JobState.RUNNING)
    store.request_cancel(job.id)
    (recovered,) = store.recover_interrupted("the service stopped unexpectedly")
    assert recovered.state is JobState.CANCELLED
    assert recovered.error == "cancelled; the service stopped unexpectedly while it ran"
    assert store.claim_next() is None


def test_a_job_interrupted_twice_fails_naming_why(store):
    job = job_in(store, JobState.RUNNING)
    assert store.interrupted(job.id, "the render driver process died").state is JobState.QUEUED
    store.claim_next()
    failed = store.interrupted(job.id, "the render driver process died")
    assert failed.state is JobState.FAILED and failed.interruptions == MAX_INTERRUPTIONS == 2
    assert failed.error.startswith("the render driver process died while it ran, 2 times: this job may be what brings it down")


def test_a_store_written_before_the_new_columns_gains_them(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    old_schema = SCHEMA.replace(",\n    bundle_bytes INTEGER NOT NULL DEFAULT 0,\n    interruptions INTEGER NOT NULL DEFAULT 0", "")
    assert "interruptions" not in old_schema
    database = sqlite3.connect(path)
    database.executescript(old_schema)
    database.execute("INSERT INTO jobs (id, name, studio, state, created_at) VALUES ('old', 'song', 'local', 'queued', 0)")
    database.commit()
    database.close()
    store = JobStore(path)
    try:
        assert (store.get("old").bundle_bytes, store.get("old").interruptions) == (0, 0)
        store.create("new", "local", bundle_bytes=1234)
        assert store.studio_bundle_bytes("local") == 1234
    finally:
        store.close()


def test_studio_bundle_bytes_counts_only_that_studios_jobs(store):
    store.create("a", "alpha", bundle_bytes=100)
    store.create("b", "alpha", bundle_bytes=250)
    store.create("c", "beta", bundle_bytes=7)
    assert (store.studio_bundle_bytes("alpha"), store.studio_bundle_bytes("beta"), store.studio_bundle_bytes("gamma")) == (350, 7, 0)


def test_counts_cover_every_state(store):
    assert store.counts() == {state: 0 for state in JobState}
    for state, number in ((JobState.QUEUED, 3), (JobState.RUNNING, 1), (JobState.FAILED, 2)):
        for _ in range(number):
            job_in(store, state)
    counts = store.counts()
    assert counts[JobState.QUEUED] == 3 and counts[JobState.RUNNING] == 1 and counts[JobState.FAILED] == 2
    assert counts[JobState.SUCCEEDED] == counts[JobState.CANCELLED] == 0


def test_list_is_newest_first_filtered_and_paged(store):
    created = [store.create(f"job{index}", "alpha" if index % 2 else "beta") for index in range(7)]
    store.transition(created[1].id, JobState.CANCELLED)
    page, total = store.list(studio="alpha", limit=2, offset=0)
    rest, total_again = store.list(studio="alpha", limit=2, offset=2)
    assert total == total_again == 3
    assert [job.name for job in page + rest] == ["job5", "job3", "job1"]
    cancelled, count = store.list(studio="alpha", state=JobState.CANCELLED)
    assert count == 1 and [job.id for job in cancelled] == [created[1].id]
    everything, count = store.list()
    assert count == 7 and len(everything) == 7


def test_listeners_hear_every_change_with_the_previous_state(store):
    heard = []
    store.subscribe(lambda job, previous: heard.append((job.state, previous)))
    job = store.create("song", "local")
    store.transition(job.id, JobState.RUNNING)
    store.record_progress(job.id, 0.5, 1.0)
    store.transition(job.id, JobState.SUCCEEDED)
    assert heard == [
        (JobState.QUEUED, None),
        (JobState.RUNNING, JobState.QUEUED),
        (JobState.RUNNING, JobState.RUNNING),
        (JobState.SUCCEEDED, JobState.RUNNING),
    ]


def test_jobs_survive_reopening_the_file(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    store = JobStore(path)
    done = store.create("done", "alpha", 2, duration_s=12.5)
    store.transition(done.id, JobState.RUNNING)
    outputs = [{"name": "master.wav", "format": "wav", "bytes": 1234}]
    report = {"duration_s": 12.5, "deliverables": [{"path": "master.wav"}], "nested": {"lufs": -14.0}}
    store.transition(done.id, JobState.SUCCEEDED, outputs=outputs, report=report, progress=1.0, audio_s=12.5)
    low = store.create("low", "beta", 0)
    high = store.create("high", "beta", 7)
    running = store.create("running", "beta", 9)
    store.transition(running.id, JobState.RUNNING)
    before = {job.id: store.get(job.id) for job in (done, low, high, running)}
    store.close()

    reopened = JobStore(path)
    try:
        assert {job_id: reopened.get(job_id) for job_id in before} == before
        again = reopened.get(done.id)
        assert again.outputs == outputs and again.report == report and again.duration_s == 12.5
        assert [job.id for job in reopened.recover_interrupted("the service stopped unexpectedly")] == [running.id]
        assert [reopened.claim_next().id for _ in range(3)] == [running.id, high.id, low.id]
        assert reopened.list()[1] == 4
    finally:
        reopened.close()
