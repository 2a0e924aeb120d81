"""What a session's audio files hold: header sample rates within bounds, and samples read through in blocks.

:func:`scan` reads a stem once, :data:`SCAN_BLOCK_FRAMES` frames at a time
(memory stays flat however long the file), and notes the first frame holding
NaN or infinity and, per block, where sound (any non-zero sample) lies.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import numpy as np
import soundfile

from dsp import io as audio_io
from dsp.errors import AudioFileError
from farm.storage import Location

MIN_SAMPLE_RATE_HZ = 8000
MAX_SAMPLE_RATE_HZ = 384000
SCAN_BLOCK_FRAMES = 1 << 16
INTEGER_SUBTYPES = frozenset({"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "ALAC_16", "ALAC_20", "ALAC_24", "ALAC_32"})
"""libsndfile subtypes that store whole numbers (FLAC's are PCM_*): read as int32, and never NaN or infinite."""


def rate_problem(facts: audio_io.AudioInfo, written: str, kind: str = "stems") -> str | None:
    """Why the sample rate in a file's header is out of bounds (the file named as ``written``), or None."""
    if MIN_SAMPLE_RATE_HZ <= facts.sample_rate <= MAX_SAMPLE_RATE_HZ:
        return None
    return (
        f"{written!r} has a sample rate of {facts.sample_rate} Hz; "
        f"{kind} must be {MIN_SAMPLE_RATE_HZ} to {MAX_SAMPLE_RATE_HZ} Hz"
    )


@dataclasses.dataclass(frozen=True)
class SampleScan:
    """What one file's samples hold.

    Attributes
    ----------
    sample_rate : int
        The file's rate in Hz.
    frames : int
        Frames read.
    bad_frame : int or None
        The first frame holding a NaN or infinite sample (the scan stops
        there), or None.
    sound_starts, sound_stops : numpy.ndarray
        For each block holding a non-zero sample: its first such frame, and
        one past its last.
    """

    sample_rate: int
    frames: int
    bad_frame: int | None
    sound_starts: np.ndarray
    sound_stops: np.ndarray

    def is_silent(self, start: int, stop: int) -> bool:
        """True when frames ``[start, stop)`` certainly hold only digital silence (exact zeros).

        False, to be safe, when the scan stopped at a bad frame, or a block's
        sounding span reaches into the range.
        """
        if self.bad_frame is not None:
            return False
        return not np.any((self.sound_starts < stop) & (self.sound_stops > start))


def scan(location: Location) -> SampleScan:
    """Read the stem at ``location`` (a path or a URI) through, in blocks of :data:`SCAN_BLOCK_FRAMES` frames.

    Raises
    ------
    dsp.errors.AudioFileError
        The file cannot be read through, or holds fewer frames than its
        header says; the message starts with ``location``.
    """
    starts: list[int] = []
    stops: list[int] = []
    first, bad_frame = 0, None
    try:
        with _open(location) as handle:
            rate, declared_frames, channels = handle.samplerate, handle.frames, handle.channels
            whole_numbers = handle.subtype in INTEGER_SUBTYPES
            for block in _blocks(handle, location, "int32" if whole_numbers else "float32"):
                samples = block.reshape(-1)
                if not whole_numbers and not np.isfinite(samples).all():
                    bad_frame = first + int(np.argmin(np.isfinite(samples))) // channels
                    break
                sounding = samples != 0
                first_sounding = int(sounding.argmax())
                if sounding[first_sounding]:
                    last_sounding = samples.size - 1 - int(sounding[::-1].argmax())
                    starts.append(first + first_sounding // channels)
                    stops.append(first + last_sounding // channels + 1)
                first += block.shape[0]
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(f"{location}: unreadable or unsupported audio file ({exc})") from exc
    if bad_frame is None and first != declared_frames:
        raise AudioFileError(f"{location}: truncated: {declared_frames} frames declared, {first} could be read")
    return SampleScan(rate, first, bad_frame, np.array(starts, dtype=np.int64), np.array(stops, dtype=np.int64))


@contextlib.contextmanager
def _open(location: Location) -> Iterator[soundfile.SoundFile]:
    """The stem at a local path (opened natively) or a URI, open for reading from its start."""
    if location.is_local:
        with audio_io.open_audio(location.local_path) as handle:
            yield handle
        return
    try:
        with location.open() as raw, audio_io.open_audio(raw, str(location)) as handle:
            yield handle
    except FileNotFoundError:
        raise AudioFileError(f"{location}: no such file") from None


def _blocks(handle: soundfile.SoundFile, location: Location, dtype: str) -> Iterator[np.ndarray]:
    """The file's frames as ``dtype`` blocks (frames x channels) of at most :data:`SCAN_BLOCK_FRAMES` frames."""
    while True:
        start = handle.tell()
        try:
            block = handle.read(SCAN_BLOCK_FRAMES, dtype=dtype, always_2d=True)
        except (soundfile.LibsndfileError, RuntimeError) as exc:
            raise AudioFileError(f"{location}: read failed at frame {start} ({exc})") from exc
        if not block.shape[0]:
            return
        yield block
