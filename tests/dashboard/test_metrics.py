"""/metrics: valid Prometheus exposition, the documented names, no job ids, counters that move."""

from __future__ import annotations

import shutil
import subprocess
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.service import (
    ServiceProcess,
    long_bundle,
    session_bundle,
    wait_for_state,
)

FINAL = {"succeeded", "failed", "cancelled"}
STATES = ("queued", "running", "succeeded", "failed", "cancelled")

DOCUMENTED = {
    # family name: (type, label names of its samples other than "le")
    "mixfarm_jobs": ("counter", {"state"}),
    "mixfarm_queue_depth": ("gauge", set()),
    "mixfarm_jobs_running": ("gauge", set()),
    "mixfarm_job_duration_seconds": ("histogram", set()),
    "mixfarm_audio_rendered_seconds": ("counter", set()),
    "mixfarm_tasks": ("counter", {"kind", "status"}),
    "mixfarm_task_duration_seconds": ("histogram", {"kind"}),
    "mixfarm_cluster_cpus": ("gauge", {"state"}),
    "mixfarm_last_success_timestamp_seconds": ("gauge", set()),
    "mixfarm_studio_cpu_seconds": ("counter", {"studio"}),
    "mixfarm_studio_audio_seconds": ("counter", {"studio"}),
}


def submit(client: httpx.Client, bundle: bytes) -> dict:
    response = client.post("/api/jobs", files={"bundle": ("b.zip", bundle)})
    assert response.status_code == 201, response.text
    return response.json()


def scrape(client: httpx.Client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(text: str, sample: str, **labels) -> float:
    """The value of one sample; 0 when absent (a labelled counter not yet touched)."""
    for family in text_string_to_metric_families(text):
        for item in family.samples:
            if item.name == sample and item.labels == labels:
                return item.value
    return 0.0


def promtool_check(text: str) -> subprocess.CompletedProcess:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package 'prometheus')")
    return subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    started = ServiceProcess(tmp_path_factory.mktemp("metrics") / "data", extra_args=("--max-running", "1"))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def client(service):
    with httpx.Client(base_url=service.url, timeout=30) as opened:
        yield opened


@pytest.fixture(scope="module")
def fresh(client):
    """The exposition before any job ran."""
    return scrape(client)


@pytest.fixture(scope="module")
def one_job(client, fresh):
    """Scrapes around one 3 s job: (before, after, the job)."""
    before = scrape(client)
    job = submit(client, session_bundle(3.0, name="metered"))
    done = wait_for_state(client, job["id"], FINAL)
    assert done["state"] == "succeeded", done["error"]
    time.sleep(0.2)
    return before, scrape(client), done


def test_fresh_exposition_passes_promtool(fresh):
    checked = promtool_check(fresh)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_exposition_after_jobs_passes_promtool(one_job):
    checked = promtool_check(one_job[1])
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_documented_metric_is_exposed_with_its_type_and_labels(one_job):
    found = families(one_job[1])
    for name, (kind, labels) in DOCUMENTED.items():
        assert name in found, f"{name} is missing"
        assert found[name].type == kind, f"{name} is a {found[name].type}, not a {kind}"
        assert found[name].samples, f"{name} has no samples"
        for item in found[name].samples:
            assert set(item.labels) - {"le"} == labels, f"{item.name} has labels {item.labels}"
    assert {item.name for item in found["mixfarm_jobs"].samples} == {"mixfarm_jobs_total"}
    assert {item.name for item in found["mixfarm_audio_rendered_seconds"].samples} == {"mixfarm_audio_rendered_seconds_total"}
    assert {item.name for item in found["mixfarm_tasks"].samples} == {"mixfarm_tasks_total"}
    assert {item.labels["state"] for item in found["mixfarm_jobs"].samples} == set(STATES)
    assert {item.labels["state"] for item in found["mixfarm_cluster_cpus"].samples} == {"total", "busy"}
    assert {"mixfarm_job_duration_seconds_bucket", "mixfarm_job_duration_seconds_sum", "mixfarm_job_duration_seconds_count"} <= {
        item.name for item in found["mixfarm_job_duration_seconds"].samples
    }


def test_every_metric_has_the_mixfarm_prefix_and_help(one_job):
    for name, family in families(one_job[1]).items():
        assert name.startswith("mixfarm_"), name
        assert family.documentation, f"{name} has no HELP text"


