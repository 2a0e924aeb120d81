import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp import oversampling
from dsp.effect import process_in_blocks
from dsp.errors import ParameterError
from dsp.generators import sine_tone
from dsp.saturation import Saturation

RATES = [44100, 48000, 96000]


def spectrum_db(signal, rate):
    """Blackman-Harris magnitude spectrum of one second, in dB relative to its peak, and the bin frequencies."""
    frames = int(rate)
    magnitude = np.abs(
        np.fft.rfft(signal[-frames:] * scipy.signal.windows.blackmanharris(frames))
    )
    return 20 * np.log10(magnitude / magnitude.max() + 1e-300), np.fft.rfftfreq(
        frames, 1 / rate
    )


def harmonic_db(signal, rate, freq_hz, order):
    levels, freqs = spectrum_db(signal, rate)
    return levels[np.argmin(np.abs(freqs - order * freq_hz))]


@pytest.mark.parametrize("rate", RATES)
def test_aliasing_of_a_full_scale_5khz_sine_stays_below_minus_100_db(rate):
    fundamental_hz = 5000.0
    effect = Saturation(rate)
    out = effect.process_whole(
        sine_tone(fundamental_hz, 1.2, rate, level_dbfs=0.0, channels=1)
    )[:, 0]
    levels, freqs = spectrum_db(out, rate)
    harmonics = np.arange(1, int(rate / 2 // fundamental_hz) + 1) * fundamental_hz
    near_harmonic = np.min(np.abs(freqs[:, None] - harmonics[None, :]), axis=1) <= 4.0
    audible = freqs <= 20000.0
    assert levels[audible & near_harmonic].max() == pytest.approx(0.0)
    assert levels[audible & ~near_harmonic].max() < -100.0


@pytest.mark.parametrize("rate", RATES)
def test_more_drive_raises_the_third_harmonic(rate):
    tone = sine_tone(1000.0, 1.2, rate, level_dbfs=-6.0, channels=1)
    thirds = [
        harmonic_db(
            Saturation(rate, drive_db=drive).process_whole(tone)[:, 0], rate, 1000.0, 3
        )
        for drive in (0.0, 6.0, 12.0, 24.0)
    ]
    assert np.all(np.diff(thirds) > 3.0)


@pytest.mark.parametrize("mix", [0.0, 0.5, 1.0])
def test_quiet_signals_see_a_flat_response_to_20_khz_at_48_khz(mix):
    effect = Saturation(48000, drive_db=12.0, mix=mix)
    impulse = np.zeros((8192, 1))
    impulse[0] = 1e-4
    response = np.fft.rfft(effect.process_whole(impulse)[:, 0]) / 1e-4
    freqs = np.fft.rfftfreq(8192, 1 / 48000)
    levels_db = 20 * np.log10(np.abs(response[freqs <= 20000.0]))
    assert np.abs(levels_db).max() < 0.01


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("mix", [0.0, 0.5, 1.0])
def test_a_quiet_1khz_tone_keeps_its_level(rate, mix):
    tone = sine_tone(1000.0, 0.5, rate, level_dbfs=-60.0)
    out = Saturation(rate, drive_db=12.0, mix=mix).process_whole(tone)
    settled = slice(int(0.1 * rate), None)
    gain_db = 10 * np.log10(np.mean(out[settled] ** 2) / np.mean(tone[settled] ** 2))
    assert abs(gain_db) < 0.01


@pytest.mark.parametrize("rate", RATES)
def test_the_output_lags_the_input_by_the_latency(rate):
    effect = Saturation(rate, drive_db=12.0, mix=0.5)
    noise = np.random.default_rng(5).standard_normal(2 * int(rate))
    quiet_lows = 1e-3 * scipy.signal.sosfilt(
        scipy.signal.butter(8, 500.0, output="sos", fs=rate), noise
    )
    out = effect.process_whole(quiet_lows[:, None])[:, 0]
    lags = np.arange(-20, 21)
    correlation = np.array(
        [np.dot(out[40 + lag : -40 + lag], quiet_lows[40:-40]) for lag in lags]
    )
    peak = int(np.argmax(correlation))
    below, at, above = correlation[peak - 1 : peak + 2]
    fractional_lag = lags[peak] + 0.5 * (below - above) / (below - 2 * at + above)
    assert effect.latency_samples == 5
    assert lags[peak] == effect.latency_samples
    assert fractional_lag == pytest.approx(
        oversampling.round_trip_delay_samples(), abs=0.05
    )


def test_dry_mix_is_the_linear_round_trip():
    signal = np.random.default_rng(0).standard_normal((3000, 2))
    high, state = oversampling.upsample(signal, oversampling.init_state(2))
    round_trip, _ = oversampling.downsample(high, state)
    np.testing.assert_array_equal(
        Saturation(48000, drive_db=20.0, mix=0.0).process_whole(signal), round_trip
    )


@pytest.mark.parametrize("level", [-2.0, -0.7, -0.01, 0.0, 1e-6, 0.3, 1.0, 2.5])
def test_steady_levels_follow_the_tanh_curve(level):
    drive_db = 24.0
    drive = 10 ** (drive_db / 20)
    out = Saturation(48000, drive_db=drive_db).process_whole(np.full((2000, 1), level))
    assert out[-1, 0] == pytest.approx(
        np.tanh(drive * level) / drive, rel=1e-9, abs=1e-15
    )


def test_channels_are_independent():
    signal = np.random.default_rng(6).standard_normal((2000, 3))
    effect = Saturation(48000, drive_db=9.0, mix=0.8)
    together = effect.process_whole(signal)
    for channel in range(3):
        np.testing.assert_array_equal(
            together[:, channel], effect.process_whole(signal[:, [channel]])[:, 0]
        )


def test_half_mix_is_the_mean_of_dry_and_wet():
    signal = np.random.default_rng(1).standard_normal((3000, 2))
    dry, wet, half = (
        Saturation(48000, mix=mix).process_whole(signal) for mix in (0.0, 1.0, 0.5)
    )
    np.testing.assert_allclose(half, 0.5 * (dry + wet), rtol=0, atol=1e-13)


def test_full_scale_sine_peaks_at_tanh_of_the_drive_over_the_drive():
    out = Saturation(48000, drive_db=6.0).process_whole(
        sine_tone(1000.0, 0.2, 48000, level_dbfs=0.0, channels=1)
    )
    drive = 10 ** (6.0 / 20)
    assert np.max(np.abs(out[2000:])) == pytest.approx(np.tanh(drive) / drive, rel=0.01)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(1, 1500), min_size=1, max_size=8))
def test_blocks_of_any_size_are_bit_exact(block_frames):
    effect = Saturation(48000, drive_db=18.0, mix=0.7)
    signal = np.random.default_rng(2).standard_normal((4000, 2))
    np.testing.assert_array_equal(
        process_in_blocks(effect, signal, block_frames), effect.process_whole(signal)
    )


def test_process_leaves_the_given_state_untouched():
    effect = Saturation(48000)
    _, state = effect.process(
        np.random.default_rng(3).standard_normal((500, 2)), effect.init_state(2)
    )
    snapshot = {key: value.copy() for key, value in state.items()}
    effect.process(np.ones((300, 2)), state)
    for key, value in snapshot.items():
        np.testing.assert_array_equal(state[key], value)


@pytest.mark.parametrize("rate", RATES)
def test_settle_time_makes_a_cold_start_match_a_warm_one_below_minus_120_dbfs(rate):
    effect = Saturation(rate, mix=0.5)
    signal = np.random.default_rng(4).standard_normal((4000, 2))
    settle = int(np.ceil(effect.settle_s * rate))
    warm = effect.process_whole(signal)
    cold = effect.process_whole(signal[1000 - settle :])
    assert np.abs(cold[settle:] - warm[1000:]).max() < 1e-6


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
