"""The job page of an album with reference matching: its songs, its sequence and its matching curves, from a real service."""

import re

import httpx
import numpy as np
import pytest
import soundfile
import yaml

from dashboard.mastering import match_chart, sequence_chart
from farm.queue.bundle import pack_bundle
from tests.farm.album.test_album import music, write_album
from tests.helpers.service import ServiceProcess, wait_for_state
from tests.helpers.sessions import RATE


@pytest.fixture(scope="module")
def album_job(tmp_path_factory):
    folder = tmp_path_factory.mktemp("album-page")
    path = write_album(folder)
    album = yaml.safe_load(path.read_text())
    (folder / "refs").mkdir()
    soundfile.write(folder / "refs" / "reference.wav", music(6.0, 0.8, 330.0, 9), RATE, subtype="FLOAT")
    album["master"]["match"] = {"reference": "refs/reference.wav", "amount": 0.7}
    path.write_text(yaml.safe_dump(album, sort_keys=False))
    service = ServiceProcess(folder / "data")
    try:
        with httpx.Client(base_url=service.url, timeout=60) as client:
            created = client.post("/api/jobs", files={"bundle": ("album.zip", pack_bundle(path))}, data={"name": "night drives"})
            assert created.status_code == 201, created.text
            job = wait_for_state(client, created.json()["id"], {"succeeded", "failed"}, timeout_s=300)
            assert job["state"] == "succeeded", job
            page = client.get(f"/jobs/{job['id']}")
        yield job, page
    finally:
        service.stop()


def test_the_album_job_page_lists_every_song_with_its_loudness(album_job):
    job, page = album_job
    assert page.status_code == 200
    songs = job["report"]["songs"]
    assert [song["title"] for song in songs] == ["Midnight Drive", "Second Song", "Third/Song"]
    for song in songs:
        assert f"{song['integrated_lufs']:.2f} LUFS" in page.text and f"{song['true_peak_dbtp']:.2f} dBTP" in page.text
    bars = re.findall(r'<g class="song"><title>([^<]+)</title>\s*<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)"', page.text)
    assert [title.split(":")[0] for title, *_ in bars] == ["1. Midnight Drive", "2. Second Song", "3. Third/Song"]
    second, third = [(float(x), float(width)) for _, x, _, width in bars[1:]]
    assert third[0] < second[0] + second[1], "the crossfade shows as an overlap"


def test_the_job_page_plots_each_songs_matching_curve(album_job):
    job, page = album_job
    paths = re.findall(r'<path class="(mid|side)" d="(M[^"]+)"><title>([^<]+)</title>', page.text)
    assert [(kind, title) for kind, _, title in paths] == [
        (kind, f"{song['index']}. {song['title']}: {kind}") for song in job["report"]["songs"] for kind in ("mid", "side")
    ]
    assert job["report"]["songs"][0]["match"]["amount"] == 0.7


def test_match_chart_spans_the_curve_and_places_frequencies_on_a_log_axis():
    curve = {"frequencies_hz": [20.0, 200.0, 2000.0, 20000.0], "mid_db": [-4.0, 0.0, 2.0, 6.5], "side_db": [0.0, 0.0, 0.0, 0.0]}
    chart = match_chart({"master": curve}, width=300, height=140)
    (line,) = chart["lines"]
    xs = [float(point.split(",")[0]) for point in re.findall(r"[ML]([\d.]+,[\d.]+)", line["mid"])]
    np.testing.assert_allclose(xs, [0.0, 100.0, 200.0, 300.0])
    assert chart["grid"][0]["label"] == "+9" and chart["grid"][-1]["label"] == "-9" and chart["zero_y"] == 70.0


def test_sequence_chart_alternates_lanes_and_scales_to_the_album():
    songs = [{"index": 1, "title": "a", "start_s": 0.0, "duration_s": 10.0}, {"index": 2, "title": "b", "start_s": 8.0, "duration_s": 12.0}]
    chart = sequence_chart(songs, 20.0, width=200)
    assert [(bar["x"], bar["y"], bar["width"]) for bar in chart["bars"]] == [(0.0, 0, 100.0), (80.0, 28, 120.0)]


def test_an_album_page_leaves_out_what_only_a_session_has(album_job):
    _, page = album_job
    assert "<h2>Loudness</h2>" not in page.text and "Chunks" not in page.text
    assert "realtime" in page.text.split('class="render-facts"')[1]
