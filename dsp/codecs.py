"""Lossy files: MP3, Opus and AAC, encoded at a bitrate and decoded again to be measured.

MP3 (LAME) and Opus (libopus, in Ogg) are encoded and decoded by libsndfile
through soundfile. AAC (in an MP4 file, ``.m4a``) is encoded and decoded by
ffmpeg's native AAC encoder, which must be on ``PATH`` (Debian's ``ffmpeg``);
without it an AAC file fails with an error that says so.

Encoding changes a signal's peaks (the codec drops and smears content), so
a lossy file is measured on what a player decodes from it
(:func:`decoded_blocks`), never on the samples given to the encoder.

Every file's bytes depend only on the samples and settings: libsndfile gives
each Ogg stream a random serial number, which is replaced by one the caller
chooses; ffmpeg runs in its bit-exact mode, without its version or a date.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile
from mutagen.mp4 import MP4, MP4StreamInfoError
from mutagen.ogg import OggPage

from .errors import AudioFileError, ParameterError

LOSSY_FORMATS = ("mp3", "opus", "aac")

MP3_BITRATES_KBPS = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
"""The bitrates of MPEG-1 Layer III (ISO/IEC 11172-3) at 32, 44.1 and 48 kHz, in kbit/s."""
OPUS_BITRATE_RANGE_KBPS = (12, 512)
"""Stereo Opus bitrates that libsndfile sets, in kbit/s (6 to 256 per channel); Opus itself varies around it (VBR)."""
AAC_BITRATE_RANGE_KBPS = (32, 512)
"""AAC-LC bitrates for stereo, in kbit/s."""
DEFAULT_BITRATE_KBPS = {"mp3": 320, "opus": 160, "aac": 256}
"""Each format's bitrate when an output names none: the highest MP3 rate, transparent Opus, iTunes Plus AAC."""
SAMPLE_RATES_HZ = {"mp3": (32000, 44100, 48000), "opus": (48000,), "aac": (32000, 44100, 48000, 88200, 96000)}
"""The rates each format is written at, in Hz (MPEG-1 Layer III's; Opus's full band; AAC's common ones)."""

FFMPEG = "ffmpeg"
DECODE_BLOCK_FRAMES = 65536
_MP3_MAX_KBPS, _MP3_MIN_KBPS = 320.0, 32.0
_OPUS_MIN_BPS_PER_CHANNEL, _OPUS_SPAN_BPS_PER_CHANNEL = 6000.0, 250000.0


def check_bitrate(format: str, bitrate_kbps: int) -> int:
    """``bitrate_kbps`` if ``format`` can be written at it; else ParameterError saying what it takes."""
    if format == "mp3":
        if bitrate_kbps not in MP3_BITRATES_KBPS:
            allowed = ", ".join(str(rate) for rate in MP3_BITRATES_KBPS)
            raise ParameterError(f"bitrate_kbps: mp3 takes one of {allowed}, got {bitrate_kbps}")
        return bitrate_kbps
    low, high = OPUS_BITRATE_RANGE_KBPS if format == "opus" else AAC_BITRATE_RANGE_KBPS
    if not low <= bitrate_kbps <= high:
        raise ParameterError(f"bitrate_kbps: {format} takes {low} to {high}, got {bitrate_kbps}")
    return bitrate_kbps


def check_sample_rate(format: str, sample_rate: int) -> int:
    """``sample_rate`` if ``format`` is written at it; else ParameterError listing the rates it takes."""
    if sample_rate not in SAMPLE_RATES_HZ[format]:
        allowed = ", ".join(str(rate) for rate in SAMPLE_RATES_HZ[format])
        raise ParameterError(f"sample_rate: {format} is written at {allowed} Hz, got {sample_rate}")
    return sample_rate


def default_sample_rate(format: str, render_rate: int) -> int:
    """The rate a lossy file is written at when its output names none: the render's if the format takes it, else 48 kHz."""
    return render_rate if render_rate in SAMPLE_RATES_HZ[format] else 48000


def ffmpeg_installed() -> bool:
    """Whether ffmpeg, which AAC needs, is on ``PATH``."""
    return shutil.which(FFMPEG) is not None


def ffmpeg_path(path: str | os.PathLike, format: str) -> str:
    """The ffmpeg that encodes and decodes ``format``; AudioFileError naming ``path`` when it is not installed."""
    found = shutil.which(FFMPEG)
    if found is None:
        raise AudioFileError(f"{path}: writing {format} needs ffmpeg, which is not installed (on Debian: apt install ffmpeg)")
    return found


