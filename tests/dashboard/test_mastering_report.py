"""The mastering report's parts that need no service: the per-channel waveform with its overs, the spectra, the badges, the A/B choices, byte ranges."""

import numpy as np
import pytest
import soundfile

from dashboard import analysis, listening, platforms
from dashboard.downloads import MalformedRange, UnsatisfiableRange, requested_span
from farm.storage import Location

RATE = 48000


def write(path, audio):
    soundfile.write(path, audio, RATE, subtype="FLOAT")
    return Location.of(path)


def test_the_waveform_has_a_lane_per_channel_and_marks_where_true_peaks_go_over_the_ceiling(tmp_path):
    t = np.arange(2 * RATE) / RATE
    quiet = 0.2 * np.sin(2 * np.pi * 100 * t)
    loud = np.where(t >= 1.0, 0.98 * np.sin(2 * np.pi * 1000 * t), quiet)
    facts = analysis.analyse_file(write(tmp_path / "a.wav", np.stack([quiet, loud], axis=1)), columns=100)
    chart = analysis.waveform_chart(facts, ceiling_dbtp=-1.0)
    left, right = chart["lanes"]
    assert (left["name"], right["name"]) == ("L", "R")
    assert left["overs"] == [] and left["over_columns"] == 0
    assert right["over_columns"] == 50 and len(right["overs"]) == 1 and right["overs"][0]["x"] == 400.0
    assert right["top"] > left["bottom"]
    level = 10 ** (-1 / 20)
    assert left["ceiling_y"] == (round(50 * (1 - level), 2), round(50 * (1 + level), 2))
    assert analysis.waveform_chart(facts, ceiling_dbtp=None)["lanes"][1]["overs"] == []


def test_the_spectrum_chart_draws_the_spectra_there_are(tmp_path):
    rng = np.random.default_rng(1)
    noise = rng.standard_normal((3 * RATE, 2)) * 0.1
    master = analysis.analyse_file(write(tmp_path / "m.wav", noise))["spectrum"]
    mix = analysis.spectrum_of(write(tmp_path / "x.wav", noise[:, :1] * 0.5))
    assert len(master["centres_hz"]) == len(master["mid_db"]) == len(mix["mid_db"])
    chart = analysis.spectrum_chart({"master": master, "mix": mix, "reference": None})
    assert [line["name"] for line in chart["lines"]] == ["master", "mix"]
    assert all(line["path"].startswith("M0.0,") for line in chart["lines"])
    assert analysis.spectrum_chart({"master": None}) is None
    assert analysis.spectrum_of(write(tmp_path / "silent.wav", np.zeros((RATE, 2)))) is None


def test_a_deliverable_passes_or_fails_each_target_saying_why():
    deliverable = {"path": "master.wav", "loudness": {"integrated_lufs": -14.02, "true_peak_dbtp": -1.3}}
    badges = {badge["key"]: badge for badge in platforms.badges(deliverable, {"integrated_lufs": -14.0, "true_peak_dbtp": -1.0})}
    assert list(badges)[0] == "target" and len(badges) == 1 + len(platforms.PLATFORMS)
    assert badges["target"]["passed"] and badges["spotify"]["passed"] and badges["youtube"]["passed"]
    assert not badges["amazon_music"]["passed"] and badges["amazon_music"]["reasons"] == ["true peak -1.30 dBTP is over -2 dBTP"]
    assert badges["ebu_r128"]["reasons"] == ["-14.0 LUFS is 9.0 LU above -23 LUFS (±0.5 LU)"]
    assert badges["apple_music"]["offset_lu"] == pytest.approx(1.98) and badges["apple_music"]["offset_text"] == "+2.0 LU"
    assert badges["spotify"]["offset_text"] == "+0.0 LU"
    assert "Spotify for Artists" in badges["spotify"]["title"]
    stem = {**deliverable, "stem": "drums"}
    assert "target" not in {badge["key"] for badge in platforms.badges(stem, {"integrated_lufs": -14.0, "true_peak_dbtp": -1.0})}
    silent = platforms.check({"integrated_lufs": None, "true_peak_dbtp": None}, -14.0, 1.0, -1.0)
    assert silent == {"passed": False, "offset_lu": None, "reasons": ["silent"]}


def test_ab_offers_the_master_the_mix_at_its_loudness_and_the_stems_a_browser_plays():
    report = {
        "input": {"integrated_lufs": -22.5},
        "output": {"integrated_lufs": -14.0},
        "deliverables": [
            {"path": "master.aiff", "format": "aiff"},
            {"path": "master.flac", "format": "flac"},
            {"path": "stems/bass.wav", "format": "wav", "stem": "bass"},
        ],
    }
    urls = {"master.aiff": "/a", "master.flac": "/f", "stems/bass.wav": "/b"}
    choices = listening.ab_choices(report, urls, "/mix")
    assert [(choice["key"], choice["url"], choice["gain_db"]) for choice in choices] == [("master", "/f", 0.0), ("mix", "/mix", 8.5), ("stem:bass", "/b", 0.0)]
    assert choices[1]["note"] == "The mix plays +8.5 dB through a Web Audio gain, at the master's loudness (-14.0 LUFS)."
    louder_mix = {**report, "input": {"integrated_lufs": -12.0}}
    assert "-2.0 dB through the audio element's volume" in listening.ab_choices(louder_mix, urls, "/mix")[1]["note"]
    assert listening.ab_choices({**report, "deliverables": report["deliverables"][:2]}, urls, None) == []
    stems = [{"path": f"stems/{index}.{kind}", "format": kind, "stem": f"s{index}"} for index in range(12) for kind in ("wav", "mp3")]
    many = listening.ab_choices({**report, "deliverables": stems}, {item["path"]: item["path"] for item in stems}, "/mix")
    assert [choice["url"] for choice in many] == ["/mix"] + [f"stems/{index}.wav" for index in range(listening.MAX_AB_STEMS)]


@pytest.mark.parametrize(
    ("header", "span"),
    [(None, None), ("bytes=0-0", (0, 1)), ("bytes=10-", (10, 100)), ("bytes=-30", (70, 100)), ("bytes=-500", (0, 100)), ("bytes=90-500", (90, 100)), ("bytes=0-1,5-9", None)],
)
def test_a_range_header_names_a_span_of_the_file(header, span):
    assert requested_span(header, 100) == span


@pytest.mark.parametrize(("header", "error"), [("bytes=100-", UnsatisfiableRange), ("bytes=-0", UnsatisfiableRange), ("bytes=5-1", MalformedRange), ("lines=1-2", MalformedRange), ("bytes=x-", MalformedRange)])
def test_a_range_header_that_names_no_span_is_refused(header, error):
    with pytest.raises(error):
        requested_span(header, 100)
