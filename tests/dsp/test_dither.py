import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.dither import PAGE_FRAMES, Quantiser, lsb
from dsp.errors import ParameterError

RATE = 48000


def sine(level, freq_hz=1000.0, frames=4 * RATE, channels=2):
    t = np.arange(frames) / RATE
    return np.repeat((level * np.sin(2 * np.pi * freq_hz * t))[:, None], channels, axis=1)


def band_power(error, low_hz, high_hz):
    spectrum = np.abs(np.fft.rfft(error[:, 0])) ** 2
    freqs = np.fft.rfftfreq(error.shape[0], 1 / RATE)
    return spectrum[(freqs >= low_hz) & (freqs < high_hz)].mean()


@pytest.mark.parametrize("bit_depth", [16, 24])
def test_tpdf_error_power_is_a_quarter_lsb_squared(bit_depth):
    signal = sine(0.3)
    out = Quantiser(bit_depth, "tpdf", seed=1).process_whole(signal)
    error_lsb = (out - signal) / lsb(bit_depth)
    assert np.var(error_lsb) == pytest.approx(0.25, rel=0.03)
    assert abs(np.mean(error_lsb)) < 0.01


def test_tpdf_error_is_white():
    signal = sine(0.3)
    error = Quantiser(16, "tpdf", seed=2).process_whole(signal) - signal
    bands = [band_power(error, low, high) for low, high in [(100, 2000), (2000, 6000), (6000, 12000), (12000, 23000)]]
    assert 10 * np.log10(max(bands) / min(bands)) < 0.5


def test_tpdf_error_is_uncorrelated_with_the_signal():
    signal = sine(0.3)
    error = Quantiser(16, "tpdf", seed=3).process_whole(signal) - signal
    assert abs(np.corrcoef(error[:, 0], signal[:, 0])[0, 1]) < 0.01


def test_tpdf_keeps_a_tone_below_one_lsb_that_plain_rounding_loses():
    signal = sine(0.4 * lsb(16))
    undithered = Quantiser(16, "none").process_whole(signal)
    dithered = Quantiser(16, "tpdf", seed=4).process_whole(signal)
    assert np.all(undithered == 0.0)
    freqs = np.fft.rfftfreq(signal.shape[0], 1 / RATE)
    tone_bin = np.argmin(np.abs(freqs - 1000))
    amplitude = 2 * np.abs(np.fft.rfft(dithered[:, 0]))[tone_bin] / signal.shape[0]
    assert amplitude == pytest.approx(0.4 * lsb(16), rel=0.05)


def test_shaped_dither_moves_error_out_of_the_sensitive_band():
    signal = sine(0.3)
    flat = Quantiser(16, "tpdf", seed=5).process_whole(signal) - signal
    shaped = Quantiser(16, "shaped", seed=5).process_whole(signal) - signal
    assert band_power(shaped, 1000, 5000) < band_power(flat, 1000, 5000) / 2
    assert band_power(shaped, 16000, 23000) > band_power(flat, 16000, 23000) * 2


@pytest.mark.parametrize("kind", ["none", "tpdf", "shaped"])
@pytest.mark.parametrize("bit_depth", [16, 24])
def test_output_lies_on_the_integer_grid_and_clips_at_full_scale(kind, bit_depth):
    signal = sine(1.2, frames=RATE // 10)
    out = Quantiser(bit_depth, kind, seed=6).process_whole(signal)
    codes = out / lsb(bit_depth)
    np.testing.assert_array_equal(codes, np.round(codes))
    assert codes.max() == 2 ** (bit_depth - 1) - 1 and codes.min() == -(2 ** (bit_depth - 1))


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, PAGE_FRAMES + 500), min_size=1, max_size=6), st.sampled_from(["tpdf", "shaped"]))
def test_blocks_of_any_size_are_bit_exact(block_frames, kind):
    quantiser = Quantiser(16, kind, seed=11)
    signal = sine(0.5, frames=3 * PAGE_FRAMES // 2)
    state = quantiser.init_state(2)
    parts, start = [], 0
    for frames in block_frames + [signal.shape[0]]:
        out, state = quantiser.process(signal[start : start + frames], state)
        parts.append(out)
        start += frames
        if start >= signal.shape[0]:
            break
    np.testing.assert_array_equal(np.concatenate(parts), quantiser.process_whole(signal))


def test_seed_reproduces_and_distinguishes_renders():
    signal = sine(0.3, frames=RATE)
    first = Quantiser(16, "tpdf", seed=7).process_whole(signal)
    np.testing.assert_array_equal(first, Quantiser(16, "tpdf", seed=7).process_whole(signal))
    assert not np.array_equal(first, Quantiser(16, "tpdf", seed=8).process_whole(signal))


def test_bad_settings_are_rejected():
    with pytest.raises(ParameterError, match=r"bit_depth: must be one of 16, 24, got 20"):
        Quantiser(20)
    with pytest.raises(ParameterError, match=r"dither: must be one of 'none', 'tpdf', 'shaped', got 'rpdf'"):
        Quantiser(16, "rpdf")
