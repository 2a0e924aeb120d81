"""The dashboard in a real (headless) Chromium against a real ``mixfarm serve`` process."""


import httpx
import pytest

from tests.helpers.browser import needs_chromium
from tests.helpers.service import (
    MASTERED,
    ServiceProcess,
    session_bundle,
    wait_for_state,
)

RENDER_TIMEOUT_MS = 120_000

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """One service for the module, rendering one job at a time so a second one waits in the queue."""
    process = ServiceProcess(tmp_path_factory.mktemp("browser") / "data", extra_args=("--max-running", "1"))
    yield process
    process.stop()




SLOW = {
    **MASTERED,
    "tracks": [
        {"name": f"t{i}", "file": "stems/tone.wav", "fx": [{"type": "saturation", "drive_db": 12.0}, {"type": "reverb", "decay_s": 2.0}]}
        for i in range(128)
    ],
}
"""Session fields that keep the farm's one render slot busy for about ten seconds on two cores, long past the moment the test cancels it."""


def submit(service: ServiceProcess, seconds: float, name: str, extra: dict = MASTERED) -> str:
    created = httpx.post(f"{service.url}/api/jobs", files={"bundle": ("b.zip", session_bundle(seconds, extra=extra))}, data={"name": name}, timeout=30)
    assert created.status_code == 201, created.text
    return created.json()["id"]


def test_queue_shows_a_new_job_live_and_links_to_its_report(service, page, tmp_path):
    page.goto(service.url + "/")
    page.wait_for_selector("#live.on")
    page.evaluate("window.loadedOnce = 'no reload'")

    job_id = submit(service, 4.0, "Live <b>mix</b>")
    row = f'tr[data-job-id="{job_id}"]'
    page.wait_for_selector(row)
    page.wait_for_selector(f'{row}[data-state="succeeded"]', timeout=RENDER_TIMEOUT_MS)
    assert page.evaluate("window.loadedOnce") == "no reload"
    assert page.inner_text(f"{row} [data-field=name]") == "Live <b>mix</b>"
    assert page.inner_text(f"{row} [data-field=progress]") == "100%"
    assert page.inner_text(f"{row} [data-field=rtf]").endswith("×")
    from playwright.sync_api import expect

    expect(page.locator("[data-count=succeeded]")).not_to_have_text("0")
    page.screenshot(path=str(tmp_path / "queue.png"), full_page=True)

    page.click(f"{row} [data-field=link]")
    page.wait_for_url(f"**/jobs/{job_id}")
    assert all(wave.get_attribute("d").startswith("M") for wave in page.locator("svg.waveform path.wave").all())
    assert page.locator("svg.loudness-plot path.short-term").get_attribute("d").startswith("M")
    report = page.inner_text("section.loudness")
    assert "Integrated" in report and "LUFS" in report and "dBTP" in report
    assert page.locator("a.download").first.get_attribute("href").endswith(f"/api/jobs/{job_id}/outputs/master.wav")
    page.screenshot(path=str(tmp_path / "job.png"), full_page=True)

    page.click("nav >> text=Cluster")
    page.wait_for_selector("svg.chart rect.series-1")
    page.screenshot(path=str(tmp_path / "cluster.png"), full_page=True)


def test_cancel_and_retry_buttons_change_a_queued_job(service, page, tmp_path):
    slow = submit(service, 30.0, "slow", SLOW)
    waiting = submit(service, 1.0, "waiting")
    page.goto(f"{service.url}/jobs/{waiting}")
    page.wait_for_selector("#live.on")
    assert page.inner_text(".job-head [data-field=state]") == "queued"

    page.click("button[data-action=cancel]")
    page.wait_for_selector(".job-head .state-cancelled")
    assert "cancelled before it ran" in page.inner_text("#job-error")
    page.screenshot(path=str(tmp_path / "cancelled.png"), full_page=True)
    assert httpx.post(f"{service.url}/api/jobs/{slow}/cancel", timeout=30).status_code == 200

    page.click("button[data-action=retry]")
    page.wait_for_selector(".job-head .state-queued, .job-head .state-running")
    page.wait_for_selector(".job-head .state-succeeded", timeout=RENDER_TIMEOUT_MS)
    assert page.locator("svg.waveform").count() == 1


