import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.errors import ParameterError
from dsp.oversampling import Oversampler


def tone(freq_hz, rate, frames, channels=1):
    t = np.arange(frames) / rate
    return np.repeat((0.5 * np.sin(2 * np.pi * freq_hz * t))[:, None], channels, axis=1)


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_round_trip_is_a_pure_delay_in_the_passband(factor):
    sampler = Oversampler(factor)
    signal = tone(3000.0, 48000, 9600, 2)
    state = sampler.init_state(2)
    up, state = sampler.upsample(signal, state)
    back, _ = sampler.downsample(up, state)
    delay = sampler.latency_samples
    assert up.shape[0] == factor * signal.shape[0]
    assert np.max(np.abs(back[delay + 2000 :] - signal[2000:-delay])) < 1e-4


def test_upsampled_tone_has_no_images_above_base_nyquist():
    sampler = Oversampler(4)
    up, _ = sampler.upsample(tone(5000.0, 48000, 48000), sampler.init_state(1))
    spectrum = np.abs(np.fft.rfft(up[4800:, 0] * np.blackman(up.shape[0] - 4800)))
    freqs = np.fft.rfftfreq(up.shape[0] - 4800, 1 / 192000)
    images = spectrum[freqs > 24000].max() / spectrum.max()
    assert 20 * np.log10(images) < -100


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 2000), min_size=1, max_size=8))
def test_blocks_of_any_size_are_bit_exact(block_frames):
    sampler = Oversampler(4)
    signal = np.random.default_rng(2).standard_normal((5000, 2))
    whole_up, state = sampler.upsample(signal, sampler.init_state(2))
    whole, _ = sampler.downsample(whole_up, state)
    state, parts, start = sampler.init_state(2), [], 0
    for frames in block_frames + [signal.shape[0]]:
        up, state = sampler.upsample(signal[start : start + frames], state)
        down, state = sampler.downsample(up, state)
        parts.append(down)
        start += frames
        if start >= signal.shape[0]:
            break
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_bad_factor_is_rejected():
    with pytest.raises(ParameterError, match=r"factor: must be an integer from 2 to 16, got 1"):
        Oversampler(1)
