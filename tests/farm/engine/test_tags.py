"""The session's metadata in every deliverable, read back by independent readers: mutagen for tags, wavinfo for Broadcast Wave."""

import numpy as np
import pytest
import soundfile
import wavinfo
from mutagen.aiff import AIFF
from mutagen.flac import FLAC
from mutagen.id3 import ID3
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus

from farm.engine.executor import LocalExecutor
from farm.engine.render import render
from tests.helpers.sessions import RATE, tone, write_session, write_stem

METADATA = {
    "title": "Café de Nuit",
    "artist": "The Synths",
    "album": "Night Drives",
    "album_artist": "Various Synths",
    "composer": "A. Writer",
    "genre": "Synthwave",
    "date": "2026-11-30",
    "isrc": "GB-AYE-26-00001",
    "upc": "012345678905",
    "copyright": "2026 The Synths",
    "publisher": "Night Label",
    "comment": "mastered for streaming",
}
ISRC = "GBAYE2600001"
HUNDREDTH = 0.005 + 1e-9
"""bext holds loudness in hundredths: within half of one of what the report says."""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tags")
    rng = np.random.default_rng(8)
    audio = tone(330.0, 4.0, 0.3, channels=2) + 0.05 * rng.standard_normal((4 * RATE, 2))
    session = write_session(
        folder,
        {
            "tracks": [{"name": "keys", "file": write_stem(folder, "keys.wav", audio)}],
            "master": {"loudness": {"preset": "spotify"}},
            "metadata": METADATA,
            "outputs": [
                {"path": "m.wav", "bit_depth": 24},
                {"path": "m16.wav", "bit_depth": 16, "sample_rate": 44100},
                {"path": "m.flac", "format": "flac"},
                {"path": "m.aiff", "format": "aiff"},
                {"path": "m.mp3", "format": "mp3"},
                {"path": "m.opus", "format": "opus"},
                {"path": "m.m4a", "format": "aac"},
                {"path": "stems/{name}.flac", "format": "flac", "stems": "tracks"},
            ],
        },
    )
    report = render(session, folder / "out", chunk_s=2.0, executor=LocalExecutor())
    return folder / "out", {item["path"]: item for item in report["deliverables"]}


def test_wav_carries_bext_with_the_measured_loudness_and_an_info_list(rendered):
    out, facts = rendered
    for path, bits in (("m.wav", 24), ("m16.wav", 16)):
        info = wavinfo.WavInfoReader(str(out / path), info_encoding="utf-8")
        loudness = facts[path]["loudness"]
        assert info.bext.loudness_value == pytest.approx(loudness["integrated_lufs"], abs=HUNDREDTH)
        assert info.bext.loudness_range == pytest.approx(loudness["loudness_range_lu"], abs=HUNDREDTH)
        assert info.bext.max_true_peak == pytest.approx(loudness["true_peak_dbtp"], abs=HUNDREDTH)
        assert info.bext.max_momentary_loudness == pytest.approx(loudness["momentary_max_lufs"], abs=HUNDREDTH)
        assert info.bext.max_shortterm_loudness == pytest.approx(loudness["short_term_max_lufs"], abs=HUNDREDTH)
        assert info.bext.description == f"Cafe de Nuit - The Synths\r\nISRC:{ISRC}"
        assert (info.bext.originator, info.bext.originator_date, info.bext.version) == ("Night Label", "2026-11-30", 2)
        assert info.bext.coding_history == f"A=PCM,F={facts[path]['sample_rate']},W={bits},M=stereo,T=mixfarm\r\n"
        assert (info.info.title, info.info.artist, info.info.genre) == ("Café de Nuit", "The Synths", "Synthwave")
        assert (info.info.copyright, info.info.comment, info.info.created_date) == ("2026 The Synths", "mastered for streaming", "2026-11-30")
        assert soundfile.info(out / path).frames == facts[path]["frames"]


@pytest.mark.parametrize(("path", "reader"), [("m.flac", FLAC), ("m.opus", OggOpus)])
def test_flac_and_opus_carry_vorbis_comments(rendered, path, reader):
    out, _ = rendered
    tags = reader(out / path).tags
    expected = {
        "TITLE": "Café de Nuit",
        "ARTIST": "The Synths",
        "ALBUM": "Night Drives",
        "ALBUMARTIST": "Various Synths",
        "COMPOSER": "A. Writer",
        "GENRE": "Synthwave",
        "DATE": "2026-11-30",
        "ISRC": ISRC,
        "BARCODE": "012345678905",
        "COPYRIGHT": "2026 The Synths",
        "LABEL": "Night Label",
        "COMMENT": "mastered for streaming",
    }
    assert {key: tags[key] for key in expected} == {key: [value] for key, value in expected.items()}


@pytest.mark.parametrize("path", ["m.mp3", "m.aiff"])
def test_mp3_and_aiff_carry_id3_with_the_isrc_as_tsrc(rendered, path):
    out, _ = rendered
    frames = ID3(out / path) if path.endswith(".mp3") else AIFF(out / path).tags
    assert frames.version[:2] == (2, 3)
    assert str(frames["TSRC"]) == ISRC
    assert (str(frames["TIT2"]), str(frames["TPE1"]), str(frames["TALB"]), str(frames["TPE2"])) == ("Café de Nuit", "The Synths", "Night Drives", "Various Synths")
    assert (str(frames["TCOM"]), str(frames["TCON"]), str(frames["TCOP"]), str(frames["TPUB"])) == ("A. Writer", "Synthwave", "2026 The Synths", "Night Label")
    assert str(frames["TXXX:BARCODE"]) == "012345678905"
    assert str(frames.getall("COMM")[0]) == "mastered for streaming"
    assert str(frames["TDRC"]) == "2026-11-30"


def test_aac_carries_itunes_atoms(rendered):
    out, _ = rendered
    tags = MP4(out / "m.m4a").tags
    assert (tags["\xa9nam"], tags["\xa9ART"], tags["\xa9alb"], tags["aART"]) == (["Café de Nuit"], ["The Synths"], ["Night Drives"], ["Various Synths"])
    assert (tags["\xa9day"], tags["cprt"], tags["\xa9cmt"]) == (["2026-11-30"], ["2026 The Synths"], ["mastered for streaming"])
    assert bytes(tags["----:com.apple.iTunes:ISRC"][0]) == ISRC.encode()
    assert bytes(tags["----:com.apple.iTunes:BARCODE"][0]) == b"012345678905"


def test_a_stem_is_titled_after_its_strip_without_the_songs_identifiers(rendered):
    out, _ = rendered
    tags = FLAC(out / "stems" / "keys.flac").tags
    assert tags["TITLE"] == ["Café de Nuit - keys"] and tags["ARTIST"] == ["The Synths"]
    assert "ISRC" not in tags and "BARCODE" not in tags


def test_tagged_files_still_read_as_audio(rendered):
    out, facts = rendered
    for path in ("m.flac", "m.aiff", "m.wav"):
        audio, rate = soundfile.read(out / path)
        assert audio.shape == (facts[path]["frames"], 2) and rate == facts[path]["sample_rate"]
