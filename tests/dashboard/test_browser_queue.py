"""The queue page at studio scale in a real (headless) Chromium against real ``mixfarm serve`` processes: the page
count following jobs as they arrive, bulk actions, and uploads dropped or picked."""

from __future__ import annotations

import base64
import io
import zipfile

import pytest
import yaml

from farm.queue.state import JobState
from tests.helpers.browser import needs_chromium
from tests.helpers.held import held_jobs
from tests.helpers.service import ServiceProcess, session_bundle

RENDER_TIMEOUT_MS = 120_000
PAGE_SIZE = 25

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    process = ServiceProcess(tmp_path_factory.mktemp("browser-queue") / "data", extra_args=("--max-running", "1"))
    yield process
    process.stop()




def test_the_page_count_follows_jobs_that_arrive_while_the_queue_is_open(start_service, page):
    from playwright.sync_api import expect

    service = start_service(extra_args=("--max-running", "1"))
    held_jobs(service.data_dir, [(f"held {index}", "local", 0) for index in range(PAGE_SIZE)])
    page.goto(service.url + "/")
    page.wait_for_selector("#live.on")
    expect(page.locator(".pager")).to_contain_text(f"of {PAGE_SIZE} · page 1 of 1")
    expect(page.locator("#next-page")).to_be_hidden()

    page.set_input_files("#pick-file", files=[{"name": "one more.zip", "mimeType": "application/zip", "buffer": session_bundle(0.5, name="one more")}])
    expect(page.locator(".pager")).to_contain_text(f"of {PAGE_SIZE + 1} · page 1 of 2")
    expect(page.locator("#next-page")).to_be_visible()
    assert page.locator("#job-rows tr").count() == PAGE_SIZE
    page.click("#next-page")
    expect(page.locator(".pager")).to_contain_text("page 2 of 2")
    assert page.locator("#job-rows tr").count() == 1


def test_selected_jobs_are_cancelled_retried_and_reprioritised_with_each_outcome_shown(service, page, tmp_path):
    from playwright.sync_api import expect

    first, second, done = held_jobs(service.data_dir, [("bulk one", "local", 0), ("bulk two", "local", 0), ("bulk done", "local", 0)], {2: JobState.SUCCEEDED})
    page.goto(service.url + "/?q=bulk")
    page.wait_for_selector("#live.on")
    assert page.locator("#job-rows tr").count() == 3
    assert page.inner_text(f'tr[data-job-id="{first}"] [data-field=position]').isdigit(), "a queued job shows its place in the queue"
    expect(page.locator("button[data-bulk=cancel]")).to_be_disabled()

    page.check("#pick-all")
    expect(page.locator("#picked-count")).to_have_text("3 selected")
    page.click("button[data-bulk=cancel]")
    outcomes = page.locator("#bulk-outcomes li")
    expect(outcomes).to_have_count(3)
    expect(page.locator(f'#bulk-outcomes li.done[data-job-id="{first}"]')).to_have_text("bulk one: done")
    expect(page.locator(f'#bulk-outcomes li.refused[data-job-id="{done}"]')).to_contain_text("bulk done: the job has succeeded, so it cannot be cancelled")
    for job_id in (first, second):
        expect(page.locator(f'tr[data-job-id="{job_id}"] [data-field=state]')).to_have_text("cancelled")
        expect(page.locator(f'tr[data-job-id="{job_id}"] [data-field=position]')).to_have_text("—")
    page.screenshot(path=str(tmp_path / "bulk-cancel.png"), full_page=True)

    page.uncheck(f'tr[data-job-id="{done}"] [data-field=pick]')
    expect(page.locator("#picked-count")).to_have_text("2 selected")
    page.click("button[data-bulk=retry]")
    expect(page.locator("#bulk-outcomes li.done")).to_have_count(2)
    for job_id in (first, second):
        expect(page.locator(f'tr[data-job-id="{job_id}"] [data-field=state]')).to_have_text("queued")

    page.check(f'tr[data-job-id="{done}"] [data-field=pick]')
    page.fill("#bulk-priority", "7")
    page.click("button[data-bulk=priority]")
    expect(page.locator("#bulk-outcomes li")).to_have_count(3)
    expect(page.locator(f'#bulk-outcomes li.refused[data-job-id="{done}"]')).to_contain_text("its priority cannot change")
    for job_id in (first, second):
        expect(page.locator(f'tr[data-job-id="{job_id}"] [data-field=priority]')).to_have_text("7")
    expect(page.locator(f'tr[data-job-id="{done}"] [data-field=priority]')).to_have_text("0")


