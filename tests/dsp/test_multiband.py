"""The multiband compressor: flat when bypassed, each band compressing only its band, exactness, its rules."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.compressor import Compressor
from dsp.effect import process_in_blocks
from dsp.errors import ParameterError
from dsp.multiband import CompressorBand, MultibandCompressor

RATE = 48000
CROSSOVERS = {2: (1000.0,), 3: (200.0, 2000.0), 4: (150.0, 1200.0, 6000.0), 5: (100.0, 500.0, 2500.0, 9000.0)}


def band(threshold_db: float = -20.0, ratio: float = 4.0, **settings) -> CompressorBand:
    return CompressorBand(threshold_db, ratio, **settings)


def sine(freq_hz: float, seconds: float, level_db: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return np.repeat((10 ** (level_db / 20) * np.sin(2 * np.pi * freq_hz * t))[:, None], 2, axis=1)


def level_db(audio: np.ndarray) -> float:
    return 10 * math.log10(np.mean(audio**2))


@pytest.mark.parametrize("count", [2, 3, 4, 5])
def test_with_every_band_bypassed_the_magnitude_is_flat_from_20_hz_to_20_khz(count):
    multiband = MultibandCompressor(RATE, crossovers_hz=CROSSOVERS[count], bands=[band(-60.0, 10.0, bypass=True)] * count)
    impulse = np.zeros((2 * RATE, 1))
    impulse[0] = 1.0
    response = np.fft.rfft(multiband.process_whole(impulse)[:, 0])
    bins = np.fft.rfftfreq(2 * RATE, 1 / RATE)
    audible = (bins >= 20.0) & (bins <= 20000.0)
    assert np.max(np.abs(20 * np.log10(np.abs(response[audible])))) < 0.05
    assert np.max(np.abs(20 * np.log10(np.abs(response[audible])))) < 1e-6, "in fact flat to a millionth of a dB"


def test_a_tone_in_band_two_above_its_threshold_is_reduced_as_a_compressor_would():
    bands = [band(-10.0, 2.0), band(-20.0, 4.0), band(-10.0, 2.0)]
    multiband = MultibandCompressor(RATE, crossovers_hz=(100.0, 4000.0), bands=bands)
    tone = sine(632.0, 1.0, -6.0)
    steady = slice(RATE // 2, RATE)
    reduction_db = level_db(tone[steady]) - level_db(multiband.process_whole(tone)[steady])
    alone = Compressor(RATE, threshold_db=-20.0, ratio=4.0)
    expected_db = level_db(tone[steady]) - level_db(alone.process_whole(tone)[steady])
    assert expected_db == pytest.approx((-6.0 + 20.0) * (1 - 1 / 4), abs=0.3)
    assert reduction_db == pytest.approx(expected_db, abs=0.1)


def test_a_tone_in_band_one_below_its_threshold_is_unchanged():
    bands = [band(-20.0, 4.0), band(-40.0, 8.0), band(-40.0, 8.0)]
    multiband = MultibandCompressor(RATE, crossovers_hz=(200.0, 2000.0), bands=bands)
    tone = sine(60.0, 1.0, -26.0)
    steady = slice(RATE // 2, RATE)
    assert abs(level_db(multiband.process_whole(tone)[steady]) - level_db(tone[steady])) < 0.1


def test_a_dry_mix_is_the_bypassed_signal():
    signal = np.random.default_rng(3).standard_normal((RATE, 2)) * 0.3
    dry = MultibandCompressor(RATE, crossovers_hz=(300.0, 3000.0), bands=[band()] * 3, mix=0.0)
    bypassed = MultibandCompressor(RATE, crossovers_hz=(300.0, 3000.0), bands=[band(bypass=True)] * 3)
    np.testing.assert_allclose(dry.process_whole(signal), bypassed.process_whole(signal), rtol=0, atol=1e-15)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 6000), min_size=1, max_size=8))
def test_blocks_of_any_size_are_bit_exact(block_frames):
    rng = np.random.default_rng(4)
    signal = rng.standard_normal((RATE // 2, 2)) * 0.3 * (np.sin(np.arange(RATE // 2) / RATE * 20.0) > 0)[:, None]
    multiband = MultibandCompressor(RATE, crossovers_hz=(150.0, 1200.0, 6000.0), bands=[band(), band(bypass=True), band(-30.0, 3.0), band(-25.0, 6.0)], mix=0.8)
    np.testing.assert_array_equal(process_in_blocks(multiband, signal, block_frames), multiband.process_whole(signal))


def test_cold_start_after_settle_time_matches_warm_start():
    multiband = MultibandCompressor(RATE, crossovers_hz=(120.0, 2500.0), bands=[band(-24.0, 3.0), band(-18.0, 2.0, attack_s=0.005), band(-30.0, 5.0, release_s=0.05)])
    rng = np.random.default_rng(5)
    signal = rng.standard_normal((4 * RATE, 2)) * 0.3 * (np.sin(np.arange(4 * RATE) / RATE * 7.0) > 0)[:, None]
    warm = multiband.process_whole(signal)
    preroll = math.ceil(multiband.settle_s * RATE)
    start = 3 * RATE
    assert preroll < start
    cold = multiband.process_whole(signal[start - preroll :])[preroll:]
    assert np.max(np.abs(cold - warm[start:])) < 10 ** (-120 / 20)


@pytest.mark.parametrize(
    "crossovers_hz, bands, message",
    [
        ((), [band()], r"crossovers_hz: must hold 1 to 4 frequencies, got 0"),
        ((2000.0, 200.0), [band()] * 3, r"crossovers_hz\[1\]: must be above crossovers_hz\[0\] \(2000 Hz\), got 200"),
        ((200.0, 2000.0), [band()] * 2, r"bands: 2 crossover\(s\) make 3 bands, got 2 band\(s\)"),
        ((200.0,), [band(), band(ratio=0.5)], r"bands\[1\]\.ratio: must be >= 1, got 0.5"),
        ((30000.0,), [band()] * 2, r"crossovers_hz\[0\]: must be such that 0 < crossovers_hz\[0\] < 24000"),
    ],
)
def test_bad_settings_name_the_field_and_rule(crossovers_hz, bands, message):
    with pytest.raises(ParameterError, match=message):
        MultibandCompressor(RATE, crossovers_hz=crossovers_hz, bands=bands)
