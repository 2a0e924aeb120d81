"""GET /api/jobs/{id}/tasks and GET /api/cluster/history on the app in process (the scheduler stays off), and the
pages that draw them."""

from __future__ import annotations

import re

import pytest

from dashboard.config import Settings
from dashboard.main import create_app
from dashboard.models import ClusterHistory, TaskTimeline
from dashboard.timeline import WIDTH, stage_spans, timeline_chart
from farm.queue.history import ClusterSampler
from farm.queue.jobstore import Attempt
from farm.queue.state import JobState
from farm.queue.tasklog import TaskLog
from tests.dashboard.test_hardening import call

TOKENS = {"tokA": "alpha", "tokB": "beta"}
ALPHA = {"Authorization": "Bearer tokA"}
BETA = {"Authorization": "Bearer tokB"}
NODE = "0123456789abcdef0123456789abcdef0123456789abcdef01234567"
OTHER_NODE = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba98"
RATE = 48000


@pytest.fixture
def app(tmp_path):
    return create_app(Settings(data_dir=tmp_path / "data", tokens=TOKENS))


def task(kind: str, stage: str, started_at: float, seconds: float, node: str = NODE, **fields) -> dict:
    return {"kind": kind, "stage": stage, "node": node, "started_at": started_at, "seconds": seconds, "sample_rate": RATE, **fields}


def a_job_that_failed_once_then_succeeded(app) -> str:
    """A job whose first attempt failed in a bus chunk after two tasks, and whose second succeeded after four."""
    store, data_dir = app.state.service.store, app.state.service.settings.data_dir
    job = store.create("song", "alpha", duration_s=20.0)
    store.transition(job.id, JobState.RUNNING)
    TaskLog(store, job.id, 1).record([task("tracks", "mix", 100.0, 1.0, strip="track group 1", start_frame=0, stop_frame=10 * RATE)])
    TaskLog(store, job.id, 1).record([task("bus", "mix", 101.0, 0.5, strip="drums", start_frame=0, stop_frame=10 * RATE)])
    failure = {"task": "bus", "strip": "drums", "tracks": None, "chunk": {"start_frame": 10 * RATE, "stop_frame": 20 * RATE, "start_s": 10.0, "stop_s": 20.0}}
    failure.update(node=OTHER_NODE, host="worker-2", traceback=f'File "{data_dir}/jobs/{job.id}/bundle/x.py"\nOSError: disk on fire', started_at=101.2, seconds=0.3)
    store.transition(job.id, JobState.QUEUED, attempt=Attempt("requeued", 1.8, 0.0, "a task failed: disk on fire", failure))
    store.transition(job.id, JobState.RUNNING)
    log = TaskLog(store, job.id, 2)
    log.record([task("tracks", "mix", 200.0, 1.0, start_frame=0, stop_frame=10 * RATE), task("mix", "mix", 201.0, 0.2, strip="master")])
    log.record([task("master", "loudness", 202.0, 0.4, loudness_pass=1), task("master", "loudness", 203.0, 0.4, loudness_pass=2)])
    log.record([task("deliver", "deliver", 204.0, 0.1, output="master.wav", node=OTHER_NODE)])
    store.transition(job.id, JobState.SUCCEEDED, attempt=Attempt("succeeded", 2.1, 20.0))
    return job.id


def test_the_tasks_of_each_attempt_with_their_stages_and_the_task_that_failed(app):
    job_id = a_job_that_failed_once_then_succeeded(app)
    latest = call(app, "GET", f"/api/jobs/{job_id}/tasks", headers=ALPHA)
    assert latest.status_code == 200, latest.text
    body = latest.json()
    assert TaskTimeline.model_validate(body).model_dump(mode="json") == body
    assert (body["attempt"], body["attempts"], body["outcome"], body["finished"], body["capped"]) == (2, 2, "succeeded", 5, False)
    assert [(span["stage"], span["loudness_pass"], span["tasks"]) for span in body["stages"]] == [("mix", None, 2), ("loudness", 1, 1), ("loudness", 2, 1), ("deliver", None, 1)]
    assert body["stages"][0]["seconds"] == pytest.approx(1.2)
    assert [item["kind"] for item in body["tasks"]] == ["tracks", "mix", "master", "master", "deliver"]
    assert body["failure"] is None

    first = call(app, "GET", f"/api/jobs/{job_id}/tasks?attempt=1", headers=ALPHA).json()
    assert (first["outcome"], first["finished"], first["error"]) == ("requeued", 2, "a task failed: disk on fire")
    assert first["failure"]["strip"] == "drums" and first["failure"]["chunk"]["start_s"] == 10.0 and first["failure"]["started_at"] == 101.2
    assert first["failure"]["traceback"] == 'File "x.py"\nOSError: disk on fire', "no server path in what a studio reads"


