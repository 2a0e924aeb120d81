"""The dashboard pages, served by a real ``mixfarm serve`` process."""

import asyncio
import html
import re

import httpx
import pytest

from farm.queue.jobfiles import job_folder
from farm.queue.jobstore import JobStore
from tests.helpers.service import (
    MASTERED,
    ServiceProcess,
    session_bundle,
    wait_for_state,
)


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    """One service for the module with a succeeded job, a succeeded job whose output is gone, and a failed job."""
    service = ServiceProcess(tmp_path_factory.mktemp("pages") / "data")
    try:
        with httpx.Client(base_url=service.url, timeout=30) as client:
            ids = {}
            for key in ("done", "gone"):
                created = client.post("/api/jobs", files={"bundle": ("b.zip", session_bundle(3.0, extra=MASTERED))}, data={"name": f"{key} <em>mix</em>"})
                assert created.status_code == 201, created.text
                ids[key] = created.json()["id"]
            # A job whose bundle is missing: the scheduler fails it at once.
            store = JobStore(service.data_dir / "jobs.sqlite3")
            ids["failed"] = store.create("<script>alert(1)</script>", "local").id
            store.close()
            jobs = {key: wait_for_state(client, job_id, {"succeeded", "failed"}) for key, job_id in ids.items()}
        assert jobs["done"]["state"] == jobs["gone"]["state"] == "succeeded", jobs
        job_folder(service.data_dir, ids["gone"]).joinpath("out", "master.wav").local_path.unlink()
        yield service, jobs
    finally:
        service.stop()


def get(service: ServiceProcess, path: str) -> httpx.Response:
    return httpx.get(service.url + path, timeout=60, follow_redirects=True)


