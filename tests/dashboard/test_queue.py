"""Fifty jobs at once through one slot: none lost, all succeed, started by priority then age."""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.helpers.service import (
    ServiceProcess,
    long_bundle,
    session_bundle,
    wait_for_state,
)

JOBS = 50
FINAL = {"succeeded", "failed", "cancelled"}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    started = ServiceProcess(tmp_path_factory.mktemp("queue") / "data", extra_args=("--max-running", "1"))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def fifty(service):
    """Submit a blocker, then 49 tiny jobs from 8 threads at once with mixed priorities; wait for all."""
    rng = random.Random(1234)
    priorities = [rng.choice([-2, 0, 0, 1, 3, 3, 7]) for _ in range(JOBS - 1)]
    bundles = [session_bundle(0.25, name=f"job{index:02d}", freq_hz=200.0 + index) for index in range(JOBS - 1)]
    with httpx.Client(base_url=service.url, timeout=60) as client:
        blocker = client.post("/api/jobs", files={"bundle": ("b.zip", long_bundle(150.0, name="blocker"))}, data={"priority": "-5"})
        assert blocker.status_code == 201, blocker.text
        blocker = blocker.json()
        wait_for_state(client, blocker["id"], {"running"}, 60)

        def post(index: int) -> dict:
            with httpx.Client(base_url=service.url, timeout=60) as own:
                response = own.post("/api/jobs", files={"bundle": ("b.zip", bundles[index])}, data={"priority": str(priorities[index]), "name": f"job{index:02d}"})
            assert response.status_code == 201, response.text
            return response.json()

        with ThreadPoolExecutor(8) as pool:
            created = list(pool.map(post, range(JOBS - 1)))
        still_running = client.get(f"/api/jobs/{blocker['id']}").json()
        deadline = time.monotonic() + 240
        finished = {}
        for job in [blocker, *created]:
            finished[job["id"]] = wait_for_state(client, job["id"], FINAL, max(deadline - time.monotonic(), 1))
        listing = client.get("/api/jobs", params={"limit": 500}).json()
    return {"blocker": blocker, "created": created, "finished": finished, "listing": listing, "blocker_after_submits": still_running}


def test_fifty_submissions_all_answer_with_distinct_ids(fifty):
    ids = [fifty["blocker"]["id"], *(job["id"] for job in fifty["created"])]
    assert len(ids) == JOBS and len(set(ids)) == JOBS


def test_none_is_lost(fifty):
    listing = fifty["listing"]
    assert listing["total"] == JOBS
    assert {job["id"] for job in listing["jobs"]} == set(fifty["finished"])


def test_all_fifty_succeed(fifty):
    failures = {job_id: (job["state"], job["error"]) for job_id, job in fifty["finished"].items() if job["state"] != "succeeded"}
    assert not failures
    assert all(job["attempts"] == 1 and job["progress"] == 1.0 for job in fifty["finished"].values())


def test_one_slot_means_no_two_jobs_overlap(fifty):
    spans = sorted((job["started_at"], job["finished_at"]) for job in fifty["finished"].values())
    assert all(spans[index][1] <= spans[index + 1][0] + 1e-3 for index in range(len(spans) - 1))


def test_queued_jobs_start_by_priority_then_submission_order(fifty):
    finished = fifty["finished"]
    queued = [finished[job["id"]] for job in fifty["created"]]
    # The precondition: all 49 were waiting before any of them started.
    assert fifty["blocker_after_submits"]["state"] == "running", "the blocker finished before all jobs were queued"
    assert max(job["created_at"] for job in queued) < min(job["started_at"] for job in queued)
    started = [job["name"] for job in sorted(queued, key=lambda job: job["started_at"])]
    expected = [job["name"] for job in sorted(queued, key=lambda job: (-job["priority"], job["created_at"]))]
    assert started == expected
    assert len({job["priority"] for job in queued}) >= 4
