import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.automation import CONTROL_PERIOD_FRAMES, Envelope, Lanes
from dsp.effect import process_in_blocks
from dsp.eq import EqBand, Equalizer, butterworth_qs
from dsp.errors import ParameterError

RATES = [44100, 48000, 96000]


def measured_response_db(eq, freqs_hz, seconds=2.0):
    """Magnitude in dB at each frequency, from the impulse response's FFT."""
    frames = int(seconds * eq.sample_rate)
    impulse = np.zeros((frames, 1))
    impulse[0] = 1.0
    response = np.fft.rfft(eq.process_whole(impulse)[:, 0])
    bins = np.fft.rfftfreq(frames, 1 / eq.sample_rate)
    return np.array([20 * np.log10(abs(np.interp(f, bins, response.real) + 1j * np.interp(f, bins, response.imag))) for f in freqs_hz])


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize(
    "kind,gain_db,q,expected_db",
    [
        ("bell", 6.0, 1.0, 6.0),
        ("bell", -9.0, 4.0, -9.0),
        ("low_shelf", 8.0, 0.707, 4.0),
        ("high_shelf", -6.0, 0.707, -3.0),
        ("highpass", 0.0, 0.707, 20 * math.log10(0.707)),
        ("lowpass", 0.0, 2.0, 20 * math.log10(2.0)),
        ("bandpass", 0.0, 3.0, 0.0),
    ],
)
def test_magnitude_at_design_frequency_matches_rbj(rate, kind, gain_db, q, expected_db):
    eq = Equalizer(rate, bands=[EqBand(kind, 1000.0, gain_db, q)])
    assert measured_response_db(eq, [1000.0])[0] == pytest.approx(expected_db, abs=0.1)


@pytest.mark.parametrize("rate", RATES)
def test_notch_removes_its_frequency(rate):
    eq = Equalizer(rate, bands=[EqBand("notch", 2000.0, q=2.0)])
    low, centre, high = measured_response_db(eq, [200.0, 2000.0, 15000.0])
    assert centre < -60 and abs(low) < 0.1 and abs(high) < 0.2


@pytest.mark.parametrize("rate", RATES)
def test_shelves_reach_full_gain_far_from_the_corner(rate):
    low = Equalizer(rate, bands=[EqBand("low_shelf", 500.0, 6.0)])
    high = Equalizer(rate, bands=[EqBand("high_shelf", 2000.0, -4.0)])
    assert measured_response_db(low, [20.0, 18000.0]) == pytest.approx([6.0, 0.0], abs=0.1)
    assert measured_response_db(high, [20.0, 20000.0]) == pytest.approx([0.0, -4.0], abs=0.15)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("slope", [12, 24, 36, 48])
def test_highpass_slope_and_corner(rate, slope):
    eq = Equalizer(rate, bands=[EqBand("highpass", 1000.0, slope_db_oct=slope)])
    corner, octave_down, two_down = measured_response_db(eq, [1000.0, 125.0, 62.5])
    assert corner == pytest.approx(-3.01, abs=0.1)
    assert octave_down - two_down == pytest.approx(slope, abs=0.5)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("slope", [24, 48])
def test_lowpass_slope(rate, slope):
    eq = Equalizer(rate, bands=[EqBand("lowpass", 2000.0, slope_db_oct=slope)])
    corner, up_three, up_four = measured_response_db(eq, [2000.0, 8000.0, 16000.0 * rate / 96000])
    assert corner == pytest.approx(-3.01, abs=0.1)
    assert up_three < -2 * slope + 3


def test_butterworth_qs_of_fourth_order():
    assert butterworth_qs(4) == pytest.approx([0.5412, 1.3066], abs=1e-4)


def test_q_scales_resonance_of_a_steep_filter():
    resonant = Equalizer(48000, bands=[EqBand("lowpass", 1000.0, q=2.0, slope_db_oct=24)])
    flat = Equalizer(48000, bands=[EqBand("lowpass", 1000.0, q=0.707, slope_db_oct=24)])
    assert measured_response_db(resonant, [900.0])[0] > measured_response_db(flat, [900.0])[0] + 3


