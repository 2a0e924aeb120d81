"""Audio and impulse responses read through open files that return fewer bytes than asked, end early or fail.

Python files (fsspec's for object storage among them) may return fewer bytes
than asked for; libsndfile takes a short read for the end of the file, and an
exception raised inside its read callback is only printed. Either must give
the same audio as the path, or an AudioFileError that names the file, never
shorter or different audio.
"""

import io as stdio

import numpy as np
import pytest
import soundfile

from dsp import io
from dsp.convolution import read_ir
from dsp.errors import AudioFileError

FRAMES = 12000


class Dribbling(stdio.RawIOBase):
    """An in-memory file whose reads return at most ``most_bytes`` bytes, and nothing from ``end_byte`` on."""

    def __init__(self, data: bytes, most_bytes: int, end_byte: int | None = None, failure: Exception | None = None):
        self._data = stdio.BytesIO(data)
        self._most_bytes = most_bytes
        self._end_byte = len(data) if end_byte is None else end_byte
        self._failure = failure

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._data.seek(offset, whence)

    def tell(self) -> int:
        return self._data.tell()

    def readinto(self, buffer) -> int:
        position = self._data.tell()
        if position >= self._end_byte and self._failure is not None:
            raise self._failure
        count = max(0, min(len(buffer), self._most_bytes, self._end_byte - position))
        data = self._data.read(count)
        buffer[: len(data)] = data
        return len(data)


def written(tmp_path, name: str, channels: int, subtype: str, format: str = "WAV") -> tuple:
    """Noise written to ``tmp_path/name``; returns (path, its bytes)."""
    path = tmp_path / name
    noise = np.random.default_rng(3).uniform(-0.5, 0.5, (FRAMES, channels))
    soundfile.write(path, noise, 48000, subtype=subtype, format=format)
    return path, path.read_bytes()


@pytest.mark.parametrize("most_bytes", [1, 7, 4096])
@pytest.mark.parametrize(
    "name,channels,subtype,format",
    [("ir.wav", 1, "FLOAT", "WAV"), ("ir.aiff", 2, "PCM_24", "AIFF"), ("ir.flac", 2, "PCM_16", "FLAC")],
)
def test_short_reads_give_the_same_impulse_response_as_the_path(tmp_path, most_bytes, name, channels, subtype, format):
    path, data = written(tmp_path, name, channels, subtype, format)
    samples, rate = read_ir(Dribbling(data, most_bytes), name=f"s3://bucket/{name}")
    expected, expected_rate = read_ir(path)
    assert rate == expected_rate and samples.shape == (FRAMES, channels)
    np.testing.assert_array_equal(samples, expected)


@pytest.mark.parametrize("most_bytes", [1, 7, 4096])
def test_short_reads_give_the_same_stem_frames_as_the_path(tmp_path, most_bytes):
    path, data = written(tmp_path, "stem.wav", 2, "PCM_24")
    facts = io.info(Dribbling(data, most_bytes), name="s3://bucket/stem.wav")
    assert (facts.frames, facts.channels, facts.subtype) == (FRAMES, 2, "PCM_24")
    for start, stop in [(0, FRAMES), (5001, 9000)]:
        got = io.read_frames(Dribbling(data, most_bytes), start, stop, name="s3://bucket/stem.wav")
        np.testing.assert_array_equal(got, io.read_frames(path, start, stop))


def test_an_impulse_response_that_ends_before_its_size_is_an_error_naming_the_bytes(tmp_path):
    _, data = written(tmp_path, "ir.wav", 1, "FLOAT")
    cut_short = Dribbling(data, 4096, end_byte=len(data) // 2)
    with pytest.raises(AudioFileError, match=r"^s3://bucket/ir\.wav: short read at byte \d+: expected \d+ bytes, got \d+ \(the file ended before its size, 48\d\d\d bytes\)"):
        read_ir(cut_short, name="s3://bucket/ir.wav")


def test_a_stem_that_ends_before_its_size_is_an_error_naming_the_bytes(tmp_path):
    _, data = written(tmp_path, "stem.wav", 2, "PCM_24")
    with pytest.raises(AudioFileError, match=r"^s3://bucket/stem\.wav: short read at byte \d+: expected \d+ bytes, got \d+"):
        io.read_frames(Dribbling(data, 4096, end_byte=len(data) - 100), 0, FRAMES, name="s3://bucket/stem.wav")


def test_a_header_that_ends_before_its_size_is_an_error_not_an_unknown_format(tmp_path):
    _, data = written(tmp_path, "stem.wav", 2, "PCM_24")
    with pytest.raises(AudioFileError, match=r"^s3://bucket/stem\.wav: short read at byte \d+: expected \d+ bytes, got \d+ \(the file ended before its size, 72044 bytes\)"):
        io.info(Dribbling(data, 4096, end_byte=20), name="s3://bucket/stem.wav")


def test_a_read_that_fails_midway_is_an_error_naming_the_file_and_the_reason(tmp_path):
    _, data = written(tmp_path, "ir.wav", 1, "FLOAT")
    failing = Dribbling(data, 4096, end_byte=20000, failure=ConnectionResetError("connection reset by peer"))
    with pytest.raises(AudioFileError, match=r"^s3://bucket/ir\.wav: short read at byte \d+: expected \d+ bytes, got \d+ \(connection reset by peer\)"):
        read_ir(failing, name="s3://bucket/ir.wav")
