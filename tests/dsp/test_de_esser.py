"""The de-esser: measured reduction of a sibilant burst, tones below its band untouched, the crossover, exactness."""

import math

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.crossover import linkwitz_riley
from dsp.de_esser import DeEsser
from dsp.effect import process_in_blocks
from dsp.errors import ParameterError

RATE = 48000


def sine(freq_hz: float, seconds: float, level_db: float, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return np.repeat((10 ** (level_db / 20) * np.sin(2 * np.pi * freq_hz * t))[:, None], channels, axis=1)


def rms_db(audio: np.ndarray) -> float:
    return 10 * math.log10(np.mean(audio**2))


def magnitude_db(sos: np.ndarray, freq_hz: float) -> float:
    _, response = scipy.signal.sosfreqz(sos, worN=[freq_hz], fs=RATE)
    return 20 * math.log10(abs(response[0]))


@pytest.mark.parametrize("freq_hz", [500.0, 2000.0, 6000.0, 15000.0])
def test_the_crossover_is_minus_6_db_at_its_frequency_24_db_per_octave_or_more_beyond_and_sums_flat(freq_hz):
    low, high = linkwitz_riley("lowpass", freq_hz, RATE), linkwitz_riley("highpass", freq_hz, RATE)
    assert magnitude_db(low, freq_hz) == pytest.approx(-6.02, abs=0.01)
    assert magnitude_db(high, freq_hz) == pytest.approx(-6.02, abs=0.01)
    assert magnitude_db(high, freq_hz / 8) < -71.5 and magnitude_db(low, min(freq_hz * 8, 23000.0)) < -50.0
    probes = np.geomspace(20.0, 20000.0, 200)
    _, low_response = scipy.signal.sosfreqz(low, worN=probes, fs=RATE)
    _, high_response = scipy.signal.sosfreqz(high, worN=probes, fs=RATE)
    assert np.max(np.abs(20 * np.log10(np.abs(low_response + high_response)))) < 1e-9


@pytest.mark.parametrize("burst_db, expected_reduction_db", [(-12.0, None), (-2.0, 12.0)])
def test_a_burst_above_threshold_is_reduced_by_its_excess_up_to_the_range(burst_db, expected_reduction_db):
    de_esser = DeEsser(RATE, threshold_db=-24.0, freq_hz=5000.0, range_db=-12.0, mode="wide")
    detected_db = burst_db + magnitude_db(de_esser.highpass, 7000.0)
    if expected_reduction_db is None:
        expected_reduction_db = detected_db - de_esser.threshold_db
        assert 0 < expected_reduction_db < 12
    burst = sine(7000.0, 0.5, burst_db)
    out = de_esser.process_whole(burst)
    steady = slice(int(0.2 * RATE), int(0.5 * RATE))
    assert rms_db(burst[steady]) - rms_db(out[steady]) == pytest.approx(expected_reduction_db, abs=1.0)


@pytest.mark.parametrize("mode", ["split", "wide"])
def test_a_tone_below_the_band_is_left_alone(mode):
    de_esser = DeEsser(RATE, threshold_db=-30.0, mode=mode)
    tone = sine(1000.0, 0.5, -3.0)
    out = de_esser.process_whole(tone)
    steady = slice(int(0.1 * RATE), None)
    assert abs(rms_db(out[steady]) - rms_db(tone[steady])) < 0.1


def test_split_mode_turns_down_only_the_band_above_its_frequency():
    de_esser = DeEsser(RATE, threshold_db=-30.0, freq_hz=3000.0, range_db=-10.0, mode="split")
    low, sibilance = sine(500.0, 1.0, -10.0), sine(9000.0, 1.0, -10.0)
    out = de_esser.process_whole(low + sibilance)
    steady = slice(int(0.5 * RATE), RATE)
    spectrum = np.abs(np.fft.rfft(out[steady, 0] * np.hanning(RATE // 2)))
    reference = np.abs(np.fft.rfft((low + sibilance)[steady, 0] * np.hanning(RATE // 2)))
    bin_of = lambda freq_hz: int(round(freq_hz * (RATE // 2) / RATE))  # noqa: E731
    assert 20 * math.log10(spectrum[bin_of(500.0)] / reference[bin_of(500.0)]) == pytest.approx(0.0, abs=0.1)
    assert 20 * math.log10(spectrum[bin_of(9000.0)] / reference[bin_of(9000.0)]) == pytest.approx(-10.0, abs=1.0)


def test_with_nothing_to_reduce_split_mode_keeps_the_magnitude_at_every_frequency():
    de_esser = DeEsser(RATE, threshold_db=20.0, freq_hz=4000.0)
    impulse = np.zeros((RATE, 1))
    impulse[0] = 1.0
    response = np.fft.rfft(de_esser.process_whole(impulse)[:, 0])
    assert np.max(np.abs(20 * np.log10(np.abs(response[10:-10])))) < 1e-6


def test_wide_mode_with_a_quiet_band_is_the_input_exactly():
    signal = sine(200.0, 0.3, -6.0)
    np.testing.assert_array_equal(DeEsser(RATE, threshold_db=-20.0, mode="wide").process_whole(signal), signal)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(1, 5000), min_size=1, max_size=10))
def test_blocks_of_any_size_are_bit_exact(block_frames):
    rng = np.random.default_rng(2)
    signal = sine(7000.0, 0.4, -6.0) * (rng.random((int(0.4 * RATE), 1)) > 0.5) + rng.standard_normal((int(0.4 * RATE), 2)) * 0.05
    for mode in ("split", "wide"):
        de_esser = DeEsser(RATE, threshold_db=-30.0, mode=mode)
        np.testing.assert_array_equal(process_in_blocks(de_esser, signal, block_frames), de_esser.process_whole(signal))


@pytest.mark.parametrize("mode", ["split", "wide"])
def test_cold_start_after_settle_time_matches_warm_start(mode):
    de_esser = DeEsser(RATE, threshold_db=-30.0, freq_hz=5000.0, mode=mode, attack_s=0.002, release_s=0.08)
    rng = np.random.default_rng(6)
    signal = rng.standard_normal((3 * RATE, 2)) * 0.2 * (np.sin(np.arange(3 * RATE) / RATE * 9.0) > 0)[:, None]
    warm = de_esser.process_whole(signal)
    preroll = math.ceil(de_esser.settle_s * RATE)
    start = 2 * RATE
    cold = de_esser.process_whole(signal[start - preroll :])[preroll:]
    assert np.max(np.abs(cold - warm[start:])) < 10 ** (-120 / 20)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"threshold_db": -20.0, "range_db": 6.0}, r"range_db: must be .*<= 0"),
        ({"threshold_db": -20.0, "range_db": -70.0}, r"range_db: must be .*-60"),
        ({"threshold_db": -20.0, "mode": "band"}, r"mode: must be one of 'split', 'wide', got 'band'"),
        ({"threshold_db": -20.0, "freq_hz": 30000.0}, r"freq_hz: must be such that 0 < freq_hz < 24000"),
        ({"threshold_db": -20.0, "attack_s": -0.1}, r"attack_s: must be >= 0"),
    ],
)
def test_bad_parameters_name_the_field_and_rule(params, message):
    with pytest.raises(ParameterError, match=message):
        DeEsser(RATE, **params)
