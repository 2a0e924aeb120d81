"""Reading, writing and resampling audio files.

Audio in mixfarm is float, shaped ``(frames, channels)``. Reading returns
float32 (half the memory of float64; the effects convert blocks to float64).
Every failure raises :class:`~dsp.errors.AudioFileError` with the file's path
first and what is wrong after it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile
import soxr

from . import wav
from .errors import AudioFileError, ParameterError
from .validate import check_block, check_choice, check_sample_rate

FORMATS = ("wav", "aiff", "flac")
BIT_DEPTHS = ("16", "24", "32f")
RESAMPLE_QUALITIES = ("HQ", "VHQ")
RESAMPLE_MARGIN_S = 0.05
"""Input each side of a stretch resampled apart that soxr's VHQ filter reaches, in seconds, times the
decimation ratio when downsampling (measured: about 5 ms, and 20 ms decimating 48 kHz to 8 kHz)."""
INTEGER_PCM_SUBTYPES = frozenset({"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32"})
"""libsndfile subtypes whose samples are integers, read as int32 and scaled (see :func:`read_frames`)."""

_WAV_PCM_BITS = {"PCM_16": 16, "PCM_24": 24, "PCM_32": 32}
"""libsndfile subtypes of WAV whose samples :func:`read_frames` decodes itself, and their widths in bits."""

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

_SFC_SET_ADD_PEAK_CHUNK = 0x1050
"""libsndfile's command (sndfile.h) that turns the PEAK chunk of float WAV and AIFF files on or off; soundfile has no name for it."""


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
        with open_audio(source, name) as handle:
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
    Integer PCM is scaled by 2**-31 from libsndfile's left-aligned int32, or,
    for 16-, 24- and 32-bit WAV, decoded from the file's bytes
    (:mod:`dsp.wav`) to the same values at a fraction of the cost.

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
        samples = _read_wav_pcm(path, facts, start, stop)
        if samples is None:
            with open_audio(path, facts.path) as handle:
                handle.seek(start)
                if facts.subtype in INTEGER_PCM_SUBTYPES:
                    samples = handle.read(stop - start, dtype="int32", always_2d=True).astype(np.float32)
                    samples *= np.float32(2.0**-31)
                else:
                    samples = handle.read(stop - start, dtype="float32", always_2d=True)
    except AudioFileError:
        raise
    except (soundfile.LibsndfileError, RuntimeError, OSError) as exc:
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
        with open_for_writing(path, sample_rate, samples.shape[1], format, _SUBTYPES[format, bit_depth]) as handle:
            handle.write(samples)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioFileError(f"{path}: write failed ({_reason(exc)})") from exc
    return info(path)


def open_for_writing(
    path: str | os.PathLike, sample_rate: int, channels: int, format: str, subtype: str, compression_level: float | None = None
) -> soundfile.SoundFile:
    """A new audio file at ``path``, open for writing, whose bytes depend only on the samples written.

    libsndfile gives float WAV and AIFF files a PEAK chunk stamped with the
    wall-clock second the file was written in; it is left out, so a render
    makes the same file whenever (and wherever) it runs. ``format`` is e.g.
    "wav", ``subtype`` libsndfile's, e.g. "FLOAT". ``compression_level``
    (FLAC: 0 fastest to 1 smallest) is libsndfile's default when None.
    """
    options = {} if compression_level is None else {"compression_level": compression_level}
    handle = soundfile.SoundFile(str(path), "w", sample_rate, channels, subtype=subtype, format=format.upper(), **options)
    soundfile._snd.sf_command(handle._file, _SFC_SET_ADD_PEAK_CHUNK, soundfile._ffi.NULL, soundfile._snd.SF_FALSE)
    return handle


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


