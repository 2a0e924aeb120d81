"""Reading stems at local paths or storage URIs (see :mod:`farm.storage`)."""

from __future__ import annotations

import numpy as np

from dsp import io as audio_io
from dsp.errors import AudioFileError

from . import storage


def info(location: str) -> audio_io.AudioInfo:
    """Header facts of the stem at ``location``."""
    if not storage.is_remote(location):
        return audio_io.info(location)
    try:
        with storage.open_binary(location) as handle:
            return audio_io.info(handle, name=location)
    except FileNotFoundError:
        raise AudioFileError(f"{location}: no such file") from None


def read_frames(location: str, start: int, stop: int) -> np.ndarray:
    """Frames ``[start, stop)`` of the stem at ``location`` (float32, frames x channels); only that range is fetched."""
    if not storage.is_remote(location):
        return audio_io.read_frames(location, start, stop)
    try:
        with storage.open_binary(location) as handle:
            return audio_io.read_frames(handle, start, stop, name=location)
    except FileNotFoundError:
        raise AudioFileError(f"{location}: no such file") from None
