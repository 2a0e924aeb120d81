import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.effect import process_in_blocks
from dsp.errors import BlockError, ParameterError
from dsp.reverb import Reverb, line_lengths

RATES = [44100, 48000, 96000]


def impulse_response(effect, seconds, channels=1):
    signal = np.zeros((int(seconds * effect.sample_rate), channels))
    signal[0, 0] = 1.0
    return effect.process_whole(signal)


def schroeder_rt60_s(ir, rate, band_hz):
    """RT60 by Schroeder backward integration of the band-filtered IR (T30: fit from -5 to -35 dB).

    ``band_hz`` is a lowpass corner or a (low, high) bandpass, 4th-order Butterworth.
    """
    kind = "bandpass" if np.ndim(band_hz) else "lowpass"
    ir = scipy.signal.sosfilt(scipy.signal.butter(4, band_hz, btype=kind, fs=rate, output="sos"), ir)
    energy = np.cumsum(ir[::-1] ** 2)[::-1]
    decay_db = 10 * np.log10(energy / energy[0])
    start, stop = np.argmax(decay_db <= -5), np.argmax(decay_db <= -35)
    slope_db_s = np.polyfit(np.arange(start, stop) / rate, decay_db[start:stop], 1)[0]
    return -60.0 / slope_db_s


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("decay_s", [0.5, 2.0])
def test_rt60_below_the_damping_frequency_is_the_decay_time(rate, decay_s):
    # Measured below 1 kHz, where the default 6 kHz damping shortens the decay by < 1 %.
    effect = Reverb(rate, decay_s=decay_s, mix=1.0)
    ir = impulse_response(effect, 2.5 * decay_s)[:, 0]
    assert schroeder_rt60_s(ir, rate, 1000.0) == pytest.approx(decay_s, rel=0.1)


@pytest.mark.parametrize("rate", RATES)
def test_rt60_at_the_damping_frequency_is_half_the_decay_time(rate):
    effect = Reverb(rate, decay_s=2.0, damping_hz=2000.0, mix=1.0)
    ir = impulse_response(effect, 5.0)[:, 0]
    assert schroeder_rt60_s(ir, rate, (2000.0 / 1.12, 2000.0 * 1.12)) == pytest.approx(1.0, rel=0.1)


def test_lower_damping_shortens_the_high_frequency_decay():
    bright, dark = (impulse_response(Reverb(48000, decay_s=1.0, damping_hz=hz, mix=1.0), 3.0)[:, 0] for hz in (12000.0, 3000.0))
    band = (8000.0, 11000.0)
    assert schroeder_rt60_s(dark, 48000, band) < 0.6 * schroeder_rt60_s(bright, 48000, band)


@pytest.mark.parametrize("rate", RATES)
def test_first_reflection_arrives_after_predelay_plus_the_shortest_line(rate):
    effect = Reverb(rate, predelay_s=0.02, size=0.3, mix=1.0)
    ir = impulse_response(effect, 0.2)[:, 0]
    arrival = round(0.02 * rate) + line_lengths(rate, 0.3)[0]
    assert np.all(ir[:arrival] == 0.0)
    assert ir[arrival] != 0.0


def test_size_scales_the_delay_lines():
    small, large = line_lengths(48000, 0.0), line_lengths(48000, 1.0)
    assert np.all(np.diff(small) > 0) and np.all(np.diff(large) > 0)
    np.testing.assert_allclose(large / small, 5.0, rtol=0.05)
    assert large[0] == pytest.approx(0.030 * 48000, rel=0.01)
    assert large[-1] == pytest.approx(0.100 * 48000, rel=0.01)


def test_stereo_wet_channels_are_decorrelated():
    ir = impulse_response(Reverb(48000, decay_s=1.0, mix=1.0), 1.0, channels=2)
    assert abs(np.corrcoef(ir[:, 0], ir[:, 1])[0, 1]) < 0.2