class _FfmpegEncoder:
    """An ffmpeg process that encodes float samples piped to it into an AAC file."""

    def __init__(self, path: Path, sample_rate: int, channels: int, bitrate_kbps: int) -> None:
        self._path = path
        self._errors = tempfile.TemporaryFile()
        command = [
            ffmpeg_path(path, "aac"), "-nostdin", "-hide_banner", "-loglevel", "error",
            "-f", "f32le", "-ar", str(sample_rate), "-ac", str(channels), "-i", "pipe:0",
            "-c:a", "aac", "-b:a", f"{bitrate_kbps}k", "-map_metadata", "-1",
            "-fflags", "+bitexact", "-flags:a", "+bitexact", "-f", "mp4", "-y", str(path),
        ]  # fmt: skip
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._errors)

    def write(self, block: np.ndarray) -> None:
        try:
            self._process.stdin.write(np.ascontiguousarray(block, dtype="<f4").tobytes())
        except BrokenPipeError:
            self.close()
            raise AudioFileError(f"{self._path}: ffmpeg stopped encoding") from None

    def close(self) -> None:
        if self._process.stdin and not self._process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self._process.stdin.close()
        code = self._process.wait()
        self._errors.seek(0)
        message = self._errors.read().decode("utf-8", "replace").strip()
        self._errors.close()
        if code != 0:
            raise AudioFileError(f"{self._path}: ffmpeg could not encode aac ({message or f'exit status {code}'})")


@contextlib.contextmanager
def open_lossy(path: str | os.PathLike, format: str, sample_rate: int, bitrate_kbps: int, serial: int) -> Iterator:
    """A new lossy file at ``path``, open for writing (``.write(block)`` of float samples shaped (frames, 2)).

    ``bitrate_kbps`` is checked with :func:`check_bitrate`; ``serial`` is the
    Ogg stream's serial number for Opus (any 32-bit value), so the file is the
    same on every render. The file is complete when the context exits.
    """
    path = Path(path)
    check_bitrate(format, bitrate_kbps)
    check_sample_rate(format, sample_rate)
    if format == "aac":
        encoder = _FfmpegEncoder(path, sample_rate, 2, bitrate_kbps)
        try:
            yield encoder
        finally:
            encoder.close()
        return
    if format == "mp3":
        # libsndfile picks a constant bitrate of 320 - level * 288 kbit/s at MPEG-1 rates.
        level = (_MP3_MAX_KBPS - bitrate_kbps) / (_MP3_MAX_KBPS - _MP3_MIN_KBPS)
        options = {"format": "MP3", "subtype": "MPEG_LAYER_III", "bitrate_mode": "CONSTANT"}
    else:
        # libsndfile sets Opus to (1 - level) * 250000 + 6000 bit/s per channel.
        level = 1.0 - (bitrate_kbps * 1000.0 / 2 - _OPUS_MIN_BPS_PER_CHANNEL) / _OPUS_SPAN_BPS_PER_CHANNEL
        options = {"format": "OGG", "subtype": "OPUS"}
    try:
        with soundfile.SoundFile(str(path), "w", sample_rate, 2, compression_level=min(max(level, 0.0), 1.0), **options) as handle:
            yield handle
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(f"{path}: could not encode {format} ({exc})") from exc
    if format == "opus":
        _set_ogg_serial(path, serial & 0xFFFFFFFF)


def _set_ogg_serial(path: Path, serial: int) -> None:
    """Give every page of the single-stream Ogg file at ``path`` the stream serial number ``serial`` (each page's CRC follows)."""
    pages = []
    with open(path, "rb") as handle:
        while True:
            try:
                pages.append(OggPage(handle))
            except EOFError:
                break
    for page in pages:
        page.serial = serial
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as handle:
        for page in pages:
            handle.write(page.write())
    os.replace(partial, path)


def decoded_blocks(path: str | os.PathLike, format: str, block_frames: int = DECODE_BLOCK_FRAMES) -> tuple[int, Iterator[np.ndarray]]:
    """What a player decodes from the lossy file at ``path``: its rate in Hz, and its samples as float64 blocks shaped (frames, 2).

    Raises AudioFileError naming the file when it cannot be decoded.
    """
    path = Path(path)
    if format != "aac":
        try:
            handle = soundfile.SoundFile(str(path))
        except (soundfile.LibsndfileError, RuntimeError) as exc:
            raise AudioFileError(f"{path}: could not decode {format} ({exc})") from exc

        def blocks() -> Iterator[np.ndarray]:
            with handle:
                yield from handle.blocks(block_frames, dtype="float64", always_2d=True)

        return handle.samplerate, blocks()
    sample_rate = _aac_sample_rate(path)
    return sample_rate, _ffmpeg_decode(path, block_frames)


def _aac_sample_rate(path: Path) -> int:
    """The rate of the AAC stream in the MP4 file at ``path``, as its header says."""
    try:
        return int(MP4(str(path)).info.sample_rate)
    except (MP4StreamInfoError, OSError, ValueError) as exc:
        raise AudioFileError(f"{path}: could not read its aac stream ({exc})") from exc


def _ffmpeg_decode(path: Path, block_frames: int) -> Iterator[np.ndarray]:
    command = [ffmpeg_path(path, "aac"), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path), "-f", "f32le", "-ac", "2", "pipe:1"]
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors)
        block_bytes = block_frames * 2 * 4
        try:
            while data := process.stdout.read(block_bytes):
                usable = len(data) - len(data) % 8
                yield np.frombuffer(data[:usable], dtype="<f4").reshape(-1, 2).astype(np.float64)
        finally:
            process.stdout.close()
            code = process.wait()
        if code != 0:
            errors.seek(0)
            message = errors.read().decode("utf-8", "replace").strip()
            raise AudioFileError(f"{path}: ffmpeg could not decode aac ({message or f'exit status {code}'})")

