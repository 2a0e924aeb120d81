"""The OpenAPI document describes every JSON answer, and the answers match it (on the app in process, no
lifespan: the scheduler stays off and the jobs stay as written)."""

from __future__ import annotations

import asyncio

import httpx
import jsonschema
import pytest

from dashboard.config import Settings
from dashboard.main import create_app
from dashboard.models import Cluster, JobDetail, JobPage
from farm.queue.jobstore import Attempt
from farm.queue.state import JobState
from tests.helpers.service import session_bundle

REPORT = {"session": "tiny", "duration_s": 1.0, "deliverables": [{"path": "mix #1.wav", "format": "wav", "bytes": 10}], "target": None}


@pytest.fixture
def app(tmp_path):
    return create_app(Settings(data_dir=tmp_path / "data"))


def call(app, method: str, path: str, **options) -> httpx.Response:
    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://farm") as client:
            return await client.request(method, path, **options)

    return asyncio.run(send())


def json_operations(document: dict) -> list[tuple[str, str, dict]]:
    """(path, method, operation) of every operation under /api whose success answer is JSON."""
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            success = operation["responses"].get("200") or operation["responses"].get("201")
            if path.startswith("/api/") and "application/json" in success.get("content", {}):
                found.append((path, method, operation))
    return found


def success_schema(document: dict, path: str, method: str) -> dict:
    """The JSON Schema of the operation's success answer, with the document's components to resolve its references."""
    responses = document["paths"][path][method]["responses"]
    schema = (responses.get("200") or responses.get("201"))["content"]["application/json"]["schema"]
    return {**schema, "components": document["components"]}


def test_every_json_route_under_api_describes_its_answer(app):
    document = call(app, "GET", "/openapi.json").json()
    operations = json_operations(document)
    assert {(path, method) for path, method, _ in operations} == {
        ("/api/jobs", "post"),
        ("/api/jobs", "get"),
        ("/api/jobs/{job_id}", "get"),
        ("/api/jobs/{job_id}", "patch"),
        ("/api/jobs/{job_id}/cancel", "post"),
        ("/api/jobs/{job_id}/retry", "post"),
        ("/api/jobs/{job_id}/report", "get"),
        ("/api/jobs/bulk", "post"),
        ("/api/jobs/{job_id}/tasks", "get"),
        ("/api/cluster", "get"),
        ("/api/cluster/history", "get"),
        ("/api/usage", "get"),
    }
    for path, method, _ in operations:
        schema = success_schema(document, path, method)
        assert set(schema) - {"components", "title"}, f"{method.upper()} {path}: empty answer schema"
    job = document["components"]["schemas"]["JobDetail"]["properties"]
    assert {"outputs", "report", "interruptions", "bundle_bytes", "error", "state", "cpu_s", "attempt_history", "webhooks"} <= set(job)
    assert set(document["components"]["schemas"]["Output"]["properties"]) == {"name", "format", "bytes", "url"}


