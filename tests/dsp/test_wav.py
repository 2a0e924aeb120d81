import io as bytes_io

import numpy as np
import pytest
import soundfile

from dsp import io, wav


def libsndfile_reading(path, start, stop):
    """What libsndfile's own float32 conversion gives for frames [start, stop)."""
    with soundfile.SoundFile(str(path)) as handle:
        handle.seek(start)
        return handle.read(stop - start, dtype="float32", always_2d=True)


def written(path, subtype, channels, frames=3001, extensible=False):
    samples = np.random.default_rng(channels).uniform(-1.0, 1.0, (frames, channels))
    samples[0], samples[1], samples[2] = 1.0, -1.0, 0.0
    soundfile.write(str(path), samples, 48000, subtype=subtype, format="WAVEX" if extensible else "WAV")
    return path


@pytest.mark.parametrize("subtype,bits", [("PCM_16", 16), ("PCM_24", 24), ("PCM_32", 32)])
@pytest.mark.parametrize("channels", [1, 2, 3])
@pytest.mark.parametrize("extensible", [False, True])
def test_decoded_pcm_is_libsndfiles_float_bit_for_bit(tmp_path, subtype, bits, channels, extensible):
    path = written(tmp_path / "x.wav", subtype, channels, extensible=extensible)
    with open(path, "rb") as handle:
        layout = wav.layout(handle)
    assert wav.decodable(layout, channels, bits)
    for start, stop in [(0, 3001), (1, 2), (1234, 3001), (500, 500)]:
        np.testing.assert_array_equal(io.read_frames(path, start, stop), libsndfile_reading(path, start, stop))


def test_layout_skips_chunks_before_the_data_and_finds_odd_sized_ones(tmp_path):
    path = written(tmp_path / "x.wav", "PCM_24", 2, frames=100)
    data = path.read_bytes()
    fmt_end = 12 + 8 + int.from_bytes(data[16:20], "little")
    odd_chunk = b"LIST" + (5).to_bytes(4, "little") + b"abcde" + b"\x00"
    patched = data[:fmt_end] + odd_chunk + data[fmt_end:]
    patched = patched[:4] + (len(patched) - 8).to_bytes(4, "little") + patched[8:]
    layout = wav.layout(bytes_io.BytesIO(patched))
    assert layout.data_offset == fmt_end + len(odd_chunk) + 8
    assert layout.data_bytes == 100 * 6 and layout.pcm_bits == 24 and layout.block_align == 6
    (tmp_path / "patched.wav").write_bytes(patched)
    np.testing.assert_array_equal(io.read_frames(tmp_path / "patched.wav", 10, 90), libsndfile_reading(path, 10, 90))


@pytest.mark.parametrize("subtype,fmt", [("FLOAT", "WAV"), ("PCM_U8", "WAV"), ("PCM_24", "AIFF"), ("PCM_24", "FLAC")])
def test_other_files_are_not_wav_pcm_and_still_read(tmp_path, subtype, fmt):
    path = tmp_path / f"x.{fmt.lower()}"
    samples = np.random.default_rng(1).uniform(-0.9, 0.9, (1000, 2))
    soundfile.write(str(path), samples, 44100, subtype=subtype, format=fmt)
    with open(path, "rb") as handle:
        layout = wav.layout(handle)
    assert layout is None or not any(wav.decodable(layout, 2, bits) for bits in wav.PCM_BITS)
    np.testing.assert_array_equal(io.read_frames(path, 100, 900), libsndfile_reading(path, 100, 900))


def test_open_files_decode_like_paths(tmp_path):
    path = written(tmp_path / "x.wav", "PCM_24", 2)
    with open(path, "rb") as handle:
        from_file = io.read_frames(handle, 7, 2007, name="s3://bucket/x.wav")
    np.testing.assert_array_equal(from_file, io.read_frames(path, 7, 2007))
