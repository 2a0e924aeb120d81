import httpx

from tests.helpers.service import session_bundle, wait_for_state


def test_submitted_job_renders_and_its_output_downloads(start_service):
    service = start_service()
    with httpx.Client(base_url=service.url, timeout=30) as client:
        created = client.post("/api/jobs", files={"bundle": ("b.zip", session_bundle())}, data={"priority": "2"})
        assert created.status_code == 201, created.text
        job = wait_for_state(client, created.json()["id"], {"succeeded", "failed"})
        assert job["state"] == "succeeded", job["error"]
        assert job["progress"] == 1.0 and job["report"]["deliverables"][0]["path"] == "master.wav"
        download = client.get(job["outputs"][0]["url"])
        assert download.status_code == 200 and download.content[:4] == b"RIFF"
