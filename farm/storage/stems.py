"""Reading stems and impulse responses at local paths or storage URIs (see :mod:`farm.storage`)."""

from __future__ import annotations

import numpy as np

from dsp import io as audio_io
from dsp.convolution import read_ir
from dsp.errors import AudioFileError

from . import location as storage


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


def read_impulse_response(location: str) -> tuple[np.ndarray, float]:
    """The impulse response at ``location``: float64 samples (frames x channels) and its rate in Hz."""
    if not storage.is_remote(location):
        return read_ir(location)
    try:
        with storage.open_binary(location) as handle:
            return read_ir(handle, name=location)
    except FileNotFoundError:
        raise AudioFileError(f"{location}: impulse response file not found") from None
