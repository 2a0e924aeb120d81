"""The service's render caches: one per studio, so a studio's revision reuses its own work and no studio reads another's."""

import httpx
import pytest

from tests.helpers.service import (
    MASTERED,
    ServiceProcess,
    session_bundle,
    wait_for_state,
)

ALPHA = {"Authorization": "Bearer tokA"}
BETA = {"Authorization": "Bearer tokB"}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    process = ServiceProcess(
        tmp_path_factory.mktemp("cache") / "data", env={"MIXFARM_API_TOKENS": "alpha:tokA,beta:tokB"}, extra_args=("--max-running", "1", "--cache-limit-gb", "1")
    )
    yield process
    process.stop()


def rendered(service, headers, bundle: bytes) -> dict:
    """Submit ``bundle`` as the studio of ``headers``, wait for it, return its report's cache counts (and its ``job_id``)."""
    with httpx.Client(base_url=service.url, headers=headers, timeout=30) as client:
        created = client.post("/api/jobs", files={"bundle": ("b.zip", bundle)})
        assert created.status_code == 201, created.text
        job = wait_for_state(client, created.json()["id"], {"succeeded", "failed"})
        assert job["state"] == "succeeded", job["error"]
        return {**client.get(f"/api/jobs/{job['id']}/report").json()["cache"], "job_id": job["id"]}


def test_each_studio_reuses_only_its_own_renders(service):
    bundle = session_bundle(3.0, extra=MASTERED)
    first = rendered(service, ALPHA, bundle)
    assert first["hits"] == {} and sum(first["misses"].values()) > 0
    other_studio = rendered(service, BETA, bundle)
    assert other_studio["hits"] == {}, "the same session from another studio finds nothing of alpha's"
    again = rendered(service, ALPHA, bundle)
    assert again["misses"] == {} and again["hits"] == first["misses"]
    reused = sum(again["hits"].values())
    with httpx.Client(base_url=service.url, headers=ALPHA, timeout=30) as client:
        tasks = client.get(f"/api/jobs/{again['job_id']}/tasks").json()["tasks"]
        page = client.get(f"/jobs/{again['job_id']}").text
    assert sum(task["node"] == "cache" for task in tasks) == reused, "the task view shows each reused chunk"
    assert f"{reused} of {reused} tasks reused" in page and "reused from the render cache" in page
    folders = sorted(path.name for path in (service.data_dir / "cache").iterdir())
    assert len(folders) == 2 and "alpha" not in folders and "beta" not in folders


@pytest.mark.parametrize("value", ["-1", "inf", "nan"])
def test_a_cache_size_that_is_no_size_is_refused_at_start(value):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "farm.cli", "serve", "--cache-limit-gb", value], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--cache-limit-gb: must be a finite number of GB >= 0" in result.stderr, result.stderr
