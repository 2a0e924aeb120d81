"""The attacks on the service, all against one real ``mixfarm serve`` process (loopback, local Ray):
bodies before authentication and past the limits, zip bombs and quotas, cross-origin and login
forgery, framing and sniffing, overflows, broken storage, leaked paths, unguarded metrics, other
studios' counts, and a schemathesis run over the OpenAPI document. The last test checks that the
service came through it all: it answers and renders a normal job."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import sqlite3
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
import schemathesis
import soundfile
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.helpers.service import ServiceProcess, session_bundle, wait_for_state

TOKENS = {"alpha": "tokA", "beta": "tokB", "gamma": "tokC", "delta": "tokD"}
METRICS_TOKEN = "metrics-secret"
UPLOAD_MB, BUNDLE_MB, QUOTA_MB, MAX_DURATION_S = 1, 3, 4, 600
FINAL = {"succeeded", "failed", "cancelled"}
ALPHA = {"Authorization": "Bearer tokA"}
BETA = {"Authorization": "Bearer tokB"}
GAMMA = {"Authorization": "Bearer tokC"}
DELTA = {"Authorization": "Bearer tokD"}
FOREIGN = "http://127.0.0.1:9911"
RATE = 48000
CHROMIUM = "/usr/bin/chromium"


# --- the service and what it answered ------------------------------------------------------------


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    env = {"MIXFARM_API_TOKENS": ",".join(f"{studio}:{token}" for studio, token in TOKENS.items()), "MIXFARM_METRICS_TOKEN": METRICS_TOKEN}
    limits = ("--max-upload-mb", str(UPLOAD_MB), "--max-bundle-mb", str(BUNDLE_MB), "--studio-quota-mb", str(QUOTA_MB), "--max-duration-s", str(MAX_DURATION_S))
    started = ServiceProcess(tmp_path_factory.mktemp("attacks") / "data", env=env, extra_args=(*limits, "--trusted-proxies", "127.0.0.1"))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def answers() -> list[str]:
    """The text of every JSON, HTML or plain answer the tests' clients got (to look for leaked paths)."""
    return []


def open_client(service: ServiceProcess, answers: list[str], **options) -> httpx.Client:
    """A client of the service that keeps the text of each answer in ``answers``."""

    def remember(response: httpx.Response) -> None:
        if response.headers.get("content-type", "").startswith(("application/json", "text/html", "text/plain")):
            response.read()
            answers.append(response.text)

    return httpx.Client(base_url=service.url, timeout=60, event_hooks={"response": [remember]}, **options)


@pytest.fixture(scope="module")
def client(service, answers):
    with open_client(service, answers) as opened:
        yield opened


@pytest.fixture
def fresh(service, answers):
    """A client with an empty cookie jar, for the tests that sign in through links."""
    with open_client(service, answers) as opened:
        yield opened


@pytest.fixture
def nothing_uploaded(service):
    """Checks that a refused upload left nothing in the data folder's uploads/ and made no job folder."""
    jobs = service.data_dir / "jobs"
    before = set(os.listdir(jobs)) if jobs.exists() else set()
    yield
    uploads = service.data_dir / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == [], f"left in uploads/: {list(uploads.rglob('*'))}"
    assert (set(os.listdir(jobs)) if jobs.exists() else set()) == before, "a refused upload made a job folder"


def detail(response: httpx.Response) -> str:
    return response.json()["detail"]


def tone_wav(seconds: float = 0.5) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    buffer = io.BytesIO()
    soundfile.write(buffer, (0.3 * np.sin(2 * np.pi * 220 * t))[:, None], RATE, format="WAV", subtype="PCM_24")
    return buffer.getvalue()


def session(**changes) -> dict:
    return {
        "format": "mixfarm/1",
        "name": "attack",
        "tracks": [{"name": "tone", "file": "stems/tone.wav"}],
        "master": {"tail_s": 0.0},
        "outputs": [{"path": "master.wav", "bit_depth": 24}],
        **changes,
    }