def resample_margin_frames(from_rate: int, to_rate: int) -> int:
    """Input frames each side of a stretch that soxr's VHQ filter reaches, in whole resampling periods (0 at equal rates).

    :data:`RESAMPLE_MARGIN_S` of input, times the decimation ratio when
    downsampling; a period is ``from_rate / gcd(from_rate, to_rate)`` frames.
    """
    if to_rate == from_rate:
        return 0
    period = from_rate // math.gcd(from_rate, to_rate)
    frames = RESAMPLE_MARGIN_S * from_rate * max(1.0, from_rate / to_rate)
    return math.ceil(frames / period) * period


def resample_range(read: Callable[[int, int], np.ndarray], frames: int, from_rate: int, to_rate: int, start: int, stop: int) -> np.ndarray:
    """Frames ``[start, stop)`` of a signal resampled whole to ``to_rate``, made from a stretch of it.

    ``read(lo, hi)`` returns input frames ``[lo, hi)`` of the ``frames``-frame
    signal at ``from_rate``. The stretch starts on a whole resampling period
    (so its first output frame is a whole output frame) and reaches
    :func:`resample_margin_frames` further each side, clipped to the signal:
    soxr VHQ then gives what it gives resampling the whole signal, to within
    1e-12 of full scale. Returns float64 (frames, channels).
    """
    in_period = from_rate // math.gcd(from_rate, to_rate)
    out_period = to_rate // math.gcd(from_rate, to_rate)
    margin = resample_margin_frames(from_rate, to_rate)
    lo = max(start // out_period * in_period - margin, 0)
    hi = min(-(-stop // out_period) * in_period + margin, frames)
    out = resample(np.asarray(read(lo, hi), dtype=np.float64), from_rate, to_rate)
    first = lo // in_period * out_period
    return out[start - first : stop - first]


def resampled_frames(frames: int, from_rate: int, to_rate: int) -> int:
    """Frames that :func:`resample` makes of ``frames`` frames: ``frames * to_rate / from_rate``, rounded half up (soxr's count)."""
    return (2 * frames * to_rate + from_rate) // (2 * from_rate)


def _name(source: Source, name: str | None) -> str:
    if name is not None:
        return name
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return str(getattr(source, "name", None) or repr(source))


@contextlib.contextmanager
def open_audio(source: Source, name: str | None = None) -> Iterator[soundfile.SoundFile]:
    """A SoundFile on a path (which must exist) or on an open binary file read from its start.

    libsndfile sees an open file through :class:`_WholeReads`: a short read is
    completed, and a file that ends before its size or a read that fails
    raises AudioFileError (naming the file, the bytes expected and got) on
    leaving the block, never a shorter or different file.
    """
    if isinstance(source, (str, os.PathLike)):
        with _open_path(Path(source)) as handle:
            yield handle
    else:
        with _whole_reads(source, _name(source, name)) as reader, soundfile.SoundFile(reader) as handle:
            yield handle


def _open_path(path: Path) -> soundfile.SoundFile:
    """A SoundFile on ``path``, which must be an existing regular file."""
    if not path.exists():
        raise AudioFileError(f"{path}: no such file")
    if not path.is_file():
        raise AudioFileError(f"{path}: not a regular file")
    return soundfile.SoundFile(str(path))


class _WholeReads:
    """An open binary file whose every read fills its buffer, up to the file's size in bytes.

    Python files (fsspec's among them) may return fewer bytes than asked; the
    rest is asked for again. libsndfile calls ``readinto``, ``seek`` and
    ``tell`` from C, where an exception is only printed and a failed read
    looks like the end of the file, so a file that ends before its size or a
    call that raises is kept in :attr:`problem` for :func:`_whole_reads` to raise.
    """

    def __init__(self, file: BinaryIO, name: str) -> None:
        self._file = file
        self._name = name
        self._size_bytes = file.seek(0, os.SEEK_END)
        file.seek(0)
        self.problem: str | None = None

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move to ``offset`` bytes from ``whence``; return the new position."""
        try:
            return self._file.seek(offset, whence)
        except Exception as exc:  # noqa: BLE001 - an exception cannot cross into libsndfile
            self._keep(f"seek to byte {offset} (whence {whence}) failed ({_reason(exc)})")
            return -1

    def tell(self) -> int:
        """The position in bytes."""
        try:
            return self._file.tell()
        except Exception as exc:  # noqa: BLE001 - an exception cannot cross into libsndfile
            self._keep(f"tell failed ({_reason(exc)})")
            return -1

    def readinto(self, buffer) -> int:
        """Fill ``buffer`` from the file, or as much of it as the file holds; return the bytes read."""
        view = memoryview(buffer).cast("B")
        start_byte = self.tell()
        expected_bytes = max(0, min(len(view), self._size_bytes - start_byte))
        got_bytes, why = 0, f"the file ended before its size, {self._size_bytes} bytes"
        try:
            while got_bytes < expected_bytes and (count := self._read_some(view[got_bytes:expected_bytes])):
                got_bytes += count
        except Exception as exc:  # noqa: BLE001 - an exception cannot cross into libsndfile
            why = _reason(exc)
        if got_bytes < expected_bytes:
            self._keep(f"short read at byte {start_byte}: expected {expected_bytes} bytes, got {got_bytes} ({why})")
        return got_bytes

    def read(self, count: int) -> bytes:
        """Up to ``count`` bytes, fewer only at the end of the file."""
        buffer = bytearray(count)
        return bytes(buffer[: self.readinto(buffer)])

    def _read_some(self, view: memoryview) -> int:
        """One read of the file into ``view``; the bytes it gave (0 at its end)."""
        if hasattr(self._file, "readinto"):
            return self._file.readinto(view) or 0
        data = self._file.read(len(view))
        view[: len(data)] = data
        return len(data)

    def _keep(self, problem: str) -> None:
        """Remember the first problem, named with the file."""
        if self.problem is None:
            self.problem = f"{self._name}: {problem}"


@contextlib.contextmanager
def _whole_reads(file: BinaryIO, name: str) -> Iterator[_WholeReads]:
    """``file`` as a :class:`_WholeReads`; raises AudioFileError on leaving if a read came up short or failed."""
    reader = _WholeReads(file, name)
    try:
        yield reader
    finally:
        if reader.problem is not None:
            raise AudioFileError(reader.problem)


def _check_wav_complete(source: Source, name: str) -> None:
    """Raise if a RIFF WAV file's data chunk claims more bytes than the file holds.

    libsndfile quietly reads what is there; a render must not take a truncated
    stem for a shorter one.
    """
    with _binary(source, name) as handle:
        layout = wav.layout(handle)
    if layout is None:
        return
    available = layout.file_bytes - layout.data_offset
    if layout.data_bytes not in (0, 0xFFFFFFFF) and layout.data_bytes > available:
        raise AudioFileError(f"{name}: truncated WAV: data chunk declares {layout.data_bytes} bytes, file holds {available}")


def _read_wav_pcm(source: Source, facts: AudioInfo, start: int, stop: int) -> np.ndarray | None:
    """Frames ``[start, stop)`` of 16-, 24- or 32-bit PCM WAV decoded from its bytes; None for any other file."""
    bits = _WAV_PCM_BITS.get(facts.subtype) if facts.format == "WAV" else None
    if bits is None:
        return None
    with _binary(source, facts.path) as handle:
        layout = wav.layout(handle)
        if layout is None or not wav.decodable(layout, facts.channels, bits):
            return None
        handle.seek(layout.data_offset + start * layout.block_align)
        raw = np.empty((stop - start) * layout.block_align, dtype=np.uint8)
        got_bytes = handle.readinto(raw) or 0
    return wav.decode_pcm(raw[: got_bytes - got_bytes % layout.block_align], facts.channels, bits)


@contextlib.contextmanager
def _binary(source: Source, name: str) -> Iterator[BinaryIO]:
    """``source`` as a seekable binary file: a path opened, or an open file read whole (:class:`_WholeReads`)."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            yield handle
    else:
        with _whole_reads(source, name) as handle:
            yield handle


def _reason(exc: Exception) -> str:
    return str(exc).strip() or type(exc).__name__
