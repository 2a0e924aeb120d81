"""The matching analysis and EQ: independent of how the signal is cut, shelves found back, the EQ exact across blocks."""

import numpy as np
import pytest
import scipy.signal

from dsp.eq import EqBand, Equalizer
from dsp.errors import ParameterError
from dsp.matching import (
    MatchEq,
    analyse_blocks,
    analysis_frame_starts,
    band_centres_hz,
    band_weights,
    correction,
    fir_taps,
    frame_powers,
    hop_frames,
    long_term_spectrum,
)

RATE = 48000


def noise(seconds: float = 8.0, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    audio = scipy.signal.lfilter([1.0], [1.0, -0.9], rng.standard_normal((int(seconds * RATE), 2)), axis=0) * 0.05
    audio[:, 1] = 0.5 * audio[:, 1] + 0.5 * audio[:, 0]
    return audio


def spectrum(audio):
    return long_term_spectrum(frame_powers(audio, RATE, 0, analysis_frame_starts(0, audio.shape[0], RATE)), RATE)


def test_bands_sum_each_frames_bins_with_weights_that_add_to_one():
    weights = band_weights(RATE)
    centres = band_centres_hz(RATE)
    assert weights.shape[0] == centres.size and centres[0] == 20.0 and centres[-1] <= 20000.0
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.diff(np.log2(centres)), 1 / 12)


@pytest.mark.parametrize("block", [1000, 4096, 48000])
def test_the_analysis_does_not_depend_on_how_the_signal_is_cut(block):
    audio = noise(4.0)
    whole = frame_powers(audio, RATE, 0, analysis_frame_starts(0, audio.shape[0], RATE))
    pieces = analyse_blocks((audio[start : start + block] for start in range(0, audio.shape[0], block)), RATE)
    np.testing.assert_array_equal(pieces.mid, whole.mid)
    np.testing.assert_array_equal(pieces.level_db, whole.level_db)
    split = frame_powers(audio[20000:], RATE, 20000, analysis_frame_starts(20000, audio.shape[0], RATE))
    first = frame_powers(audio, RATE, 0, analysis_frame_starts(0, 20000, RATE))
    np.testing.assert_array_equal(np.concatenate([first.side, split.side]), whole.side)


def test_the_correction_finds_a_shelf_back_within_a_few_tenths_of_a_db():
    mix = noise()
    eq = Equalizer(RATE, bands=(EqBand("high_shelf", 4000.0, gain_db=5.0, q=0.7),))
    reference = eq.process(mix, eq.init_state(2))[0]
    curve = correction(spectrum(reference), spectrum(mix), 1.0, 12.0)
    centres = curve.centres_hz
    shelf = curve.mid_db[centres > 12000].mean() - curve.mid_db[(centres > 100) & (centres < 1000)].mean()
    assert shelf == pytest.approx(5.0, abs=0.3)
    np.testing.assert_allclose(curve.side_db, curve.mid_db, atol=0.3)


def test_loud_passages_only_count():
    loud = noise(6.0)
    quiet_bright = np.random.default_rng(9).standard_normal((72 * hop_frames(RATE), 2)) * 0.002  # 6 s, whole hops: the loud frames line up
    both = np.vstack([quiet_bright, loud])
    audible = (band_centres_hz(RATE) >= 60.0) & (band_centres_hz(RATE) <= 14000.0)
    np.testing.assert_allclose(spectrum(both).mid_db[audible], spectrum(loud).mid_db[audible], atol=0.5)
    assert spectrum(both).frames <= spectrum(loud).frames + 2


def test_silence_has_no_spectrum():
    assert spectrum(np.zeros((RATE * 2, 2))) is None


def test_amount_and_max_gain_shape_the_curve():
    mix = noise()
    eq = Equalizer(RATE, bands=(EqBand("low_shelf", 300.0, gain_db=-15.0, q=0.7),))
    reference = eq.process(mix, eq.init_state(2))[0]
    full = correction(spectrum(reference), spectrum(mix), 1.0, 24.0)
    held = correction(spectrum(reference), spectrum(mix), 0.5, 4.0)
    np.testing.assert_allclose(held.mid_db, 0.5 * np.clip(full.mid_db, -4.0, 4.0))
    with pytest.raises(ParameterError, match="amount: must be <= 1"):
        correction(spectrum(reference), spectrum(mix), 1.5, 4.0)


def test_the_match_eq_is_exact_across_blocks_and_delays_by_half_its_length():
    mix = noise(3.0)
    eq = Equalizer(RATE, bands=(EqBand("bell", 1000.0, gain_db=6.0, q=1.0),))
    curve = correction(spectrum(eq.process(mix, eq.init_state(2))[0]), spectrum(mix), 1.0, 12.0)
    match = MatchEq(RATE, correction=curve)
    assert match.latency_samples == fir_taps(RATE) // 2 and fir_taps(RATE) % 2 == 1
    whole, _ = match.process(mix, match.init_state(2))
    state, pieces = match.init_state(2), []
    for start in range(0, mix.shape[0], 10007):
        out, state = match.process(mix[start : start + 10007], state)
        pieces.append(out)
    np.testing.assert_allclose(np.concatenate(pieces), whole, atol=1e-12)
    impulse = np.zeros((fir_taps(RATE) + 10, 2))
    impulse[0] = 1.0
    response, _ = match.process(impulse, match.init_state(2))
    assert int(np.argmax(np.abs(response[:, 0]))) == match.latency_samples
    np.testing.assert_allclose(response[: match.latency_samples, 0], response[match.latency_samples + 1 : 2 * match.latency_samples + 1, 0][::-1], atol=1e-12)


def test_the_match_eq_takes_stereo_only():
    curve = correction(spectrum(noise(2.0)), spectrum(noise(2.0, seed=4)), 1.0, 12.0)
    with pytest.raises(ParameterError, match="channels: the matching EQ works on stereo"):
        MatchEq(RATE, correction=curve).init_state(1)
