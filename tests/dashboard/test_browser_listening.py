"""Listening on the job page in a real (headless) Chromium against a real ``mixfarm serve``: a deliverable plays, A/B switches."""


import httpx
import pytest

from tests.helpers.browser import needs_chromium
from tests.helpers.service import (
    MASTERED,
    ServiceProcess,
    session_bundle,
    wait_for_state,
)

PLAY_TIMEOUT_MS = 60_000
PLAYED_PAST = "([selector, seconds]) => document.querySelector(selector).currentTime > seconds"
"""A condition on the page: the player ``selector`` has played past ``seconds``."""
OUTPUTS = {"outputs": [{"path": "master.wav", "bit_depth": 24}, {"path": "stems/{name}.wav", "stems": "tracks", "bit_depth": 24}]}

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    process = ServiceProcess(tmp_path_factory.mktemp("listening") / "data")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def job(service):
    """A mastered 8 s job with a master, one stem and the mix bus."""
    with httpx.Client(base_url=service.url, timeout=60) as client:
        created = client.post("/api/jobs", files={"bundle": ("b.zip", session_bundle(8.0, extra={**MASTERED, **OUTPUTS}))}, data={"name": "listening"})
        assert created.status_code == 201, created.text
        finished = wait_for_state(client, created.json()["id"], {"succeeded", "failed", "cancelled"}, 180)
    assert finished["state"] == "succeeded", finished["error"]
    return finished




@pytest.fixture
def page(browser, service, job):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.goto(f"{service.url}/jobs/{job['id']}")
    yield page
    context.close()
    assert problems == []


def test_a_deliverable_plays_in_its_player(page):
    player = 'audio.deliverable-player[data-path="master.wav"]'
    page.eval_on_selector(player, "audio => audio.play()")
    page.wait_for_function(PLAYED_PAST, arg=[player, 0.5], timeout=PLAY_TIMEOUT_MS)
    assert page.eval_on_selector(player, "audio => [audio.error, audio.paused, audio.duration]") == [None, False, 8.0]


def test_the_mix_bus_plays_in_its_player(page, job):
    player = f'audio.deliverable-player[data-path="{job["report"]["mix"]["path"]}"]'
    page.eval_on_selector(player, "audio => audio.play()")
    page.wait_for_function(PLAYED_PAST, arg=[player, 0.5], timeout=PLAY_TIMEOUT_MS)


def heard(page) -> dict:
    return page.evaluate(
        """() => {
            const section = document.getElementById('ab');
            const players = Array.from(section.querySelectorAll('audio[data-choice]'));
            return {
                heard: section.dataset.heard,
                audible: players.filter((player) => !player.muted).map((player) => player.dataset.choice),
                shown: players.filter((player) => !player.hidden).map((player) => player.dataset.choice),
                pressed: Array.from(section.querySelectorAll('button[aria-pressed=true]')).map((button) => button.dataset.choice),
                times: Object.fromEntries(players.map((player) => [player.dataset.choice, player.currentTime])),
                paused: Object.fromEntries(players.map((player) => [player.dataset.choice, player.paused])),
                routed: Object.fromEntries(players.map((player) => [player.dataset.choice, player.dataset.routed || null])),
            };
        }"""
    )


def test_ab_switches_between_master_mix_and_stem_where_it_is_without_stopping(page, job):
    report = job["report"]
    gain_db = round(report["output"]["integrated_lufs"] - report["input"]["integrated_lufs"], 2)
    assert gain_db > 0
    assert [button.inner_text() for button in page.locator("#ab button").all()] == ["Master (master.wav)", "Mix", "Stem tone"]
    assert float(page.get_attribute('#ab audio[data-choice="mix"]', "data-gain-db")) == gain_db
    assert page.inner_text('[data-gain-note="mix"]', timeout=1000) == (
        f"The mix plays {gain_db:+.1f} dB through a Web Audio gain, at the master's loudness ({report['output']['integrated_lufs']:.1f} LUFS)."
    )

    page.eval_on_selector('#ab audio[data-choice="master"]', "audio => audio.play()")
    page.wait_for_function(PLAYED_PAST, arg=["#ab audio[data-choice=master]", 0.5], timeout=PLAY_TIMEOUT_MS)
    page.wait_for_function("() => Array.from(document.querySelectorAll('#ab audio')).every((audio) => !audio.paused)", timeout=PLAY_TIMEOUT_MS)
    page.click('#ab button[data-choice="mix"]')
    state = heard(page)
    assert (state["heard"], state["audible"], state["shown"], state["pressed"]) == ("mix", ["mix"], ["mix"], ["mix"])
    assert state["routed"]["mix"] == "gain" and not state["paused"]["mix"]
    page.wait_for_function(PLAYED_PAST, arg=["#ab audio[data-choice=mix]", state["times"]["mix"] + 0.5], timeout=PLAY_TIMEOUT_MS)
    assert page.is_visible('[data-gain-note="mix"]') and not page.is_visible('[data-gain-note="master"]')

    page.eval_on_selector('#ab audio[data-choice="mix"]', "audio => audio.pause()")
    page.wait_for_function("() => Array.from(document.querySelectorAll('#ab audio')).every((audio) => audio.paused)", timeout=PLAY_TIMEOUT_MS)
    page.click('#ab button[data-choice="stem:tone"]')
    state = heard(page)
    assert (state["heard"], state["audible"], state["pressed"]) == ("stem:tone", ["stem:tone"], ["stem:tone"])
    assert state["times"]["stem:tone"] == state["times"]["mix"]
    assert state["routed"]["stem:tone"] is None


def test_the_waveform_has_a_lane_per_channel_under_the_ceiling_and_the_spectra_show_mix_and_master(page):
    lanes = page.locator("svg.waveform g.lane")
    assert [lanes.nth(index).get_attribute("data-channel") for index in range(lanes.count())] == ["L", "R"]
    assert [lanes.nth(index).get_attribute("data-over-columns") for index in range(2)] == ["0", "0"]
    assert page.locator("svg.waveform line.ceiling").count() == 4
    assert "ceiling -1.0 dBTP" in page.inner_text("section.plots")
    spectra = page.locator("svg.spectrum path[data-spectrum]")
    assert [spectra.nth(index).get_attribute("data-spectrum") for index in range(spectra.count())] == ["master", "mix"]
    assert all(spectra.nth(index).get_attribute("d").startswith("M") for index in range(2))


def test_the_report_links_and_the_badges_against_the_target_and_the_platforms(page, job, tmp_path):
    assert page.get_attribute("a.download-all", "href") == f"/api/jobs/{job['id']}/archive"
    assert page.get_attribute("a.report-json", "href") == f"/api/jobs/{job['id']}/report"
    row = 'table.badges tr[data-path="master.wav"]'
    assert page.inner_text(f'{row} [data-platform="target"]').startswith("pass")
    assert page.inner_text(f'{row} [data-platform="spotify"]').startswith("pass")
    assert page.inner_text(f'{row} [data-platform="ebu_r128"]').startswith("fail")
    assert "LU above -23 LUFS (±0.5 LU)" in page.get_attribute(f'{row} [data-platform="ebu_r128"]', "title")
    assert page.locator('table.badges tr[data-path="stems/tone.wav"] [data-platform="target"]').count() == 0
    page.screenshot(path=str(tmp_path / "listening.png"), full_page=True)
