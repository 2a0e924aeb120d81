"""A farm shared by studios, end to end on a real service with a real Ray cluster: a chain of jobs, accounting that
matches the render tasks, signed webhooks owed across a restart, and retention run by hand with ``mixfarm gc``."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import time
import zipfile

import httpx
import yaml

from farm.queue.webhooks import signature
from tests.helpers.receiver import Receiver
from tests.helpers.service import session_bundle, wait_for_state

SECRET = "alpha-hook-secret-0123456789"
FINAL = {"succeeded", "failed", "cancelled"}


def test_a_shared_farm_end_to_end(start_service, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    studios = tmp_path / "studios.toml"
    studios.write_text(f'[studios.alpha]\nwebhook_url = "http://127.0.0.1:{port}/hook"\nwebhook_secret = "{SECRET}"\n')
    env = {"MIXFARM_API_TOKENS": "alpha:tokA,beta:tokB", "MIXFARM_STUDIOS": str(studios)}
    service = start_service(env=env)
    alpha = httpx.Client(base_url=service.url, headers={"Authorization": "Bearer tokA"}, timeout=30)

    first = alpha.post("/api/jobs", files={"bundle": ("a.zip", session_bundle(3.0, name="first"))})
    assert first.status_code == 201, first.text
    second = alpha.post("/api/jobs", files={"bundle": ("b.zip", session_bundle(2.0, name="second"))}, data={"after": first.json()["id"], "priority": "9"})
    assert second.status_code == 201, second.text
    done = [wait_for_state(alpha, response.json()["id"], FINAL) for response in (first, second)]
    assert [job["state"] for job in done] == ["succeeded", "succeeded"], [job["error"] for job in done]
    assert done[1]["started_at"] >= done[0]["finished_at"]

    for job in done:
        (attempt,) = job["attempt_history"]
        assert attempt["outcome"] == "succeeded" and attempt["cpu_s"] > 0
        assert attempt["cpu_s"] == job["cpu_s"] == job["report"]["usage"]["cpu_s"]
        assert attempt["audio_s"] == job["report"]["duration_s"]
    usage = alpha.get("/api/usage").json()
    assert usage["total"]["jobs"] == 2
    assert abs(usage["total"]["cpu_s"] - sum(job["cpu_s"] for job in done)) < 1e-9
    assert httpx.get(f"{service.url}/api/usage", headers={"Authorization": "Bearer tokB"}).json()["total"]["jobs"] == 0
    assert f'mixfarm_studio_cpu_seconds_total{{studio="alpha"}} {usage["total"]["cpu_s"]!r}' in httpx.get(f"{service.url}/metrics").text

    owed = alpha.get(f"/api/jobs/{done[1]['id']}").json()["webhooks"]
    assert len(owed) == 1 and owed[0]["delivered_at"] is None and owed[0]["event"] == "job.succeeded"
    service.stop()

    receiver = Receiver(port=port)
    try:
        restarted = start_service(data_dir=service.data_dir, env=env)
        calls = receiver.wait_for(2)
        assert sorted(json.loads(body)["job"]["id"] for _, body in calls) == sorted(job["id"] for job in done)
        for headers, body in calls:
            assert headers["x-mixfarm-signature-256"] == signature(SECRET, body)
            assert headers["x-mixfarm-event"] == "job.succeeded"
    finally:
        receiver.close()

    time.sleep(1.0)
    gc = subprocess.run(
        [sys.executable, "-m", "farm.cli", "gc", "--data", str(service.data_dir), "--studios", str(studios), "--retention-days", "0.00001"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert gc.returncode == 0, gc.stderr
    assert gc.stdout.startswith("removed the files of 2 job(s)")
    alpha = httpx.Client(base_url=restarted.url, headers={"Authorization": "Bearer tokA"}, timeout=30)
    gone = alpha.get(f"/api/jobs/{done[0]['id']}/outputs/master.wav")
    assert gone.status_code == 410, gone.text
    kept = alpha.get(f"/api/jobs/{done[0]['id']}").json()
    assert kept["state"] == "succeeded" and kept["report"]["duration_s"] == done[0]["report"]["duration_s"] and kept["purged_at"]


def album_bundle(songs: list[dict]) -> bytes:
    album = {"format": "mixfarm-album/1", "name": "From jobs", "songs": songs, "master": {"loudness": {"preset": "spotify"}}}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("album.yaml", yaml.safe_dump(album))
    return buffer.getvalue()


def test_an_album_waits_for_the_jobs_that_mix_its_songs_and_masters_their_outputs(start_service):
    service = start_service(env={"MIXFARM_API_TOKENS": "alpha:tokA,beta:tokB"}, extra_args=("--max-running", "1"))
    alpha = httpx.Client(base_url=service.url, headers={"Authorization": "Bearer tokA"}, timeout=30)
    beta = httpx.Client(base_url=service.url, headers={"Authorization": "Bearer tokB"}, timeout=30)
    mixes = [alpha.post("/api/jobs", files={"bundle": (f"{n}.zip", session_bundle(seconds, name=n, freq_hz=hz))}).json()["id"] for n, seconds, hz in (("one", 3.0, 220.0), ("two", 2.0, 330.0))]
    songs = [{"job": {"id": job_id, "output": "master.wav"}, "title": title} for job_id, title in zip(mixes, ("One", "Two"))]
    submitted = alpha.post("/api/jobs", files={"bundle": ("album.zip", album_bundle(songs))})
    assert submitted.status_code == 201, submitted.text
    assert submitted.json()["after"] == mixes and submitted.json()["duration_s"] == 5.0

    album = wait_for_state(alpha, submitted.json()["id"], FINAL)
    assert album["state"] == "succeeded", album["error"]
    assert album["started_at"] >= max(alpha.get(f"/api/jobs/{job_id}").json()["finished_at"] for job_id in mixes)
    assert [item["name"] for item in album["outputs"]] == ["01 One.wav", "02 Two.wav"]
    assert [song["duration_s"] for song in album["report"]["songs"]] == [3.0, 2.0]

    wrong = album_bundle([{"job": {"id": mixes[0], "output": "nope.wav"}, "title": "One"}])
    failed = wait_for_state(alpha, alpha.post("/api/jobs", files={"bundle": ("album.zip", wrong)}).json()["id"], FINAL)
    assert failed["state"] == "failed"
    assert failed["error"] == f"invalid session:\nsongs[0].job: job {mixes[0]} has no output 'nope.wav' (its outputs: master.wav)"
    theirs = beta.post("/api/jobs", files={"bundle": ("album.zip", album_bundle(songs))})
    assert theirs.status_code == 422 and theirs.json()["detail"] == f"after[0]: no job '{mixes[0]}' of studio 'beta'"
