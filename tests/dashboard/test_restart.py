"""A service killed mid-render loses nothing: a new one on the same data folder finishes every job."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import zipfile

import httpx
import pytest

from farm.queue.jobstore import JobStore
from farm.queue.state import JobState
from tests.helpers.service import ServiceProcess, session_bundle, wait_for_state
from tests.helpers.service import long_bundle as _long_bundle

RATE = 48000
FINAL = {"succeeded", "failed", "cancelled"}


def long_bundle(length_s: float, tracks: int = 2) -> bytes:
    return _long_bundle(
        length_s,
        name="interrupted",
        tracks=tracks,
        fx=[{"type": "saturation", "drive_db": 4}, {"type": "reverb", "decay_s": 1.2, "mix": 0.3}],
        master={"tail_s": 0.0, "loudness": {"preset": "spotify"}},
        outputs=[{"path": "master.wav", "bit_depth": 24}, {"path": "master-16.flac", "format": "flac", "bit_depth": 16}],
    )


def submit(client: httpx.Client, bundle: bytes, priority: int = 0) -> dict:
    response = client.post("/api/jobs", files={"bundle": ("b.zip", bundle)}, data={"priority": str(priority)})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def restarted(tmp_path_factory):
    """Six jobs on a one-slot service; SIGKILL it while the first renders; a new service finishes them."""
    folder = tmp_path_factory.mktemp("restart")
    data = folder / "data"
    bundle = long_bundle(60.0)
    first = ServiceProcess(data, extra_args=("--max-running", "1"))
    try:
        with httpx.Client(base_url=first.url, timeout=30) as client:
            interrupted = submit(client, bundle, priority=5)
            others = [submit(client, session_bundle(0.5, name=f"small{index}", freq_hz=300.0 + 50 * index)) for index in range(5)]
            deadline = time.monotonic() + 60
            while True:
                job = client.get(f"/api/jobs/{interrupted['id']}").json()
                if job["state"] == "running" and job["progress"] > 0:
                    break
                assert job["state"] in {"queued", "running"} and time.monotonic() < deadline, job
                time.sleep(0.05)
            before_kill = {item["id"]: client.get(f"/api/jobs/{item['id']}").json() for item in [interrupted, *others]}
    finally:
        first.kill()
    second = ServiceProcess(data, extra_args=("--max-running", "1"))
    try:
        with httpx.Client(base_url=second.url, timeout=30) as client:
            right_after = client.get(f"/api/jobs/{interrupted['id']}").json()
            final = {job_id: wait_for_state(client, job_id, FINAL, 180) for job_id in before_kill}
            downloads = {item["name"]: client.get(item["url"]).content for item in final[interrupted["id"]]["outputs"]}
            listing = client.get("/api/jobs", params={"limit": 500}).json()
    finally:
        second.stop()
    return {
        "bundle": bundle,
        "interrupted": interrupted["id"],
        "before_kill": before_kill,
        "right_after": right_after,
        "final": final,
        "downloads": downloads,
        "listing": listing,
        "first": first,
    }


def test_the_kill_caught_one_job_running_and_others_queued(restarted):
    states = [job["state"] for job in restarted["before_kill"].values()]
    assert restarted["before_kill"][restarted["interrupted"]]["state"] == "running"
    assert states.count("queued") >= 4 and states.count("running") == 1


def test_the_killed_service_is_gone(restarted):
    assert restarted["first"].process.poll() is not None
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{restarted['first'].url}/healthz", timeout=2)


def test_every_job_reaches_success_after_the_restart(restarted):
    assert {job_id: job["state"] for job_id, job in restarted["final"].items()} == dict.fromkeys(restarted["final"], "succeeded")
    assert restarted["listing"]["total"] == len(restarted["final"])


def test_the_running_job_was_queued_again_and_says_so(restarted):
    right_after = restarted["right_after"]
    assert right_after["state"] in {"queued", "running"}
    assert right_after["error"] == "requeued: the service stopped unexpectedly while it ran"
    assert restarted["final"][restarted["interrupted"]]["attempts"] == 2


def test_jobs_that_were_only_queued_ran_once(restarted):
    others = [job for job_id, job in restarted["final"].items() if job_id != restarted["interrupted"]]
    assert all(job["attempts"] == 1 for job in others)


def test_the_rerun_outputs_match_a_local_cli_render(restarted, tmp_path):
    zipfile.ZipFile(io.BytesIO(restarted["bundle"])).extractall(tmp_path / "session")
    out = tmp_path / "render"
    completed = subprocess.run(
        [sys.executable, "-m", "farm.cli", "render", str(tmp_path / "session" / "session.yaml"), "-o", str(out), "--executor", "local"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert sorted(restarted["downloads"]) == ["master-16.flac", "master.wav"]
    for name, content in restarted["downloads"].items():
        assert content == (out / name).read_bytes(), f"{name} differs from the local render"


def test_sigterm_stops_the_service_cleanly_and_queues_its_running_job_again(tmp_path):
    data = tmp_path / "data"
    service = ServiceProcess(data, extra_args=("--max-running", "1"))
    try:
        with httpx.Client(base_url=service.url, timeout=30) as client:
            job = submit(client, long_bundle(300.0))
            deadline = time.monotonic() + 60
            while client.get(f"/api/jobs/{job['id']}").json()["progress"] <= 0:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        os.kill(service.process.pid, signal.SIGTERM)  # the server only, as a process manager would
        status = service.process.wait(40)
    finally:
        service.stop()
    store = JobStore(data / "jobs.sqlite3")
    try:
        stopped = store.get(job["id"])
    finally:
        store.close()
    log = service.log_path.read_text()
    assert stopped.state is JobState.QUEUED, f"after SIGTERM (exit status {status}) the job is {stopped.state.value}:\n{log[-1500:]}"
    assert "requeued" in (stopped.error or "")
    assert status in {0, -signal.SIGTERM}, f"mixfarm serve ended with status {status} after SIGTERM:\n{log[-2000:]}"
    assert "Traceback" not in log, log[-2000:]


def test_a_job_running_each_time_the_service_is_killed_fails_the_second_time(tmp_path):
    data = tmp_path / "data"
    job = None
    for _ in range(2):
        service = ServiceProcess(data, extra_args=("--max-running", "1"))
        try:
            with httpx.Client(base_url=service.url, timeout=30) as client:
                job = job or submit(client, long_bundle(300.0))
                deadline = time.monotonic() + 120
                while not ((now := client.get(f"/api/jobs/{job['id']}").json())["state"] == "running" and now["progress"] > 0):
                    assert time.monotonic() < deadline, now
                    time.sleep(0.05)
        finally:
            service.kill()
    third = ServiceProcess(data, extra_args=("--max-running", "1"))
    try:
        with httpx.Client(base_url=third.url, timeout=30) as client:
            failed = client.get(f"/api/jobs/{job['id']}").json()
            assert client.get("/api/jobs", params={"state": "running"}).json()["total"] == 0
    finally:
        third.stop()
    assert (failed["state"], failed["interruptions"]) == ("failed", 2)
    assert failed["error"].startswith("the service stopped unexpectedly while it ran, 2 times: this job may be what brings it down")
