"""The REST API end to end, on a real service with --max-running 1 and a real local Ray cluster."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile
import yaml

from tests.helpers.service import ServiceProcess, session_bundle, wait_for_state

RATE = 48000
FINAL = {"succeeded", "failed", "cancelled"}


# --- bundles -----------------------------------------------------------------------------------


def tone_wav(seconds: float = 2.0, freq_hz: float = 220.0) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    buffer = io.BytesIO()
    soundfile.write(buffer, (0.3 * np.sin(2 * np.pi * freq_hz * t))[:, None], RATE, format="WAV", subtype="PCM_24")
    return buffer.getvalue()


def zip_bundle(session: dict, files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("session.yaml", yaml.safe_dump(session))
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def long_session(length_s: float, tracks: int = 1, name: str = "long", outputs: list | None = None) -> dict:
    """A session ``length_s`` long from a 2 s stem (clips at both ends), so the upload stays small."""
    return {
        "format": "mixfarm/1",
        "name": name,
        "tracks": [
            {
                "name": f"t{index}",
                "clips": [{"file": "stems/tone.wav", "start_s": 0.0}, {"file": "stems/tone.wav", "start_s": length_s - 2.0}],
                "fx": [{"type": "saturation", "drive_db": 6}, {"type": "reverb", "decay_s": 1.5, "mix": 0.3}],
            }
            for index in range(tracks)
        ],
        "master": {"tail_s": 0.0},
        "outputs": outputs or [{"path": "master.wav", "bit_depth": 24}],
    }


def long_bundle(length_s: float, tracks: int = 1, name: str = "long", outputs: list | None = None) -> bytes:
    return zip_bundle(long_session(length_s, tracks, name, outputs), {"stems/tone.wav": tone_wav()})


def corrupt_flac_bundle() -> bytes:
    """Valid headers but undecodable audio."""
    noise = 0.3 * np.random.default_rng(0).standard_normal((RATE * 2, 1))
    buffer = io.BytesIO()
    soundfile.write(buffer, noise, RATE, format="FLAC", subtype="PCM_16")
    data = bytearray(buffer.getvalue())
    for index in range(len(data) // 4, len(data), 97):
        data[index] ^= 0xFF
    session = {
        "format": "mixfarm/1",
        "name": "corrupt",
        "tracks": [{"name": "noise", "file": "stems/noise.flac"}],
        "master": {"tail_s": 0.0},
        "outputs": [{"path": "master.wav", "bit_depth": 24}],
    }
    return zip_bundle(session, {"stems/noise.flac": bytes(data)})


def inaudible_bundle() -> bytes:
    """A session that validates but whose mix, a tone 144 dB down, lies below the loudness gate: it can never be normalised."""
    session = {
        "format": "mixfarm/1",
        "name": "inaudible",
        "tracks": [{"name": "tone", "file": "stems/tone.wav", "gain_db": -144}],
        "master": {"tail_s": 0.0, "loudness": {"preset": "spotify"}},
        "outputs": [{"path": "master.wav", "bit_depth": 24}],
    }
    return zip_bundle(session, {"stems/tone.wav": tone_wav()})


def submit(client: httpx.Client, bundle: bytes, priority: int = 0, name: str | None = None) -> dict:
    data = {"priority": str(priority), **({"name": name} if name else {})}
    response = client.post("/api/jobs", files={"bundle": ("bundle.zip", bundle, "application/zip")}, data=data)
    assert response.status_code == 201, response.text
    return response.json()


def render_locally(bundle: bytes, folder: Path) -> Path:
    """Unpack ``bundle`` and render it with ``mixfarm render --executor local``; returns the output folder."""
    zipfile.ZipFile(io.BytesIO(bundle)).extractall(folder / "session")
    out = folder / "render"
    completed = subprocess.run(
        [sys.executable, "-m", "farm.cli", "render", str(folder / "session" / "session.yaml"), "-o", str(out), "--executor", "local"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    return out


class EventReader:
    """Reads /api/events in a thread and keeps every (event, data) pair."""

    def __init__(self, url: str, headers: dict | None = None) -> None:
        self.events: list[tuple[str, dict]] = []
        self.comments: list[str] = []
        self.status: int | None = None
        self.connected = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url, headers or {}), daemon=True)
        self._thread.start()
        assert self.connected.wait(15), "no answer from /api/events"

    def _read(self, url: str, headers: dict) -> None:
        with httpx.Client(timeout=httpx.Timeout(10.0, read=None)) as client:
            with client.stream("GET", url, headers=headers) as response:
                self.status = response.status_code
                self.content_type = response.headers.get("content-type", "")
                self.connected.set()
                kind = None
                for line in response.iter_lines():
                    if self._closed.is_set():
                        return
                    if line.startswith("event:"):
                        kind = line.partition(":")[2].strip()
                    elif line.startswith("data:"):
                        self.events.append((kind, json.loads(line.partition(":")[2])))
                    elif line:
                        self.comments.append(line)

    def of(self, job_id: str) -> list[dict]:
        return [data for kind, data in list(self.events) if kind == "job" and data["id"] == job_id]

    def wait_for(self, job_id: str, states: set[str], timeout_s: float = 120.0) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            seen = self.of(job_id)
            if any(event["state"] in states for event in seen):
                return seen
            time.sleep(0.1)
        raise AssertionError(f"no event with a state in {states} for {job_id}; saw {[e['state'] for e in self.of(job_id)]}")

    def close(self) -> None:
        self._closed.set()


# --- the service -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    started = ServiceProcess(tmp_path_factory.mktemp("api") / "data", extra_args=("--max-running", "1"))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def client(service):
    with httpx.Client(base_url=service.url, timeout=30) as opened:
        yield opened


@pytest.fixture(scope="module")
def tiny_done(client):
    """A small job that succeeded."""
    job = submit(client, session_bundle(1.0, name="tiny-done"))
    done = wait_for_state(client, job["id"], FINAL)
    assert done["state"] == "succeeded", done["error"]
    return done


# --- submit, watch, download -------------------------------------------------------------------

WATCHED_OUTPUTS = [
    {"path": "master.wav", "bit_depth": 24},
    {"path": "cd/master-44k.flac", "format": "flac", "bit_depth": 16, "sample_rate": 44100},
]


@pytest.fixture(scope="module")
def watched(service, client):
    """A 60 s job submitted while an event stream listens; returns (created response, events, final job, bundle)."""
    bundle = long_bundle(60.0, name="watched", outputs=WATCHED_OUTPUTS)
    reader = EventReader(f"{service.url}/api/events")
    try:
        response = client.post("/api/jobs", files={"bundle": ("bundle.zip", bundle)}, data={"priority": "3", "name": "watched job"})
        assert response.status_code == 201, response.text
        created = response.json()
        events = reader.wait_for(created["id"], FINAL)
    finally:
        reader.close()
    final = wait_for_state(client, created["id"], FINAL)
    return {"created": created, "events": events, "job": final, "bundle": bundle, "reader": reader}


def test_submit_answers_201_with_the_queued_job(watched):
    created = watched["created"]
    assert len(created["id"]) >= 8 and created["state"] == "queued"
    assert created["name"] == "watched job" and created["priority"] == 3
    assert created["progress"] == 0.0 and created["attempts"] == 0
    assert created["duration_s"] == pytest.approx(60.0)


def test_events_stream_is_server_sent_events(watched):
    assert watched["reader"].status == 200 and watched["reader"].content_type.startswith("text/event-stream")
    assert all("report" not in event for event in watched["events"])


def test_events_show_the_job_move_queued_running_succeeded(watched):
    states = [event["state"] for event in watched["events"]]
    order = [state for index, state in enumerate(states) if index == 0 or states[index - 1] != state]
    assert order == ["queued", "running", "succeeded"], states


def test_progress_is_seen_between_zero_and_one_while_running(watched):
    running = [event["progress"] for event in watched["events"] if event["state"] == "running"]
    assert any(0.0 < progress < 1.0 for progress in running), running
    assert running == sorted(running), "progress went backwards"
    assert watched["events"][-1]["progress"] == 1.0


def test_the_job_succeeds_with_its_report_and_outputs(watched):
    job = watched["job"]
    assert job["state"] == "succeeded", job["error"]
    assert job["attempts"] == 1 and job["error"] is None and job["progress"] == 1.0
    assert job["started_at"] >= job["created_at"] and job["finished_at"] >= job["started_at"]
    assert job["audio_s"] == pytest.approx(60.0)
    assert sorted(item["name"] for item in job["outputs"]) == ["cd/master-44k.flac", "master.wav"]
    assert sorted(item["path"] for item in job["report"]["deliverables"]) == ["cd/master-44k.flac", "master.wav"]


def test_outputs_are_byte_identical_to_a_local_cli_render(watched, client, tmp_path):
    local = render_locally(watched["bundle"], tmp_path)
    for item in watched["job"]["outputs"]:
        download = client.get(item["url"])
        assert download.status_code == 200, download.text
        assert len(download.content) == item["bytes"]
        assert download.content == (local / item["name"]).read_bytes(), f"{item['name']} differs from the local render"


def test_report_endpoint_returns_the_jobs_render_report(watched, client):
    job = watched["job"]
    response = client.get(f"/api/jobs/{job['id']}/report")
    assert response.status_code == 200
    report = response.json()
    assert report == job["report"]
    assert report["duration_s"] == pytest.approx(60.0) and report["session"] == "watched"


def test_report_of_a_job_without_one_is_404_naming_its_state(client, service):
    blocker = submit(client, long_bundle(300.0, tracks=2, name="report-blocker"))
    queued = submit(client, session_bundle(0.5, name="no-report-yet"))
    try:
        wait_for_state(client, blocker["id"], {"running"}, 60)
        response = client.get(f"/api/jobs/{queued['id']}/report")
        assert response.status_code == 404
        assert "no report yet" in response.json()["detail"] and "queued" in response.json()["detail"]
        missing = client.get(f"/api/jobs/{queued['id']}/outputs/master.wav")
        assert missing.status_code == 404 and "queued" in missing.json()["detail"]
    finally:
        for job in (queued, blocker):
            client.post(f"/api/jobs/{job['id']}/cancel")
        wait_for_state(client, blocker["id"], FINAL, 30)


# --- cancel and retry --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cancelled(service, client):
    """A long job running, two small ones queued behind it: cancel the last queued one, then the running one."""
    long = submit(client, long_bundle(300.0, tracks=2, name="long"))
    first = submit(client, session_bundle(0.5, name="first"))
    last = submit(client, session_bundle(0.5, name="last", freq_hz=330.0))
    running = wait_for_state(client, long["id"], {"running"}, 60)
    deadline = time.monotonic() + 30
    while client.get(f"/api/jobs/{long['id']}").json()["progress"] <= 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    queued_cancel = client.post(f"/api/jobs/{last['id']}/cancel")
    asked = time.monotonic()
    running_cancel = client.post(f"/api/jobs/{long['id']}/cancel")
    long_final = wait_for_state(client, long["id"], FINAL, 60)
    stopped_after_s = time.monotonic() - asked
    first_final = wait_for_state(client, first["id"], FINAL, 60)
    last_after = client.get(f"/api/jobs/{last['id']}").json()
    return {
        "long": long_final,
        "running_at_cancel": running,
        "running_cancel": running_cancel,
        "stopped_after_s": stopped_after_s,
        "first": first_final,
        "last_id": last["id"],
        "queued_cancel": queued_cancel,
        "last_after": last_after,
        "out": service.data_dir / "jobs" / long["id"] / "out",
    }


def test_cancelling_a_queued_job_cancels_it_at_once(cancelled):
    response = cancelled["queued_cancel"]
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "cancelled" and response.json()["finished_at"] is not None


def test_a_cancelled_queued_job_never_runs(cancelled):
    assert cancelled["first"]["state"] == "succeeded"
    last = cancelled["last_after"]
    assert last["state"] == "cancelled"
    assert last["started_at"] is None and last["attempts"] == 0 and last["outputs"] == []


def test_cancelling_a_running_job_stops_it_within_seconds(cancelled):
    assert cancelled["running_cancel"].status_code == 200, cancelled["running_cancel"].text
    answer = cancelled["running_cancel"].json()
    assert answer["state"] == "cancelled" or (answer["state"] == "running" and answer["cancel_requested"])
    assert cancelled["long"]["state"] == "cancelled", cancelled["long"]
    assert cancelled["stopped_after_s"] < 10
    assert cancelled["long"]["progress"] < 1.0 and "cancel" in (cancelled["long"]["error"] or "")


def test_a_job_cancelled_while_running_leaves_no_output_files(cancelled, client):
    job = cancelled["long"]
    assert job["outputs"] == [] and job["report"] is None
    out = cancelled["out"]
    assert not out.exists() or [path for path in out.rglob("*") if path.is_file()] == []
    assert client.get(f"/api/jobs/{job['id']}/outputs/master.wav").status_code == 404


def test_cancelling_a_finished_job_is_a_conflict(cancelled, client):
    for job_id in (cancelled["long"]["id"], cancelled["first"]["id"]):
        response = client.post(f"/api/jobs/{job_id}/cancel")
        assert response.status_code == 409 and "so it cannot be cancelled" in response.json()["detail"]


def test_retry_of_a_cancelled_job_queues_it_and_it_succeeds(cancelled, client):
    job_id = cancelled["last_id"]
    response = client.post(f"/api/jobs/{job_id}/retry")
    assert response.status_code == 200, response.text
    assert response.json()["state"] in {"queued", "running"} and response.json()["attempts"] in {0, 1}
    done = wait_for_state(client, job_id, FINAL)
    assert done["state"] == "succeeded", done["error"]
    assert done["attempts"] == 1 and done["error"] is None
    assert client.get(done["outputs"][0]["url"]).content[:4] == b"RIFF"


def test_a_stem_that_cannot_be_decoded_is_refused_at_submit_naming_it(client):
    response = client.post("/api/jobs", files={"bundle": ("bundle.zip", corrupt_flac_bundle(), "application/zip")})
    assert response.status_code == 422, response.text
    (problem,) = response.json()["problems"]
    assert problem.startswith("tracks[0].file: ") and "stems/noise.flac" in problem


def test_a_render_that_cannot_succeed_fails_after_one_attempt_and_retry_queues_it_again(client):
    job = submit(client, inaudible_bundle())
    failed = wait_for_state(client, job["id"], FINAL, 120)
    assert failed["state"] == "failed" and failed["attempts"] == 1
    assert failed["error"].startswith("the mix is silent")
    retried = client.post(f"/api/jobs/{job['id']}/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["state"] in {"queued", "running"} and retried.json()["error"] is None
    again = wait_for_state(client, job["id"], FINAL, 120)
    assert again["state"] == "failed" and again["attempts"] == 1


def test_retry_of_a_succeeded_job_is_a_conflict(client, tiny_done):
    response = client.post(f"/api/jobs/{tiny_done['id']}/retry")
    assert response.status_code == 409
    assert response.json()["detail"] == "only failed or cancelled jobs can be retried; this one is succeeded"


# --- listing -----------------------------------------------------------------------------------


def all_jobs(client: httpx.Client, **params) -> dict:
    response = client.get("/api/jobs", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_list_filters_by_state(client, tiny_done, cancelled):
    everything = all_jobs(client)["jobs"]
    assert {"succeeded", "cancelled"} <= {job["state"] for job in everything}
    for state in ("queued", "running", "succeeded", "failed", "cancelled"):
        listing = all_jobs(client, state=state)
        expected = [job["id"] for job in all_jobs(client)["jobs"] if job["state"] == state]
        assert all(job["state"] == state for job in listing["jobs"])
        assert [job["id"] for job in listing["jobs"]] == expected and listing["total"] == len(expected)


def test_list_is_newest_first_without_reports(client, tiny_done):
    jobs = all_jobs(client)["jobs"]
    assert len(jobs) >= 2
    assert [job["created_at"] for job in jobs] == sorted((job["created_at"] for job in jobs), reverse=True)
    assert all("report" not in job for job in jobs)


def test_list_pages_with_limit_and_offset(client, tiny_done, cancelled):
    full = all_jobs(client)
    assert full["total"] == len(full["jobs"]) >= 4
    pages, offset = [], 0
    while offset < full["total"]:
        page = client.get("/api/jobs", params={"limit": 2, "offset": offset}).json()
        assert page["total"] == full["total"] and page["limit"] == 2 and page["offset"] == offset
        assert 1 <= len(page["jobs"]) <= 2
        pages.extend(job["id"] for job in page["jobs"])
        offset += 2
    assert pages == [job["id"] for job in full["jobs"]]
    past_the_end = client.get("/api/jobs", params={"limit": 2, "offset": full["total"] + 5}).json()
    assert past_the_end["jobs"] == [] and past_the_end["total"] == full["total"]


@pytest.mark.parametrize("params", [{"state": "bogus"}, {"limit": 0}, {"limit": 501}, {"offset": -1}])
def test_list_refuses_bad_parameters(client, params):
    response = client.get("/api/jobs", params=params)
    assert response.status_code == 422, response.text


# --- system ------------------------------------------------------------------------------------


def test_cluster_lists_nodes_and_cpus(client):
    response = client.get("/api/cluster")
    assert response.status_code == 200
    cluster = response.json()
    assert cluster["cpus"] >= 1 and 0 <= cluster["cpus_busy"] <= cluster["cpus"]
    assert len(cluster["nodes"]) >= 1 and all(node["alive"] for node in cluster["nodes"])
    assert sum(node["cpus"] for node in cluster["nodes"]) == cluster["cpus"]
    assert cluster["max_running"] == 1 and cluster["jobs_running"] in {0, 1}


def test_healthz_says_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.text == "ok"


def test_openapi_describes_every_endpoint(client):
    schema = client.get("/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path, method in [
        ("/api/jobs", "post"),
        ("/api/jobs", "get"),
        ("/api/jobs/{job_id}", "get"),
        ("/api/jobs/{job_id}/cancel", "post"),
        ("/api/jobs/{job_id}/retry", "post"),
        ("/api/jobs/{job_id}/report", "get"),
        ("/api/jobs/{job_id}/outputs/{name}", "get"),
        ("/api/cluster", "get"),
        ("/api/events", "get"),
        ("/healthz", "get"),
        ("/metrics", "get"),
    ]:
        assert method in paths.get(path, {}), f"{method.upper()} {path} missing from /openapi.json"
    assert schema.json()["info"]["title"] == "mixfarm"


def test_docs_page_serves_swagger_ui(client):
    response = client.get("/docs")
    assert response.status_code == 200 and "swagger" in response.text.lower() and "/openapi.json" in response.text


# --- kept last: if retry of a running job is wrongly accepted, the job's render goes on in the background


def test_retry_of_a_running_job_is_a_conflict(client):
    job = submit(client, long_bundle(60.0, name="running-retry"))
    try:
        wait_for_state(client, job["id"], {"running"}, 60)
        response = client.post(f"/api/jobs/{job['id']}/retry")
        assert response.status_code == 409, f"retry of a running job answered {response.status_code}: {response.text}"
        assert "running" in response.json()["detail"]
        assert client.get(f"/api/jobs/{job['id']}").json()["state"] == "running"
    finally:
        client.post(f"/api/jobs/{job['id']}/cancel")
        deadline = time.monotonic() + 60
        while client.get("/api/cluster").json()["jobs_running"] and time.monotonic() < deadline:
            time.sleep(0.2)


def test_retry_of_a_queued_job_is_a_conflict(client):
    blocker = submit(client, long_bundle(300.0, tracks=2, name="retry-blocker"))
    queued = submit(client, session_bundle(0.5, name="queued-retry"))
    try:
        wait_for_state(client, blocker["id"], {"running"}, 60)
        response = client.post(f"/api/jobs/{queued['id']}/retry")
        assert response.status_code == 409, response.text
    finally:
        for item in (queued, blocker):
            client.post(f"/api/jobs/{item['id']}/cancel")
        wait_for_state(client, blocker["id"], FINAL, 30)
