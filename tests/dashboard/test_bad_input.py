"""Bad uploads, unknown ids, missing or foreign tokens: the right 4xx, a clear message, nothing written
outside the data folder, and a job rendering meanwhile is unaffected."""

from __future__ import annotations

import io
import json
import os
import stat
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

from tests.helpers.service import (
    ServiceProcess,
    free_port,
    session_bundle,
    wait_for_state,
)

RATE = 48000
FINAL = {"succeeded", "failed", "cancelled"}
TOKENS = "alpha:tokA,beta:tokB"
ALPHA = {"Authorization": "Bearer tokA"}
BETA = {"Authorization": "Bearer tokB"}


def tone_wav(seconds: float = 1.0) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    buffer = io.BytesIO()
    soundfile.write(buffer, (0.3 * np.sin(2 * np.pi * 220 * t))[:, None], RATE, format="WAV", subtype="PCM_24")
    return buffer.getvalue()


def session(**changes) -> dict:
    return {
        "format": "mixfarm/1",
        "name": "bad-input",
        "tracks": [{"name": "tone", "file": "stems/tone.wav"}],
        "master": {"tail_s": 0.0},
        "outputs": [{"path": "master.wav", "bit_depth": 24}],
        **changes,
    }


def make_zip(entries: list[tuple[zipfile.ZipInfo | str, bytes]], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for info, content in entries:
            archive.writestr(info, content)
    return buffer.getvalue()


def good_entries(document: dict | None = None) -> list[tuple[str, bytes]]:
    return [("session.yaml", yaml.safe_dump(document or session()).encode()), ("stems/tone.wav", tone_wav())]


def long_bundle(length_s: float) -> bytes:
    clips = [{"file": "stems/tone.wav", "start_s": 0.0}, {"file": "stems/tone.wav", "start_s": length_s - 1.0}]
    tracks = [{"name": f"t{index}", "clips": clips, "fx": [{"type": "reverb", "decay_s": 1.5, "mix": 0.3}]} for index in range(2)]
    return make_zip(good_entries(session(name="background", tracks=tracks)), zipfile.ZIP_DEFLATED)


def post(client: httpx.Client, bundle: bytes, headers: dict | None = ALPHA, **data) -> httpx.Response:
    return client.post("/api/jobs", files={"bundle": ("bundle.zip", bundle, "application/zip")}, data=data, headers=headers)


def detail(response: httpx.Response) -> str:
    return response.json()["detail"]


# --- the service -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bad-input")


@pytest.fixture(scope="module")
def service(root):
    started = ServiceProcess(root / "data", env={"MIXFARM_API_TOKENS": TOKENS}, extra_args=("--max-upload-mb", "1"))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def client(service):
    with httpx.Client(base_url=service.url, timeout=30) as opened:
        yield opened


@pytest.fixture(scope="module")
def background(client):
    """A job of alpha's, rendering while the bad input arrives."""
    response = post(client, long_bundle(120.0))
    assert response.status_code == 201, response.text
    job = response.json()
    deadline = time.monotonic() + 60
    while client.get(f"/api/jobs/{job['id']}", headers=ALPHA).json()["state"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return job


@pytest.fixture(scope="module")
def done(client):
    """A small job of alpha's that succeeded."""
    response = post(client, session_bundle(0.5, name="small"))
    assert response.status_code == 201, response.text
    finished = wait_for_state(httpx.Client(base_url=client.base_url, headers=ALPHA, timeout=30), response.json()["id"], FINAL)
    assert finished["state"] == "succeeded", finished["error"]
    return finished


def snapshot(root: Path, data: Path) -> set[str]:
    """Every path under ``root`` and one level above it, except inside the data folder and the service logs."""
    paths = {str(path) for path in root.parent.iterdir()} | {str(path) for path in root.rglob("*")}
    return {path for path in paths if not path.startswith(str(data)) and not Path(path).name.startswith("serve-")}


@pytest.fixture
def untouched(root, service, background):
    """Checks, around a test, that nothing appeared outside the data folder and nothing stayed behind in it."""
    data = service.data_dir
    jobs_before = set(os.listdir(data / "jobs"))
    outside_before = snapshot(root, data)
    yield root
    assert snapshot(root, data) == outside_before, "something was written outside the data folder"
    uploads = data / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == [], f"left in uploads/: {list(uploads.rglob('*'))}"
    assert set(os.listdir(data / "jobs")) == jobs_before, "a refused upload created a job folder"


# --- unsafe archives ---------------------------------------------------------------------------

SLIPS = ["../evil.txt", "../../../evil.txt", "../../../../zip-slip-canary.txt", "../../../../../zip-slip-canary.txt", "stems/../../../../../zip-slip-canary.txt"]


@pytest.mark.parametrize("name", SLIPS)
def test_zip_slip_entry_is_refused_with_400(client, untouched, name):
    response = post(client, make_zip([*good_entries(), (name, b"pwned")]))
    assert response.status_code == 400, response.text
    assert name in detail(response) and "climbs out of the bundle" in detail(response)
    assert not (untouched / "zip-slip-canary.txt").exists() and not (untouched.parent / "zip-slip-canary.txt").exists()


def test_absolute_entry_is_refused_with_400(client, untouched):
    canary = untouched / "absolute-canary.txt"
    response = post(client, make_zip([*good_entries(), (str(canary), b"pwned")]))
    assert response.status_code == 400, response.text
    assert "absolute path" in detail(response)
    assert not canary.exists()


def test_symbolic_link_entry_is_refused_with_400(client, untouched):
    link = zipfile.ZipInfo("stems/tone.wav")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    entries = [good_entries()[0], (link, b"/etc/passwd")]
    response = post(client, make_zip(entries))
    assert response.status_code == 400, response.text
    assert "symbolic link" in detail(response) and "stems/tone.wav" in detail(response)


def test_a_non_zip_upload_is_refused_with_400(client, untouched):
    response = post(client, b"this is not a zip archive at all")
    assert response.status_code == 400, response.text
    assert "not a zip archive" in detail(response)


def test_a_bundle_without_a_session_file_is_refused_with_400(client, untouched):
    response = post(client, make_zip([("stems/tone.wav", tone_wav()), ("nested/session.yaml", yaml.safe_dump(session()).encode())]))
    assert response.status_code == 400, response.text
    assert "no session file or project at its root" in detail(response) and "session.yaml" in detail(response) and ".dawproject" in detail(response)


def test_a_corrupted_archive_is_refused_with_400(client, untouched):
    archive = bytearray(make_zip([*good_entries(), ("stems/data.bin", b"A" * 4000)]))
    archive[archive.find(b"A" * 100) + 50] = ord("B")  # the stored bytes no longer match their CRC-32
    response = post(client, bytes(archive))
    assert response.status_code == 400, response.text
    assert "data.bin" in detail(response)


def test_a_session_name_that_is_a_folder_is_refused_with_400(client, untouched):
    response = post(client, make_zip([("session.yaml/", b""), ("stems/tone.wav", tone_wav())]))
    assert response.status_code == 400, response.text
    assert "no session file" in detail(response)


@pytest.mark.parametrize("megabytes", [1.5, 2.5])
def test_an_upload_over_the_limit_is_refused_with_413(client, untouched, megabytes):
    noise = np.random.default_rng(7).bytes(int(megabytes * 1024**2))
    response = post(client, make_zip([*good_entries(), ("stems/noise.bin", noise)]))
    assert response.status_code == 413, response.text
    assert "upload limit" in detail(response) and str(1024**2) in detail(response)


def test_a_bundle_that_unpacks_past_the_limit_is_refused(client, untouched):
    bomb = make_zip([*good_entries(), ("stems/zeros.bin", bytes(3 * 1024**2))], zipfile.ZIP_DEFLATED)
    assert len(bomb) < 1024**2 // 2
    response = post(client, bomb)
    assert response.status_code in {400, 413}, response.text
    assert "limit" in detail(response)


# --- invalid sessions --------------------------------------------------------------------------


def test_a_session_naming_a_file_outside_the_bundle_is_422_with_the_field(client, untouched):
    document = session(tracks=[{"name": "tone", "file": "../outside.wav"}])
    response = post(client, make_zip(good_entries(document)))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["detail"] == "invalid session"
    assert any(problem.startswith("tracks[0].file:") and "../outside.wav" in problem for problem in body["problems"]), body["problems"]


def test_an_unknown_effect_is_422_listing_the_problem(client, untouched):
    document = session(tracks=[{"name": "tone", "file": "stems/tone.wav", "fx": [{"type": "fuzz", "drive_db": 3}]}])
    response = post(client, make_zip(good_entries(document)))
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert any(problem.startswith("tracks[0].fx[0].type: unknown effect 'fuzz'") for problem in problems), problems


def test_every_problem_of_a_session_is_listed(client, untouched):
    document = session(
        tracks=[{"name": "tone", "file": "stems/tone.wav", "gain_dbb": 1.0, "output": "nowhere"}],
        outputs=[{"path": "master.wav", "bit_depth": 12}],
    )
    response = post(client, make_zip(good_entries(document)))
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert any("tracks[0].gain_dbb" in problem for problem in problems), problems
    assert any("outputs[0].bit_depth" in problem for problem in problems), problems


@pytest.mark.parametrize("path", ["../escape.wav", "/tmp/mixfarm-escape.wav"])
def test_an_output_path_leaving_the_output_folder_is_422(client, untouched, path):
    response = post(client, make_zip(good_entries(session(outputs=[{"path": path, "bit_depth": 24}]))))
    assert response.status_code == 422, response.text
    assert any(problem.startswith("outputs[0].path") for problem in response.json()["problems"]), response.json()


def test_a_session_that_is_not_yaml_is_422(client, untouched):
    response = post(client, make_zip([("session.yaml", b"tracks: [unclosed\n  - : :"), ("stems/tone.wav", tone_wav())]))
    assert response.status_code == 422, response.text
    assert response.json()["problems"]


@pytest.mark.parametrize(("files", "data"), [(None, {}), ({"bundle": ("b.zip", b"")}, {"priority": "high"})], ids=["no-bundle", "bad-priority"])
def test_a_malformed_form_is_422(client, untouched, files, data):
    response = client.post("/api/jobs", files=files, data=data, headers=ALPHA)
    assert response.status_code in {400, 422}, response.text


def test_a_priority_too_large_to_store_is_422(client, untouched):
    response = post(client, make_zip(good_entries()), priority=str(2**70))
    assert response.status_code == 422, f"{response.status_code}: {response.text}"


# --- unknown jobs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", ""), ("POST", "/cancel"), ("POST", "/retry"), ("GET", "/report"), ("GET", "/outputs/master.wav")],
)
def test_an_unknown_job_id_is_404(client, method, path):
    response = client.request(method, f"/api/jobs/0123456789abcdef{path}", headers=ALPHA)
    assert response.status_code == 404, response.text
    assert "0123456789abcdef" in detail(response)


def test_an_output_name_climbing_out_is_404(client, done):
    for name in ("..%2F..%2Fjobs.sqlite3", "..%2Fbundle%2Fsession.yaml", "report.json"):
        response = client.get(f"/api/jobs/{done['id']}/outputs/{name}", headers=ALPHA)
        assert response.status_code == 404, (name, response.status_code)
        assert b"CREATE TABLE" not in response.content and b"format" not in response.content


def test_retry_of_a_succeeded_job_is_409(client, done):
    response = client.post(f"/api/jobs/{done['id']}/retry", headers=ALPHA)
    assert response.status_code == 409, response.text
    assert detail(response) == "only failed or cancelled jobs can be retried; this one is succeeded"


def test_cancel_of_a_succeeded_job_is_409(client, done):
    response = client.post(f"/api/jobs/{done['id']}/cancel", headers=ALPHA)
    assert response.status_code == 409, response.text
    assert detail(response) == "the job has succeeded, so it cannot be cancelled; its outputs are ready (submit it again to render it again)"


# --- tokens and studios ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/jobs"), ("POST", "/api/jobs"), ("GET", "/api/jobs/0123456789abcdef"), ("POST", "/api/jobs/0123456789abcdef/cancel"), ("GET", "/api/cluster"), ("GET", "/api/events")],
)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic dG9rQTo="}, {"Authorization": "Bearer"}], ids=["missing", "wrong", "basic", "empty"])
def test_a_missing_or_wrong_token_is_401(client, method, path, headers):
    response = client.request(method, path, headers=headers)
    assert response.status_code == 401, response.text
    assert "token" in detail(response)
    assert response.headers.get("www-authenticate", "").lower().startswith("bearer")


