"""Listening and downloading a job's files over the API: byte ranges (local and object storage), the mix bus, the zip of everything."""

from __future__ import annotations

import io
import json
import zipfile

import httpx
import pytest

from dashboard.archive import ArchiveTooLarge, checked_files
from farm.storage import Location
from tests.helpers.s3server import moto_server
from tests.helpers.service import (
    MASTERED,
    ServiceProcess,
    session_bundle,
    wait_for_state,
)

BUCKET = "listen-bucket"
OUTPUTS = {"outputs": [{"path": "master.wav", "bit_depth": 24}, {"path": "web/master.mp3", "format": "mp3"}]}


def succeeded_job(client: httpx.Client) -> dict:
    created = client.post("/api/jobs", files={"bundle": ("b.zip", session_bundle(3.0, extra={**MASTERED, **OUTPUTS}))}, data={"name": "listen"})
    assert created.status_code == 201, created.text
    job = wait_for_state(client, created.json()["id"], {"succeeded", "failed", "cancelled"}, 180)
    assert job["state"] == "succeeded", job["error"]
    return job


@pytest.fixture(scope="module", params=["local", "s3"])
def farm(request, tmp_path_factory):
    """A service storing its files on the local disk, or in a real S3-compatible server; an API client; a finished job."""
    data = tmp_path_factory.mktemp(f"listen-{request.param}") / "data"
    if request.param == "local":
        service = ServiceProcess(data)
        try:
            with httpx.Client(base_url=service.url, timeout=60) as client:
                yield "local", client, succeeded_job(client)
        finally:
            service.stop()
        return
    with moto_server(BUCKET) as s3:
        service = ServiceProcess(data, {**s3.environment, "RAY_ADDRESS": "local"}, ("--storage", f"s3://{BUCKET}/farm"))
        try:
            with httpx.Client(base_url=service.url, timeout=60) as client:
                yield "s3", client, succeeded_job(client)
        finally:
            service.stop()


def test_a_byte_range_of_an_output_is_206_with_only_those_bytes(farm):
    _, client, job = farm
    url = job["outputs"][0]["url"]
    whole = client.get(url)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    size = len(whole.content)
    for asked, (start, stop) in [("bytes=10-99", (10, 100)), ("bytes=100-", (100, size)), ("bytes=-64", (size - 64, size)), (f"bytes=5-{size + 50}", (5, size))]:
        part = client.get(url, headers={"Range": asked})
        assert part.status_code == 206, (asked, part.text)
        assert part.headers["content-range"] == f"bytes {start}-{stop - 1}/{size}"
        assert int(part.headers["content-length"]) == stop - start
        assert part.content == whole.content[start:stop], asked


def test_a_range_past_the_end_is_416_with_the_size(farm):
    _, client, job = farm
    url = job["outputs"][0]["url"]
    size = job["outputs"][0]["bytes"]
    refused = client.get(url, headers={"Range": f"bytes={size}-"})
    assert refused.status_code == 416
    assert refused.headers["content-range"] == f"bytes */{size}"
    assert client.get("/healthz").status_code == 200


def test_the_mix_bus_copy_is_named_in_the_report_and_streams_by_range(farm):
    _, client, job = farm
    mix = job["report"]["mix"]
    assert mix["path"] == "mix-bus.flac" and mix["format"] == "flac"
    assert [item["name"] for item in job["outputs"]] == ["master.wav", "web/master.mp3"]
    url = f"/api/jobs/{job['id']}/outputs/{mix['path']}"
    whole = client.get(url)
    assert whole.status_code == 200 and len(whole.content) == mix["bytes"] and whole.content[:4] == b"fLaC"
    head = client.get(url, headers={"Range": "bytes=0-3"})
    assert (head.status_code, head.content) == (206, b"fLaC")


def test_download_all_is_a_zip_of_every_file_and_the_report_with_audio_stored_as_it_is(farm):
    _, client, job = farm
    response = client.get(f"/api/jobs/{job['id']}/archive")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == f'attachment; filename="mixfarm-{job["id"]}.zip"'
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.namelist() == ["master.wav", "web/master.mp3", "mix-bus.flac", "report.json"]
    for name in ["master.wav", "web/master.mp3", "mix-bus.flac"]:
        assert archive.getinfo(name).compress_type == zipfile.ZIP_STORED
        assert archive.read(name) == client.get(f"/api/jobs/{job['id']}/outputs/{name}").content, name
    assert archive.getinfo("report.json").compress_type == zipfile.ZIP_DEFLATED
    assert json.loads(archive.read("report.json")) == client.get(f"/api/jobs/{job['id']}/report").json()


def test_download_all_of_a_missing_job_is_404(farm):
    _, client, _ = farm
    response = client.get("/api/jobs/0000000000000000/archive")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("asked", "status"),
    [("bytes=abc", 400), ("items=0-10", 400), ("bytes=20-10", 400), ("bytes=-", 400), ("bytes=-0", 416)],
)
def test_a_range_that_is_no_byte_range_is_refused(farm, asked, status):
    kind, client, job = farm
    response = client.get(job["outputs"][0]["url"], headers={"Range": asked})
    assert response.status_code == status
    if kind == "s3" and status == 400:
        assert response.json()["detail"].startswith("Range: ")
    assert client.get("/healthz").status_code == 200


def test_an_overlong_range_header_is_refused_unparsed(farm):
    kind, client, job = farm
    response = client.get(job["outputs"][0]["url"], headers={"Range": "bytes=" + "1" * 5000 + "-"})
    assert response.status_code == 400
    if kind == "s3":
        assert response.json()["detail"] == "Range: longer than 200 characters"
    assert client.get("/healthz").status_code == 200


def test_an_archive_past_its_bounds_is_refused_before_a_byte_is_sent(tmp_path):
    files = []
    for index in range(3):
        (tmp_path / f"{index}.wav").write_bytes(b"x" * 100)
        files.append((f"{index}.wav", Location.of(tmp_path / f"{index}.wav")))
    assert [size for _, _, size in checked_files(files, max_bytes=300, max_files=3)] == [100, 100, 100]
    with pytest.raises(ArchiveTooLarge, match="300 bytes of files; an archive carries at most 299"):
        checked_files(files, max_bytes=299)
    with pytest.raises(ArchiveTooLarge, match="3 files; an archive carries at most 2"):
        checked_files(files, max_files=2)
    (tmp_path / "1.wav").unlink()
    with pytest.raises(FileNotFoundError, match="^1.wav$"):
        checked_files(files)