def test_an_attempt_that_is_not_one_answers_404_and_a_bad_number_422(app):
    job_id = a_job_that_failed_once_then_succeeded(app)
    missing = call(app, "GET", f"/api/jobs/{job_id}/tasks?attempt=3", headers=ALPHA)
    assert missing.status_code == 404 and missing.json()["detail"] == f"attempt: job {job_id!r} has 2 attempt(s); 3 is not one of them"
    for bad in ("0", "-1", "x", str(10**7)):
        assert call(app, "GET", f"/api/jobs/{job_id}/tasks?attempt={bad}", headers=ALPHA).status_code == 422, bad
    queued = app.state.service.store.create("waiting", "alpha").id
    none_yet = call(app, "GET", f"/api/jobs/{queued}/tasks", headers=ALPHA)
    assert none_yet.status_code == 404 and none_yet.json()["detail"] == f"attempt: job {queued!r} has no attempt yet; 0 is not one of them"


def test_another_studios_job_has_no_tasks_to_show_and_a_caller_without_a_token_none(app):
    job_id = a_job_that_failed_once_then_succeeded(app)
    assert call(app, "GET", f"/api/jobs/{job_id}/tasks", headers=BETA).status_code == 404
    assert call(app, "GET", f"/api/jobs/{job_id}/tasks").status_code == 401


def test_a_running_attempt_shows_the_tasks_finished_so_far(app):
    store = app.state.service.store
    job = store.create("song", "alpha")
    store.transition(job.id, JobState.RUNNING)
    TaskLog(store, job.id, 1).record([task("tracks", "mix", 10.0, 0.5)])
    body = call(app, "GET", f"/api/jobs/{job.id}/tasks", headers=ALPHA).json()
    assert (body["attempt"], body["outcome"], body["ended_at"], body["finished"]) == (1, "running", None, 1)


def test_the_job_page_draws_a_lane_per_node_and_marks_the_failed_task(app):
    job_id = a_job_that_failed_once_then_succeeded(app)
    gone = {"nodes": [{"id": NODE, "address": "10.9.8.7", "alive": True, "cpus": 4, "cpus_busy": 0}], "cpus": 4, "cpus_busy": 0}
    ClusterSampler(app.state.service.store, lambda: gone).sample()  # the node has left the cluster; the history knows its address
    page = call(app, "GET", f"/jobs/{job_id}", headers=ALPHA)
    assert page.status_code == 200
    html = page.text
    assert html.count('<details class="attempt"') == 2 and 'data-attempt="2" data-outcome="succeeded" open' in html
    assert html.count('<g class="lane" data-node="') == 4, "attempt 2 ran on both nodes; attempt 1's failed task has a lane of its own"
    labels = re.findall(r'class="lane-label"[^>]*>([^<]*)<', html)
    assert labels == ["01234567 · 10.9.8.7 · 4 task(s)", "fedcba98 · 1 task(s)", "01234567 · 10.9.8.7 · 2 task(s)", "fedcba98 · 0 task(s)"]
    assert html.count('class="task failed"') == 1 and "failed: bus · drums · chunk 10.0–20.0 s" in html
    assert '<dd data-field="failed-chunk">10.0–20.0 s</dd>' in html
    assert 'href="/static/timeline.css"' in html


