"""Broadcast Wave chunks: read back by an independent reader (wavinfo), the samples untouched."""

import numpy as np
import pytest
import soundfile
import wavinfo

from dsp.bwf import LOUDNESS_NOT_SET, BroadcastExtension, add_wav_metadata
from dsp.errors import AudioFileError


@pytest.fixture
def wav(tmp_path):
    path = tmp_path / "m.wav"
    audio = np.random.default_rng(2).uniform(-0.5, 0.5, (4801, 2))
    soundfile.write(path, audio, 48000, subtype="PCM_24")
    return path


def data_chunk(path) -> bytes:
    raw = path.read_bytes()
    at = raw.index(b"data")
    size = int.from_bytes(raw[at + 4 : at + 8], "little")
    return raw[at + 8 : at + 8 + size]


def test_bext_and_info_read_back_and_the_samples_stay(wav):
    samples_before, data_before = soundfile.read(wav)[0], data_chunk(wav)
    bext = BroadcastExtension(
        description="Midnight Drive - The Synths\r\nISRC:GBAYE2600001",
        originator="The Synths",
        origination_date="2026-11-30",
        loudness_value_lufs=-14.013,
        loudness_range_lu=5.46,
        max_true_peak_dbtp=-1.004,
        max_momentary_lufs=-9.87,
        max_short_term_lufs=-11.2,
        coding_history=("A=PCM,F=48000,W=24,M=stereo,T=mixfarm",),
    )
    add_wav_metadata(wav, bext, {b"INAM": "Midnight Drive", b"IART": "Thé Synths", b"ISFT": "mixfarm"})
    info = wavinfo.WavInfoReader(str(wav), info_encoding="utf-8")
    assert info.bext.description == "Midnight Drive - The Synths\r\nISRC:GBAYE2600001"
    assert info.bext.originator == "The Synths"
    assert info.bext.originator_date == "2026-11-30"
    assert info.bext.version == 2
    assert (info.bext.loudness_value, info.bext.loudness_range, info.bext.max_true_peak) == (-14.01, 5.46, -1.0)
    assert (info.bext.max_momentary_loudness, info.bext.max_shortterm_loudness) == (-9.87, -11.2)
    assert info.bext.coding_history == "A=PCM,F=48000,W=24,M=stereo,T=mixfarm\r\n"
    assert (info.info.title, info.info.artist, info.info.software) == ("Midnight Drive", "Thé Synths", "mixfarm")
    assert data_chunk(wav) == data_before
    np.testing.assert_array_equal(soundfile.read(wav)[0], samples_before)
    assert wav.stat().st_size % 2 == 0 and int.from_bytes(wav.read_bytes()[4:8], "little") == wav.stat().st_size - 8


def test_adding_again_replaces_the_chunks(wav):
    add_wav_metadata(wav, BroadcastExtension(description="first"), {b"INAM": "first"})
    add_wav_metadata(wav, BroadcastExtension(description="second"), {b"INAM": "second"})
    raw = wav.read_bytes()
    assert raw.count(b"bext") == 1 and raw.count(b"INFO") == 1
    assert wavinfo.WavInfoReader(str(wav)).bext.description == "second"


def test_text_is_folded_to_ascii_and_cut_to_its_field(wav):
    add_wav_metadata(wav, BroadcastExtension(description="Café " + "x" * 300, originator="Ünïcode Örchestra and a very long name"), {})
    bext = wavinfo.WavInfoReader(str(wav)).bext
    assert bext.description == ("Cafe " + "x" * 300)[:256]
    assert bext.originator == "Unicode Orchestra and a very lon"


def test_loudness_that_does_not_exist_is_marked_not_set(wav):
    add_wav_metadata(wav, BroadcastExtension(loudness_value_lufs=float("-inf"), max_true_peak_dbtp=None), {})
    bext = wavinfo.WavInfoReader(str(wav)).bext
    assert bext.loudness_value == LOUDNESS_NOT_SET / 100 and bext.max_true_peak == LOUDNESS_NOT_SET / 100


def test_a_file_that_is_not_wav_is_named(tmp_path):
    path = tmp_path / "x.wav"
    path.write_bytes(b"FORM\0\0\0\4AIFF")
    with pytest.raises(AudioFileError, match=r"x\.wav: not a RIFF WAVE file"):
        add_wav_metadata(path, BroadcastExtension(), {})
