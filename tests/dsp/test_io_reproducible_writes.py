"""The same samples written a wall-clock second apart make the same bytes (libsndfile stamps float files' PEAK chunk with the time)."""

import time

import numpy as np
import pytest
import soundfile

from dsp import io


def after_the_next_second() -> None:
    """Sleep until the wall clock's whole second has changed."""
    now_s = time.time()
    time.sleep(int(now_s) + 1 - now_s + 0.01)


def noise() -> np.ndarray:
    return np.random.default_rng(5).uniform(-0.5, 0.5, (4800, 2))


@pytest.mark.parametrize("format,bit_depth", [("wav", "32f"), ("aiff", "32f"), ("wav", "24"), ("flac", "16")])
def test_write_makes_the_same_bytes_a_second_later(tmp_path, format, bit_depth):
    io.write(tmp_path / f"one.{format}", noise(), 48000, format=format, bit_depth=bit_depth)
    after_the_next_second()
    io.write(tmp_path / f"two.{format}", noise(), 48000, format=format, bit_depth=bit_depth)
    assert (tmp_path / f"one.{format}").read_bytes() == (tmp_path / f"two.{format}").read_bytes()


def test_open_for_writing_makes_the_same_bytes_a_second_later_and_reads_back(tmp_path):
    for name in ("one.wav", "two.wav"):
        with io.open_for_writing(tmp_path / name, 48000, 2, "wav", "FLOAT") as handle:
            handle.write(noise()[:2000])
            handle.write(noise()[2000:])
        after_the_next_second()
    assert (tmp_path / "one.wav").read_bytes() == (tmp_path / "two.wav").read_bytes()
    back, rate = soundfile.read(tmp_path / "one.wav", dtype="float32")
    assert rate == 48000
    np.testing.assert_array_equal(back, noise().astype(np.float32))
