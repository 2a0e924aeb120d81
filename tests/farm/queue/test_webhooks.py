"""Webhooks: signed calls on every terminal state, retried with backoff, owed across restarts."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket

import pytest

from farm.queue.jobstore import JobStore
from farm.queue.state import JobState
from farm.queue.studios import StudioPolicies, StudioPolicy
from farm.queue.webhooks import WebhookSender, deliveries, retry_delay_s, signature
from tests.helpers.receiver import Receiver

SECRET = "s3cret-for-the-abbey-hook"


def policies(url: str) -> StudioPolicies:
    return StudioPolicies(studios={"abbey": StudioPolicy(webhook_url=url, webhook_secret=SECRET)})


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(statuses=(), port: int = 0) -> Receiver:
        made.append(Receiver(statuses, port))
        return made[-1]

    yield make
    for server in made:
        server.close()


def finish(store: JobStore, name: str, studio: str = "abbey", state: JobState = JobState.SUCCEEDED) -> str:
    job = store.create(name, studio)
    store.transition(job.id, JobState.RUNNING)
    store.transition(job.id, state, error=None if state is JobState.SUCCEEDED else "the mix is silent")
    return job.id


def test_every_terminal_state_is_called_signed_with_hmac_sha256(tmp_path, receiver):
    hook = receiver()
    store = JobStore(tmp_path / "jobs.sqlite3", policies=policies(hook.url))
    sender = WebhookSender(store, store.policies, poll_s=0.02)
    sender.start()
    try:
        done = finish(store, "done")
        broken = finish(store, "broken", state=JobState.FAILED)
        finish(store, "not ours", studio="elsewhere")
        calls = hook.wait_for(2)
    finally:
        sender.stop()
    assert len(calls) == 2
    for headers, body in calls:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-mixfarm-signature-256"], expected)
        assert headers["content-type"] == "application/json"
    events = {json.loads(body)["job"]["id"]: (headers["x-mixfarm-event"], json.loads(body)) for headers, body in calls}
    assert events[done][0] == "job.succeeded" and events[done][1]["job"]["state"] == "succeeded"
    assert events[broken][0] == "job.failed" and events[broken][1]["job"]["error"] == "the mix is silent"
    assert all(item["delivered_at"] for item in deliveries(store, done))
    store.close()


def test_a_call_answered_500_is_retried_with_the_same_delivery_and_signature(tmp_path, receiver):
    hook = receiver(statuses=(500, 503))
    store = JobStore(tmp_path / "jobs.sqlite3", policies=policies(hook.url))
    sender = WebhookSender(store, store.policies, poll_s=0.02, first_retry_s=0.05)
    sender.start()
    try:
        job_id = finish(store, "song")
        calls = hook.wait_for(3)
    finally:
        sender.stop()
    assert len({headers["x-mixfarm-delivery"] for headers, _ in calls}) == 1
    assert len({body for _, body in calls}) == 1
    assert len({headers["x-mixfarm-signature-256"] for headers, _ in calls}) == 1
    (delivery,) = deliveries(store, job_id)
    assert delivery["attempts"] == 3 and delivery["delivered_at"] is not None and delivery["last_error"] is None
    store.close()


def test_a_call_owed_when_the_process_stopped_is_delivered_by_the_next(tmp_path, receiver):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook"
    store = JobStore(tmp_path / "jobs.sqlite3", policies=policies(url))
    sender = WebhookSender(store, store.policies, poll_s=0.02, first_retry_s=0.05)
    sender.start()
    job_id = finish(store, "song")
    for _ in range(200):
        if deliveries(store, job_id)[0]["attempts"]:
            break
        sender._stop.wait(0.02)
    sender.stop()
    store.close()
    (owed,) = deliveries(JobStore(tmp_path / "jobs.sqlite3"), job_id)
    assert owed["attempts"] >= 1 and owed["delivered_at"] is None and "Connection refused" in owed["last_error"]

    hook = receiver(port=port)
    reopened = JobStore(tmp_path / "jobs.sqlite3", policies=policies(url))
    later = WebhookSender(reopened, reopened.policies, poll_s=0.02, first_retry_s=0.05)
    later.start()
    try:
        ((headers, body),) = hook.wait_for(1)
    finally:
        later.stop()
    assert headers["x-mixfarm-delivery"] == str(owed["id"])
    assert headers["x-mixfarm-signature-256"] == signature(SECRET, body)
    reopened.close()


def test_a_delivery_is_given_up_after_its_last_attempt(tmp_path, receiver):
    hook = receiver(statuses=(500,) * 10)
    store = JobStore(tmp_path / "jobs.sqlite3", policies=policies(hook.url))
    sender = WebhookSender(store, store.policies, poll_s=0.02, first_retry_s=0.01, max_attempts=3)
    job_id = finish(store, "song")
    sender.start()
    try:
        hook.wait_for(3)
        for _ in range(200):
            if deliveries(store, job_id)[0]["gave_up_at"]:
                break
            sender._stop.wait(0.02)
    finally:
        sender.stop()
    (delivery,) = deliveries(store, job_id)
    assert delivery["attempts"] == 3 and delivery["gave_up_at"] and delivery["last_error"] == f"{hook.url} answered 500 Internal Server Error"
    assert len(hook.calls) == 3
    store.close()


def test_the_backoff_doubles_up_to_its_longest():
    assert [retry_delay_s(calls, 2.0, 30.0) for calls in (1, 2, 3, 4, 5, 6)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
