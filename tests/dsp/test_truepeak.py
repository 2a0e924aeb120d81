"""True peak (BS.1770-4 Annex 2): the interpolator table, EBU Tech 3341 cases, streaming."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp import truepeak
from dsp.errors import BlockError, ParameterError

RATE_HZ = 48000


def tapered_tone(period_frames: float, amplitude: float, phase_deg: float, sample_rate: float = RATE_HZ) -> np.ndarray:
    """One second of ``amplitude * sin(2 pi n / period + phase)``, 10 ms linear tapers, mono."""
    n = np.arange(int(sample_rate))
    tone = amplitude * np.sin(2 * np.pi * n / period_frames + np.deg2rad(phase_deg))
    ramp = int(0.01 * sample_rate)
    envelope = np.ones(n.size)
    envelope[:ramp] = np.linspace(0, 1, ramp)
    envelope[-ramp:] = np.linspace(1, 0, ramp)
    return (tone * envelope)[:, np.newaxis]


def test_annex2_table_is_a_symmetric_48_tap_filter():
    taps = truepeak.ANNEX2_PHASES.T.ravel()
    assert taps.size == 48
    assert np.array_equal(taps, taps[::-1])


@pytest.mark.parametrize("phase", range(4))
def test_annex2_phase_interpolates_a_1_khz_sine_at_its_quarter_sample(phase):
    # The 48-tap filter delays by 23.5 oversampled frames: phase p at input
    # frame n lies at n - 5.875 + p / 4 frames. Phases 1 and 2 have a DC gain
    # of 0.973, hence the 3 % tolerance.
    omega = 2 * np.pi * 1000 / RATE_HZ
    n = np.arange(100, 200)
    coefficients = truepeak.ANNEX2_PHASES[phase]
    interpolated = sum(c * np.sin(omega * (n - k)) for k, c in enumerate(coefficients))
    expected = np.sin(omega * (n - 5.875 + phase / 4))
    np.testing.assert_allclose(interpolated, expected, atol=0.03)


def test_8x_phase_0_passes_the_samples_through_exactly():
    signal = np.random.default_rng(2).standard_normal(500)
    delayed = np.convolve(signal, truepeak.EIGHT_X_PHASES[0])[10:510]
    assert np.array_equal(delayed, signal)


@pytest.mark.parametrize("oversampling", [4, 8])
@pytest.mark.parametrize(
    ("period_frames", "amplitude", "phase_deg", "expected_dbtp"),
    [(4, 0.5, 0.0, -6.0), (4, 0.5, 45.0, -6.0), (6, 0.5, 60.0, -6.0), (8, 0.5, 67.5, -6.0), (4, 1.41, 45.0, 3.0)],
)
def test_tech_3341_true_peak_cases(oversampling, period_frames, amplitude, phase_deg, expected_dbtp):
    signal = tapered_tone(period_frames, amplitude, phase_deg)
    measured = truepeak.true_peak_dbtp(signal, RATE_HZ, oversampling)
    assert expected_dbtp - 0.4 <= measured <= expected_dbtp + 0.2


@pytest.mark.parametrize(
    ("period_frames", "phase_deg"),
    # Tech 3341 tones, then tones whose peak falls 1/8 frame after a sample,
    # midway between two 4x points.
    [(4, 45.0), (6, 60.0), (8, 67.5), (4, 78.75), (3, 75.0), (2.4, 71.25)],
)
def test_8x_reads_intersample_peaks_at_least_as_well_as_4x(period_frames, phase_deg):
    signal = tapered_tone(period_frames, 0.5, phase_deg)
    error_db = {
        oversampling: abs(truepeak.true_peak_dbtp(signal, RATE_HZ, oversampling) - 20 * np.log10(0.5))
        for oversampling in (4, 8)
    }
    assert error_db[8] <= error_db[4]
    assert error_db[8] < 0.07


def test_at_96k_and_up_half_the_phases_run():
    assert truepeak.interpolator(4, 96000).shape == (2, 12)
    assert truepeak.interpolator(4, 48000).shape == (4, 12)
    assert truepeak.interpolator(8, 192000).shape == (4, 21)
    signal = tapered_tone(4, 0.5, 45.0, sample_rate=96000)
    assert truepeak.true_peak_dbtp(signal, 96000) == pytest.approx(-6.02, abs=0.1)


def test_the_end_of_a_signal_is_flushed():
    rng = np.random.default_rng(0)
    ending = 0.9 * np.sin(np.pi / 2 * np.arange(6) + np.pi / 4)
    signal = np.concatenate([0.1 * rng.standard_normal(1000), ending])[:, np.newaxis]
    padded = np.concatenate([signal, np.zeros((100, 1))])
    assert truepeak.true_peak_dbtp(signal, RATE_HZ) == truepeak.true_peak_dbtp(padded, RATE_HZ)
    assert truepeak.true_peak_dbtp(signal, RATE_HZ) > truepeak.sample_peak_dbfs(signal) + 2.0


def test_true_peak_never_reads_below_sample_peak():
    impulse = np.zeros((100, 1))
    impulse[50] = 1.0
    assert truepeak.true_peak_dbtp(impulse, RATE_HZ) >= 0.0


def test_silence_reads_minus_infinity():
    silence = np.zeros((4800, 2))
    assert truepeak.true_peak_dbtp(silence, RATE_HZ) == -np.inf
    assert truepeak.sample_peak_dbfs(silence) == -np.inf


def test_sample_peak_is_the_largest_magnitude_in_dbfs():
    signal = np.array([[0.1, -0.25], [0.2, 0.05]])
    assert truepeak.sample_peak_dbfs(signal) == pytest.approx(20 * np.log10(0.25))


def test_preroll_frames_are_not_measured():
    loud_then_quiet = np.concatenate([np.full((100, 1), 0.9), np.full((1000, 1), 0.1)])
    meter = truepeak.TruePeakMeter(RATE_HZ, 1, preroll_frames=100)
    meter.process(loud_then_quiet)
    assert meter.sample_peak_dbfs() == pytest.approx(-20.0)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=3000), max_size=12), st.sampled_from([4, 8]))
def test_blocks_of_any_sizes_give_bit_identical_peaks(cuts, oversampling):
    rng = np.random.default_rng(len(cuts))
    signal = 0.3 * rng.standard_normal((20000, 2))
    bounds = [0, *sorted(min(c * 7, signal.shape[0]) for c in cuts), signal.shape[0]]
    history = np.zeros((truepeak.history_frames(oversampling), 2))
    whole, _ = truepeak.oversampled_peaks(signal, history, oversampling, RATE_HZ)
    pieces = []
    meter = truepeak.TruePeakMeter(RATE_HZ, 2, oversampling)
    for start, stop in zip(bounds, bounds[1:]):
        piece, history = truepeak.oversampled_peaks(signal[start:stop], history, oversampling, RATE_HZ)
        pieces.append(piece)
        meter.process(signal[start:stop])
    assert np.array_equal(np.concatenate(pieces), whole)
    assert meter.true_peak_dbtp() == truepeak.true_peak_dbtp(signal, RATE_HZ, oversampling)


def test_a_meter_resumed_from_history_equals_one_fed_whole():
    signal = 0.5 * np.random.default_rng(1).standard_normal((9000, 2))
    first = truepeak.TruePeakMeter(RATE_HZ, 2)
    first.process(signal[:4000])
    second = truepeak.TruePeakMeter(RATE_HZ, 2, history=first.history)
    second.process(signal[4000:])
    joined = np.maximum(first.interpolated_peak, second.interpolated_peak)
    whole = truepeak.TruePeakMeter(RATE_HZ, 2)
    whole.process(signal)
    assert np.array_equal(joined, whole.interpolated_peak)


def test_bad_oversampling_is_refused_with_the_rule():
    with pytest.raises(ParameterError, match="oversampling: must be one of 4, 8, got 3"):
        truepeak.TruePeakMeter(RATE_HZ, 1, oversampling=3)


def test_bad_history_shape_is_refused():
    with pytest.raises(ParameterError, match=r"history: must have shape \(11, 2\)"):
        truepeak.TruePeakMeter(RATE_HZ, 2, history=np.zeros((5, 2)))


def test_nan_in_a_block_is_refused():
    block = np.zeros((10, 1))
    block[3] = np.nan
    with pytest.raises(BlockError, match="NaN or infinite samples, first at frame 3"):
        truepeak.TruePeakMeter(RATE_HZ, 1).process(block)


def test_the_8x_window_is_scipys_kaiser_to_the_last_bits():
    import scipy.signal

    for frames in (49, 64, 161):
        np.testing.assert_allclose(truepeak._kaiser(frames, 8.0), scipy.signal.windows.kaiser(frames, 8.0), rtol=4e-15, atol=0.0)
