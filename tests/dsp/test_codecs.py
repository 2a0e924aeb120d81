"""Lossy encoding: each format at its bitrate, decoded back in line with what went in, the same bytes every time."""

import subprocess

import numpy as np
import pytest

from dsp.codecs import (
    DEFAULT_BITRATE_KBPS,
    LOSSY_FORMATS,
    check_bitrate,
    check_sample_rate,
    decoded_blocks,
    default_sample_rate,
    open_lossy,
)
from dsp.errors import AudioFileError, ParameterError

RATE = 48000
SECONDS = 6.0


def music(seconds: float = SECONDS, rate: int = RATE) -> np.ndarray:
    """Two detuned, decaying chords and some noise: content a codec must work at."""
    rng = np.random.default_rng(1)
    t = np.arange(int(seconds * rate)) / rate
    envelope = np.exp(-3.0 * (t % 0.5))
    left = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) * envelope * 0.2
    right = sum(np.sin(2 * np.pi * f * t) for f in (221.0, 278.0, 331.0)) * envelope * 0.2
    return np.stack([left, right], axis=1) + 0.01 * rng.standard_normal((t.size, 2))


def encode(path, format, audio, bitrate_kbps, serial=7, block=4800):
    with open_lossy(path, format, RATE, bitrate_kbps, serial) as handle:
        for start in range(0, audio.shape[0], block):
            handle.write(audio[start : start + block])


def decode(path, format):
    rate, blocks = decoded_blocks(path, format)
    return rate, np.concatenate(list(blocks))


@pytest.mark.parametrize("format", LOSSY_FORMATS)
def test_each_format_decodes_in_line_with_what_was_encoded(tmp_path, format):
    audio = music()
    path = tmp_path / f"x.{format}"
    encode(path, format, audio, DEFAULT_BITRATE_KBPS[format])
    rate, decoded = decode(path, format)
    assert rate == RATE
    assert audio.shape[0] <= decoded.shape[0] <= audio.shape[0] + 2048, "the decoder's priming delay was not removed"
    frames = audio.shape[0]
    error = decoded[:frames] - audio
    snr_db = 10 * np.log10(np.sum(audio**2) / np.sum(error**2))
    assert snr_db > 20.0, f"{format}: {snr_db:.1f} dB signal to coding error; the decoded file is not aligned with the input"


@pytest.mark.parametrize(("format", "bitrate_kbps", "tolerance"), [("mp3", 320, 0.03), ("mp3", 128, 0.03), ("aac", 256, 0.1), ("opus", 160, 0.25), ("opus", 64, 0.25)])
def test_files_come_out_at_their_bitrate(tmp_path, format, bitrate_kbps, tolerance):
    path = tmp_path / f"x.{format}"
    encode(path, format, music(), bitrate_kbps)
    measured_kbps = path.stat().st_size * 8 / SECONDS / 1000
    assert measured_kbps == pytest.approx(bitrate_kbps, rel=tolerance)


@pytest.mark.parametrize("format", LOSSY_FORMATS)
def test_the_same_samples_make_the_same_bytes(tmp_path, format):
    audio = music(2.0)
    encode(tmp_path / "a", format, audio, DEFAULT_BITRATE_KBPS[format], serial=99)
    encode(tmp_path / "b", format, audio, DEFAULT_BITRATE_KBPS[format], serial=99, block=1000)
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_an_opus_file_carries_the_serial_it_was_given(tmp_path):
    from mutagen.ogg import OggPage

    encode(tmp_path / "x.opus", "opus", music(1.0), 160, serial=0xDEADBEEF)
    with open(tmp_path / "x.opus", "rb") as handle:
        assert OggPage(handle).serial == 0xDEADBEEF


def test_ffmpeg_decodes_the_opus_and_mp3_files_too(tmp_path):
    audio = music(2.0)
    for format in ("mp3", "opus"):
        path = tmp_path / f"x.{format}"
        encode(path, format, audio, DEFAULT_BITRATE_KBPS[format])
        result = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "2", "pipe:1"], capture_output=True, check=True)
        assert result.stdout and not result.stderr, result.stderr


def test_rules_for_bitrates_and_rates():
    assert check_bitrate("mp3", 192) == 192
    with pytest.raises(ParameterError, match=r"bitrate_kbps: mp3 takes one of 32, .*, 320, got 100"):
        check_bitrate("mp3", 100)
    with pytest.raises(ParameterError, match="bitrate_kbps: opus takes 12 to 512, got 8"):
        check_bitrate("opus", 8)
    with pytest.raises(ParameterError, match="sample_rate: mp3 is written at 32000, 44100, 48000 Hz, got 96000"):
        check_sample_rate("mp3", 96000)
    assert [default_sample_rate(format, 44100) for format in LOSSY_FORMATS] == [44100, 48000, 44100]
    assert default_sample_rate("mp3", 96000) == 48000


def test_aac_without_ffmpeg_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(AudioFileError, match=r"x\.m4a: writing aac needs ffmpeg, which is not installed \(on Debian: apt install ffmpeg\)"):
        encode(tmp_path / "x.m4a", "aac", music(0.5), 256)


def test_an_unreadable_file_is_named(tmp_path):
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"not audio at all" * 10)
    with pytest.raises(AudioFileError, match="junk.mp3"):
        decode(junk, "mp3")
    with pytest.raises(AudioFileError, match="junk.m4a"):
        decode(junk.rename(tmp_path / "junk.m4a"), "aac")