def test_width_scales_the_side_of_the_wet_signal():
    signal = np.random.default_rng(0).standard_normal((4000, 2))
    outputs = {width: Reverb(48000, width=width, mix=1.0).process_whole(signal) for width in (0.0, 1.0, 2.0)}
    np.testing.assert_array_equal(outputs[0.0][:, 0], outputs[0.0][:, 1])
    side = {width: out[:, 0] - out[:, 1] for width, out in outputs.items()}
    mid = {width: out[:, 0] + out[:, 1] for width, out in outputs.items()}
    np.testing.assert_allclose(side[2.0], 2.0 * side[1.0], atol=1e-12)
    np.testing.assert_allclose(mid[2.0], mid[0.0], atol=1e-12)


def test_mix_blends_dry_and_wet_linearly():
    signal = np.random.default_rng(1).standard_normal((3000, 2))
    dry, wet, blend = (Reverb(48000, mix=mix).process_whole(signal) for mix in (0.0, 1.0, 0.3))
    np.testing.assert_array_equal(dry, signal)
    np.testing.assert_allclose(blend, 0.7 * signal + 0.3 * wet, atol=1e-12)


def test_mono_in_gives_mono_out():
    assert impulse_response(Reverb(48000), 0.1, channels=1).shape == (4800, 1)


def test_more_than_two_channels_are_refused():
    with pytest.raises(BlockError, match=r"block: reverb takes 1 or 2 channels, got 3"):
        Reverb(48000).init_state(3)


@pytest.mark.parametrize("rate", [44100, 96000])
def test_output_after_the_tail_is_below_minus_120_db(rate):
    effect = Reverb(rate, decay_s=0.5, predelay_s=0.05, mix=1.0)
    ir = impulse_response(effect, effect.tail_s + 0.5)[:, 0]
    tail = round(effect.tail_s * rate)
    assert np.abs(ir[tail:]).max() < 1e-6
    assert np.abs(ir[: tail // 2]).max() > 1e-2
    assert effect.settle_s == effect.tail_s


def test_identical_parameters_give_identical_output():
    signal = np.random.default_rng(2).standard_normal((2000, 2))
    np.testing.assert_array_equal(Reverb(48000, size=0.8).process_whole(signal), Reverb(48000, size=0.8).process_whole(signal))


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(1, 700), min_size=1, max_size=10), st.sampled_from([1, 2]))
def test_blocks_of_any_size_are_bit_exact(block_frames, channels):
    effect = Reverb(48000, decay_s=0.3, predelay_s=0.003, size=0.0, width=1.5, mix=0.5)
    signal = np.random.default_rng(3).standard_normal((3000, channels))
    np.testing.assert_array_equal(process_in_blocks(effect, signal, block_frames), effect.process_whole(signal))


def test_process_leaves_the_given_state_untouched():
    effect = Reverb(48000, predelay_s=0.001, size=0.0)
    _, state = effect.process(np.random.default_rng(4).standard_normal((500, 2)), effect.init_state(2))
    snapshot = {key: value.copy() for key, value in state.items()}
    effect.process(np.ones((300, 2)), state)
    for key, value in snapshot.items():
        np.testing.assert_array_equal(state[key], value)


@pytest.mark.parametrize(
    "params,message",
    [
        ({"decay_s": 0.0}, r"decay_s: must be > 0, got 0"),
        ({"decay_s": 100.0}, r"decay_s: must be <= 60, got 100"),
        ({"predelay_s": -0.01}, r"predelay_s: must be >= 0, got -0.01"),
        ({"size": 1.5}, r"size: must be <= 1, got 1.5"),
        ({"damping_hz": 24000.0}, r"damping_hz: must be such that 0 < damping_hz < 24000 \(Nyquist at sample_rate 48000\), got 24000"),
        ({"width": 2.5}, r"width: must be <= 2, got 2.5"),
        ({"mix": -0.5}, r"mix: must be >= 0, got -0.5"),
    ],
)
def test_bad_parameters_are_rejected(params, message):
    with pytest.raises(ParameterError, match=message):
        Reverb(48000, **params)
