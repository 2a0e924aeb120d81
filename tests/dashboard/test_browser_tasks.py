"""The task timeline of a job and the cluster's history in a real (headless) Chromium against a real ``mixfarm serve``."""

import io
import time
import zipfile

import httpx
import numpy as np
import pytest
import soundfile
import yaml

from farm.engine.plan import DEFAULT_CHUNK_S
from tests.helpers.browser import needs_chromium
from tests.helpers.service import MASTERED, ServiceProcess, long_bundle, wait_for_state
from tests.helpers.sessions import THREE_CHUNKS_S

RENDER_TIMEOUT_S = 180.0
SAMPLE_TIMEOUT_S = 60.0
RATE = 48000

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """One service for the module, rendering one job at a time so a second one waits in the queue."""
    process = ServiceProcess(tmp_path_factory.mktemp("browser-tasks") / "data", extra_args=("--max-running", "1"))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def api(service):
    with httpx.Client(base_url=service.url, timeout=30) as client:
        yield client


def flac_bundle(seconds: float, extra: dict | None = None) -> bytes:
    """A one-track session whose stem is a FLAC ``seconds`` long."""
    t = np.arange(int(seconds * RATE)) / RATE
    stem = io.BytesIO()
    soundfile.write(stem, (0.3 * np.sin(2 * np.pi * 220.0 * t))[:, None], RATE, format="FLAC", subtype="PCM_24")
    session = {
        "format": "mixfarm/1",
        "name": "flac",
        "tracks": [{"name": "tone", "file": "stems/tone.flac"}],
        "master": {"tail_s": 0.0},
        "outputs": [{"path": "master.wav", "bit_depth": 24}],
        **(extra or {}),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("session.yaml", yaml.safe_dump(session))
        archive.writestr("stems/tone.flac", stem.getvalue())
    return buffer.getvalue()


def submit(api: httpx.Client, bundle: bytes, name: str) -> str:
    created = api.post("/api/jobs", files={"bundle": ("b.zip", bundle)}, data={"name": name})
    assert created.status_code == 201, created.text
    return created.json()["id"]


def nodes(api: httpx.Client) -> dict[str, str | None]:
    return {node["id"]: node["address"] for node in api.get("/api/cluster").json()["nodes"]}


def test_the_timeline_of_a_finished_job_shows_its_stages_on_its_nodes(service, api, page, tmp_path):
    job_id = submit(api, flac_bundle(THREE_CHUNKS_S, MASTERED), "finished")
    assert wait_for_state(api, job_id, {"succeeded", "failed", "cancelled"}, RENDER_TIMEOUT_S)["state"] == "succeeded"
    timeline = api.get(f"/api/jobs/{job_id}/tasks").json()
    assert timeline["finished"] == len(timeline["tasks"]) > 0

    page.goto(f"{service.url}/jobs/{job_id}")
    attempt = page.locator('section.tasks details.attempt[data-attempt="1"][data-outcome="succeeded"]')
    assert attempt.get_attribute("open") is not None
    assert attempt.locator("summary").inner_text().startswith(f"Attempt 1 succeeded · {timeline['finished']} task(s) finished")
    drawn = [int(count) for count in attempt.locator("rect.task").evaluate_all("bars => bars.map(bar => bar.dataset.tasks)")]
    assert sum(drawn) == timeline["finished"] and len(drawn) <= timeline["finished"]
    assert attempt.locator("rect.task.failed").count() == 0
    for stage in ("mix", "loudness", "deliver"):
        assert attempt.locator(f"rect.task.stage-{stage}").count() > 0, stage
        assert attempt.locator(f"g.stage-span.stage-{stage}").count() > 0, stage
    prepare = attempt.locator("g.stage-span.stage-prepare")
    assert prepare.count() == 1 and prepare.locator("rect").get_attribute("x") == "0.0", "preparing starts the attempt's timeline"
    assert attempt.locator('table.stages tr[data-stage="loudness"]').first.inner_text().startswith("loudness pass 1")

    known = nodes(api)
    lanes = attempt.locator("g.lane")
    used = {task["node"] for task in timeline["tasks"]}
    assert lanes.count() == len(used)
    for index in range(lanes.count()):
        node = lanes.nth(index).get_attribute("data-node")
        label = lanes.nth(index).locator("text.lane-label").text_content()
        assert label.startswith(node[:8] + " · ") and node[8:16] not in label, label
        assert known.get(node) and known[node] in label, (label, known)
    color = attempt.locator("rect.task.stage-deliver").first.evaluate("el => getComputedStyle(el).fill")
    assert color == "rgb(31, 138, 76)", "the deliver stage has its own colour from timeline.css"
    titles = attempt.locator("rect.task.stage-mix title").all_text_contents()
    assert sum(title.startswith("tracks · track group 1 · chunk ") for title in titles) == 3, titles
    assert any(title.startswith(f"tracks · track group 1 · chunk {2 * DEFAULT_CHUNK_S:.1f}–{THREE_CHUNKS_S:.1f} s: ") for title in titles), titles
    page.screenshot(path=str(tmp_path / "tasks-succeeded.png"), full_page=True)


def test_the_timeline_of_a_failed_job_marks_the_failed_task_its_strip_chunk_and_traceback(service, api, page, tmp_path):
    busy = submit(api, long_bundle(900.0), "busy")
    try:
        wait_for_state(api, busy, {"running"})
        job_id = submit(api, flac_bundle(THREE_CHUNKS_S), "breaks")
        stem = service.data_dir / "jobs" / job_id / "bundle" / "stems" / "tone.flac"
        stem.write_bytes(stem.read_bytes()[: stem.stat().st_size * 3 // 5])  # its header still counts the whole length; the last chunks' frames are gone
    finally:
        api.post(f"/api/jobs/{busy}/cancel")
    failed = wait_for_state(api, job_id, {"succeeded", "failed", "cancelled"}, RENDER_TIMEOUT_S)
    assert failed["state"] == "failed", failed
    failure = failed["attempt_history"][-1]["failure"]
    assert failure["task"] == "tracks" and failure["chunk"]["start_s"] >= DEFAULT_CHUNK_S

    page.goto(f"{service.url}/jobs/{job_id}")
    attempt = page.locator('section.tasks details.attempt[data-outcome="failed"]')
    assert attempt.get_attribute("open") is not None
    marked = attempt.locator("rect.task.failed")
    assert marked.count() == 1
    assert marked.evaluate("el => getComputedStyle(el).fill") == "rgb(200, 55, 45)"
    chunk = f"{failure['chunk']['start_s']:.1f}–{failure['chunk']['stop_s']:.1f} s"
    assert marked.locator("title").text_content().startswith(f"failed: tracks · track group 1 · chunk {chunk}")
    assert attempt.locator("[data-field=failed-task]").inner_text() == "tracks"
    assert attempt.locator("[data-field=failed-strip]").inner_text() == "track group 1 (tone)"
    assert attempt.locator("[data-field=failed-chunk]").inner_text() == chunk
    error = attempt.locator("[data-field=failed-error]").inner_text()
    assert error == failed["attempt_history"][-1]["error"] and error.startswith("task tracks_chunk failed: stems/tone.flac: "), error
    traceback = attempt.locator("[data-field=traceback]").inner_text()
    assert "AudioFileError" in traceback and str(service.data_dir) not in traceback
    earlier = [task for task in api.get(f"/api/jobs/{job_id}/tasks").json()["tasks"] if task["kind"] == "tracks"]
    assert attempt.locator("rect.task.stage-mix").count() >= len(earlier) > 0, "the tasks that finished before it are drawn"
    page.screenshot(path=str(tmp_path / "tasks-failed.png"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1] == 390, f"at phone width the page is {widths[0]} px wide: the timeline and traceback must scroll in their own box"


def test_the_cluster_page_draws_the_history_of_each_node(service, api, page, tmp_path):
    job_id = submit(api, flac_bundle(12.0), "for the history")
    assert wait_for_state(api, job_id, {"succeeded", "failed", "cancelled"}, RENDER_TIMEOUT_S)["state"] == "succeeded"
    deadline = time.monotonic() + SAMPLE_TIMEOUT_S
    while True:
        history = api.get("/api/cluster/history?window=hour").json()
        sampled = [node for node in history["nodes"] if any(sample["memory_used_bytes"] for sample in node["samples"])]
        if sampled and sum(sample["finished"] for sample in history["samples"]) >= 1:
            break
        assert time.monotonic() < deadline, f"no sample with a node's memory and a finished job within {SAMPLE_TIMEOUT_S} s: {history}"
        time.sleep(0.5)
    known = nodes(api)

    page.goto(f"{service.url}/cluster")
    section = page.locator('section.history[data-window="hour"]')
    legend = section.locator("p.legend").first.inner_text()
    for node in history["nodes"]:
        assert node["id"][:8] in legend and node["id"][8:16] not in legend
        assert known.get(node["id"]) in legend, (legend, known)
    charts = section.locator("svg.history")
    assert charts.count() == 5
    for index in range(4):
        assert charts.nth(index).locator("path.series").first.get_attribute("d").startswith("M"), index
    assert section.locator("svg.finished rect.series-1").count() >= 1
    stroke = charts.nth(0).locator("path.series").first.evaluate("el => getComputedStyle(el).stroke")
    assert stroke == "rgb(58, 123, 224)", "lines take their colours from history.css"
    page.screenshot(path=str(tmp_path / "history-hour.png"), full_page=True)

    section.locator("nav.windows a", has_text="last week").click()
    page.wait_for_url("**/cluster?window=week#history")
    assert page.locator("section.history").get_attribute("data-window") == "week"
    assert page.locator('section.history nav.windows a[aria-current="page"]').inner_text() == "last week"


def test_the_timeline_of_a_running_job_grows_without_a_reload(service, api, page):
    running = submit(api, long_bundle(900.0), "still rendering")
    try:
        wait_for_state(api, running, {"running"})
        page.goto(f"{service.url}/jobs/{running}")
        page.evaluate("window.loadedOnce = 'no reload'")
        bars = 'section.tasks details.attempt[data-outcome="running"] rect.task'
        drawn = page.locator(bars).count()
        page.locator(bars).nth(drawn).wait_for(state="attached", timeout=RENDER_TIMEOUT_S * 1000)
        assert page.evaluate("window.loadedOnce") == "no reload", "the section was swapped in, the page not reloaded"
        assert page.locator('section.tasks details.attempt[data-outcome="running"]').get_attribute("open") is not None
    finally:
        api.post(f"/api/jobs/{running}/cancel")
