"""Reading stems and impulse responses at local paths or storage URIs (see :class:`~farm.storage.Location`).

A local file is opened natively by libsndfile (much faster than through a
Python file object); a URI is opened through fsspec, and only the bytes a
read needs are fetched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from dsp import io as audio_io
from dsp.convolution import read_ir
from dsp.errors import AudioFileError

from .location import Location


def info(location: str | Location) -> audio_io.AudioInfo:
    """Header facts of the stem at ``location``; :attr:`~dsp.io.AudioInfo.path` is its string form."""
    location = Location.of(location)
    if location.is_local:
        return audio_io.info(location.local_path)
    with _remote(location, "no such file") as handle:
        return audio_io.info(handle, name=str(location))


def read_frames(location: str | Location, start: int, stop: int) -> np.ndarray:
    """Frames ``[start, stop)`` of the stem at ``location`` (float32, frames x channels); only that range is fetched."""
    location = Location.of(location)
    if location.is_local:
        return audio_io.read_frames(location.local_path, start, stop)
    with _remote(location, "no such file") as handle:
        return audio_io.read_frames(handle, start, stop, name=str(location))


def read_impulse_response(location: str | Location) -> tuple[np.ndarray, float]:
    """The impulse response at ``location``: float64 samples (frames x channels) and its rate in Hz."""
    location = Location.of(location)
    if location.is_local:
        return read_ir(location.local_path)
    with _remote(location, "impulse response file not found") as handle:
        return read_ir(handle, name=str(location))


@contextlib.contextmanager
def _remote(location: Location, missing: str) -> Iterator[BinaryIO]:
    """The file at the URI ``location``, open; a missing file raises AudioFileError saying ``missing``."""
    try:
        with location.open() as handle:
            yield handle
    except FileNotFoundError:
        raise AudioFileError(f"{location}: {missing}") from None