def test_the_cluster_history_answers_each_window_and_refuses_others(app, tmp_path):
    service = app.state.service
    facts = {"nodes": [{"id": NODE, "address": "10.1.2.3", "alive": True, "cpus": 4, "cpus_busy": 2}], "cpus": 4, "cpus_busy": 2}
    sampler = ClusterSampler(service.store, lambda: facts)
    sampler.tasks_finished([{"node": NODE, "memory_used_bytes": 5_000_000_000}])
    sampler.sample()
    for window, resolution_s in (("hour", 5), ("day", 60), ("week", 900)):
        answer = call(app, "GET", f"/api/cluster/history?window={window}", headers=ALPHA)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert ClusterHistory.model_validate(body).model_dump(mode="json", by_alias=True) == body
        assert (body["window"], body["resolution_s"]) == (window, resolution_s) and body["to"] - body["from"] > 0
    hour = call(app, "GET", "/api/cluster/history", headers=ALPHA).json()
    (node,) = hour["nodes"]
    assert (node["short_id"], node["address"], node["samples"][0]["cpus_busy"], node["samples"][0]["memory_used_bytes"]) == ("01234567", "10.1.2.3", 2, 5e9)
    refused = call(app, "GET", "/api/cluster/history?window=year", headers=ALPHA)
    assert refused.status_code == 422 and "hour" in refused.text
    assert call(app, "GET", "/api/cluster/history").status_code == 401

    page = call(app, "GET", "/cluster?window=hour", headers=ALPHA)
    assert page.status_code == 200 and 'data-window="hour"' in page.text and "10.1.2.3" in page.text
    assert '<code title="' + NODE + '">01234567</code>' in page.text
    assert call(app, "GET", "/cluster?window=year", headers=ALPHA).status_code == 422


def test_a_long_render_draws_a_bar_per_pixel_or_so_not_one_per_task(app):
    tasks = [task("bus", "mix", 1000.0 + index * 0.01, 0.01, strip="drums", start_frame=0, stop_frame=480) for index in range(20_000)]
    tasks.append(task("deliver", "deliver", 1200.0, 1.0, output="master.wav"))
    timeline = {"tasks": tasks, "failure": None, "sample_rate": RATE, "stages": stage_spans(tasks)}
    chart = timeline_chart(app.state.service, timeline)
    (lane,) = chart["lanes"]
    assert len(lane["bars"]) <= 2 * WIDTH and sum(bar["tasks"] for bar in lane["bars"]) == len(tasks)
    assert lane["label"] == "01234567 · 20001 task(s)"
    merged = lane["bars"][0]
    assert merged["tasks"] > 1 and merged["title"].startswith(f"{merged['tasks']} mix tasks, ")
    assert lane["bars"][-1]["tasks"] == 1 and lane["bars"][-1]["title"] == "deliver · master.wav: 1.000 s on 01234567"
    mix, deliver = chart["stages"]
    assert (mix["label"], mix["anchor"], mix["text_x"]) == ("mix · 200.00 s", "start", 3.0)
    assert (deliver["label"], deliver["anchor"], deliver["text_x"]) == ("deliver · 1.00 s", "end", WIDTH - 3.0), "a label at the right edge ends there"


def test_the_prepare_stage_runs_from_the_attempts_start_to_its_first_task(app):
    store = app.state.service.store
    job = store.create("song", "alpha")
    started_at = store.transition(job.id, JobState.RUNNING).started_at
    TaskLog(store, job.id, 1).record([task("reference", "prepare", started_at + 2.0, 3.0), task("tracks", "mix", started_at + 2.5, 1.0)])
    stages = call(app, "GET", f"/api/jobs/{job.id}/tasks", headers=ALPHA).json()["stages"]
    assert [(span["stage"], span["tasks"]) for span in stages] == [("prepare", 1), ("mix", 1)]
    assert (stages[0]["started_at"], stages[0]["ended_at"]) == (started_at, started_at + 5.0)
    page = call(app, "GET", f"/jobs/{job.id}", headers=ALPHA).text
    assert re.search(r'<g class="stage-span stage-prepare"><title>prepare: 1 task\(s\), 5\.00 s</title>\s*<rect x="0\.0"', page), "the chart starts at the attempt's start"