def test_disabled_band_passes_signal_unchanged():
    eq = Equalizer(48000, bands=[EqBand("bell", 1000.0, 12.0, enabled=False)])
    signal = np.random.default_rng(1).standard_normal((1000, 2))
    np.testing.assert_array_equal(eq.process_whole(signal), signal)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(1, 3000), min_size=1, max_size=12))
def test_blocks_of_any_size_are_bit_exact(block_frames):
    eq = Equalizer(48000, bands=[EqBand("highpass", 80.0, slope_db_oct=24), EqBand("bell", 2500.0, -4.0, 3.0), EqBand("high_shelf", 9000.0, 2.0)])
    signal = np.random.default_rng(3).standard_normal((9000, 2))
    np.testing.assert_array_equal(process_in_blocks(eq, signal, block_frames), eq.process_whole(signal))


def test_cold_start_after_settle_time_matches_warm_start():
    eq = Equalizer(48000, bands=[EqBand("highpass", 30.0, slope_db_oct=48), EqBand("bell", 100.0, 6.0, 8.0)])
    signal = np.random.default_rng(5).standard_normal((96000, 1))
    warm = eq.process_whole(signal)
    preroll = int(math.ceil(eq.settle_s * 48000))
    start = 60000
    cold = eq.process_whole(signal[start - preroll :])[preroll:]
    assert np.max(np.abs(cold - warm[start:])) < 10 ** (-120 / 20)


@pytest.mark.parametrize(
    "band,message",
    [
        (EqBand("bell", 30000.0, 3.0), r"bands\[0\]\.freq_hz: must be such that 0 < bands\[0\]\.freq_hz < 24000"),
        (EqBand("bell", 1000.0, 3.0, q=0.0), r"bands\[0\]\.q: must be > 0, got 0"),
        (EqBand("peak", 1000.0), r"bands\[0\]\.kind: must be one of 'highpass'"),
        (EqBand("highpass", 100.0, slope_db_oct=18), r"bands\[0\]\.slope_db_oct: must be one of 12, 24, 36, 48, got 18"),
        (EqBand("bell", 100.0, slope_db_oct=24), r"slope_db_oct: applies to highpass and lowpass only"),
        (EqBand("notch", 100.0, gain_db=3.0), r"gain_db: applies to bell and shelves only"),
    ],
)
def test_bad_band_names_field_and_rule(band, message):
    with pytest.raises(ParameterError, match=message):
        Equalizer(48000, bands=[band])


def test_nan_in_block_is_rejected_with_its_time():
    eq = Equalizer(48000, bands=[EqBand("bell", 1000.0, 3.0)])
    block = np.zeros((4800, 2))
    block[2400, 0] = np.inf
    with pytest.raises(ValueError, match=r"first at frame 2400 \(0\.050000 s\)"):
        eq.process_whole(block)


def stereo_response_db(eq, left_gain, right_gain, freqs_hz, seconds=2.0):
    """Magnitude in dB, per output channel, of the impulse ``(left_gain, right_gain)`` through ``eq``."""
    frames = int(seconds * eq.sample_rate)
    impulse = np.zeros((frames, 2))
    impulse[0] = (left_gain, right_gain)
    spectra = np.fft.rfft(eq.process_whole(impulse), axis=0)
    bins = np.fft.rfftfreq(frames, 1 / eq.sample_rate)
    return np.array([[20 * np.log10(abs(np.interp(f, bins, spectra[:, c].real) + 1j * np.interp(f, bins, spectra[:, c].imag)) + 1e-300) for c in (0, 1)] for f in freqs_hz])


def test_a_side_band_leaves_a_mono_signal_exactly_as_it_was():
    eq = Equalizer(48000, bands=[EqBand("high_shelf", 3000.0, 9.0, mode="side"), EqBand("bell", 200.0, -6.0, 2.0, mode="side")])
    mono = np.repeat(np.random.default_rng(7).standard_normal((20000, 1)), 2, axis=1)
    np.testing.assert_array_equal(eq.process_whole(mono), mono)
    one_channel = mono[:, :1]
    np.testing.assert_array_equal(eq.process_whole(one_channel), one_channel)