def test_queue_page_lists_jobs_newest_first_with_counts(farm):
    service, jobs = farm
    page = get(service, "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    positions = [page.text.index(f'data-job-id="{jobs[key]["id"]}"') for key in ("failed", "gone", "done")]
    assert positions == sorted(positions)
    assert "done &lt;em&gt;mix&lt;/em&gt;" in page.text
    assert re.search(r'data-count="succeeded">2<', page.text) and re.search(r'data-count="failed">1<', page.text)


def test_queue_page_filters_by_state(farm):
    service, jobs = farm
    page = get(service, "/?state=failed")
    assert jobs["failed"]["id"] in page.text and jobs["done"]["id"] not in page.text


def test_job_page_shows_loudness_report_downloads_and_plots(farm):
    service, jobs = farm
    job = jobs["done"]
    page = get(service, f"/jobs/{job['id']}")
    assert page.status_code == 200
    report = job["report"]
    for figure in (
        f"{report['output']['integrated_lufs']:.1f} LUFS",
        f"{report['input']['integrated_lufs']:.1f} LUFS",
        f"{report['output']['true_peak_dbtp']:.2f} dBTP",
        f"{report['gain_db']:.2f} dB",
        f"{report['deliverables'][0]['loudness']['integrated_lufs']:.2f} LUFS",
        "-14.0 LUFS",
    ):
        assert figure in page.text, figure
    assert f'href="{html.escape(job["outputs"][0]["url"])}"' in page.text
    assert get(service, job["outputs"][0]["url"].removeprefix(service.url)).content[:4] == b"RIFF"
    assert re.search(r'<svg class="chart waveform".*?<path class="wave" d="M[^"]+Z"', page.text, re.S)
    assert re.search(r'<svg class="chart loudness-plot".*?<path class="short-term" d="M[^"]+"', page.text, re.S)
    assert 'class="target"' in page.text
    assert job_folder(service.data_dir, job["id"]).joinpath("analysis.json").is_file()


def test_job_page_without_its_output_file_shows_the_rest(farm):
    service, jobs = farm
    page = get(service, f"/jobs/{jobs['gone']['id']}")
    assert page.status_code == 200
    assert "No waveform" in page.text and 'class="chart waveform"' not in page.text
    assert f"{jobs['gone']['report']['output']['integrated_lufs']:.1f} LUFS" in page.text


def test_failed_job_page_shows_its_error_escaped(farm):
    service, jobs = farm
    page = get(service, f"/jobs/{jobs['failed']['id']}")
    assert page.status_code == 200
    assert "no session.yaml, session.json or album.yaml" in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert" not in page.text
    assert 'data-action="retry"' in page.text and "<h2>Loudness</h2>" not in page.text


def test_unknown_job_page_is_404(farm):
    service, _ = farm
    assert get(service, "/jobs/no-such-job").status_code == 404


def test_cluster_page_shows_nodes_and_throughput(farm):
    service, _ = farm
    cluster = get(service, "/api/cluster").json()
    page = get(service, "/cluster")
    assert page.status_code == 200
    assert all(node["id"] in page.text for node in cluster["nodes"]) and cluster["nodes"]
    assert "Audio rendered per minute" in page.text and "Jobs finished per minute" in page.text
    assert page.text.count('<rect class="series-1"') >= 2 and '<rect class="series-2"' in page.text


def test_pages_load_nothing_from_elsewhere(farm):
    service, jobs = farm
    for path in ("/", f"/jobs/{jobs['done']['id']}", "/cluster"):
        links = re.findall(r'(?:src|href)="([^"]+)"', get(service, path).text)
        assert all(link.startswith(("/", service.url)) for link in links), links
    for name, kind in (("app.css", "text/css"), ("app.js", "text/javascript")):
        asset = get(service, f"/static/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
    assert get(service, "/static/..%2Fmain.py").status_code == 404


def test_pages_need_a_token_when_tokens_are_configured(start_service):
    service = start_service(env={"MIXFARM_API_TOKENS": "alpha:tokA,beta:tokB"})
    with httpx.Client(base_url=service.url, timeout=30, headers={"Authorization": "Bearer tokB"}) as beta:
        beta_job = beta.post("/api/jobs", files={"bundle": ("b.zip", session_bundle(1.0))}).json()
    assert get(service, "/").status_code == 401
    assert get(service, "/?token=wrong").status_code == 401
    with httpx.Client(base_url=service.url, timeout=30) as alpha:
        signed_in = alpha.get("/?token=tokA")
        assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/")
        cookie = signed_in.headers["set-cookie"]
        assert cookie.startswith("mixfarm_token=tokA") and "HttpOnly" in cookie and "SameSite=strict" in cookie
        opened = alpha.get("/")
        assert opened.status_code == 200 and "tokA" not in str(opened.url)
        assert beta_job["id"] not in opened.text
        assert alpha.get("/cluster").status_code == 200
        assert alpha.get("/api/jobs").json()["total"] == 0
        assert alpha.get(f"/jobs/{beta_job['id']}").status_code == 404
    assert get(service, f"/jobs/{beta_job['id']}?token=tokB").status_code == 200


def test_pages_render_jobs_with_odd_data(tmp_path):
    from dashboard.config import Settings
    from dashboard.main import create_app
    from farm.queue.state import JobState

    app = create_app(Settings(data_dir=tmp_path / "data"))
    store = app.state.service.store
    oddities = {
        "no report": {"report": None},
        "empty report": {"report": {}, "outputs": [{"name": "a.wav"}]},
        "thin report": {"report": {"input": None, "target": None, "deliverables": [{"path": "a.wav"}]}, "outputs": [{"name": "a.wav"}]},
    }
    paths = ["/", "/cluster", "/?page=9"]
    for name, fields in oddities.items():
        job = store.create(name, "local", duration_s=5.0)
        store.transition(job.id, JobState.RUNNING)
        paths.append(f"/jobs/{store.transition(job.id, JobState.SUCCEEDED, **fields).id}")
    running = store.create("half done", "local", duration_s=10.0)
    paths.append(f"/jobs/{store.transition(running.id, JobState.RUNNING, progress=0.5, audio_s=5.0).id}")

    async def statuses() -> list[int]:
        # No lifespan: the scheduler stays off and the jobs stay as written.
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://farm") as client:
            return [(await client.get(path)).status_code for path in paths]

    assert asyncio.run(statuses()) == [200] * len(paths)


def test_the_cluster_page_counts_cancelled_jobs_apart_from_failed_ones(tmp_path):
    from dashboard.config import Settings
    from dashboard.main import create_app
    from farm.queue.state import JobState
    from tests.dashboard.test_hardening import call

    app = create_app(Settings(data_dir=tmp_path / "data"))
    store = app.state.service.store
    for name, state in (("kept", JobState.SUCCEEDED), ("broken", JobState.FAILED), ("dropped", JobState.CANCELLED), ("also dropped", JobState.CANCELLED)):
        job = store.create(name, "local", duration_s=2.0)
        if state is not JobState.CANCELLED:
            store.transition(job.id, JobState.RUNNING)
        store.transition(job.id, state)
    page = call(app, "GET", "/cluster").text
    assert re.search(r">\s*1 ok · 1 failed · 2 cancelled\s*<", page), page
    assert '<rect class="series-3"' in page and "1 succeeded, 1 failed, 2 cancelled" in page


def test_the_favicon_is_served_from_the_package(tmp_path):
    from dashboard.config import Settings
    from dashboard.main import create_app
    from tests.dashboard.test_hardening import call

    app = create_app(Settings(data_dir=tmp_path / "data"))
    assert '<link rel="icon" href="/static/favicon.svg"' in call(app, "GET", "/cluster").text
    asked = call(app, "GET", "/favicon.ico")
    assert (asked.status_code, asked.headers["location"]) == (308, "/static/favicon.svg")
    icon = call(app, "GET", "/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml" and icon.text.startswith("<svg")


def test_a_job_that_ended_early_shows_its_state_on_the_bar_and_no_realtime(tmp_path):
    from dashboard.config import Settings
    from dashboard.main import create_app
    from farm.queue.state import JobState
    from tests.dashboard.test_hardening import call

    app = create_app(Settings(data_dir=tmp_path / "data"))
    store = app.state.service.store
    ended = {}
    for state in (JobState.FAILED, JobState.SUCCEEDED):
        job = store.create(state.value, "local", duration_s=30.0)
        store.transition(job.id, JobState.RUNNING)
        store.transition(job.id, state, progress=0.33 if state is JobState.FAILED else 1.0, audio_s=10.0)
        ended[state] = job.id
    page = call(app, "GET", "/").text
    for state, job_id in ended.items():
        row = page[page.index(f'data-job-id="{job_id}"') :]
        row = row[: row.index("</tr>")]
        assert f'class="progress progress-{state.value}"' in row
        rtf = re.search(r'data-field="rtf">([^<]*)<', row).group(1).strip()
        assert (rtf == "—") is (state is JobState.FAILED), rtf
