import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp import oversampling

RATE = 48000


def round_trip(signal):
    high, state = oversampling.upsample(
        signal, oversampling.init_state(signal.shape[1])
    )
    back, _ = oversampling.downsample(high, state)
    return back


def impulse_response(frames=8192):
    impulse = np.zeros((frames, 1))
    impulse[0] = 1.0
    return round_trip(impulse)[:, 0]


@pytest.mark.parametrize("freq_hz", [1000.0, 5000.0, 15000.0, 21000.0])
def test_upsampled_tone_has_no_images_above_110_db(freq_hz):
    t = np.arange(RATE) / RATE
    tone = np.sin(2 * np.pi * freq_hz * t)[:, None]
    high, _ = oversampling.upsample(tone, oversampling.init_state(1))
    settled = high[4 * 4800 :, 0]
    spectrum = np.abs(
        np.fft.rfft(settled * scipy.signal.windows.blackmanharris(settled.size))
    )
    freqs = np.fft.rfftfreq(settled.size, 1 / (4 * RATE))
    images = (
        spectrum[freqs > (2 - oversampling.PASSBAND_RATIO) * RATE / 2].max()
        / spectrum.max()
    )
    assert 20 * np.log10(images) < -oversampling.STOPBAND_DB


def test_round_trip_is_flat_to_the_passband_edge():
    response = np.fft.rfft(impulse_response())
    freqs = np.fft.rfftfreq(8192, 1 / RATE)
    levels_db = 20 * np.log10(
        np.abs(response[freqs <= oversampling.PASSBAND_RATIO * RATE / 2])
    )
    assert np.abs(levels_db).max() < 1e-8


def test_round_trip_delay_is_the_phase_slope_at_low_frequencies():
    response = np.fft.rfft(impulse_response())
    radians = 2 * np.pi * np.fft.rfftfreq(8192)
    phase = np.unwrap(np.angle(response))
    slope = -(phase[2] - phase[1]) / (radians[2] - radians[1])
    assert slope == pytest.approx(oversampling.round_trip_delay_samples(), abs=1e-3)


def test_settle_samples_decay_the_slowest_pole_by_160_db():
    radius = max(oversampling.STAGE1.max(), oversampling.STAGE2.max() ** 2)
    assert 20 * np.log10(radius) * oversampling.settle_samples() == pytest.approx(
        -oversampling.SETTLE_DECAY_DB
    )


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 2000), min_size=1, max_size=8))
def test_blocks_of_any_size_are_bit_exact(block_frames):
    signal = np.random.default_rng(2).standard_normal((5000, 2))
    whole = round_trip(signal)
    state, parts, start = oversampling.init_state(2), [], 0
    for frames in block_frames + [signal.shape[0]]:
        high, state = oversampling.upsample(signal[start : start + frames], state)
        back, state = oversampling.downsample(high, state)
        parts.append(back)
        start += frames
        if start >= signal.shape[0]:
            break
    np.testing.assert_array_equal(np.concatenate(parts), whole)


@pytest.mark.parametrize("channels", [1, 3, 5])
def test_every_channel_is_filtered_alone(channels):
    signal = np.random.default_rng(3).standard_normal((3000, channels))
    together = round_trip(signal)
    for channel in range(channels):
        np.testing.assert_array_equal(
            together[:, channel], round_trip(signal[:, [channel]])[:, 0]
        )


def test_the_given_state_is_left_untouched():
    state = oversampling.init_state(2)
    _, state = oversampling.upsample(np.ones((100, 2)), state)
    snapshot = {key: value.copy() for key, value in state.items()}
    oversampling.upsample(np.ones((50, 2)), state)
    oversampling.downsample(np.ones((200, 2)), state)
    for key, value in snapshot.items():
        np.testing.assert_array_equal(state[key], value)
