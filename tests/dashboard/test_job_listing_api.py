"""GET /api/jobs's search, filters, sorts and queue positions, and POST /api/jobs/bulk, against real services."""

from __future__ import annotations

import httpx
import pytest

from farm.queue.state import JobState
from tests.helpers.held import held_jobs
from tests.helpers.service import ServiceProcess

TOKENS = {"abbey": "token-abbey", "ocean": "token-ocean"}


@pytest.fixture(scope="module")
def open_service(tmp_path_factory):
    """A service without tokens, holding the jobs of two studios."""
    started = ServiceProcess(tmp_path_factory.mktemp("listing") / "data", extra_args=("--max-running", "1"))
    specs = [("Alpha mix", "local", 0), ("alpha master", "local", 5), ("beta_mix", "local", 5), ("gamma", "abbey", 2), ("100% mix", "local", 9), ("delta", "local", 1)]
    started.ids = held_jobs(started.data_dir, specs, {4: JobState.SUCCEEDED, 5: JobState.FAILED})
    yield started
    started.stop()


@pytest.fixture(scope="module")
def client(open_service):
    with httpx.Client(base_url=open_service.url, timeout=30) as opened:
        yield opened


def names(client: httpx.Client, **params) -> list[str]:
    answer = client.get("/api/jobs", params=params)
    assert answer.status_code == 200, answer.text
    return [job["name"] for job in answer.json()["jobs"]]


def test_search_matches_part_of_a_name_in_any_case_and_wildcards_literally(client):
    assert names(client, q="ALPHA") == ["alpha master", "Alpha mix"]
    assert names(client, q="a_m") == ["beta_mix"]
    assert names(client, q="0%") == ["100% mix"]
    assert names(client, q="  mix  ", sort="oldest") == ["Alpha mix", "beta_mix", "100% mix"]


def test_filters_combine_and_total_counts_every_page(client):
    answer = client.get("/api/jobs", params={"state": ["queued", "failed"], "priority_min": 1, "limit": 1}).json()
    assert answer["total"] == 4 and [job["name"] for job in answer["jobs"]] == ["delta"]
    assert names(client, studio="abbey") == ["gamma"]
    assert names(client, priority_min=5, priority_max=5) == ["beta_mix", "alpha master"]
    summary = client.get("/queue/summary", params={"q": "alpha", "state": "queued"}).json()
    assert summary["total"] == 2 and summary["counts"]["queued"] == 4


def test_queue_order_and_positions_follow_each_studios_claim_order(client):
    jobs = client.get("/api/jobs", params={"sort": "queue"}).json()["jobs"]
    assert [job["name"] for job in jobs] == ["alpha master", "beta_mix", "gamma", "Alpha mix", "delta", "100% mix"]
    assert [job["queue_position"] for job in jobs] == [1, 2, 1, 3, None, None]
    one = client.get(f"/api/jobs/{jobs[1]['id']}").json()
    assert one["queue_position"] == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": "x" * 101}, "q"),
        ({"sort": "random"}, "sort"),
        ({"state": "paused"}, "state"),
        ({"state": ["queued"] * 6}, "state"),
        ({"studio": "s" * 101}, "studio"),
        ({"priority_min": 2**31}, "priority_min"),
    ],
)
def test_a_listing_out_of_bounds_answers_422_naming_the_parameter(client, params, field):
    answer = client.get("/api/jobs", params=params)
    assert answer.status_code == 422
    assert [problem["loc"][:2] for problem in answer.json()["detail"]] == [["query", field]]


def test_a_priority_range_upside_down_answers_422_naming_both_ends(client):
    answer = client.get("/api/jobs", params={"priority_min": 5, "priority_max": 1})
    assert answer.status_code == 422 and answer.json()["detail"] == "priority_min: 5 is above priority_max: 1"