def test_a_job_that_fails_shows_a_failed_bar_and_no_realtime_figure(service, page, tmp_path):
    from farm.queue.jobstore import JobStore
    from farm.queue.state import JobState

    store = JobStore(service.data_dir / "jobs.sqlite3")
    job = store.create("stopped a third of the way", "local", duration_s=30.0)
    store.transition(job.id, JobState.RUNNING)
    store.transition(job.id, JobState.CANCELLED, progress=0.33, audio_s=10.0, error="cancelled while running")
    store.close()

    page.goto(f"{service.url}/jobs/{job.id}")
    page.wait_for_selector("#live.on")
    assert "progress-cancelled" in page.get_attribute("[data-field=progress-box]", "class")
    assert page.inner_text("[data-field=rtf]") == "—", "a job that ended early has no realtime figure"

    page.click("button[data-action=retry]")  # its bundle never existed: the scheduler fails it at once
    page.wait_for_selector(".job-head .state-failed", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_selector("[data-field=progress-box].progress-failed")
    fill = page.eval_on_selector("[data-field=progress-fill]", "el => getComputedStyle(el).backgroundColor")
    assert fill == "rgb(200, 55, 45)", "the bar turns the failed colour, not the running blue"
    assert page.inner_text("[data-field=rtf]") == "—"
    page.screenshot(path=str(tmp_path / "failed.png"), full_page=True)



def test_a_job_that_ends_before_the_page_listens_is_shown_ended(service, page):
    """The page asks for its job again once its event stream connects: a change sent before that reached nobody.

    This is how a retried job that failed at once could stay "running" with a Cancel button.
    """
    slow = submit(service, 30.0, "slow", SLOW)
    waiting = submit(service, 1.0, "waiting")

    def connect_once_it_was_cancelled(route):
        """Hold the page's event stream until its job, queued when the page was made, has been cancelled."""
        assert httpx.post(f"{service.url}/api/jobs/{waiting}/cancel", timeout=30).status_code == 200
        route.continue_()

    page.route("**/api/events", connect_once_it_was_cancelled, times=1)
    page.goto(f"{service.url}/jobs/{waiting}")
    page.wait_for_selector(".job-head .state-cancelled")
    assert page.locator("button[data-action=cancel]").count() == 0
    assert page.locator("button[data-action=retry]").count() == 1
    assert httpx.post(f"{service.url}/api/jobs/{slow}/cancel", timeout=30).status_code == 200


@pytest.fixture
def finished_job(service):
    """A job with a long name that succeeded, so its page has every table and chart."""
    job_id = submit(service, 3.0, "Midnight-Drive-final-master-v12-with-a-name-longer-than-a-phone-is-wide")
    with httpx.Client(base_url=service.url, timeout=30) as client:
        wait_for_state(client, job_id, {"succeeded"})
    return job_id


@pytest.mark.parametrize("path", ["/", "/jobs/{job}", "/cluster"])
def test_at_phone_width_the_page_never_scrolls_sideways(service, browser, finished_job, path):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(service.url + path.format(job=finished_job))
    page.wait_for_selector("#live.on")
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth, document.querySelector('header.top').scrollWidth]")
    context.close()
    assert widths[0] <= widths[1] == 390, f"{path}: the page is {widths[0]} px wide at a 390 px viewport"
    assert widths[2] <= 390, f"{path}: the header is {widths[2]} px wide"


def test_the_dashboard_follows_a_dark_preference(service, browser, finished_job):
    colours = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
        page = context.new_page()
        page.goto(f"{service.url}/jobs/{finished_job}")
        page.wait_for_selector("#live.on")
        colours[scheme] = page.evaluate(
            "[getComputedStyle(document.documentElement).backgroundColor, getComputedStyle(document.body).color, "
            "getComputedStyle(document.querySelector('svg.chart')).backgroundColor]"
        )
        context.close()
    assert colours["light"] == ["rgb(255, 255, 255)", "rgb(29, 33, 39)", "rgb(255, 255, 255)"]
    assert colours["dark"] == ["rgb(18, 20, 24)", "rgb(228, 232, 238)", "rgb(18, 20, 24)"], "dark page, light text, charts on the dark page"