def bundle(*extra: tuple[str, bytes], document: dict | None = None) -> bytes:
    """A valid session bundle (deflated) with ``extra`` entries added."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("session.yaml", yaml.safe_dump(document or session()))
        archive.writestr("stems/tone.wav", tone_wav())
        for name, content in extra:
            archive.writestr(name, content)
    return buffer.getvalue()


def long_bundle(length_s: float, name: str) -> bytes:
    """A session ``length_s`` long with reverb on two tracks, from the short stem placed at both ends (a small upload)."""
    clips = ({"file": "stems/tone.wav", "start_s": 0.0}, {"file": "stems/tone.wav", "start_s": length_s - 0.5})
    tracks = [{"name": f"t{index}", "clips": [dict(clip) for clip in clips], "fx": [{"type": "reverb", "decay_s": 1.5, "mix": 0.3}]} for index in range(2)]
    return bundle(document=session(name=name, tracks=tracks))


def post(client: httpx.Client, content: bytes, headers: dict | None = ALPHA, **data) -> httpx.Response:
    return client.post("/api/jobs", files={"bundle": ("bundle.zip", content, "application/zip")}, data=data, headers=headers)


def submitted(client: httpx.Client, content: bytes, headers: dict) -> dict:
    response = post(client, content, headers)
    assert response.status_code == 201, response.text
    return response.json()


def finished(client: httpx.Client, job: dict, headers: dict, timeout_s: float = 180.0) -> dict:
    with httpx.Client(base_url=client.base_url, headers=headers, timeout=60) as own:
        return wait_for_state(own, job["id"], FINAL, timeout_s)


@pytest.fixture(scope="module")
def alphas_done(client):
    """A small job of alpha's that succeeded."""
    job = finished(client, submitted(client, session_bundle(0.5, name="alpha-done"), ALPHA), ALPHA)
    assert job["state"] == "succeeded", job["error"]
    return job


# --- 1. bodies: authentication first, limits on what arrives, unpacked size, studio quota ---------

CHUNK = 1024**2


def multipart_chunks(total_mib: int, yielded: list[int]):
    """A multipart upload of ``total_mib`` MiB of zeros, one MiB at a time (sent chunked: no Content-Length)."""
    yield b'--edge\r\nContent-Disposition: form-data; name="bundle"; filename="b.zip"\r\nContent-Type: application/zip\r\n\r\n'
    for _ in range(total_mib):
        yielded.append(CHUNK)
        yield bytes(CHUNK)
    yield b"\r\n--edge--\r\n"


def chunked_upload(client: httpx.Client, total_mib: int, headers: dict) -> tuple[httpx.Response, int]:
    yielded: list[int] = []
    response = client.post(
        "/api/jobs", content=multipart_chunks(total_mib, yielded), headers={"Content-Type": "multipart/form-data; boundary=edge", **headers}
    )
    return response, len(yielded)