def test_a_bundle_posted_without_a_token_is_not_stored(client, service, untouched):
    response = post(client, make_zip(good_entries()), headers={})
    assert response.status_code == 401


def test_health_answers_without_a_token(client):
    assert client.get("/healthz").status_code == 200


@pytest.fixture(scope="module")
def betas_job(client):
    response = post(client, session_bundle(0.5, name="beta-secret"), headers=BETA)
    assert response.status_code == 201, response.text
    job = wait_for_state(httpx.Client(base_url=client.base_url, headers=BETA, timeout=30), response.json()["id"], FINAL)
    assert job["state"] == "succeeded" and job["studio"] == "beta"
    return job


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", ""), ("POST", "/cancel"), ("POST", "/retry"), ("GET", "/report"), ("GET", "/outputs/master.wav")],
)
def test_another_studios_job_is_404(client, betas_job, method, path):
    response = client.request(method, f"/api/jobs/{betas_job['id']}{path}", headers=ALPHA)
    assert response.status_code == 404, response.text
    assert "beta-secret" not in response.text


def test_another_studios_job_is_not_in_the_list(client, betas_job):
    alphas = client.get("/api/jobs", params={"limit": 500}, headers=ALPHA).json()
    assert betas_job["id"] not in {job["id"] for job in alphas["jobs"]}
    assert all(job["studio"] == "alpha" for job in alphas["jobs"])
    betas = client.get("/api/jobs", params={"limit": 500}, headers=BETA).json()
    assert [job["id"] for job in betas["jobs"]] == [betas_job["id"]] and betas["total"] == 1
    assert client.get(f"/api/jobs/{betas_job['id']}", headers=BETA).json()["state"] == "succeeded"


