import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.effect import process_in_blocks
from dsp.errors import ParameterError
from dsp.generators import sine_tone
from dsp.saturation import Saturation

RATES = [44100, 48000, 96000]


def spectrum_db(signal, rate):
    """Blackman-Harris magnitude spectrum of one second, in dB relative to its peak, and the bin frequencies."""
    frames = int(rate)
    magnitude = np.abs(np.fft.rfft(signal[-frames:] * scipy.signal.windows.blackmanharris(frames)))
    return 20 * np.log10(magnitude / magnitude.max() + 1e-300), np.fft.rfftfreq(frames, 1 / rate)


def harmonic_db(signal, rate, freq_hz, order):
    levels, freqs = spectrum_db(signal, rate)
    return levels[np.argmin(np.abs(freqs - order * freq_hz))]


@pytest.mark.parametrize("rate", RATES)
def test_aliasing_of_a_full_scale_5khz_sine_stays_below_minus_80_db(rate):
    fundamental_hz = 5000.0
    effect = Saturation(rate)
    out = effect.process_whole(sine_tone(fundamental_hz, 1.2, rate, level_dbfs=0.0, channels=1))[:, 0]
    levels, freqs = spectrum_db(out, rate)
    harmonics = np.arange(1, int(rate / 2 // fundamental_hz) + 1) * fundamental_hz
    near_harmonic = np.min(np.abs(freqs[:, None] - harmonics[None, :]), axis=1) <= 4.0
    audible = freqs <= 20000.0
    assert levels[audible & near_harmonic].max() == pytest.approx(0.0)
    assert levels[audible & ~near_harmonic].max() < -80.0


@pytest.mark.parametrize("rate", RATES)
def test_more_drive_raises_the_third_harmonic(rate):
    tone = sine_tone(1000.0, 1.2, rate, level_dbfs=-6.0, channels=1)
    thirds = [harmonic_db(Saturation(rate, drive_db=drive).process_whole(tone)[:, 0], rate, 1000.0, 3) for drive in (0.0, 6.0, 12.0, 24.0)]
    assert np.all(np.diff(thirds) > 3.0)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("mix", [0.0, 0.5, 1.0])
def test_quiet_signals_pass_at_unity_gain_delayed_by_the_latency(rate, mix):
    effect = Saturation(rate, drive_db=12.0, mix=mix)
    tone = sine_tone(1000.0, 0.2, rate, level_dbfs=-60.0)
    latency = effect.latency_samples
    out = effect.process_whole(tone)
    settled = 500
    assert latency > 0
    assert np.max(np.abs(out[latency + settled :] - tone[settled:-latency])) < 1e-6


def test_dry_mix_is_the_input_delayed_exactly():
    effect = Saturation(48000, drive_db=20.0, mix=0.0)
    signal = np.random.default_rng(0).standard_normal((3000, 2))
    out = effect.process_whole(signal)
    latency = effect.latency_samples
    np.testing.assert_array_equal(out[latency:], signal[:-latency])
    np.testing.assert_array_equal(out[:latency], 0.0)


def test_half_mix_is_the_mean_of_dry_and_wet():
    signal = np.random.default_rng(1).standard_normal((3000, 2))
    dry, wet, half = (Saturation(48000, mix=mix).process_whole(signal) for mix in (0.0, 1.0, 0.5))
    np.testing.assert_allclose(half, 0.5 * (dry + wet), rtol=0, atol=1e-15)


def test_full_scale_sine_peaks_at_tanh_of_the_drive_over_the_drive():
    out = Saturation(48000, drive_db=6.0).process_whole(sine_tone(1000.0, 0.2, 48000, level_dbfs=0.0, channels=1))
    drive = 10 ** (6.0 / 20)
    assert np.max(np.abs(out[2000:])) == pytest.approx(np.tanh(drive) / drive, rel=0.01)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(1, 1500), min_size=1, max_size=8))
def test_blocks_of_any_size_are_bit_exact(block_frames):
    effect = Saturation(48000, drive_db=18.0, mix=0.7)
    signal = np.random.default_rng(2).standard_normal((4000, 2))
    np.testing.assert_array_equal(process_in_blocks(effect, signal, block_frames), effect.process_whole(signal))


def test_process_leaves_the_given_state_untouched():
    effect = Saturation(48000)
    _, state = effect.process(np.random.default_rng(3).standard_normal((500, 2)), effect.init_state(2))
    snapshot = {key: value.copy() for key, value in state.items()}
    effect.process(np.ones((300, 2)), state)
    for key, value in snapshot.items():
        np.testing.assert_array_equal(state[key], value)


def test_settle_time_makes_a_cold_start_match_a_warm_one():
    effect = Saturation(48000, mix=0.5)
    signal = np.random.default_rng(4).standard_normal((4000, 1))
    settle = int(np.ceil(effect.settle_s * 48000))
    warm = effect.process_whole(signal)
    cold = effect.process_whole(signal[1000 - settle :])
    np.testing.assert_array_equal(cold[settle:], warm[1000:])


@pytest.mark.parametrize(
    "params,message",
    [
        ({"drive_db": -1.0}, r"drive_db: must be >= 0, got -1"),
        ({"drive_db": 60.0}, r"drive_db: must be <= 48, got 60"),
        ({"mix": 1.5}, r"mix: must be <= 1, got 1.5"),
        ({"mix": -0.1}, r"mix: must be >= 0, got -0.1"),
        ({"drive_db": "hot"}, r"drive_db: must be a number, got 'hot'"),
    ],
)
def test_bad_parameters_are_rejected(params, message):
    with pytest.raises(ParameterError, match=message):
        Saturation(48000, **params)
