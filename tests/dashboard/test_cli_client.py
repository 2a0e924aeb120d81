"""The ``mixfarm submit / jobs / cancel`` clients against a real service with API tokens."""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from unittest import mock

import httpx
import numpy as np
import pytest
import soundfile
import yaml

from farm.cli import main
from tests.helpers.service import ServiceProcess, free_port, long_bundle, wait_for_state

RATE = 48000
FINAL = {"succeeded", "failed", "cancelled"}
ALPHA = {"Authorization": "Bearer tokA"}


def write_wav(path: Path, seconds: float, freq_hz: float = 220.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * RATE)) / RATE
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * freq_hz * t))[:, None], RATE, subtype="PCM_24")


def write_session(path: Path, **changes) -> Path:
    document = {
        "format": "mixfarm/1",
        "name": "cli-song",
        "tracks": [{"name": "tone", "file": "stems/tone.wav"}],
        "master": {"tail_s": 0.0},
        "outputs": [{"path": "master.wav", "bit_depth": 24}],
        **changes,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document))
    return path


def client_environment(token: str | None, server: str | None) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in ("MIXFARM_TOKEN", "MIXFARM_SERVER")}
    if token is not None:
        env["MIXFARM_TOKEN"] = token
    if server is not None:
        env["MIXFARM_SERVER"] = server
    return env


def mixfarm(*args: str, token: str | None = "tokA", server: str | None = None) -> subprocess.CompletedProcess:
    """Run the command line as its own process."""
    env = client_environment(token, server)
    return subprocess.run([sys.executable, "-m", "farm.cli", *args], capture_output=True, text=True, env=env, timeout=120)