def head_only_post(service: ServiceProcess, headers: dict) -> tuple[int, str]:
    """Send only the head of a POST /api/jobs that declares a 2.3 GB body, none of the body; the status and body answered."""
    lines = {"Host": f"127.0.0.1:{service.port}", "Content-Length": "2469606195", "Content-Type": "multipart/form-data; boundary=edge", **headers}
    with socket.create_connection(("127.0.0.1", service.port), timeout=30) as connection:
        connection.sendall(("POST /api/jobs HTTP/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in lines.items()) + "\r\n").encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


def test_a_chunked_upload_without_a_token_is_401_before_its_body_is_read(client, nothing_uploaded):
    response, yielded_mib = chunked_upload(client, 64, {})
    assert response.status_code == 401, response.text
    assert detail(response).startswith("missing API token")
    assert response.headers["connection"] == "close"
    assert yielded_mib < 64, "the client could send the whole body: the service read it"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Cookie": "mixfarm_token=wrong"}], ids=["none", "wrong", "wrong-cookie"])
def test_a_huge_declared_body_without_a_valid_token_is_401_with_none_of_it_sent(service, nothing_uploaded, headers):
    status, body = head_only_post(service, headers)
    assert status == 401, body
    assert "token" in body


def test_a_declared_body_over_the_limit_is_413_at_once(service, nothing_uploaded):
    status, body = head_only_post(service, ALPHA)
    assert status == 413, body
    assert "upload limit of 1048576 bytes" in body and "Content-Length says 2469606195 bytes" in body


def test_an_oversized_chunked_upload_with_a_token_is_413(client, nothing_uploaded):
    response, _ = chunked_upload(client, 3, ALPHA)
    assert response.status_code == 413, response.text
    assert detail(response).startswith("request body: over the upload limit of 1048576 bytes")


def test_a_zip_bomb_over_the_unpacked_limit_is_413_with_the_numbers(client, nothing_uploaded):
    bomb = bundle(("stems/zeros.bin", bytes(10 * 1024**2)))
    assert len(bomb) < 200_000
    response = post(client, bomb)
    assert response.status_code == 413, response.text
    unpacked = 10 * 1024**2 + len(tone_wav()) + len(yaml.safe_dump(session()))
    assert detail(response) == f"bundle: unpacks to {unpacked} bytes, over the limit of {BUNDLE_MB * 1024**2} bytes"


def test_the_studio_quota_is_enforced_with_the_numbers(client):
    padded = bundle(("padding.bin", bytes(int(2.5 * 1024**2))))
    first = finished(client, submitted(client, padded, GAMMA), GAMMA)
    assert first["state"] == "succeeded", first["error"]
    stored = first["bundle_bytes"]
    assert stored > 2.5 * 1024**2

    response = post(client, padded, GAMMA)
    assert response.status_code == 429, response.text
    assert detail(response) == (
        f"studio 'gamma': this bundle unpacks to {stored} bytes and the studio's stored bundles take {stored} bytes already; "
        f"together {2 * stored} bytes, over its quota of {QUOTA_MB * 1024**2} bytes (quota_mb)"
    )
    assert client.get("/api/jobs", headers=GAMMA).json()["total"] == 1
    assert post(client, session_bundle(0.5, name="other studio"), BETA).status_code == 201


# --- 2. cross-origin forgery, login forgery, framing and sniffing ----------------------------------


@pytest.fixture(scope="module")
def betas_cancelled(client):
    """A job of beta's, cancelled: what a forged retry would queue again."""
    job = submitted(client, long_bundle(120.0, "beta-victim"), BETA)
    assert client.post(f"/api/jobs/{job['id']}/cancel", headers=BETA).status_code == 200
    job = finished(client, job, BETA)
    assert job["state"] == "cancelled"
    return job


@pytest.mark.parametrize(
    "source", [{"Origin": FOREIGN}, {"Origin": "null"}, {"Referer": f"{FOREIGN}/evil.html"}, {"Origin": "https://127.0.0.1"}], ids=["origin", "null", "referer", "other-scheme"]
)
def test_a_cross_origin_post_riding_the_cookie_is_403(client, betas_cancelled, source):
    response = client.post(f"/api/jobs/{betas_cancelled['id']}/retry", headers={"Cookie": "mixfarm_token=tokB", **source})
    assert response.status_code == 403, response.text
    assert detail(response).startswith("cross-origin request refused: it comes from") and "not from this service (http://127.0.0.1:" in detail(response)
    assert client.get(f"/api/jobs/{betas_cancelled['id']}", headers=BETA).json()["state"] == "cancelled"


def test_a_cross_origin_post_without_any_token_is_403_too(client):
    response = client.post("/api/jobs/0123456789abcdef/cancel", headers={"Origin": FOREIGN})
    assert response.status_code == 403, response.text


def test_a_bearer_request_is_not_origin_checked(client, betas_cancelled):
    response = client.post(f"/api/jobs/{betas_cancelled['id']}/cancel", headers={"Origin": FOREIGN, **BETA})
    assert response.status_code == 409, response.text


def test_the_dashboards_own_post_with_the_cookie_goes_through(client, service, betas_cancelled):
    response = client.post(f"/api/jobs/{betas_cancelled['id']}/retry", headers={"Cookie": "mixfarm_token=tokB", "Origin": service.url})
    assert response.status_code == 200, response.text
    assert client.post(f"/api/jobs/{betas_cancelled['id']}/cancel", headers=BETA).status_code == 200
    assert finished(client, betas_cancelled, BETA)["state"] == "cancelled"


def cookie_of(response: httpx.Response) -> str:
    return response.headers.get("set-cookie", "")


def test_a_token_link_sets_the_cookie_and_redirects_to_the_address_without_it(fresh):
    response = fresh.get("/cluster?token=tokA&view=1")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/cluster?view=1"
    assert cookie_of(response).startswith("mixfarm_token=tokA;")
    assert "HttpOnly" in cookie_of(response) and "SameSite=strict" in cookie_of(response) and "Secure" not in cookie_of(response)
    assert fresh.get("/cluster?view=1").status_code == 200


def test_an_unknown_token_link_is_401_and_sets_nothing(fresh):
    response = fresh.get("/?token=wrong")
    assert response.status_code == 401 and "unknown API token" in response.text
    assert "set-cookie" not in response.headers


def test_a_token_link_for_another_studio_asks_before_switching(fresh, service):
    assert fresh.get("/?token=tokB").status_code == 303
    offered = fresh.get("/jobs/x?token=tokA")
    assert offered.status_code == 200, offered.text
    assert "set-cookie" not in offered.headers
    assert "Switch studio?" in offered.text and "signed in as studio <strong>beta</strong>" in offered.text
    assert 'name="next" value="/jobs/x"' in offered.text and offered.headers["cache-control"] == "no-store"
    assert "beta" in fresh.get("/").text.split("<main>")[0]

    form = {"token": "tokA", "next": "/cluster"}
    forged = fresh.post("/session", data=form, headers={"Origin": FOREIGN})
    assert forged.status_code == 403, forged.text
    assert "set-cookie" not in forged.headers

    confirmed = fresh.post("/session", data=form, headers={"Origin": service.url})
    assert confirmed.status_code == 303 and confirmed.headers["location"] == "/cluster"
    assert cookie_of(confirmed).startswith("mixfarm_token=tokA;")
    assert fresh.post("/session", data={"token": "tokA", "next": "//evil.example/"}, headers={"Origin": service.url}).headers["location"] == "/"


def test_the_cookie_is_secure_when_served_over_https_through_a_trusted_proxy(fresh):
    response = fresh.get("/?token=tokA", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 303
    assert "Secure" in cookie_of(response)


PAGE_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/", {}),
        ("GET", "/?token=tokA", {}),
        ("GET", "/cluster", {"Cookie": "mixfarm_token=tokA"}),
        ("GET", "/static/app.js", {}),
        ("GET", "/api/jobs", {}),
        ("GET", "/api/jobs", ALPHA),
        ("GET", "/api/jobs/none", ALPHA),
        ("POST", "/api/jobs/none/retry", {"Origin": FOREIGN}),
        ("GET", "/healthz", {}),
        ("GET", "/metrics", {}),
        ("GET", "/openapi.json", {}),
        ("GET", "/no-such-page", {}),
    ],
)
def test_every_answer_carries_the_security_headers(client, method, path, headers):
    response = client.request(method, path, headers=headers)
    assert response.headers["content-security-policy"] == PAGE_POLICY
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_api_explorer_gets_a_policy_of_its_own(client):
    policy = client.get("/docs").headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self' 'sha256-" in policy and "http" not in policy


@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"no Chromium at {CHROMIUM}")
def test_the_dashboard_breaks_no_rule_of_its_content_security_policy(service, alphas_done):
    from playwright.sync_api import sync_playwright

    violations: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True)
        try:
            page = browser.new_context().new_page()
            page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None)
            page.goto(f"{service.url}/jobs/{alphas_done['id']}?token=tokA")
            page.wait_for_selector("#live.on")
            assert page.evaluate("document.querySelector('[data-field=progress-fill]').style.width") == "100%"
            page.goto(f"{service.url}/")
            page.wait_for_selector("#live.on")
            page.goto(f"{service.url}/cluster")
            page.wait_for_selector("#live.on")
            assert page.evaluate("document.querySelector('[data-cluster-fill]').style.width").endswith("%")
        finally:
            browser.close()
    assert violations == []