def test_job_states_are_counted_from_zero_on_a_fresh_service(fresh):
    for state in STATES:
        assert value(fresh, "mixfarm_jobs_total", state=state) == 0
    assert value(fresh, "mixfarm_queue_depth") == 0 and value(fresh, "mixfarm_jobs_running") == 0


def test_no_job_id_appears_in_any_label(one_job, client):
    ids = [job["id"] for job in client.get("/api/jobs", params={"limit": 500}).json()["jobs"]]
    assert one_job[2]["id"] in ids
    for family in text_string_to_metric_families(one_job[1]):
        for item in family.samples:
            assert set(item.labels) <= {"state", "kind", "status", "le", "studio"}, item
            for label_value in item.labels.values():
                assert not any(job_id in label_value for job_id in ids), item


def test_job_counters_move_by_one_per_state_entered(one_job):
    before, after, _ = one_job
    for state, step in (("queued", 1), ("running", 1), ("succeeded", 1), ("failed", 0), ("cancelled", 0)):
        moved = value(after, "mixfarm_jobs_total", state=state) - value(before, "mixfarm_jobs_total", state=state)
        assert moved == step, f"mixfarm_jobs_total{{state={state!r}}} moved by {moved}"


def test_audio_seconds_grow_by_the_jobs_duration(one_job):
    before, after, job = one_job
    moved = value(after, "mixfarm_audio_rendered_seconds_total") - value(before, "mixfarm_audio_rendered_seconds_total")
    assert moved == pytest.approx(job["duration_s"]) and moved == pytest.approx(3.0)


def test_job_duration_histogram_observes_the_job(one_job):
    before, after, job = one_job
    assert value(after, "mixfarm_job_duration_seconds_count") - value(before, "mixfarm_job_duration_seconds_count") == 1
    observed = value(after, "mixfarm_job_duration_seconds_sum") - value(before, "mixfarm_job_duration_seconds_sum")
    assert observed == pytest.approx(job["finished_at"] - job["started_at"], abs=1e-3)
    assert value(after, "mixfarm_job_duration_seconds_bucket", le="+Inf") == value(after, "mixfarm_job_duration_seconds_count")


def test_task_counters_match_the_jobs_report(one_job):
    before, after, job = one_job
    by_kind = job["report"]["tasks_by_kind"]
    assert sum(by_kind.values()) == job["report"]["tasks"] > 0
    for kind, count in by_kind.items():
        moved = value(after, "mixfarm_tasks_total", kind=kind, status="succeeded") - value(before, "mixfarm_tasks_total", kind=kind, status="succeeded")
        assert moved == count, f"mixfarm_tasks_total{{kind={kind!r}}} moved by {moved}, the report says {count}"
        timed = value(after, "mixfarm_task_duration_seconds_count", kind=kind) - value(before, "mixfarm_task_duration_seconds_count", kind=kind)
        assert timed == count


def test_last_success_is_the_jobs_finish_time(one_job):
    before, after, job = one_job
    assert value(before, "mixfarm_last_success_timestamp_seconds") < job["finished_at"]
    assert value(after, "mixfarm_last_success_timestamp_seconds") == pytest.approx(job["finished_at"], abs=1e-3)


def test_cluster_cpus_match_the_cluster_endpoint(one_job, client):
    cluster = client.get("/api/cluster").json()
    text = scrape(client)
    assert value(text, "mixfarm_cluster_cpus", state="total") == cluster["cpus"] >= 1
    assert 0 <= value(text, "mixfarm_cluster_cpus", state="busy") <= cluster["cpus"]


def test_queue_depth_and_running_gauges_follow_the_queue(client, one_job):
    long = submit(client, long_bundle(300.0))
    waiting = [submit(client, session_bundle(0.5, name=f"wait{index}")) for index in range(2)]
    try:
        wait_for_state(client, long["id"], {"running"}, 60)
        during = scrape(client)
        assert value(during, "mixfarm_queue_depth") == 2
        assert value(during, "mixfarm_jobs_running") == 1
    finally:
        for job in [*waiting, long]:
            client.post(f"/api/jobs/{job['id']}/cancel")
        wait_for_state(client, long["id"], FINAL, 30)
    time.sleep(0.2)
    after = scrape(client)
    assert value(after, "mixfarm_queue_depth") == 0 and value(after, "mixfarm_jobs_running") == 0
    assert value(after, "mixfarm_jobs_total", state="cancelled") - value(during, "mixfarm_jobs_total", state="cancelled") == 3
