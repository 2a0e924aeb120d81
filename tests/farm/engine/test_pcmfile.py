"""PCM files written in place, piece by piece in any order, read back by libsndfile as the samples written."""

import numpy as np
import pytest
import soundfile

from farm.engine import pcmfile


@pytest.mark.parametrize("file_format", ["wav", "aiff"])
@pytest.mark.parametrize("bit_depth", [16, 24])
def test_pieces_written_in_place_in_any_order_read_back_exactly(tmp_path, file_format, bit_depth):
    rng = np.random.default_rng(bit_depth)
    levels = rng.integers(-(2 ** (bit_depth - 1)), 2 ** (bit_depth - 1), size=(10007, 2))
    samples = (levels << (32 - bit_depth)).astype(np.int32)
    path = tmp_path / f"in-place.{file_format}"
    offset = pcmfile.create(path, file_format, bit_depth, 44100, 2, samples.shape[0])
    for start, stop in [(6000, 10007), (0, 2500), (2500, 6000)]:
        pcmfile.write(path, file_format, bit_depth, offset, start, samples[start:stop])
    info = soundfile.info(path)
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (44100, 2, samples.shape[0], f"PCM_{bit_depth}")
    read, _ = soundfile.read(path, dtype="int32", always_2d=True)
    assert np.array_equal(read, samples)


def test_only_16_and_24_bit_wav_and_aiff_are_written_in_place():
    assert pcmfile.supports("wav", 24) and pcmfile.supports("aiff", 16)
    assert not pcmfile.supports("flac", 24)
    assert not pcmfile.supports("wav", "32f")