# --- 3. overflows, names, broken storage, leaked paths, metrics, other studios ---------------------


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/jobs?offset=1.2e23", "offset"),
        ("/api/jobs?offset=120000000000000000000000", "offset"),
        ("/api/jobs?offset=9223372036854775808", "offset"),
        ("/?page=1e20", "page"),
        ("/?page=100000000000000000000", "page"),
        ("/?page=9223372036854775807", "page"),
    ],
)
def test_huge_offsets_and_pages_are_422_naming_the_field(client, path, field):
    response = client.get(path, headers={**ALPHA, "Cookie": "mixfarm_token=tokA"})
    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["detail"]] == [["query", field]]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a" * 5000, "has a name of 5000 characters, at most 1024 are allowed"),
        ("stems/" + "b" * 300 + ".wav", "has a file or folder name of 304 bytes, at most 255 are allowed"),
        ("/".join(["d"] * 40) + "/x.wav", "lies 41 levels deep, at most 32 are allowed"),
    ],
    ids=["long", "long-part", "deep"],
)
def test_entry_names_beyond_what_a_filesystem_takes_are_400_naming_the_limit(client, nothing_uploaded, name, message):
    response = post(client, bundle((name, b"x")))
    assert response.status_code == 400, response.text
    assert detail(response).startswith("bundle: entry ") and detail(response).endswith(message)


def test_colliding_entries_are_400(client, nothing_uploaded):
    response = post(client, bundle(("stems/tone.wav/inner.wav", b"x")))
    assert response.status_code == 400, response.text
    assert "collides with another entry" in detail(response)