def test_bulk_actions_answer_each_jobs_outcome_in_the_single_job_words(start_service):
    service = start_service()
    specs = [("b queued", "local", 0), ("b cancelled", "local", 0), ("b succeeded", "local", 0)]
    queued, cancelled, succeeded = held_jobs(service.data_dir, specs, {1: JobState.CANCELLED, 2: JobState.SUCCEEDED})
    with httpx.Client(base_url=service.url, timeout=30) as client:
        answer = client.post("/api/jobs/bulk", json={"action": "cancel", "ids": [queued, succeeded, "nope", queued]})
        assert answer.status_code == 200
        results = answer.json()["results"]
        assert [(result["id"], result["done"], result["state"]) for result in results] == [(queued, True, "cancelled"), (succeeded, False, "succeeded"), ("nope", False, None)]
        assert results[1]["detail"] == client.post(f"/api/jobs/{succeeded}/cancel").json()["detail"]
        assert results[1]["detail"].startswith("the job has succeeded, so it cannot be cancelled")
        assert results[2]["detail"] == "no job 'nope'" and answer.json()["done"] == 1

        retried = client.post("/api/jobs/bulk", json={"action": "retry", "ids": [queued, cancelled, succeeded]}).json()["results"]
        assert [result["done"] for result in retried] == [True, True, False]
        assert retried[2]["detail"] == "only failed or cancelled jobs can be retried; this one is succeeded"

        changed = client.post("/api/jobs/bulk", json={"action": "priority", "ids": [queued, succeeded], "priority": 42}).json()["results"]
        assert [result["done"] for result in changed] == [True, False]
        assert "its priority cannot change" in changed[1]["detail"]
        assert client.get(f"/api/jobs/{queued}").json()["priority"] == 42
        assert client.get(f"/api/jobs/{succeeded}").json()["priority"] == 0


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"action": "cancel", "ids": []}, ["body", "ids"]),
        ({"action": "cancel", "ids": ["x"] * 501}, ["body", "ids"]),
        ({"action": "cancel", "ids": ["x" * 65]}, ["body", "ids", 0]),
        ({"action": "delete", "ids": ["x"]}, ["body", "action"]),
        ({"action": "cancel", "ids": ["x"], "priority": 3}, ["body"]),
        ({"action": "priority", "ids": ["x"]}, ["body"]),
        ({"action": "cancel", "ids": ["x"], "force": True}, ["body", "force"]),
    ],
)
def test_a_bulk_request_out_of_bounds_answers_422_naming_the_field(client, body, where):
    answer = client.post("/api/jobs/bulk", json=body)
    assert answer.status_code == 422
    assert [problem["loc"] for problem in answer.json()["detail"]] == [where]


def test_with_tokens_a_studio_neither_lists_nor_acts_on_another_studios_jobs(start_service):
    service = start_service(env={"MIXFARM_API_TOKENS": ",".join(f"{studio}:{token}" for studio, token in TOKENS.items())})
    own, other = held_jobs(service.data_dir, [("mine", "abbey", 0), ("theirs", "ocean", 0)])
    with httpx.Client(base_url=service.url, timeout=30, headers={"Authorization": f"Bearer {TOKENS['abbey']}"}) as abbey:
        assert names(abbey) == ["mine"]
        assert abbey.get("/api/jobs", params={"studio": "ocean"}).json() == {"jobs": [], "total": 0, "limit": 50, "offset": 0}
        assert names(abbey, studio="abbey") == ["mine"]
        results = abbey.post("/api/jobs/bulk", json={"action": "cancel", "ids": [other, own]}).json()["results"]
        assert [(result["done"], result["detail"]) for result in results] == [(False, f"no job {other!r}"), (True, "done")]
        ocean = httpx.get(f"{service.url}/api/jobs/{other}", headers={"Authorization": f"Bearer {TOKENS['ocean']}"}, timeout=30).json()
        assert ocean["state"] == "queued"


def test_the_queue_page_takes_the_same_search_filters_and_sort(client):
    page = client.get("/", params={"q": "alpha", "sort": "queue"})
    assert page.status_code == 200
    rows = page.text.split('<tbody id="job-rows">')[1].split("</tbody>")[0]
    assert rows.index("alpha master") < rows.index("Alpha mix") and "gamma" not in rows and "delta" not in rows
    assert '<td class="num" data-field="position">1</td>' in rows and '<td class="num" data-field="position">3</td>' in rows
    assert 'data-first-page="no"' in page.text, "a filtered page takes no new rows live"
    assert 'data-first-page="yes"' in client.get("/").text
    assert '<option selected>abbey</option>' in client.get("/", params={"studio": "abbey"}).text
    assert client.get("/", params={"sort": "random"}).status_code == 422