def test_another_studios_events_are_not_streamed(service, client):
    events: list[dict] = []
    connected = threading.Event()

    def read() -> None:
        with httpx.Client(timeout=httpx.Timeout(10.0, read=None)) as own, own.stream("GET", f"{service.url}/api/events", headers=ALPHA) as stream:
            connected.set()
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    events.append(json.loads(line[5:]))
                    if events[-1]["name"] == "alpha-marker" and events[-1]["state"] in FINAL:
                        return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert connected.wait(15)
    betas = post(client, session_bundle(0.5, name="beta-hidden"), headers=BETA)
    alphas = post(client, session_bundle(0.5, name="alpha-marker"), headers=ALPHA)
    assert betas.status_code == alphas.status_code == 201
    reader.join(60)
    assert any(event["id"] == alphas.json()["id"] for event in events)
    assert not any(event["studio"] != "alpha" or event["id"] == betas.json()["id"] for event in events)


# --- binding -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "tokens"), [("0.0.0.0", None), ("::", None), ("0.0.0.0", "alpha-without-colon")])
def test_serving_beyond_loopback_needs_tokens(tmp_path, host, tokens):
    env = {key: item for key, item in os.environ.items() if key != "MIXFARM_API_TOKENS"}
    if tokens is not None:
        env["MIXFARM_API_TOKENS"] = tokens
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "farm.cli", "serve", "--host", host, "--port", str(free_port()), "--data", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert completed.returncode != 0
    assert "MIXFARM_API_TOKENS" in completed.stderr, completed.stderr
    assert time.monotonic() - started < 20
    assert not (tmp_path / "data" / "jobs.sqlite3").exists()


# --- the job that ran meanwhile ----------------------------------------------------------------


def test_the_job_running_meanwhile_succeeds(client, background):
    job = wait_for_state(httpx.Client(base_url=client.base_url, headers=ALPHA, timeout=30), background["id"], FINAL, 180)
    assert job["state"] == "succeeded", job["error"]
    assert job["attempts"] == 1 and job["error"] is None
    download = client.get(job["outputs"][0]["url"], headers=ALPHA)
    assert download.status_code == 200 and download.content[:4] == b"RIFF" and len(download.content) == job["outputs"][0]["bytes"]