def test_errors_are_described(app):
    document = call(app, "GET", "/openapi.json").json()
    submit = document["paths"]["/api/jobs"]["post"]["responses"]
    assert submit["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SessionProblems"}
    for status in ("400", "401", "413", "429", "503", "507"):
        assert submit[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorDetail"}
    assert "404" in document["paths"]["/api/jobs/{job_id}"]["get"]["responses"]
    assert "409" in document["paths"]["/api/jobs/{job_id}/retry"]["post"]["responses"]


def test_non_json_routes_say_what_they_send(app):
    paths = call(app, "GET", "/openapi.json").json()["paths"]
    assert list(paths["/api/events"]["get"]["responses"]["200"]["content"]) == ["text/event-stream"]
    assert list(paths["/api/jobs/{job_id}/outputs/{name}"]["get"]["responses"]["200"]["content"]) == ["application/octet-stream"]
    assert list(paths["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]


def test_actual_answers_validate_against_the_document_and_the_models(app):
    document = call(app, "GET", "/openapi.json").json()
    store = app.state.service.store
    done = store.create("done", "local", duration_s=1.0)
    store.transition(done.id, JobState.RUNNING)
    failure = {"task": "bus", "strip": "drums", "tracks": None, "chunk": {"start_frame": 0, "stop_frame": 480000, "start_s": 0.0, "stop_s": 10.0}}
    failure.update(node="abc123", host="worker-1", traceback="Traceback (most recent call last):\nOSError: timed out")
    store.transition(done.id, JobState.QUEUED, attempt=Attempt("requeued", 0.5, 0.0, "a task failed: timed out", failure))
    store.transition(done.id, JobState.RUNNING)
    outputs = [{"name": "mix #1.wav", "format": "wav", "bytes": 10}]
    store.transition(done.id, JobState.SUCCEEDED, attempt=Attempt("succeeded", 1.5, 1.0), outputs=outputs, report=REPORT, progress=1.0, audio_s=1.0)

    created = call(app, "POST", "/api/jobs", files={"bundle": ("b.zip", session_bundle(0.5))})
    assert created.status_code == 201, created.text
    queued = created.json()["id"]
    answers = {
        ("/api/jobs", "post"): created,
        ("/api/jobs", "get"): call(app, "GET", "/api/jobs"),
        ("/api/jobs/{job_id}", "get"): call(app, "GET", f"/api/jobs/{done.id}"),
        ("/api/jobs/{job_id}/report", "get"): call(app, "GET", f"/api/jobs/{done.id}/report"),
        ("/api/jobs/{job_id}/tasks", "get"): call(app, "GET", f"/api/jobs/{done.id}/tasks?attempt=1"),
        ("/api/jobs/{job_id}/cancel", "post"): call(app, "POST", f"/api/jobs/{queued}/cancel"),
        ("/api/jobs/{job_id}/retry", "post"): call(app, "POST", f"/api/jobs/{queued}/retry"),
        ("/api/jobs/{job_id}", "patch"): call(app, "PATCH", f"/api/jobs/{queued}", json={"priority": 3}),
        ("/api/jobs/bulk", "post"): call(app, "POST", "/api/jobs/bulk", json={"action": "priority", "ids": [queued, done.id, "nope"], "priority": 4}),
        ("/api/cluster", "get"): call(app, "GET", "/api/cluster"),
        ("/api/cluster/history", "get"): call(app, "GET", "/api/cluster/history"),
        ("/api/usage", "get"): call(app, "GET", "/api/usage"),
    }
    assert {key for key in answers} == {(path, method) for path, method, _ in json_operations(document)}
    for (path, method), response in answers.items():
        assert response.status_code in (200, 201), (path, method, response.text)
        jsonschema.Draft202012Validator(success_schema(document, path, method)).validate(response.json())

    job = answers[("/api/jobs/{job_id}", "get")].json()
    assert JobDetail.model_validate(job).model_dump(mode="json") == job
    assert [attempt["outcome"] for attempt in job["attempt_history"]] == ["requeued", "succeeded"] and job["cpu_s"] == 2.0
    assert job["attempt_history"][0]["failure"]["strip"] == "drums"
    assert job["outputs"][0]["url"] == f"http://farm/api/jobs/{done.id}/outputs/mix%20%231.wav" and job["report"] == REPORT
    listing = answers[("/api/jobs", "get")].json()
    assert JobPage.model_validate(listing).model_dump(mode="json") == listing
    assert all("report" not in item for item in listing["jobs"]) and listing["total"] == 2
    assert Cluster.model_validate(answers[("/api/cluster", "get")].json())
    assert answers[("/api/jobs/{job_id}/retry", "post")].json()["state"] == "queued"
    tasks = answers[("/api/jobs/{job_id}/tasks", "get")].json()
    assert (tasks["attempt"], tasks["outcome"], tasks["failure"]["strip"]) == (1, "requeued", "drums")


def test_an_invalid_session_answer_matches_its_description(app):
    document = call(app, "GET", "/openapi.json").json()
    bundle = session_bundle(0.5, extra={"tracks": [{"name": "tone", "file": "stems/missing.wav"}]})
    response = call(app, "POST", "/api/jobs", files={"bundle": ("b.zip", bundle)})
    assert response.status_code == 422, response.text
    schema = document["paths"]["/api/jobs"]["post"]["responses"]["422"]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": document["components"]}).validate(response.json())
    assert response.json()["detail"] == "invalid session"
