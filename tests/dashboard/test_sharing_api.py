"""The API of a shared farm, on the app in process (no lifespan: the scheduler stays off, so jobs stay queued):
queue quotas, priority changes, dependencies, usage, and downloads of jobs whose files retention removed."""

from __future__ import annotations

import time

import pytest

from dashboard.config import Settings
from dashboard.main import create_app
from farm.queue.jobstore import Attempt
from farm.queue.retention import collect
from farm.queue.state import JobState
from farm.queue.studios import StudioPolicies, StudioPolicy
from tests.dashboard.test_hardening import a_bundle, call

TOKENS = {"tokA": "alpha", "tokB": "beta"}
ALPHA = {"Authorization": "Bearer tokA"}
BETA = {"Authorization": "Bearer tokB"}


@pytest.fixture
def app(tmp_path):
    policies = StudioPolicies(StudioPolicy(max_queued=3), {"beta": StudioPolicy(max_queued=None, retention_s=1.0)})
    return create_app(Settings(data_dir=tmp_path / "data", tokens=TOKENS, studios=policies))


def submit(app, headers=ALPHA, **fields):
    return call(app, "POST", "/api/jobs", files={"bundle": ("b.zip", a_bundle())}, data={key: str(value) for key, value in fields.items()}, headers=headers)


def test_past_max_queued_a_submit_answers_429_naming_the_limit(app):
    for _ in range(3):
        assert submit(app).status_code == 201
    refused = submit(app)
    assert refused.status_code == 429, refused.text
    assert refused.json()["detail"] == "studio 'alpha': 3 job(s) queued and 0 being uploaded, at its max_queued of 3"
    assert call(app, "GET", "/api/jobs", headers=ALPHA).json()["total"] == 3
    assert all(submit(app, BETA).status_code == 201 for _ in range(4)), "another studio's queue is its own"


def test_patch_changes_the_priority_and_the_order_of_the_queue(app):
    first, second, third = (submit(app).json()["id"] for _ in range(3))
    changed = call(app, "PATCH", f"/api/jobs/{third}", json={"priority": 7}, headers=ALPHA)
    assert changed.status_code == 200, changed.text
    assert changed.json()["priority"] == 7
    store = app.state.service.store
    assert [store.claim_next().id for _ in range(3)] == [third, first, second]


def test_patch_refuses_what_it_cannot_change(app):
    job_id = submit(app).json()["id"]
    assert call(app, "PATCH", f"/api/jobs/{job_id}", json={"priority": 1}, headers=BETA).status_code == 404
    unknown_field = call(app, "PATCH", f"/api/jobs/{job_id}", json={"state": "succeeded"}, headers=ALPHA)
    assert unknown_field.status_code == 422
    too_big = call(app, "PATCH", f"/api/jobs/{job_id}", json={"priority": 2**31}, headers=ALPHA)
    assert too_big.status_code == 422
    store = app.state.service.store
    store.claim_next()
    store.transition(job_id, JobState.SUCCEEDED)
    done = call(app, "PATCH", f"/api/jobs/{job_id}", json={"priority": 1}, headers=ALPHA)
    assert done.status_code == 409 and "succeeded" in done.json()["detail"]


def test_a_submit_may_wait_for_the_studios_own_jobs_only(app):
    first = submit(app).json()["id"]
    theirs = submit(app, BETA).json()["id"]
    waiting = submit(app, after=f"{first}, {first}")
    assert waiting.status_code == 201, waiting.text
    assert waiting.json()["after"] == [first]
    refused = submit(app, after=f"{first},{theirs}")
    assert refused.status_code == 422
    assert refused.json()["detail"] == f"after[1]: no job '{theirs}' of studio 'alpha'"
    assert call(app, "GET", "/api/jobs", headers=ALPHA).json()["total"] == 2


def test_usage_sums_the_studios_attempts_per_day(app):
    store = app.state.service.store
    ids = [submit(app).json()["id"] for _ in range(2)]
    other = submit(app, BETA).json()["id"]
    assert {store.claim_next().id for _ in range(3)} == {*ids, other}
    for job_id, (cpu_s, audio_s) in zip([*ids, other], [(3.5, 60.0), (1.5, 30.0), (100.0, 10.0)]):
        store.transition(job_id, JobState.SUCCEEDED, attempt=Attempt("succeeded", cpu_s, audio_s))
    today = time.strftime("%Y-%m-%d", time.gmtime())
    answer = call(app, "GET", f"/api/usage?from={today}&to={today}", headers=ALPHA)
    assert answer.status_code == 200, answer.text
    figures = answer.json()
    assert figures["total"] == {"jobs": 2, "attempts": 2, "cpu_s": 5.0, "audio_s": 90.0}
    assert figures["days"] == [{"day": today, "studio": "alpha", "jobs": 2, "attempts": 2, "cpu_s": 5.0, "audio_s": 90.0}]
    assert call(app, "GET", "/api/usage", headers=BETA).json()["total"]["cpu_s"] == 100.0
    assert call(app, "GET", "/api/usage?from=2020-01-01&to=2020-01-31", headers=ALPHA).json()["total"]["attempts"] == 0
    metrics = call(app, "GET", "/metrics").text
    assert 'mixfarm_studio_cpu_seconds_total{studio="alpha"} 5.0' in metrics
    assert 'mixfarm_studio_audio_seconds_total{studio="beta"} 10.0' in metrics


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("from=yesterday", "from: 'yesterday' is neither a date (YYYY-MM-DD) nor an ISO 8601 time"),
        ("from=2026-02-01&to=2026-01-01", "from (2026-02-01) must come before to (2026-01-01)"),
        ("from=2020-01-01&to=2026-01-01", "from 2020-01-01 to 2026-01-01 spans more than the 366 days one query may cover"),
    ],
)
def test_a_bad_usage_span_is_refused_naming_it(app, query, detail):
    answer = call(app, "GET", f"/api/usage?{query}", headers=ALPHA)
    assert answer.status_code == 422 and answer.json()["detail"] == detail


def test_downloads_of_a_job_whose_files_retention_removed_answer_410(app):
    service = app.state.service
    job_id = submit(app, BETA).json()["id"]
    service.store.claim_next()
    service.files.out(job_id).joinpath("master.wav").write_bytes(b"RIFF....")
    service.store.transition(job_id, JobState.SUCCEEDED, outputs=[{"name": "master.wav", "format": "wav", "bytes": 8}], report={"duration_s": 0.1})
    assert call(app, "GET", f"/api/jobs/{job_id}/outputs/master.wav", headers=BETA).status_code == 200
    time.sleep(1.1)
    assert collect(service.store, service.files, service.settings.studios).purged == [job_id]
    gone = call(app, "GET", f"/api/jobs/{job_id}/outputs/master.wav", headers=BETA)
    assert gone.status_code == 410
    assert "removed by the retention policy" in gone.json()["detail"]
    job = call(app, "GET", f"/api/jobs/{job_id}", headers=BETA).json()
    assert job["state"] == "succeeded" and job["report"] == {"duration_s": 0.1} and job["purged_at"] is not None
    retry = call(app, "POST", f"/api/jobs/{job_id}/retry", headers=BETA)
    assert retry.status_code == 409