def mixfarm_inline(*args: str, token: str | None = "tokA", server: str | None = None) -> subprocess.CompletedProcess:
    """Run the command line's main() in this process (fast; for the error paths)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, client_environment(token, server), clear=True), redirect_stdout(stdout), redirect_stderr(stderr):
        status = main(list(args))
    return subprocess.CompletedProcess(args, status, stdout.getvalue(), stderr.getvalue())


def submitted_id(completed: subprocess.CompletedProcess) -> str:
    assert completed.returncode == 0, completed.stderr
    match = re.fullmatch(r"([0-9a-f]{16})  (queued|running)  (.+)\n", completed.stdout)
    assert match, completed.stdout
    return match.group(1)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    started = ServiceProcess(
        tmp_path_factory.mktemp("cli") / "data", env={"MIXFARM_API_TOKENS": "alpha:tokA,beta:tokB"}, extra_args=("--max-running", "1")
    )
    yield started
    started.stop()


@pytest.fixture(scope="module")
def api(service):
    with httpx.Client(base_url=service.url, headers=ALPHA, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    """A session file with stems and an impulse response beside it, and files it does not name."""
    folder = tmp_path_factory.mktemp("song")
    write_wav(folder / "stems" / "tone.wav", 1.0)
    write_wav(folder / "stems" / "unused.wav", 1.0, 330.0)
    write_wav(folder / "irs" / "room.wav", 0.2, 1000.0)
    (folder / "big-unrelated.bin").write_bytes(os.urandom(256 * 1024))
    fx = [{"type": "convolution", "ir_file": "irs/room.wav", "mix": 0.2}]
    return write_session(folder / "My Song.yaml", name="file-song", tracks=[{"name": "tone", "file": "stems/tone.wav", "fx": fx}])


@pytest.fixture(scope="module")
def file_job(service, api, song):
    completed = mixfarm("submit", str(song), "--server", service.url, "--priority", "5")
    job_id = submitted_id(completed)
    return {"stdout": completed.stdout, "job": wait_for_state(api, job_id, FINAL)}


@pytest.fixture(scope="module")
def folder_job(service, api, tmp_path_factory):
    folder = tmp_path_factory.mktemp("folder-song")
    write_wav(folder / "stems" / "tone.wav", 0.5, 440.0)
    (folder / "notes.txt").write_text("sent along with the folder")
    write_session(folder / "session.yaml", name="folder-song")
    job_id = submitted_id(mixfarm("submit", str(folder), "--name", "named from the cli", server=service.url))
    return wait_for_state(api, job_id, FINAL)


def test_submit_of_a_session_file_queues_it_with_its_priority(file_job):
    job = file_job["job"]
    assert job["state"] == "succeeded", job["error"]
    assert job["priority"] == 5 and job["name"] == "file-song" and job["studio"] == "alpha"
    assert file_job["stdout"].split()[2] == "file-song"


def test_submit_of_a_session_file_uploads_exactly_the_files_it_names(file_job, service):
    bundle = service.data_dir / "jobs" / file_job["job"]["id"] / "bundle"
    files = {path.relative_to(bundle).as_posix() for path in bundle.rglob("*") if path.is_file()}
    assert files == {"session.yaml", "stems/tone.wav", "irs/room.wav"}


def test_submit_of_a_folder_uploads_it_whole(folder_job, service):
    assert folder_job["state"] == "succeeded", folder_job["error"]
    assert folder_job["name"] == "named from the cli" and folder_job["priority"] == 0
    bundle = service.data_dir / "jobs" / folder_job["id"] / "bundle"
    assert (bundle / "notes.txt").read_text() == "sent along with the folder"


def test_jobs_lists_the_callers_jobs(service, file_job, folder_job):
    completed = mixfarm("jobs", "--server", service.url)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].split() == ["id", "state", "progress", "priority", "name"]
    rows = {line.split()[0]: line for line in lines[1:-1]}
    assert file_job["job"]["id"] in rows and folder_job["id"] in rows
    assert "succeeded" in rows[file_job["job"]["id"]] and "100.0%" in rows[file_job["job"]["id"]] and "file-song" in rows[file_job["job"]["id"]]
    assert re.fullmatch(r"(\d+) of \1 job\(s\)", lines[-1]), lines[-1]


def test_jobs_filters_by_state_and_reads_the_server_from_the_environment(service, file_job):
    completed = mixfarm_inline("jobs", "--state", "cancelled", server=service.url)
    assert completed.returncode == 0, completed.stderr
    assert file_job["job"]["id"] not in completed.stdout
    assert all(" cancelled " in line for line in completed.stdout.splitlines()[1:-1])


def test_another_studios_token_sees_none_of_these_jobs(service, file_job):
    completed = mixfarm_inline("jobs", "--server", service.url, token="tokB")
    assert completed.returncode == 0, completed.stderr
    assert file_job["job"]["id"] not in completed.stdout and completed.stdout.splitlines()[-1] == "0 of 0 job(s)"


def test_cancel_of_a_queued_job(service, api, song, tmp_path):
    long = tmp_path / "long"
    write_wav(long / "stems" / "tone.wav", 2.0)
    clips = [{"file": "stems/tone.wav", "start_s": 0.0}, {"file": "stems/tone.wav", "start_s": 898.0}]
    fx = [{"type": "saturation", "drive_db": 6}, {"type": "reverb", "decay_s": 1.5}]
    tracks = [{"name": f"t{index}", "clips": clips, "fx": fx} for index in range(3)]
    blocker = submitted_id(mixfarm_inline("submit", str(write_session(long / "session.yaml", name="blocker", tracks=tracks)), "--server", service.url))
    try:
        wait_for_state(api, blocker, {"running"}, 60)
        queued = submitted_id(mixfarm_inline("submit", str(song), "--server", service.url))
        assert api.get(f"/api/jobs/{queued}").json()["state"] == "queued"
        completed = mixfarm("cancel", queued, "--server", service.url)
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.split() == [queued, "cancelled"]
        assert api.get(f"/api/jobs/{queued}").json()["state"] == "cancelled"
        stopping = mixfarm_inline("cancel", blocker, "--server", service.url)
        assert stopping.returncode == 0, stopping.stderr
        assert stopping.stdout == f"{blocker}  cancelled\n", "cancel waits for the running job to stop and says how it ended"
        assert api.get(f"/api/jobs/{blocker}").json()["state"] == "cancelled"
    finally:
        api.post(f"/api/jobs/{blocker}/cancel")


def test_cancel_of_a_job_that_ended_first_says_so_and_fails(service, api, file_job):
    done = file_job["job"]["id"]
    completed = mixfarm_inline("cancel", done, "--server", service.url)
    assert completed.returncode == 2
    assert completed.stderr.strip().endswith("409 the job has succeeded, so it cannot be cancelled; its outputs are ready (submit it again to render it again)")


def test_cancel_of_an_unknown_job_fails_with_404(service):
    completed = mixfarm_inline("cancel", "0123456789abcdef", "--server", service.url)
    assert completed.returncode != 0
    assert "404" in completed.stderr and "0123456789abcdef" in completed.stderr


def test_submit_without_a_token_fails_with_401(service, song, api):
    before = api.get("/api/jobs").json()["total"]
    completed = mixfarm_inline("submit", str(song), "--server", service.url, token=None)
    assert completed.returncode != 0
    assert "401" in completed.stderr and "token" in completed.stderr
    assert api.get("/api/jobs").json()["total"] == before


def test_submit_with_a_wrong_token_fails_with_401(service, song):
    completed = mixfarm_inline("submit", str(song), "--server", service.url, token="wrong")
    assert completed.returncode != 0 and "401" in completed.stderr and "unknown API token" in completed.stderr


def test_submit_of_an_invalid_session_file_prints_its_problems(service, api, tmp_path):
    write_wav(tmp_path / "stems" / "tone.wav", 0.5)
    bad = write_session(tmp_path / "bad.yaml", tracks=[{"name": "tone", "file": "stems/tone.wav", "fx": [{"type": "fuzz"}]}])
    before = api.get("/api/jobs").json()["total"]
    completed = mixfarm_inline("submit", str(bad), "--server", service.url)
    assert completed.returncode == 1, "an invalid session, checked here"
    assert "tracks[0].fx[0].type: unknown effect 'fuzz'" in completed.stderr
    assert api.get("/api/jobs").json()["total"] == before


def test_submit_of_an_invalid_session_folder_prints_the_servers_problems(service, api, tmp_path):
    write_wav(tmp_path / "stems" / "tone.wav", 0.5)
    write_session(tmp_path / "session.yaml", tracks=[{"name": "tone", "file": "stems/missing.wav", "gain_dbb": 2}])
    before = api.get("/api/jobs").json()["total"]
    completed = mixfarm_inline("submit", str(tmp_path), "--server", service.url)
    assert completed.returncode == 1, "an invalid session, as the service found it: the same status as one checked here"
    assert "422" in completed.stderr and "invalid session" in completed.stderr
    assert "tracks[0].gain_dbb: unknown field" in completed.stderr, completed.stderr
    assert "tmp" not in completed.stderr.replace(str(tmp_path), ""), completed.stderr
    assert api.get("/api/jobs").json()["total"] == before


def test_a_server_that_is_not_there_is_reported(song):
    completed = mixfarm_inline("jobs", "--server", f"http://127.0.0.1:{free_port()}")
    assert completed.returncode != 0 and "cannot connect" in completed.stderr


@pytest.mark.skipif(shutil.which("mixfarm") is None, reason="the mixfarm console script is not installed")
def test_the_installed_mixfarm_command_lists_jobs(service, file_job):
    env = {**os.environ, "MIXFARM_TOKEN": "tokA"}
    completed = subprocess.run(["mixfarm", "jobs", "--server", service.url, "--limit", "1"], capture_output=True, text=True, env=env, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert len(completed.stdout.splitlines()) == 3 and completed.stdout.splitlines()[-1].startswith("1 of ")


def test_priority_after_and_usage_from_the_command_line(service, api, song, file_job):
    beta = httpx.Client(base_url=service.url, headers={"Authorization": "Bearer tokB"}, timeout=30)
    busy = beta.post("/api/jobs", files={"bundle": ("long.zip", long_bundle(900.0))}).json()["id"]
    wait_for_state(beta, busy, {"running"})
    first = submitted_id(mixfarm("submit", str(song), server=service.url))
    completed = mixfarm("submit", str(song), "--after", first, server=service.url)
    assert completed.returncode == 0, completed.stderr
    second = completed.stdout.split()[0]
    assert completed.stdout.rstrip().endswith(f"(after {first})")
    changed = mixfarm("priority", second, "4", server=service.url)
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout == f"{second}  queued  priority 4\n"
    assert beta.post(f"/api/jobs/{busy}/cancel").status_code == 200
    jobs = [wait_for_state(api, job_id, FINAL) for job_id in (first, second)]
    assert [job["state"] for job in jobs] == ["succeeded", "succeeded"]
    assert jobs[1]["priority"] == 4 and jobs[1]["started_at"] >= jobs[0]["finished_at"]

    usage = mixfarm("usage", server=service.url)
    assert usage.returncode == 0, usage.stderr
    total = api.get("/api/usage").json()["total"]
    assert usage.stdout.splitlines()[-1].split() == ["total", str(total["jobs"]), str(total["attempts"]), f"{total['cpu_s']:.1f}", f"{total['audio_s']:.1f}"]
    refused = mixfarm_inline("usage", "--from", "someday", server=service.url)
    assert refused.returncode == 2 and "from: 'someday' is neither a date" in refused.stderr


@contextlib.contextmanager
def stand_in(job: dict, later: dict):
    """A loopback stand-in of the API for races a real farm cannot be timed into: a POST answers ``job``, a GET
    ``job`` updated with ``later``; yields its URL."""

    class Farm(http.server.BaseHTTPRequestHandler):
        def answer(self, fields):
            body = json.dumps({**job, **fields}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            self.answer({})

        def do_GET(self):
            self.answer(later)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Farm)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_cancel_of_a_running_job_that_finishes_first_says_how_it_ended():
    job = {"id": "0123456789abcdef", "state": "running", "cancel_requested": True}
    with stand_in(job, {"state": "succeeded"}) as url:
        completed = mixfarm_inline("cancel", job["id"], "--server", url)
    assert completed.returncode == 1
    assert completed.stdout == f"{job['id']}  succeeded  (it ended before the cancel reached it)\n"


def test_logs_show_the_task_that_failed_an_attempt():
    failure = {
        "task": "bus",
        "strip": "drums",
        "tracks": None,
        "chunk": {"start_frame": 480000, "stop_frame": 960000, "start_s": 10.0, "stop_s": 20.0},
        "node": "5f3a9c0e7b2d41aa9e",
        "host": "worker-3",
        "traceback": "Traceback (most recent call last):\nOSError: [Errno 5] Input/output error",
    }
    attempt = {"number": 1, "started_at": 1764633600.0, "ended_at": 1764633660.0, "outcome": "requeued", "cpu_s": 42.5, "audio_s": 0.0}
    job = {"id": "0123456789abcdef", "state": "running", "attempt_history": [{**attempt, "error": "attempt 1 of 3 failed: task bus_chunk failed", "failure": failure}]}
    job["webhooks"] = [{"id": 7, "event": "job.failed", "attempts": 2, "delivered_at": None, "gave_up_at": None, "last_error": "http://hook answered 500"}]
    with stand_in(job, {}) as url:
        completed = mixfarm_inline("logs", job["id"], "--server", url)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert re.fullmatch(r"attempt 1: requeued, \S+ \S+ to \S+ \S+, 42\.5 CPU s, 0\.0 s of audio", lines[0]), lines[0]
    assert lines[1:] == [
        "  error: attempt 1 of 3 failed: task bus_chunk failed",
        "  failed in the bus task of drums, chunk 10.00-20.00 s, on worker-3 (node 5f3a9c0e7b2d)",
        "    Traceback (most recent call last):",
        "    OSError: [Errno 5] Input/output error",
        "webhook job.failed #7: pending after 2 call(s); last error: http://hook answered 500",
    ]


def test_submit_says_it_is_packing_and_how_far_the_upload_has_gone(service, song):
    completed = mixfarm("submit", str(song), server=service.url)
    submitted_id(completed)
    lines = completed.stderr.splitlines()
    assert lines[0] == "packing the bundle..."
    assert re.fullmatch(r"uploading \d+\.\d of \d+\.\d MiB \(100%\)", lines[-1]), lines
    assert all(re.fullmatch(r"uploading \d+\.\d of \d+\.\d MiB \(\d+%\)", line) for line in lines[1:])


def test_show_wait_download_and_logs_of_a_finished_job(service, file_job, tmp_path):
    job = file_job["job"]
    shown = mixfarm_inline("show", job["id"], server=service.url)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"{job['id']}  file-song  (alpha)" and lines[1].startswith("  state: succeeded, attempt(s) 1, priority 5")
    assert "  master.wav  (wav, " in shown.stdout
    as_json = json.loads(mixfarm_inline("show", job["id"], "--json", server=service.url).stdout)
    assert as_json["id"] == job["id"] and as_json["report"]["deliverables"]

    waited = mixfarm_inline("wait", job["id"], server=service.url)
    assert (waited.returncode, waited.stdout) == (0, f"{job['id']}  succeeded\n")

    downloaded = mixfarm_inline("download", job["id"], "-o", str(tmp_path / "got"), server=service.url)
    assert downloaded.returncode == 0, downloaded.stderr
    assert (tmp_path / "got" / "master.wav").read_bytes()[:4] == b"RIFF"
    assert (tmp_path / "got" / "master.wav").stat().st_size == job["outputs"][0]["bytes"]
    refused = mixfarm_inline("download", job["id"], "nope.wav", "-o", str(tmp_path / "none"), server=service.url)
    assert refused.returncode == 2 and "has no output nope.wav (its outputs: master.wav)" in refused.stderr

    logs = mixfarm_inline("logs", job["id"], server=service.url)
    assert logs.returncode == 0 and re.match(r"attempt 1: succeeded, .* CPU s, \d+\.\d s of audio\n", logs.stdout), logs.stdout
    listing = json.loads(mixfarm_inline("jobs", "--json", "--limit", "2", server=service.url).stdout)
    assert listing["limit"] == 2 and len(listing["jobs"]) <= 2


def test_wait_logs_and_retry_of_a_job_whose_stem_broke_in_storage(service, api, song):
    beta = httpx.Client(base_url=service.url, headers={"Authorization": "Bearer tokB"}, timeout=30)
    busy = beta.post("/api/jobs", files={"bundle": ("long.zip", long_bundle(900.0))}).json()["id"]
    try:
        wait_for_state(beta, busy, {"running"})
        job_id = submitted_id(mixfarm_inline("submit", str(song), server=service.url))
        stem = service.data_dir / "jobs" / job_id / "bundle" / "stems" / "tone.wav"
        stem.write_bytes(stem.read_bytes()[: stem.stat().st_size // 2])
    finally:
        beta.post(f"/api/jobs/{busy}/cancel")

    waited = mixfarm_inline("wait", job_id, server=service.url)
    assert waited.returncode == 1, waited.stdout + waited.stderr
    expected = "invalid session:\ntracks[0].file: stems/tone.wav: truncated WAV: data chunk declares 144000 bytes, file holds"
    assert waited.stdout.startswith(f"{job_id}  failed  {expected}")
    logs = mixfarm_inline("logs", job_id, server=service.url)
    assert logs.returncode == 0
    assert re.match(rf"attempt 1: failed, .*\n  error: {re.escape(expected)}", logs.stdout), logs.stdout

    retried = mixfarm_inline("retry", job_id, server=service.url)
    assert retried.returncode == 0 and retried.stdout == f"{job_id}  queued\n"
    assert wait_for_state(api, job_id, FINAL)["attempts"] == 1
    assert len(api.get(f"/api/jobs/{job_id}").json()["attempt_history"]) == 2
