import numpy as np
import pytest
import soundfile

from dsp import io
from dsp.errors import AudioFileError, ParameterError


def noise(frames=4800, channels=2, level=0.25):
    return (np.random.default_rng(7).uniform(-level, level, (frames, channels))).astype(np.float32)


@pytest.mark.parametrize(
    "fmt,bit_depth,tolerance",
    [("wav", "16", 2**-15), ("wav", "24", 2**-23), ("wav", "32f", 0.0), ("aiff", "24", 2**-23), ("flac", "16", 2**-15), ("flac", "24", 2**-23)],
)
def test_write_then_read_round_trips_within_one_lsb(tmp_path, fmt, bit_depth, tolerance):
    samples = noise()
    path = tmp_path / f"x.{fmt}"
    written = io.write(path, samples, 44100, format=fmt, bit_depth=bit_depth)
    back, rate = io.read(path)
    assert rate == 44100 and written.frames == samples.shape[0] and written.channels == 2
    assert back.dtype == np.float32 and back.shape == samples.shape
    assert np.max(np.abs(back - samples)) <= tolerance


def test_read_frames_reads_exactly_the_requested_range(tmp_path):
    samples = noise(10000, 1)
    io.write(tmp_path / "x.wav", samples, 48000, bit_depth="32f")
    part = io.read_frames(tmp_path / "x.wav", 1234, 5678)
    np.testing.assert_array_equal(part, samples[1234:5678])


@pytest.mark.parametrize(
    "fmt,subtype",
    [("WAV", "PCM_U8"), ("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "PCM_32"), ("AIFF", "PCM_S8"), ("AIFF", "PCM_24"), ("FLAC", "PCM_16"), ("FLAC", "PCM_24")],
)
def test_integer_pcm_reads_as_libsndfiles_own_float_conversion(tmp_path, fmt, subtype):
    samples = np.random.default_rng(3).uniform(-1.0, 1.0, (6000, 2))
    samples[:6] = [[1.0, -1.0], [0.99999999, -0.99999999], [2**-30, -(2**-30)], [0.5, 0.25], [0.0, -0.0], [1e-9, -1e-9]]
    path = tmp_path / f"x.{subtype}.{fmt.lower()}"
    soundfile.write(path, samples, 48000, format=fmt, subtype=subtype)
    expected, _ = soundfile.read(path, dtype="float32", always_2d=True)
    part = io.read_frames(path, 0, 6000)
    assert part.dtype == np.float32
    np.testing.assert_array_equal(part, expected)


def test_read_frames_past_the_end_names_the_file_and_length(tmp_path):
    io.write(tmp_path / "x.wav", noise(100), 48000)
    with pytest.raises(AudioFileError, match=r"x\.wav: frames \[50, 101\) requested but the file has only 100 frames"):
        io.read_frames(tmp_path / "x.wav", 50, 101)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(AudioFileError, match=r"nope\.wav: no such file"):
        io.read(tmp_path / "nope.wav")


def test_unreadable_file_is_named(tmp_path):
    (tmp_path / "junk.wav").write_bytes(b"this is not audio at all")
    with pytest.raises(AudioFileError, match=r"junk\.wav: unreadable or unsupported audio file"):
        io.read(tmp_path / "junk.wav")


def test_truncated_wav_is_detected(tmp_path):
    io.write(tmp_path / "x.wav", noise(4800), 48000)
    raw = (tmp_path / "x.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(AudioFileError, match=r"cut\.wav: truncated WAV"):
        io.read(tmp_path / "cut.wav")


def test_empty_file_is_rejected(tmp_path):
    import soundfile

    soundfile.write(tmp_path / "empty.wav", np.zeros((0, 2)), 48000)
    with pytest.raises(AudioFileError, match=r"empty\.wav: empty audio file"):
        io.read(tmp_path / "empty.wav")


def test_unsupported_format_and_depth_are_rejected(tmp_path):
    with pytest.raises(ParameterError, match=r"format: must be one of 'wav', 'aiff', 'flac', got 'mp4'"):
        io.write(tmp_path / "x.mp4", noise(), 48000, format="mp4")
    with pytest.raises(ParameterError, match=r"bit_depth: flac supports 16 or 24, got 32f"):
        io.write(tmp_path / "x.flac", noise(), 48000, format="flac", bit_depth="32f")


def test_write_refuses_nan(tmp_path):
    samples = noise()
    samples[100, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite samples, first at frame 100"):
        io.write(tmp_path / "x.wav", samples, 48000)


@pytest.mark.parametrize("quality", ["HQ", "VHQ"])
def test_resample_keeps_a_tone_at_its_frequency_and_level(quality):
    rate_in, rate_out = 44100, 48000
    t = np.arange(rate_in) / rate_in
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t))[:, None]
    out = io.resample(tone, rate_in, rate_out, quality)
    assert out.shape[0] == rate_out
    middle = out[4800:-4800, 0]
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(middle.size)))
    peak_hz = np.argmax(spectrum) * rate_out / middle.size
    assert abs(peak_hz - 1000) < 2
    assert abs(np.max(np.abs(middle)) - 0.5) < 1e-3


def test_open_files_read_like_paths_and_are_named_in_errors(tmp_path):
    import io as stdio

    samples = noise(3000, 2)
    io.write(tmp_path / "x.wav", samples, 48000, bit_depth="32f")
    raw = (tmp_path / "x.wav").read_bytes()
    facts = io.info(stdio.BytesIO(raw), name="s3://bucket/x.wav")
    assert (facts.path, facts.frames, facts.channels) == ("s3://bucket/x.wav", 3000, 2)
    np.testing.assert_array_equal(io.read_frames(stdio.BytesIO(raw), 100, 200), samples[100:200])
    with pytest.raises(AudioFileError, match=r"s3://bucket/cut\.wav: truncated WAV"):
        io.info(stdio.BytesIO(raw[: len(raw) // 2]), name="s3://bucket/cut.wav")
    with pytest.raises(AudioFileError, match=r"s3://bucket/junk\.wav: unreadable or unsupported audio file"):
        io.info(stdio.BytesIO(b"not audio"), name="s3://bucket/junk.wav")
