import pickle

import numpy as np
import pytest
import scipy.signal
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.convolution import Convolution
from dsp.effect import process_in_blocks
from dsp.errors import AudioFileError, BlockError, ParameterError
from dsp.generators import sine_tone

RATES = [44100, 48000, 96000]


def decaying_noise(frames, channels, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((frames, channels)) * np.exp(-np.arange(frames) / (frames / 6))[:, None]


def delayed_impulse(frames, delay, gain):
    ir = np.zeros(frames)
    ir[delay] = gain
    return ir


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(1, 3000), min_size=1, max_size=10), st.sampled_from([1, 2]))
def test_blocks_of_any_size_match_fftconvolve_of_the_whole_signal(block_frames, ir_channels):
    ir = decaying_noise(2500, ir_channels, seed=1)
    signal = np.random.default_rng(2).standard_normal((8000, 2))
    effect = Convolution.from_array(48000, ir)
    expected = scipy.signal.fftconvolve(signal, ir, axes=0)[: signal.shape[0]]
    np.testing.assert_allclose(process_in_blocks(effect, signal, block_frames), expected, rtol=0, atol=1e-12)


def test_a_long_block_cut_into_fft_segments_matches_fftconvolve():
    ir = decaying_noise(3000, 1, seed=3)
    signal = np.random.default_rng(4).standard_normal((150_000, 1))
    out = Convolution.from_array(48000, ir).process_whole(signal)
    np.testing.assert_allclose(out, scipy.signal.fftconvolve(signal, ir, axes=0)[: signal.shape[0]], rtol=0, atol=1e-12)


@pytest.mark.parametrize("rate", RATES)
def test_a_delayed_scaled_impulse_delays_and_scales_the_signal(rate):
    effect = Convolution.from_array(rate, delayed_impulse(400, 137, 0.25), gain_db=6.0)
    signal = np.random.default_rng(3).standard_normal((3000, 2))
    out = effect.process_whole(signal)
    np.testing.assert_allclose(out[137:], 0.25 * 10 ** (6.0 / 20) * signal[:-137], rtol=0, atol=1e-14)
    np.testing.assert_allclose(out[:137], 0.0, atol=1e-14)


def test_mix_blends_dry_and_wet_linearly():
    ir = decaying_noise(300, 1)
    signal = np.random.default_rng(4).standard_normal((2000, 1))
    wet = Convolution.from_array(48000, ir).process_whole(signal)
    blend = Convolution.from_array(48000, ir, mix=0.25).process_whole(signal)
    np.testing.assert_allclose(blend, 0.75 * signal + 0.25 * wet, atol=1e-12)


def test_a_stereo_ir_filters_each_channel_with_its_own_column():
    ir = np.stack([delayed_impulse(50, 10, 1.0), delayed_impulse(50, 20, -0.5)], axis=1)
    signal = np.random.default_rng(5).standard_normal((500, 2))
    out = Convolution.from_array(48000, ir).process_whole(signal)
    np.testing.assert_allclose(out[10:, 0], signal[:-10, 0], atol=1e-14)
    np.testing.assert_allclose(out[20:, 1], -0.5 * signal[:-20, 1], atol=1e-14)


def test_a_stereo_ir_refuses_a_mono_signal():
    effect = Convolution.from_array(48000, np.ones((10, 2)))
    with pytest.raises(BlockError, match=r"block: the IR has 2 channels; a signal of 1 channel\(s\) needs a mono IR or one with 1"):
        effect.init_state(1)


@pytest.mark.parametrize("rate", RATES)
def test_ir_file_is_read_and_applied(tmp_path, rate):
    path = tmp_path / "ir.wav"
    soundfile.write(path, delayed_impulse(200, 55, 0.5), rate, subtype="FLOAT")
    effect = Convolution(rate, ir_file=path)
    signal = np.random.default_rng(6).standard_normal((1000, 1))
    np.testing.assert_allclose(effect.process_whole(signal)[55:], 0.5 * signal[:-55], atol=1e-14)
    assert effect.tail_s == pytest.approx(200 / rate)