def drop_files(page, selector: str, files: dict[str, bytes]) -> None:
    """Drop ``files`` (name -> bytes) on ``selector`` as a browser drop of files from the desktop does."""
    encoded = {name: base64.b64encode(data).decode() for name, data in files.items()}
    page.eval_on_selector(
        selector,
        """(target, files) => {
            const transfer = new DataTransfer();
            for (const [name, data] of Object.entries(files)) {
                transfer.items.add(new File([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], name));
            }
            target.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }));
            target.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
        }""",
        encoded,
    )


def test_a_dropped_bundle_uploads_with_progress_and_its_job_renders(service, page):
    from playwright.sync_api import expect

    page.goto(service.url + "/")
    page.wait_for_selector("#live.on")
    expect(page.locator("#upload-progress")).to_be_hidden()
    drop_files(page, "#drop-zone", {"dropped.zip": session_bundle(1.0, name="dropped bundle")})
    expect(page.locator("#upload-text")).to_contain_text("queued dropped bundle", timeout=RENDER_TIMEOUT_MS)
    assert page.eval_on_selector("#upload-progress", "el => el.value") == 1
    job_id = page.get_attribute("#upload", "data-last-job")
    expect(page.locator(f'tr[data-job-id="{job_id}"]')).to_have_attribute("data-state", "succeeded", timeout=RENDER_TIMEOUT_MS)


def test_dropped_loose_session_files_are_zipped_in_the_browser(service, page):
    from playwright.sync_api import expect

    bundle = zipfile.ZipFile(io.BytesIO(session_bundle(1.0, name="loose files")))
    session = yaml.safe_load(bundle.read("session.yaml"))
    session["tracks"][0]["file"] = "tone.wav"
    page.goto(service.url + "/")
    page.wait_for_selector("#live.on")
    drop_files(page, "#drop-zone", {"session.yaml": yaml.safe_dump(session).encode(), "tone.wav": bundle.read("stems/tone.wav")})
    expect(page.locator("#upload-text")).to_contain_text("queued loose files", timeout=RENDER_TIMEOUT_MS)
    job_id = page.get_attribute("#upload", "data-last-job")
    expect(page.locator(f'tr[data-job-id="{job_id}"]')).to_have_attribute("data-state", "succeeded", timeout=RENDER_TIMEOUT_MS)


def test_a_picked_session_folder_is_zipped_in_the_browser_and_its_problems_shown_by_field(service, page, tmp_path):
    from playwright.sync_api import expect

    bundle = zipfile.ZipFile(io.BytesIO(session_bundle(1.0, name="picked folder")))
    folder = tmp_path / "picked folder"
    (folder / "stems").mkdir(parents=True)
    (folder / "stems" / "tone.wav").write_bytes(bundle.read("stems/tone.wav"))
    (folder / "session.yaml").write_bytes(bundle.read("session.yaml"))
    page.goto(service.url + "/")
    page.wait_for_selector("#live.on")
    page.set_input_files("#pick-folder", folder)
    expect(page.locator("#upload-text")).to_contain_text("queued picked folder", timeout=RENDER_TIMEOUT_MS)
    job_id = page.get_attribute("#upload", "data-last-job")
    expect(page.locator(f'tr[data-job-id="{job_id}"]')).to_have_attribute("data-state", "succeeded", timeout=RENDER_TIMEOUT_MS)

    session = yaml.safe_load(bundle.read("session.yaml"))
    session["tracks"][0]["gain_db"] = "loud"
    (folder / "session.yaml").write_text(yaml.safe_dump(session))
    page.set_input_files("#pick-folder", folder)
    expect(page.locator("#upload-text")).to_contain_text("picked folder.zip: invalid session")
    problems = page.locator("#upload-problems li")
    expect(problems.first).to_be_visible()
    shown = problems.all_inner_texts()
    assert len(shown) == 1 and shown[0].startswith("tracks[0].gain_db: must be a valid number"), shown
    page.screenshot(path=str(tmp_path / "upload-problems.png"), full_page=True)


def test_the_filter_form_sends_only_the_fields_filled_in(service, page):
    from playwright.sync_api import expect

    held_jobs(service.data_dir, [("form alpha", "local", 1), ("form beta", "local", 2), ("form gamma", "local", 3)], {2: JobState.CANCELLED})
    page.goto(service.url + "/")
    page.fill("form.filters input[name=q]", "form")
    page.select_option("form.filters select[name=state]", "queued")
    page.fill("form.filters input[name=priority_min]", "2")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/?q=form&state=queued&priority_min=2")
    expect(page.locator("#job-rows tr [data-field=name]")).to_have_text(["form beta"])
    page.select_option("form.filters select[name=sort]", "name")
    page.fill("form.filters input[name=priority_min]", "")
    page.select_option("form.filters select[name=state]", "")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/?q=form&sort=name")
    expect(page.locator("#job-rows tr [data-field=name]")).to_have_text(["form alpha", "form beta", "form gamma"])
