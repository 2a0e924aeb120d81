"""``mixfarm serve --storage s3://...``: bundles and outputs in a real S3-compatible server (moto) on loopback."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import zipfile

import httpx
import numpy as np
import pytest
import soundfile
import yaml

from farm.engine.executor import LocalExecutor
from farm.engine.render import render
from tests.helpers.s3server import moto_server
from tests.helpers.service import ServiceProcess, free_port, long_bundle, wait_for_state

BUCKET = "farm-bucket"
PREFIX = "studio/farm"
RATE = 48000


def wav(audio: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, RATE, format="WAV", subtype="FLOAT")
    return buffer.getvalue()


def room_bundle() -> bytes:
    """A 2 s session whose track runs through a convolution with an impulse response from the bundle."""
    t = np.arange(2 * RATE) / RATE
    tone = (0.3 * np.sin(2 * np.pi * 180 * t))[:, None]
    ir = np.random.default_rng(3).standard_normal((RATE // 5, 1)) * np.exp(-np.arange(RATE // 5) / (0.04 * RATE))[:, None] * 0.2
    session = {
        "format": "mixfarm/1",
        "name": "room",
        "tracks": [{"name": "tone", "file": "stems/tone.wav", "fx": [{"type": "convolution", "ir_file": "irs/room.wav", "mix": 0.4}]}],
        "master": {"tail_s": 0.2},
        "outputs": [{"path": "master.wav", "bit_depth": 24}, {"path": "cd/master.flac", "format": "flac", "bit_depth": 16, "sample_rate": 44100}],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("session.yaml", yaml.safe_dump(session))
        archive.writestr("stems/tone.wav", wav(tone))
        archive.writestr("irs/room.wav", wav(ir))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def s3():
    with moto_server(BUCKET) as server:
        yield server


def keys(client, prefix: str) -> list[str]:
    listing = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"][len(prefix) :] for item in listing.get("Contents", []))


@pytest.fixture(scope="module")
def service(s3, tmp_path_factory):
    # A Ray cluster of its own (not one another process started on this machine): its workers get the AWS_* variables.
    environment = {**s3.environment, "RAY_ADDRESS": "local"}
    service = ServiceProcess(tmp_path_factory.mktemp("s3-service") / "data", environment, ("--storage", f"s3://{BUCKET}/{PREFIX}", "--max-running", "1", "--cache-limit-gb", "1"))
    yield service
    service.stop()


@pytest.fixture(scope="module")
def api(service):
    with httpx.Client(base_url=service.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def room_job(api):
    created = api.post("/api/jobs", files={"bundle": ("room.zip", room_bundle())})
    assert created.status_code == 201, created.text
    job = wait_for_state(api, created.json()["id"], {"succeeded", "failed", "cancelled"})
    assert job["state"] == "succeeded", job["error"]
    return job


def test_a_job_reads_its_bundle_from_and_writes_its_outputs_to_the_bucket(room_job, s3, service):
    assert keys(s3.client, f"{PREFIX}/jobs/{room_job['id']}/") == [
        "bundle/irs/room.wav",
        "bundle/session.yaml",
        "bundle/stems/tone.wav",
        "out/cd/master.flac",
        "out/master.wav",
        "out/mix-bus.flac",
        "out/report.json",
    ]
    assert not (service.data_dir / "jobs" / room_job["id"] / "bundle").exists()
    assert (service.data_dir / "jobs.sqlite3").is_file()


def test_the_studios_render_cache_lies_in_the_bucket_and_a_second_render_reuses_it(api, s3, service):
    bundle = room_bundle()  # once: a float WAV's PEAK chunk holds the time it was written, so each call's stems are new bytes
    jobs = []
    for name in ("cached once", "cached twice"):
        created = api.post("/api/jobs", files={"bundle": ("room.zip", bundle)}, data={"name": name})
        jobs.append(wait_for_state(api, created.json()["id"], {"succeeded", "failed", "cancelled"}))
        assert jobs[-1]["state"] == "succeeded", jobs[-1]["error"]
    first, second = (api.get(f"/api/jobs/{job['id']}/report").json()["cache"] for job in jobs)
    assert second["misses"] == {} and sum(second["hits"].values()) == sum(first["hits"].values()) + sum(first["misses"].values()) > 0
    stored = keys(s3.client, f"{PREFIX}/cache/")
    assert len({key.split("/")[0] for key in stored}) == 1 and stored, "one studio's cache, in the bucket"
    assert not (service.data_dir / "cache").exists()
    for one, two in zip(*(sorted(job["outputs"], key=lambda item: item["name"]) for job in jobs)):
        assert api.get(one["url"]).content == api.get(two["url"]).content


def test_downloads_stream_from_the_bucket_and_equal_a_local_render(room_job, api, tmp_path):
    zipfile.ZipFile(io.BytesIO(room_bundle())).extractall(tmp_path / "session")
    render(tmp_path / "session" / "session.yaml", tmp_path / "local", executor=LocalExecutor())
    assert sorted(item["name"] for item in room_job["outputs"]) == ["cd/master.flac", "master.wav"]
    for item in room_job["outputs"]:
        download = api.get(item["url"])
        assert download.status_code == 200, download.text
        assert int(download.headers["content-length"]) == item["bytes"] == len(download.content)
        assert download.content == (tmp_path / "local" / item["name"]).read_bytes(), f"{item['name']} differs from the local render"


def test_the_job_page_analyses_an_output_in_the_bucket(room_job, service):
    page = httpx.get(f"{service.url}/jobs/{room_job['id']}", timeout=60)
    assert page.status_code == 200 and "<svg" in page.text
    assert (service.data_dir / "jobs" / room_job["id"] / "analysis.json").is_file()


def test_an_output_gone_from_the_bucket_is_410_naming_it(api, s3):
    created = api.post("/api/jobs", files={"bundle": ("room.zip", room_bundle())}, data={"name": "vanishing"})
    job = wait_for_state(api, created.json()["id"], {"succeeded", "failed", "cancelled"})
    assert job["state"] == "succeeded", job["error"]
    s3.client.delete_object(Bucket=BUCKET, Key=f"{PREFIX}/jobs/{job['id']}/out/master.wav")
    response = api.get(f"/api/jobs/{job['id']}/outputs/master.wav")
    assert response.status_code == 410
    assert response.json()["detail"] == f"job {job['id']!r}: output 'master.wav' is no longer in storage"
    assert api.get(f"/api/jobs/{job['id']}/outputs/cd/master.flac").status_code == 200
    assert api.get("/healthz").status_code == 200


def test_a_retried_job_renders_again_into_a_cleared_output_folder(api, s3):
    blocker = api.post("/api/jobs", files={"bundle": ("long.zip", long_bundle(240.0, name="blocker"))}).json()
    wait_for_state(api, blocker["id"], {"running"}, 60)
    waiting = api.post("/api/jobs", files={"bundle": ("room.zip", room_bundle())}, data={"name": "retried"}).json()
    assert api.post(f"/api/jobs/{waiting['id']}/cancel").json()["state"] == "cancelled"
    assert api.post(f"/api/jobs/{blocker['id']}/cancel").status_code == 200
    wait_for_state(api, blocker["id"], {"cancelled"}, 60)
    s3.client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/jobs/{waiting['id']}/out/stale.wav", Body=b"left over")
    assert api.post(f"/api/jobs/{waiting['id']}/retry").json()["state"] == "queued"
    job = wait_for_state(api, waiting["id"], {"succeeded", "failed", "cancelled"})
    assert job["state"] == "succeeded", job["error"]
    assert keys(s3.client, f"{PREFIX}/jobs/{waiting['id']}/out/") == ["cd/master.flac", "master.wav", "mix-bus.flac", "report.json"]
    assert keys(s3.client, f"{PREFIX}/jobs/{blocker['id']}/out/") == []


def serve(tmp_path, environment: dict, *args: str) -> tuple[int, str]:
    """Run ``mixfarm serve`` expecting it to refuse to start; returns its exit status and stderr."""
    command = [sys.executable, "-m", "farm.cli", "serve", "--port", str(free_port()), "--data", str(tmp_path / "data"), *args]
    process = subprocess.Popen(
        command, env={**os.environ, "RAY_AUTH_MODE": "disabled", **environment}, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
    return process.returncode, stderr


@pytest.mark.parametrize(
    "storage",
    [f"s3://no-such-bucket-{os.getpid()}/farm", "nosuchscheme://bucket/farm", "{tmp}/a-file/storage"],
    ids=["missing-bucket", "unknown-scheme", "local-under-a-file"],
)
def test_a_storage_that_cannot_be_written_stops_the_service_at_startup_naming_it(s3, tmp_path, storage):
    (tmp_path / "a-file").write_text("not a folder")
    storage = storage.format(tmp=tmp_path)
    status, stderr = serve(tmp_path, s3.environment, "--storage", storage)
    assert status == 2, stderr
    assert f"mixfarm serve: storage {storage}: cannot be written" in stderr
    assert "Traceback" not in stderr


def test_mixfarm_storage_variable_sets_the_storage(s3, tmp_path):
    storage = f"s3://no-such-bucket-{os.getpid()}/from-env"
    status, stderr = serve(tmp_path, {**s3.environment, "MIXFARM_STORAGE": storage})
    assert status == 2 and f"storage {storage}: cannot be written" in stderr