@pytest.mark.parametrize("ir_rate,rate", [(96000, 48000), (44100, 48000), (48000, 96000)])
def test_an_ir_at_another_rate_is_resampled_keeping_its_delay_and_gain(tmp_path, ir_rate, rate):
    path = tmp_path / "ir.wav"
    soundfile.write(path, delayed_impulse(ir_rate // 20, ir_rate // 100, 0.5), ir_rate, subtype="FLOAT")
    effect = Convolution(rate, ir_file=path)
    tone = sine_tone(1000.0, 0.3, rate, level_dbfs=0.0, channels=1)
    out = effect.process_whole(tone)
    delay = rate // 100
    settled = slice(rate // 20, tone.shape[0])
    assert effect.kernel.shape[0] == pytest.approx((ir_rate // 20) * rate / ir_rate, abs=1)
    np.testing.assert_allclose(out[settled], 0.5 * tone[settled.start - delay : tone.shape[0] - delay], atol=1e-3)


def test_missing_ir_file_is_reported_with_its_path(tmp_path):
    path = tmp_path / "nowhere.wav"
    with pytest.raises(AudioFileError, match=rf"{path}: impulse response file not found"):
        Convolution(48000, ir_file=path)


def test_unreadable_ir_file_is_reported_with_its_path(tmp_path):
    path = tmp_path / "text.wav"
    path.write_text("not audio")
    with pytest.raises(AudioFileError, match=rf"{path}: unreadable impulse response"):
        Convolution(48000, ir_file=path)


def test_empty_ir_file_is_reported_with_its_path(tmp_path):
    path = tmp_path / "empty.wav"
    soundfile.write(path, np.zeros((0, 1)), 48000)
    with pytest.raises(AudioFileError, match=rf"{path}: empty impulse response \(0 frames\)"):
        Convolution(48000, ir_file=path)


@pytest.mark.parametrize(
    "params,message",
    [
        ({}, r"ir_file: give exactly one of ir_file and ir"),
        ({"ir_file": "a.wav", "ir": np.ones(4)}, r"ir_file: give exactly one of ir_file and ir"),
        ({"ir_file": "a.wav", "ir_sample_rate": 44100}, r"ir_sample_rate: only with ir"),
        ({"ir": np.ones(4), "ir_sample_rate": 10}, r"ir_sample_rate: must be >= 1000, got 10"),
        ({"ir": np.ones(4), "mix": 1.5}, r"mix: must be <= 1, got 1.5"),
        ({"ir": np.ones(4), "gain_db": 60.0}, r"gain_db: must be <= 48, got 60"),
        ({"ir": np.zeros(0)}, r"ir: must be a non-empty array shaped \(frames,\) or \(frames, channels\), got shape \(0, 1\)"),
        ({"ir": np.array([1.0, np.nan])}, r"ir: must hold finite samples"),
        ({"ir": np.array(["a", "b"])}, r"ir: must hold real numbers"),
    ],
)
def test_bad_parameters_are_rejected(params, message):
    with pytest.raises(ParameterError, match=message):
        Convolution(48000, **params)


def test_process_leaves_the_given_state_untouched():
    effect = Convolution.from_array(48000, decaying_noise(400, 1))
    _, state = effect.process(np.random.default_rng(7).standard_normal((500, 2)), effect.init_state(2))
    snapshot = {key: value.copy() for key, value in state.items()}
    effect.process(np.ones((300, 2)), state)
    for key, value in snapshot.items():
        np.testing.assert_array_equal(state[key], value)


def test_effect_pickles_and_compares_by_its_ir():
    ir = decaying_noise(100, 1)
    effect = Convolution.from_array(48000, ir)
    assert pickle.loads(pickle.dumps(effect)) == effect
    assert Convolution.from_array(48000, ir.copy()) == effect
    assert Convolution.from_array(48000, 2 * ir) != effect
