"""The BS.1770-4 / EBU R128 meter: Tech 3341 and 3342 cases, libebur128, streaming, partials."""

import json
import pickle
import warnings

import numpy as np
import pyebur128
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp import kweighting
from dsp.errors import BlockError, ParameterError
from dsp.loudness import LoudnessMeter, LoudnessPartial, measure, segment_frames

RATES_HZ = [44100, 48000]


def tones(sample_rate: float, *parts: tuple[float, float]) -> np.ndarray:
    """1 kHz stereo sine, ``(duration_s, level_dbfs)`` parts in sequence, level per channel."""
    pieces = []
    for duration_s, level_dbfs in parts:
        n = np.arange(int(round(duration_s * sample_rate)))
        pieces.append(10 ** (level_dbfs / 20) * np.sin(2 * np.pi * 1000 * n / sample_rate))
    mono = np.concatenate(pieces)
    return np.stack([mono, mono], axis=1)


def multi_instrument_mix(sample_rate: float, duration_s: float = 30.0, seed: int = 1) -> np.ndarray:
    """Stereo song-like signal: kick thumps, noise bursts, a bass line, chords, and level changes."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * sample_rate)
    t = np.arange(n) / sample_rate
    mix = np.zeros((n, 2))
    beat_s = 0.5
    for start_s in np.arange(0.0, duration_s, beat_s):
        i = int(start_s * sample_rate)
        tt = np.arange(min(n - i, int(0.3 * sample_rate))) / sample_rate
        thump = 0.8 * np.sin(2 * np.pi * (50 + 80 * np.exp(-30 * tt)) * tt) * np.exp(-12 * tt)
        mix[i : i + tt.size] += thump[:, np.newaxis]
    for start_s in np.arange(beat_s / 2, duration_s, beat_s):
        i = int(start_s * sample_rate)
        m = min(n - i, int(0.08 * sample_rate))
        decay = np.exp(-40 * np.arange(m) / sample_rate)[:, np.newaxis]
        mix[i : i + m] += 0.3 * rng.standard_normal((m, 2)) * decay
    notes_hz = 55 * 2 ** (np.array([0, 3, 5, 7, 10, 7, 5, 3]) / 12)
    phase = 2 * np.pi * np.cumsum(notes_hz[(t // beat_s).astype(int) % notes_hz.size]) / sample_rate
    bass = 0.15 * np.sign(np.sin(phase)) + 0.2 * np.sin(phase)
    mix += bass[:, np.newaxis] * np.array([0.9, 1.0])
    chord = sum(np.sin(2 * np.pi * 220 * 2 ** (k / 12) * t + k) for k in (0, 4, 7, 11))
    mix[:, 0] += 0.08 * chord
    mix[:, 1] += 0.06 * np.roll(chord, 300)
    envelope = np.interp(t, [0, 8, 9, 20, 22, duration_s], [0.15, 0.15, 1.0, 1.0, 0.4, 0.05])
    return 0.5 * mix * envelope[:, np.newaxis]


def libebur128_integrated(signal: np.ndarray, sample_rate: int) -> float:
    state = pyebur128.R128State(signal.shape[1], sample_rate, pyebur128.MeasurementMode.MODE_I)
    state.add_frames(np.ascontiguousarray(signal).ravel(), signal.shape[0])
    return pyebur128.get_loudness_global(state)


def assert_reports_identical(a, b):
    assert a.to_dict() == b.to_dict()
    assert np.array_equal(a.momentary_lufs, b.momentary_lufs)
    assert np.array_equal(a.short_term_lufs, b.short_term_lufs)


# EBU Tech 3341 minimum requirements (+-0.1 LU).


@pytest.mark.parametrize("sample_rate", RATES_HZ)
@pytest.mark.parametrize("level_dbfs", [-23.0, -33.0])
def test_tech_3341_cases_1_and_2_steady_tone(sample_rate, level_dbfs):
    report = measure(tones(sample_rate, (20.0, level_dbfs)), sample_rate)
    assert report.integrated_lufs == pytest.approx(level_dbfs, abs=0.1)
    assert report.momentary_max_lufs == pytest.approx(level_dbfs, abs=0.1)
    assert report.short_term_max_lufs == pytest.approx(level_dbfs, abs=0.1)


@pytest.mark.parametrize("sample_rate", RATES_HZ)
@pytest.mark.parametrize(
    "parts",
    [
        [(10.0, -36.0), (60.0, -23.0), (10.0, -36.0)],
        [(10.0, -72.0), (10.0, -36.0), (60.0, -23.0), (10.0, -36.0), (10.0, -72.0)],
        [(20.0, -26.0), (20.1, -20.0), (20.0, -26.0)],
    ],
    ids=["case3", "case4", "case5"],
)
def test_tech_3341_cases_3_to_5_gating(sample_rate, parts):
    assert measure(tones(sample_rate, *parts), sample_rate).integrated_lufs == pytest.approx(-23.0, abs=0.1)


@pytest.mark.parametrize("sample_rate", RATES_HZ)
def test_tech_3341_case_9_short_term_holds_after_3_s(sample_rate):
    report = measure(tones(sample_rate, *[(1.34, -20.0), (1.66, -30.0)] * 5), sample_rate)
    # short_term_lufs[k] ends at (k + 30) * 100 ms: every value lies after 3 s.
    assert report.short_term_lufs.size == 121
    np.testing.assert_allclose(report.short_term_lufs, -23.0, atol=0.1)


@pytest.mark.parametrize("sample_rate", RATES_HZ)
def test_tech_3341_case_12_momentary_holds_after_1_s(sample_rate):
    report = measure(tones(sample_rate, *[(0.18, -20.0), (0.22, -30.0)] * 25), sample_rate)
    # momentary_lufs[k] ends at (k + 4) * 100 ms: from k = 6 on, after 1 s.
    np.testing.assert_allclose(report.momentary_lufs[6:], -23.0, atol=0.1)


@pytest.mark.parametrize("sample_rate", RATES_HZ)
def test_997_hz_full_scale_sine_in_one_channel_reads_minus_3_01(sample_rate):
    n = np.arange(20 * sample_rate)
    sine = np.sin(2 * np.pi * 997 * n / sample_rate)[:, np.newaxis]
    assert measure(sine, sample_rate).integrated_lufs == pytest.approx(-3.01, abs=0.01)


# EBU Tech 3342 loudness range (+-1 LU).


@pytest.mark.parametrize(
    ("levels_dbfs", "expected_lu"),
    [((-20, -30), 10.0), ((-20, -15), 5.0), ((-40, -20), 20.0), ((-50, -35, -20, -35, -50), 15.0)],
)
def test_tech_3342_loudness_range(levels_dbfs, expected_lu):
    signal = tones(48000, *[(20.0, level) for level in levels_dbfs])
    assert measure(signal, 48000).loudness_range_lu == pytest.approx(expected_lu, abs=1.0)


# An independent implementation: libebur128.


@pytest.mark.parametrize("sample_rate", RATES_HZ)
def test_integrated_loudness_of_a_mix_agrees_with_libebur128(sample_rate):
    mix = multi_instrument_mix(sample_rate)
    report = measure(mix, sample_rate)
    assert report.integrated_lufs == pytest.approx(libebur128_integrated(mix, sample_rate), abs=0.02)
    assert -30.0 < report.integrated_lufs < -10.0
    assert report.loudness_range_lu > 5.0


def test_k_weighted_energies_equal_those_of_scipy_sosfilt():
    mix = multi_instrument_mix(48000, duration_s=3.0)
    frames = segment_frames(48000)
    weighted = scipy.signal.sosfilt(kweighting.sos(48000), mix, axis=0)
    meter = LoudnessMeter(48000, 2)
    meter.process(mix)
    expected = (weighted[: 30 * frames] ** 2).reshape(30, frames, 2).sum(axis=1)
    np.testing.assert_allclose(meter.partial().energies, expected, rtol=1e-12)


# Channels, silence, short signals, the report.


def test_surround_channels_weigh_1_41():
    sine = tones(48000, (5.0, -20.0))[:, 0]
    front, surround = np.zeros((sine.size, 5)), np.zeros((sine.size, 5))
    front[:, 0] = sine
    surround[:, 3] = sine
    gain_db = measure(surround, 48000).integrated_lufs - measure(front, 48000).integrated_lufs
    assert gain_db == pytest.approx(10 * np.log10(1.41), abs=1e-9)


def test_silence_reads_minus_infinity_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = measure(np.zeros((5 * 48000, 2)), 48000)
    assert report.integrated_lufs == -np.inf
    assert report.momentary_max_lufs == -np.inf
    assert report.true_peak_dbtp == -np.inf
    assert report.loudness_range_lu == 0.0


def test_a_signal_shorter_than_one_block_reads_minus_infinity():
    report = measure(tones(48000, (0.35, -20.0)), 48000)
    assert report.integrated_lufs == -np.inf
    assert report.momentary_lufs.size == 0
    assert report.sample_peak_dbfs == pytest.approx(-20.0, abs=0.01)


def test_series_are_at_10_hz_from_complete_windows():
    report = measure(tones(48000, (5.05, -20.0)), 48000)
    assert report.momentary_lufs.size == 50 - 3
    assert report.short_term_lufs.size == 50 - 29
    assert report.duration_s == pytest.approx(5.05)


def test_to_dict_is_json_ready_with_none_for_minus_infinity():
    report = measure(np.zeros((48000, 1)), 48000)
    as_dict = report.to_dict()
    assert as_dict["integrated_lufs"] is None
    assert "momentary_lufs" not in as_dict and "short_term_lufs" not in as_dict
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["channels"] == 1 and as_dict["sample_rate"] == 48000


def test_true_peak_oversampling_reaches_the_report():
    # 16 kHz, its peaks 1/8 frame after a sample: midway between 4x points.
    n = np.arange(48000)
    taper = np.clip(np.minimum(n, n[::-1]) / 480, 0, 1)
    signal = (0.5 * taper * np.sin(2 * np.pi * n / 3 + np.deg2rad(75)))[:, np.newaxis]
    four, eight = measure(signal, 48000, 4), measure(signal, 48000, 8)
    assert (four.true_peak_oversampling, eight.true_peak_oversampling) == (4, 8)
    assert abs(eight.true_peak_dbtp + 6.02) < abs(four.true_peak_dbtp + 6.02)


def test_preroll_frames_are_filtered_but_not_measured():
    loud_then_silent = np.concatenate([tones(48000, (1.0, -10.0)), np.zeros((48000, 2))])
    meter = LoudnessMeter(48000, 2, start_frame=48000, preroll_frames=48000)
    meter.process(loud_then_silent)
    report = meter.report()
    assert report.sample_peak_dbfs == -np.inf
    assert report.duration_s == 1.0
    assert np.isfinite(report.momentary_lufs[0])  # the K filter still rings from the pre-roll


# Streaming and partials.


@settings(max_examples=20, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=6000), min_size=1, max_size=20),
    st.sampled_from([44100, 48000]),
)
def test_blocks_of_any_sizes_give_a_bit_identical_report(block_frames, sample_rate):
    signal = multi_instrument_mix(sample_rate, duration_s=4.0, seed=2)
    meter = LoudnessMeter(sample_rate, 2)
    start = 0
    while start < signal.shape[0]:
        for frames in [*block_frames, 4801]:
            meter.process(signal[start : start + frames])
            start += frames
    assert_reports_identical(meter.report(), measure(signal, sample_rate))


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=4 * 48000 - 1), max_size=5, unique=True))
def test_partials_of_chunks_with_carried_state_merge_exactly(cuts):
    signal = multi_instrument_mix(48000, duration_s=4.0, seed=3)
    bounds = [0, *sorted(cuts), signal.shape[0]]
    partials, state = [], None
    for start, stop in zip(bounds, bounds[1:]):
        meter = LoudnessMeter(48000, 2, start_frame=start, state=state)
        meter.process(signal[start:stop])
        state = meter.state()
        partials.append(pickle.loads(pickle.dumps(meter.partial())))
    assert_reports_identical(LoudnessPartial.merge(partials).report(), measure(signal, 48000))


def test_partials_of_chunks_with_preroll_merge_to_within_1e_6_lu():
    # A cold K filter fed SETTLE_S of earlier signal ends with a state that
    # differs from the carried one only by a start-up transient decayed more
    # than 350 dB, so energies differ at rounding level; the 20-frame
    # true-peak history is filled exactly.
    signal = multi_instrument_mix(48000, duration_s=12.0, seed=4)
    preroll = int(kweighting.SETTLE_S * 48000)
    bounds = [0, 100_003, 250_000, 431_117, signal.shape[0]]
    partials = []
    for start, stop in zip(bounds, bounds[1:]):
        ahead = min(preroll, start)
        meter = LoudnessMeter(48000, 2, true_peak_oversampling=8, start_frame=start, preroll_frames=ahead)
        meter.process(signal[start - ahead : stop])
        partials.append(meter.partial())
    merged = LoudnessPartial.merge(partials).report()
    whole = measure(signal, 48000, true_peak_oversampling=8)
    for field in ("integrated_lufs", "loudness_range_lu", "momentary_max_lufs", "short_term_max_lufs"):
        assert getattr(merged, field) == pytest.approx(getattr(whole, field), abs=1e-6)
    np.testing.assert_allclose(merged.short_term_lufs, whole.short_term_lufs, atol=1e-6)
    assert merged.true_peak_dbtp == whole.true_peak_dbtp
    assert merged.sample_peak_dbfs == whole.sample_peak_dbfs


def test_merge_refuses_partials_that_are_not_consecutive():
    signal = tones(48000, (1.0, -20.0))
    first, later = LoudnessMeter(48000, 2), LoudnessMeter(48000, 2, start_frame=30000)
    first.process(signal[:20000])
    later.process(signal[30000:])
    with pytest.raises(ParameterError, match="partials: must be consecutive.*end_frame 20000 then start_frame 30000"):
        LoudnessPartial.merge([first.partial(), later.partial()])


def test_merge_refuses_partials_of_different_rates():
    first, second = LoudnessMeter(48000, 2), LoudnessMeter(44100, 2)
    with pytest.raises(ParameterError, match=r"partials: must share \(sample_rate, channels"):
        LoudnessPartial.merge([first.partial(), second.partial()])


# Bad input.


def test_nan_in_a_block_is_refused_naming_the_frame():
    block = tones(48000, (0.1, -20.0))
    block[1200, 1] = np.nan
    with pytest.raises(BlockError, match=r"block: holds NaN or infinite samples, first at frame 1200 \(0.025000 s\)"):
        LoudnessMeter(48000, 2).process(block)


def test_a_block_that_is_not_2d_is_refused():
    with pytest.raises(BlockError, match=r"block: must be a 2-D array shaped \(frames, channels\)"):
        LoudnessMeter(48000, 1).process(np.zeros(100))


def test_a_block_with_the_wrong_channel_count_is_refused():
    with pytest.raises(BlockError, match=r"block: must have 2 channel\(s\), got 1"):
        LoudnessMeter(48000, 2).process(np.zeros((100, 1)))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"sample_rate": 0}, "sample_rate: must be >= 1000, got 0"),
        ({"sample_rate": float("nan")}, "sample_rate: must be finite"),
        ({"channels": 6}, r"channels: must be an integer from 1 to 5 \(L, R, C, Ls, Rs\), got 6"),
        ({"true_peak_oversampling": 3}, "true_peak_oversampling: must be one of 4, 8, got 3"),
        ({"start_frame": -1}, "start_frame: must be a non-negative integer, got -1"),
        ({"preroll_frames": 0.5}, "preroll_frames: must be a non-negative integer, got 0.5"),
    ],
)
def test_bad_parameters_are_refused_with_the_rule(arguments, message):
    with pytest.raises(ParameterError, match=message):
        LoudnessMeter(**{"sample_rate": 48000, "channels": 2, **arguments})


def test_a_state_of_the_wrong_shape_is_refused():
    mono_state = LoudnessMeter(48000, 1).state()
    with pytest.raises(ParameterError, match=r"state.k_filter_zi: must have shape \(2, 2, 2\)"):
        LoudnessMeter(48000, 2, state=mono_state)