def test_an_unwritable_uploads_folder_is_503_saying_why_and_the_service_keeps_serving(client, service):
    uploads = service.data_dir / "uploads"
    if uploads.exists():
        uploads.rmdir()
    uploads.write_text("not a folder")
    try:
        response = post(client, bundle())
        assert response.status_code == 503, response.text
        assert detail(response) == "uploads folder: cannot be written (EEXIST: File exists); nothing was stored, try again later"
        assert client.get("/healthz").text == "ok"
    finally:
        uploads.unlink()
    assert post(client, session_bundle(0.5, name="after-503")).status_code == 201


def wait_until_idle(client: httpx.Client, timeout_s: float = 300.0) -> None:
    """Wait until no studio has a job queued or running."""
    deadline = time.monotonic() + timeout_s
    for token in TOKENS.values():
        for state in ("queued", "running"):
            while client.get("/api/jobs", params={"state": state}, headers={"Authorization": f"Bearer {token}"}).json()["total"]:
                assert time.monotonic() < deadline, f"jobs still {state} after {timeout_s} s"
                time.sleep(0.2)


def test_a_locked_job_store_is_503_with_a_clear_message(client, service, nothing_uploaded):
    wait_until_idle(client)
    lock = sqlite3.connect(service.data_dir / "jobs.sqlite3", isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        response = post(client, bundle())
        assert response.status_code == 503, response.text
        assert detail(response) == "job store: unavailable (database is locked); it may be read-only or locked by another process, try again later"
        assert client.get("/api/jobs", headers=ALPHA).status_code == 200
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert client.get("/healthz").text == "ok"


def test_an_output_named_with_url_characters_downloads(client):
    name = "mix #1 ?50% 100%25.wav"
    job = finished(client, submitted(client, bundle(document=session(outputs=[{"path": name, "bit_depth": 24}])), ALPHA), ALPHA)
    assert job["state"] == "succeeded", job["error"]
    (output,) = job["outputs"]
    assert output["name"] == name
    assert output["url"].endswith(f"/api/jobs/{job['id']}/outputs/mix%20%231%20%3F50%25%20100%2525.wav")
    download = client.get(output["url"], headers=ALPHA)
    assert download.status_code == 200, download.text
    assert download.content[:4] == b"RIFF" and len(download.content) == output["bytes"]
    assert f'href="{output["url"]}"' in client.get(f"/jobs/{job['id']}", headers={"Cookie": "mixfarm_token=tokA"}).text


def test_session_problems_name_files_inside_the_bundle_not_on_the_server(client, service, nothing_uploaded):
    document = session(tracks=[{"name": "tone", "file": "stems/missing.wav"}])
    response = post(client, bundle(document=document))
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert problems == ["tracks[0].file: stems/missing.wav: no such file"], problems


def test_a_session_longer_than_the_limit_is_422_naming_it(client, nothing_uploaded):
    response = post(client, long_bundle(3600.0, "hour-long"))
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert any(f"a session may last at most {MAX_DURATION_S} s" in problem for problem in problems), problems


def raw_bundle(session_text: bytes, name: str = "session.yaml", stem: bytes | None = None) -> bytes:
    """A bundle whose session file is exactly ``session_text``, with the short stem."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, session_text)
        archive.writestr("stems/tone.wav", stem if stem is not None else tone_wav())
    return buffer.getvalue()


def alias_bomb() -> bytes:
    lines = ["format: mixfarm/1", "a: &a [x,x,x,x,x,x,x,x,x,x]"]
    lines += [f"{name}: &{name} [{','.join([f'*{previous}'] * 10)}]" for previous, name in zip("abcdefg", "bcdefgh")]
    return "\n".join(lines + ["sample_rate: *h", "tracks: [{name: tone, file: stems/tone.wav}]", ""]).encode()


def nan_stem() -> bytes:
    audio = np.zeros((RATE, 1), dtype=np.float32)
    audio[1234] = np.nan
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, RATE, format="WAV", subtype="FLOAT")
    return buffer.getvalue()


SESSION_ATTACKS = {
    "alias bomb": (raw_bundle(alias_bomb()), "line 6: YAML aliases stand for more than 100000 values in all; write the session out in full"),
    "clip at 1e9 s": (
        bundle(document=session(tracks=[{"name": "k", "clips": [{"file": "stems/tone.wav", "start_s": 1.0e9}]}])),
        "tracks[0].clips[0].start_s: the clip ends at 1e+09 s; a session may last at most",
    ),
    "infinite fade": (bundle(document=session(master={"tail_s": 0.0, "fade_in_s": float("inf")})), "master.fade_in_s: must be a finite number"),
    "NaN automation time": (
        raw_bundle(json.dumps(session(tracks=[{"name": "tone", "file": "stems/tone.wav", "automation": {"gain_db": [[0, 0], [float("nan"), -6]]}}])).encode(), "session.json"),
        "tracks[0].automation.gain_db[1][0]: must be a finite number",
    ),
    "lone surrogate in the name": (raw_bundle(b'{"format": "mixfarm/1", "name": "\\ud800", "tracks": [{"name": "t", "file": "stems/tone.wav"}]}', "session.json"), "name: "),
    "2 MB name": (raw_bundle(json.dumps(session(name="n" * 2_000_000)).encode(), "session.json"), "name: "),
    "NaN samples in a stem": (raw_bundle(yaml.safe_dump(session()).encode(), stem=nan_stem()), "tracks[0].file: "),
    "output named report.json": (bundle(document=session(outputs=[{"path": "report.json"}])), "outputs[0].path: "),
}


@pytest.mark.parametrize("attack", SESSION_ATTACKS)
def test_a_session_that_could_hurt_or_never_render_is_a_small_422_naming_the_field(client, nothing_uploaded, attack):
    content, expected = SESSION_ATTACKS[attack]
    response = post(client, content)
    assert response.status_code == 422, response.text
    assert len(response.content) < 4096, f"the answer is {len(response.content)} bytes"
    problems = response.json()["problems"]
    assert any(problem.startswith(expected) for problem in problems), problems


def test_metrics_need_the_metrics_token(client):
    for headers in ({}, ALPHA, {"Authorization": "Bearer wrong"}, {"Cookie": f"mixfarm_token={METRICS_TOKEN}"}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert detail(response) == "/metrics needs the metrics token: send 'Authorization: Bearer <MIXFARM_METRICS_TOKEN>'"
    response = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200 and "mixfarm_queue_depth" in response.text


def test_the_cluster_shows_only_the_callers_jobs(client, alphas_done):
    job = submitted(client, long_bundle(120.0, "beta-busy"), BETA)
    deadline = time.monotonic() + 120
    while client.get(f"/api/jobs/{job['id']}", headers=BETA).json()["state"] != "running":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.1)
    try:
        betas, deltas = (client.get("/api/cluster", headers=headers).json() for headers in (BETA, DELTA))
        assert betas["jobs_running"] == 1 and deltas["jobs_running"] == 0
        assert deltas["cpus"] == betas["cpus"] > 0 and deltas["nodes"]
        page = client.get("/cluster", headers={"Cookie": "mixfarm_token=tokD"}).text
        assert re.search(r">\s*0 ok · 0 failed · 0 cancelled\s*<", page), page
        assert not re.search(r">\s*0 ok", client.get("/cluster", headers={"Cookie": "mixfarm_token=tokA"}).text)
    finally:
        client.post(f"/api/jobs/{job['id']}/cancel", headers=BETA)
    assert finished(client, job, BETA)["state"] == "cancelled"


# --- 4. generated requests over the OpenAPI document ----------------------------------------------

GENERATED_EXAMPLES = 1000


def test_generated_requests_never_get_a_server_error(service):
    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json").exclude(path="/api/events")
    cases = schema.as_strategy(GenerationMode.POSITIVE) | schema.as_strategy(GenerationMode.NEGATIVE)

    @settings(max_examples=GENERATED_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def answered_without_a_server_error(case):
        response = case.call(base_url=service.url, headers=ALPHA, timeout=60)
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"

    answered_without_a_server_error()


# --- 5. after it all --------------------------------------------------------------------------------


def test_no_answer_showed_a_server_path(service, answers):
    data = service.data_dir
    forms = {str(data), str(data.resolve()), str(Path(os.path.realpath(data)))}
    assert len(answers) > 50
    leaks = [answer for answer in answers if any(form in answer for form in forms)]
    assert leaks == []


def test_the_service_came_through_and_renders_a_normal_job(client):
    assert client.get("/healthz").text == "ok"
    job = finished(client, submitted(client, session_bundle(1.0, name="after the attacks"), ALPHA), ALPHA)
    assert job["state"] == "succeeded", job["error"]
    download = client.get(job["outputs"][0]["url"], headers=ALPHA)
    assert download.status_code == 200 and download.content[:4] == b"RIFF"
