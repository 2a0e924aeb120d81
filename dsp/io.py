"""Reading, writing and resampling audio files.

Audio in mixfarm is float, shaped ``(frames, channels)``. Reading returns
float32 (half the memory of float64; the effects convert blocks to float64).
Every failure raises :class:`~dsp.errors.AudioFileError` with the file's path
first and what is wrong after it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile
import soxr

from .errors import AudioFileError, ParameterError
from .validate import check_block, check_choice, check_sample_rate

FORMATS = ("wav", "aiff", "flac")
BIT_DEPTHS = ("16", "24", "32f")
RESAMPLE_QUALITIES = ("HQ", "VHQ")

_SUBTYPES = {
    ("wav", "16"): "PCM_16",
    ("wav", "24"): "PCM_24",
    ("wav", "32f"): "FLOAT",
    ("aiff", "16"): "PCM_16",
    ("aiff", "24"): "PCM_24",
    ("aiff", "32f"): "FLOAT",
    ("flac", "16"): "PCM_16",
    ("flac", "24"): "PCM_24",
}


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    """Facts about an audio file, read from its header."""

    path: str
    frames: int
    sample_rate: int
    channels: int
    format: str
    subtype: str

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate


Source = str | os.PathLike | BinaryIO
"""A path, or an open, seekable binary file (e.g. from object storage)."""


def info(source: Source, name: str | None = None) -> AudioInfo:
    """Return the header facts of an audio file without reading its samples.

    ``name`` is what messages and :attr:`AudioInfo.path` call an open file.
    """
    name = _name(source, name)
    try:
        with _open(source) as handle:
            facts = (handle.frames, handle.samplerate, handle.channels, handle.format, handle.subtype)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioFileError(f"{name}: unreadable or unsupported audio file ({_reason(exc)})") from exc
    if facts[0] <= 0:
        raise AudioFileError(f"{name}: empty audio file (0 frames)")
    if facts[3] == "WAV":
        _check_wav_complete(source, name)
    return AudioInfo(name, int(facts[0]), int(facts[1]), int(facts[2]), facts[3], facts[4])


def read(path: Source) -> tuple[np.ndarray, int]:
    """Read a whole audio file.

    Returns
    -------
    samples : numpy.ndarray
        float32, shaped (frames, channels).
    sample_rate : int
        In Hz.
    """
    facts = info(path)
    return read_frames(path, 0, facts.frames), facts.sample_rate


def read_frames(path: Source, start: int, stop: int, name: str | None = None) -> np.ndarray:
    """Read frames ``[start, stop)`` of an audio file without loading the rest.

    Frames past the end of the file are an error: a truncated file must not
    pass for a shorter one. ``name`` is what messages call an open file.

    Returns
    -------
    numpy.ndarray
        float32, shaped (stop - start, channels).
    """
    facts = info(path, name)
    if not 0 <= start <= stop:
        raise ParameterError(f"frame range: must satisfy 0 <= start <= stop, got [{start}, {stop})")
    if stop > facts.frames:
        raise AudioFileError(
            f"{facts.path}: frames [{start}, {stop}) requested but the file has only {facts.frames} frames"
        )
    try:
        with _open(path) as handle:
            handle.seek(start)
            samples = handle.read(stop - start, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(f"{facts.path}: read failed at frames [{start}, {stop}) ({_reason(exc)})") from exc
    if samples.shape[0] != stop - start:
        raise AudioFileError(
            f"{facts.path}: truncated: frames [{start}, {stop}) requested, only {samples.shape[0]} could be read"
        )
    return samples


def write(
    path: str | os.PathLike,
    samples: np.ndarray,
    sample_rate: int,
    *,
    format: str = "wav",
    bit_depth: str | int = "24",
) -> AudioInfo:
    """Write float samples (frames, channels) to a WAV, AIFF or FLAC file.

    Samples must already be quantised (see :mod:`dsp.dither`) when writing 16
    or 24 bit; values beyond full scale are clipped by the integer conversion.
    ``bit_depth`` is 16, 24 or "32f" (32-bit float; not for FLAC).
    """
    format = check_choice("format", str(format).lower(), FORMATS)
    bit_depth = check_choice("bit_depth", str(bit_depth), BIT_DEPTHS)
    if (format, bit_depth) not in _SUBTYPES:
        raise ParameterError(f"bit_depth: {format} supports 16 or 24, got {bit_depth}")
    sample_rate = int(check_sample_rate(sample_rate))
    samples = check_block(samples, sample_rate=sample_rate)
    path = Path(path)
    if samples.shape[0] == 0:
        raise AudioFileError(f"{path}: refusing to write an empty audio file (0 frames)")
    try:
        soundfile.write(str(path), samples, sample_rate, format=format.upper(), subtype=_SUBTYPES[format, bit_depth])
    except (soundfile.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioFileError(f"{path}: write failed ({_reason(exc)})") from exc
    return info(path)


def resample(samples: np.ndarray, from_rate: float, to_rate: float, quality: str = "VHQ") -> np.ndarray:
    """Resample (frames, channels) float samples with soxr.

    ``quality`` is "HQ" or "VHQ" (soxr's high and very high quality). The
    result keeps the input's float dtype; equal rates return the input.
    """
    from_rate = check_sample_rate(from_rate)
    to_rate = check_sample_rate(to_rate)
    quality = check_choice("quality", quality, RESAMPLE_QUALITIES)
    samples = np.asarray(samples)
    if samples.ndim != 2:
        raise ParameterError(f"samples: must be shaped (frames, channels), got shape {samples.shape}")
    if from_rate == to_rate:
        return samples
    return soxr.resample(samples, from_rate, to_rate, quality=quality)


def _name(source: Source, name: str | None) -> str:
    if name is not None:
        return name
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return str(getattr(source, "name", None) or repr(source))


def _open(source: Source) -> soundfile.SoundFile:
    """A SoundFile on a path (which must exist) or on an open file rewound to its start."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise AudioFileError(f"{path}: no such file")
        if not path.is_file():
            raise AudioFileError(f"{path}: not a regular file")
        return soundfile.SoundFile(str(path))
    source.seek(0)
    return soundfile.SoundFile(source)


def _check_wav_complete(source: Source, name: str) -> None:
    """Raise if a RIFF WAV file's data chunk claims more bytes than the file holds.

    libsndfile quietly reads what is there; a render must not take a truncated
    stem for a shorter one.
    """
    with contextlib.ExitStack() as stack:
        handle = stack.enter_context(open(source, "rb")) if isinstance(source, (str, os.PathLike)) else source
        size = handle.seek(0, os.SEEK_END)
        handle.seek(0)
        if handle.read(4) != b"RIFF":
            return
        handle.seek(12)
        while True:
            header = handle.read(8)
            if len(header) < 8:
                return
            chunk_id, chunk_size = header[:4], int.from_bytes(header[4:], "little")
            if chunk_id == b"data":
                available = size - handle.tell()
                if chunk_size not in (0, 0xFFFFFFFF) and chunk_size > available:
                    raise AudioFileError(
                        f"{name}: truncated WAV: data chunk declares {chunk_size} bytes, file holds {available}"
                    )
                return
            handle.seek(chunk_size + (chunk_size & 1), 1)


def _reason(exc: Exception) -> str:
    return str(exc).strip() or type(exc).__name__