def test_a_side_band_filters_only_what_differs_between_the_channels():
    eq = Equalizer(48000, bands=[EqBand("bell", 1000.0, 6.0, 1.0, mode="side")])
    (side_left, side_right), (far_left, far_right) = stereo_response_db(eq, 1.0, -1.0, [1000.0, 50.0])
    assert side_left == pytest.approx(6.0, abs=0.05) and side_right == pytest.approx(6.0, abs=0.05)
    assert abs(far_left) < 0.05 and abs(far_right) < 0.05
    (mid_left, mid_right), = stereo_response_db(eq, 1.0, 1.0, [1000.0])
    assert abs(mid_left) < 1e-9 and abs(mid_right) < 1e-9


def test_a_mid_band_filters_the_sum_and_leaves_the_difference():
    eq = Equalizer(48000, bands=[EqBand("bell", 1000.0, -8.0, 1.0, mode="mid")])
    (mid_left, mid_right), = stereo_response_db(eq, 1.0, 1.0, [1000.0])
    (side_left, side_right), = stereo_response_db(eq, 1.0, -1.0, [1000.0])
    assert mid_left == pytest.approx(-8.0, abs=0.05) and mid_right == pytest.approx(-8.0, abs=0.05)
    assert abs(side_left) < 1e-9 and abs(side_right) < 1e-9
    mono = np.random.default_rng(8).standard_normal((9000, 1))
    np.testing.assert_array_equal(eq.process_whole(mono), Equalizer(48000, bands=[EqBand("bell", 1000.0, -8.0, 1.0)]).process_whole(mono))


@pytest.mark.parametrize("mode, filtered", [("left", 0), ("right", 1)])
def test_a_left_or_right_band_filters_that_channel_alone(mode, filtered):
    eq = Equalizer(48000, bands=[EqBand("highpass", 500.0, mode=mode, slope_db_oct=24)])
    signal = np.random.default_rng(9).standard_normal((48000, 2))
    out = eq.process_whole(signal)
    np.testing.assert_array_equal(out[:, 1 - filtered], signal[:, 1 - filtered])
    alone = Equalizer(48000, bands=[EqBand("highpass", 500.0, slope_db_oct=24)]).process_whole(signal[:, filtered : filtered + 1])
    np.testing.assert_array_equal(out[:, filtered : filtered + 1], alone)


def test_a_left_band_on_a_mono_signal_is_an_error():
    eq = Equalizer(48000, bands=[EqBand("bell", 1000.0, 3.0), EqBand("bell", 2000.0, 3.0, mode="right")])
    with pytest.raises(ParameterError, match=r"bands\[1\]\.mode: right filters one channel of a stereo signal; this signal is mono"):
        eq.init_state(1)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(1, 3000), min_size=1, max_size=12))
def test_bands_of_every_mode_in_one_eq_are_bit_exact_in_blocks_of_any_size(block_frames):
    eq = Equalizer(
        48000,
        bands=[
            EqBand("highpass", 40.0, slope_db_oct=24),
            EqBand("low_shelf", 150.0, -3.0, mode="side"),
            EqBand("high_shelf", 8000.0, 2.0, mode="side"),
            EqBand("bell", 3000.0, -2.0, 2.0, mode="mid"),
            EqBand("bell", 500.0, 4.0, mode="left"),
            EqBand("lowpass", 15000.0, mode="right"),
        ],
    )
    signal = np.random.default_rng(4).standard_normal((9000, 2))
    np.testing.assert_array_equal(process_in_blocks(eq, signal, block_frames), eq.process_whole(signal))


def test_an_unknown_mode_names_the_field_and_the_choices():
    with pytest.raises(ParameterError, match=r"bands\[0\]\.mode: must be one of 'stereo', 'mid', 'side', 'left', 'right', got 'centre'"):
        Equalizer(48000, bands=[EqBand("bell", 1000.0, 3.0, mode="centre")])


def automated_in_blocks(eq, signal, envelopes, block_frames, start_frame=0):
    """``signal`` through ``eq`` following ``envelopes``, cut into blocks of the given lengths, the first at ``start_frame``."""
    state, outputs, start = eq.init_state(signal.shape[1]), [], 0
    for frames in list(block_frames) + [signal.shape[0]]:
        stop = min(start + frames, signal.shape[0])
        out, state = eq.process_automated(signal[start:stop], state, Lanes(envelopes, start_frame + start, stop - start, eq.sample_rate))
        outputs.append(out)
        start = stop
        if start >= signal.shape[0]:
            break
    return np.concatenate(outputs)


