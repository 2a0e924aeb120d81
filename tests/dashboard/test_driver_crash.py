"""A crash of the process that drives renders on Ray never takes the service down."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from tests.helpers.service import long_bundle, session_bundle, wait_for_state

FINAL = {"succeeded", "failed", "cancelled"}


def driver_pids(service_pid: int) -> list[int]:
    """The render driver processes the service started (its children run by multiprocessing's spawn)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, IndexError, ValueError):
            continue
        if parent == service_pid and b"spawn_main" in command:
            found.append(int(entry.name))
    return found


def submit(client: httpx.Client, bundle: bytes) -> dict:
    response = client.post("/api/jobs", files={"bundle": ("b.zip", bundle)})
    assert response.status_code == 201, response.text
    return response.json()


def test_an_aborted_driver_costs_its_job_an_attempt_and_the_service_carries_on(start_service):
    service = start_service(extra_args=("--max-running", "1"))
    with httpx.Client(base_url=service.url, timeout=30) as client:
        job = submit(client, long_bundle(120.0, name="aborted"))
        deadline = time.monotonic() + 120
        while client.get(f"/api/jobs/{job['id']}").json()["progress"] <= 0:
            assert time.monotonic() < deadline, "the job never made progress"
            time.sleep(0.05)
        (first_driver,) = driver_pids(service.process.pid)
        os.kill(first_driver, signal.SIGABRT)  # what an abort inside Ray's core worker does

        requeued = wait_for_state(client, job["id"], {"queued", "running", *FINAL})
        deadline = time.monotonic() + 60
        while "driver" not in (requeued["error"] or "") and requeued["state"] not in FINAL:
            assert time.monotonic() < deadline, requeued
            requeued = client.get(f"/api/jobs/{job['id']}").json()
        assert client.get("/healthz").text == "ok"
        assert requeued["error"] == f"requeued: the render driver process died (exit code {-signal.SIGABRT}) while it ran"

        finished = wait_for_state(client, job["id"], FINAL, 300)
        assert finished["state"] == "succeeded", finished["error"]
        assert (finished["attempts"], finished["interruptions"]) == (2, 1)
        interrupted, succeeded = finished["attempt_history"]
        assert (interrupted["outcome"], succeeded["outcome"]) == ("interrupted", "succeeded")
        assert interrupted["error"] == f"the render driver process died (exit code {-signal.SIGABRT})"
        assert interrupted["cpu_s"] > 0, "the tasks that finished before the crash are accounted"
        assert finished["cpu_s"] == interrupted["cpu_s"] + succeeded["cpu_s"]
        (second_driver,) = driver_pids(service.process.pid)
        assert second_driver != first_driver

        after = submit(client, session_bundle(0.5, name="after the crash"))
        assert wait_for_state(client, after["id"], FINAL)["state"] == "succeeded"
    assert service.process.poll() is None
