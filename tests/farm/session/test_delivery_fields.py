"""Metadata and lossy outputs in the session: identifiers checked by their standards, encodings by what each format takes."""

import pytest

from farm.errors import SessionError
from farm.session import load
from farm.session.metadata import gtin_check_digit, normalise_isrc, normalise_upc
from tests.helpers.sessions import RATE, tone, write_session, write_stem


@pytest.fixture
def stem(tmp_path):
    return write_stem(tmp_path, "tone.wav", tone(440.0, 1.0))


def problems_of(path):
    with pytest.raises(SessionError) as caught:
        load(path)
    return caught.value.problems


def session_with(tmp_path, stem, **fields):
    return write_session(tmp_path, {"tracks": [{"name": "t", "file": stem}], **fields})


def test_metadata_loads_with_its_identifiers_normalised(tmp_path, stem):
    metadata = {"title": "Café Nights", "artist": "The Synths", "isrc": "gb-aye-26-00001", "upc": "0 12345 67890 5", "date": "2026-11-30", "year": 2026}
    loaded = load(session_with(tmp_path, stem, metadata=metadata))
    assert loaded.session.metadata.isrc == "GBAYE2600001"
    assert loaded.session.metadata.upc == "012345678905"
    assert loaded.session.metadata.release_year == 2026


@pytest.mark.parametrize("isrc", ["GBAYE260001", "GBAYE26000012", "G1AYE2600001", "GBAYE2X00001", "GB_AYE2600001"])
def test_a_malformed_isrc_is_refused_with_the_rule(tmp_path, stem, isrc):
    (problem,) = problems_of(session_with(tmp_path, stem, metadata={"isrc": isrc}))
    assert problem.startswith("metadata.isrc: ")
    assert "an ISRC is 12 characters, CC-XXX-YY-NNNNN" in problem and repr(isrc) in problem


def test_a_barcode_with_a_wrong_check_digit_names_the_right_one(tmp_path, stem):
    (problem,) = problems_of(session_with(tmp_path, stem, metadata={"upc": "012345678901"}))
    assert problem == "metadata.upc: the check digit of 012345678901 is wrong: its last digit should be 5, got 1"


def test_a_barcode_must_have_12_or_13_digits(tmp_path, stem):
    (problem,) = problems_of(session_with(tmp_path, stem, metadata={"upc": "12345"}))
    assert problem == "metadata.upc: a UPC has 12 digits (UPC-A) or 13 (EAN-13); got '12345'"


@pytest.mark.parametrize("code", ["4006381333931", "036000291452", "9780306406157"])
def test_published_barcodes_pass_their_check(code):
    assert normalise_upc(code) == code
    assert gtin_check_digit(code[:-1]) == int(code[-1])


def test_isrc_normalisation_keeps_a_valid_code():
    assert normalise_isrc("USRC17607839") == "USRC17607839"


def test_year_and_date_must_agree(tmp_path, stem):
    (problem,) = problems_of(session_with(tmp_path, stem, metadata={"year": 2025, "date": "2026-01-02"}))
    assert problem == "metadata: year 2025 and date 2026-01-02 disagree"


def test_metadata_fields_are_bounded_and_known(tmp_path, stem):
    found = problems_of(session_with(tmp_path, stem, metadata={"title": "x" * 300, "mood": "dark"}))
    assert found == ["metadata.title: must be at most 256 characters long, got 300", "metadata.mood: unknown field"]


def test_a_lossy_output_takes_a_bitrate_not_a_bit_depth(tmp_path, stem):
    outputs = [
        {"path": "a.mp3", "format": "mp3", "bit_depth": 16},
        {"path": "b.opus", "format": "opus", "dither": "shaped"},
        {"path": "c.wav", "bitrate_kbps": 320},
    ]
    assert problems_of(session_with(tmp_path, stem, outputs=outputs)) == [
        "outputs[0].bit_depth: applies to wav, aiff and flac only; mp3 is lossy (set bitrate_kbps instead)",
        "outputs[1].dither: applies to wav, aiff and flac only; opus is lossy (set bitrate_kbps instead)",
        "outputs[2].bitrate_kbps: only mp3, opus and aac have a bitrate; wav is lossless (set bit_depth instead)",
    ]


def test_each_lossy_format_states_the_bitrates_and_rates_it_takes(tmp_path, stem):
    outputs = [
        {"path": "a.mp3", "format": "mp3", "bitrate_kbps": 300},
        {"path": "b.opus", "format": "opus", "bitrate_kbps": 600},
        {"path": "c.opus", "format": "opus", "sample_rate": 44100},
        {"path": "d.m4a", "format": "aac", "bitrate_kbps": 16, "sample_rate": 22050},
    ]
    assert problems_of(session_with(tmp_path, stem, outputs=outputs)) == [
        "outputs[0].bitrate_kbps: mp3 takes one of 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, got 300",
        "outputs[1].bitrate_kbps: opus takes 12 to 512, got 600",
        "outputs[2].sample_rate: opus is written at 48000 Hz, got 44100",
        "outputs[3].bitrate_kbps: aac takes 32 to 512, got 16",
        "outputs[3].sample_rate: aac is written at 32000, 44100, 48000, 88200, 96000 Hz, got 22050",
    ]


def test_aac_without_ffmpeg_is_refused_before_rendering(tmp_path, stem, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    (problem,) = problems_of(session_with(tmp_path, stem, outputs=[{"path": "m.m4a", "format": "aac"}]))
    assert problem == "outputs[0].format: aac is encoded by ffmpeg, which is not installed here (on Debian: apt install ffmpeg)"


def test_lossy_outputs_with_their_defaults_load(tmp_path, stem):
    outputs = [{"path": "a.mp3", "format": "mp3"}, {"path": "b.opus", "format": "opus", "bitrate_kbps": 96}, {"path": "c.m4a", "format": "aac"}]
    loaded = load(session_with(tmp_path, stem, outputs=outputs))
    assert [output.lossy for output in loaded.session.outputs] == [True, True, True]
    assert loaded.sample_rate == RATE