SWEPT = Equalizer(48000, bands=[EqBand("highpass", 30.0, slope_db_oct=24), EqBand("bell", 1000.0, 0.0, 1.0), EqBand("high_shelf", 8000.0, 3.0, mode="side")])


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 3000), min_size=1, max_size=10), st.integers(-500, 500))
def test_automated_bands_are_bit_exact_in_blocks_of_any_size_anywhere_on_the_timeline(block_frames, start_frame):
    envelopes = {
        "bands.1.gain_db": Envelope.from_points([[0.0, -12.0], [0.1, 12.0, "hold"], [0.15, 0.0]]),
        "bands.1.freq_hz": Envelope.from_points([[0.0, 300.0], [0.2, 5000.0]]),
        "bands.0.q": Envelope.from_points([[0.0, 0.5], [0.2, 2.0]]),
        "bands.2.gain_db": Envelope.from_points([[0.0, 0.0], [0.2, -6.0]]),
    }
    signal = np.random.default_rng(8).standard_normal((9000, 2))
    whole = automated_in_blocks(SWEPT, signal, envelopes, [], start_frame)
    np.testing.assert_array_equal(automated_in_blocks(SWEPT, signal, envelopes, block_frames, start_frame), whole)


def test_a_steady_automation_sounds_as_the_static_band():
    signal = np.random.default_rng(9).standard_normal((20000, 2))
    static = Equalizer(48000, bands=[EqBand("bell", 2000.0, 6.0, 2.0)])
    steady = {"bands.0.gain_db": Envelope.from_points([[0.0, 6.0]]), "bands.0.freq_hz": Envelope.from_points([[0.0, 2000.0]])}
    np.testing.assert_allclose(automated_in_blocks(static, signal, steady, [777]), static.process_whole(signal), rtol=0, atol=1e-13)


def test_a_gain_step_reaches_the_new_band_within_one_control_period_and_the_filter_s_settling():
    rate, step_s = 48000, 0.5
    tone = np.sin(2 * np.pi * 1000.0 * np.arange(rate) / rate)[:, None] * 0.25
    eq = Equalizer(rate, bands=[EqBand("bell", 1000.0, 0.0, 1.0)])
    stepped = automated_in_blocks(eq, tone, {"bands.0.gain_db": Envelope.from_points([[0.0, 0.0, "hold"], [step_s, 12.0, "hold"]])}, [4096])
    step = int(step_s * rate)
    np.testing.assert_allclose(stepped[: step - CONTROL_PERIOD_FRAMES], tone[: step - CONTROL_PERIOD_FRAMES], rtol=0, atol=1e-12)
    boosted = Equalizer(rate, bands=[EqBand("bell", 1000.0, 12.0, 1.0)]).process_whole(tone)
    settled = step + CONTROL_PERIOD_FRAMES + int(eq.with_parameter("bands.0.gain_db", 12.0).settle_s * rate)
    assert np.max(np.abs(stepped[settled:] - boosted[settled:])) < 1e-6


def test_a_swept_gain_adds_no_zipper_noise():
    """The 64-sample control grid against coefficients recomputed at every sample: the difference stays below -90 dB."""
    rate = 48000
    frames = 2 * rate
    tone = np.sin(2 * np.pi * 1000.0 * np.arange(frames) / rate)[:, None] * 0.5
    eq = Equalizer(rate, bands=[EqBand("bell", 1000.0, 0.0, 1.5)])
    sweep = Envelope.from_points([[0.0, -12.0], [2.0, 12.0]])
    gridded = automated_in_blocks(eq, tone, {"bands.0.gain_db": sweep}, [])
    per_sample_sos = eq.bands[0].sections_at(rate, 1000.0, sweep.evaluate(0, frames, rate), 1.5)[:, 0, :]
    zi, smooth = np.zeros(2), np.empty(frames)
    for n in range(frames):
        b0, b1, b2, _, a1, a2 = per_sample_sos[n]
        x = tone[n, 0]
        y = b0 * x + zi[0]
        zi[0], zi[1] = b1 * x - a1 * y + zi[1], b2 * x - a2 * y
        smooth[n] = y
    window = np.hanning(frames)
    residual = np.abs(np.fft.rfft((gridded[:, 0] - smooth) * window)) / np.sum(window) * 2
    assert 20 * np.log10(np.max(residual)) < -90.0
