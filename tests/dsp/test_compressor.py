import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.compressor import Compressor
from dsp.effect import process_in_blocks
from dsp.errors import BlockError, ParameterError

RATES = [44100, 48000, 96000]


def tone(rate, freq_hz, level_db, seconds, channels=2):
    """A cosine (starting at its peak) of ``level_db`` dBFS peak, shaped (frames, channels)."""
    t = np.arange(int(seconds * rate)) / rate
    wave = 10 ** (level_db / 20) * np.cos(2 * np.pi * freq_hz * t)
    return np.repeat(wave[:, None], channels, axis=1)


def peak_db(signal):
    return 20 * math.log10(np.abs(signal).max())


def rms_db(signal):
    return 10 * math.log10(np.mean(signal**2))


def gain_db(compressor, signal):
    """Per-sample gain in dB that the compressor applied, shape of ``signal`` (NaN where it is 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 20 * np.log10(np.abs(compressor.process_whole(signal)) / np.abs(signal))


def static_curve_db(level_db, threshold_db, ratio, knee_db):
    """Giannoulis, Massberg & Reiss 2012, eq. (4)."""
    over_db = level_db - threshold_db
    if 2 * over_db < -knee_db:
        return level_db
    if 2 * over_db > knee_db:
        return threshold_db + over_db / ratio
    return level_db + (1 / ratio - 1) * (over_db + knee_db / 2) ** 2 / (2 * knee_db)


def one_pole_time_s(trace, rate):
    """Seconds until ``trace`` (starting at its first value) covers 1 - 1/e of the way to its last value."""
    start, end = trace[0], trace[-1]
    covered = (trace - start) / (end - start)
    return int(np.argmax(covered >= 1 - math.exp(-1))) / rate


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("knee_db", [0.0, 6.0])
@pytest.mark.parametrize("level_db", [-40.0, -23.0, -21.0, -19.5, -18.0, -10.0, 0.0])
def test_static_curve_on_steady_sines(rate, knee_db, level_db):
    compressor = Compressor(rate, threshold_db=-20.0, ratio=4.0, knee_db=knee_db)
    signal = tone(rate, 1000.0, level_db, 0.6)
    out = compressor.process_whole(signal)
    steady = slice(int(0.4 * rate), None)
    expected_db = static_curve_db(peak_db(signal[steady]), -20.0, 4.0, knee_db)
    assert peak_db(out[steady]) == pytest.approx(expected_db, abs=0.1)


@pytest.mark.parametrize("rate", RATES)
def test_makeup_gain_is_added_after_the_curve(rate):
    compressor = Compressor(rate, threshold_db=-30.0, ratio=2.0, makeup_db=6.0)
    quiet = tone(rate, 1000.0, -50.0, 0.5)
    loud = tone(rate, 1000.0, -10.0, 0.5)
    steady = slice(int(0.3 * rate), None)
    assert peak_db(compressor.process_whole(quiet)[steady]) == pytest.approx(-44.0, abs=0.1)
    assert peak_db(compressor.process_whole(loud)[steady]) == pytest.approx(-30.0 + 20.0 / 2 + 6.0, abs=0.1)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("attack_s,release_s", [(0.01, 0.1), (0.002, 0.3), (0.05, 0.05)])
def test_attack_and_release_time_constants_from_a_level_step(rate, attack_s, release_s):
    compressor = Compressor(rate, threshold_db=-30.0, ratio=4.0, attack_s=attack_s, release_s=release_s)
    quiet = tone(rate, 1000.0, -40.0, 0.2)
    loud = tone(rate, 1000.0, -10.0, 15 * attack_s + 0.05)
    signal = np.concatenate([quiet, loud, tone(rate, 1000.0, -40.0, 8 * release_s)])
    reduction_db = -gain_db(compressor, signal)[:, 0]
    attack_trace = reduction_db[len(quiet) : len(quiet) + len(loud)]
    release_trace = reduction_db[len(quiet) + len(loud) :]
    assert attack_trace[-1] == pytest.approx(15.0, abs=0.1)
    assert one_pole_time_s(attack_trace, rate) == pytest.approx(attack_s, rel=0.1)
    assert one_pole_time_s(release_trace, rate) == pytest.approx(release_s, rel=0.1)


@pytest.mark.parametrize("rate", RATES)
def test_rms_detector_reads_a_sines_rms_level(rate):
    signal = tone(rate, 1000.0, -10.0, 0.6)
    steady = slice(int(0.4 * rate), None)
    rms = Compressor(rate, threshold_db=-30.0, ratio=4.0, detector="rms").process_whole(signal)
    peak = Compressor(rate, threshold_db=-30.0, ratio=4.0, detector="peak").process_whole(signal)
    input_rms_db = rms_db(signal[steady])
    assert input_rms_db == pytest.approx(-13.01, abs=0.01)
    assert rms_db(rms[steady]) == pytest.approx(-30.0 + (input_rms_db + 30.0) / 4.0, abs=0.1)
    assert peak_db(peak[steady]) == pytest.approx(-30.0 + 20.0 / 4.0, abs=0.1)


@pytest.mark.parametrize("rate", RATES)
def test_sidechain_highpass_ignores_lows_but_not_mids(rate):
    fade = np.sin(np.linspace(0, np.pi / 2, int(0.05 * rate))) ** 2
    steady = slice(int(0.5 * rate), None)

    def steady_gain_db(freq_hz, sidechain_hpf_hz):
        signal = tone(rate, freq_hz, -10.0, 1.0)
        signal[: fade.size] *= fade[:, None]
        compressor = Compressor(rate, threshold_db=-30.0, ratio=4.0, sidechain_hpf_hz=sidechain_hpf_hz)
        return gain_db(compressor, signal)[steady].min()

    assert steady_gain_db(40.0, None) < -10.0
    assert steady_gain_db(40.0, 200.0) > -0.01
    assert steady_gain_db(1000.0, 200.0) < -10.0


@pytest.mark.parametrize("rate", RATES)
def test_stereo_link_applies_the_loud_channels_gain_to_both(rate):
    signal = np.concatenate([tone(rate, 1000.0, -10.0, 0.5, 1), tone(rate, 1000.0, -40.0, 0.5, 1)], axis=1)
    linked = gain_db(Compressor(rate, threshold_db=-30.0, ratio=4.0), signal)
    unlinked = gain_db(Compressor(rate, threshold_db=-30.0, ratio=4.0, stereo_link=False), signal)
    steady = slice(int(0.3 * rate), None)
    np.testing.assert_allclose(linked[:, 0], linked[:, 1], atol=1e-9)
    assert linked[steady].max() < -14.0
    assert unlinked[steady, 0].max() < -14.0
    assert np.abs(unlinked[:, 1]).max() < 1e-9


@pytest.mark.parametrize("rate", RATES)
def test_mix_blends_dry_and_compressed(rate):
    signal = tone(rate, 1000.0, -6.0, 0.3) * np.linspace(0.1, 1.0, int(0.3 * rate))[:, None]
    common = dict(threshold_db=-30.0, ratio=8.0, makeup_db=3.0)
    wet = Compressor(rate, **common).process_whole(signal)
    half = Compressor(rate, mix=0.5, **common).process_whole(signal)
    dry = Compressor(rate, mix=0.0, **common).process_whole(signal)
    assert np.array_equal(dry, signal)
    np.testing.assert_allclose(half, 0.5 * signal + 0.5 * wet, rtol=0, atol=1e-12)


def dynamic_signal(rate, seconds=0.4):
    """Noise and a tone whose level jumps every 50 ms, from -50 to 0 dBFS, two channels."""
    rng = np.random.default_rng(7)
    frames = int(seconds * rate)
    levels = 10 ** (rng.uniform(-50, 0, size=frames // int(0.05 * rate) + 1) / 20)
    envelope = np.repeat(levels, int(0.05 * rate))[:frames]
    t = np.arange(frames) / rate
    left = envelope * (0.7 * np.sin(2 * np.pi * 220 * t) + 0.3 * rng.standard_normal(frames))
    return np.stack([left, 0.5 * np.roll(left, 97)], axis=1)


CONFIGS = [
    dict(),
    dict(detector="rms", knee_db=10.0, makeup_db=4.0),
    dict(sidechain_hpf_hz=150.0, stereo_link=False, mix=0.6, attack_s=0.0),
]


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("config", CONFIGS, ids=["peak", "rms", "hpf-unlinked-parallel"])
@settings(max_examples=20, deadline=None)
@given(blocks=st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=12))
def test_any_block_sizes_give_the_whole_signal_result(rate, config, blocks):
    compressor = Compressor(rate, threshold_db=-25.0, ratio=5.0, release_s=0.05, **config)
    signal = dynamic_signal(rate)
    assert np.array_equal(process_in_blocks(compressor, signal, blocks), compressor.process_whole(signal))


@pytest.mark.parametrize("config", CONFIGS, ids=["peak", "rms", "hpf-unlinked-parallel"])
def test_settle_s_of_pre_roll_matches_a_warm_start(config):
    rate = 48000
    compressor = Compressor(rate, threshold_db=-40.0, ratio=20.0, **config)
    signal = dynamic_signal(rate, seconds=compressor.settle_s + 1.0)
    cut = signal.shape[0] - int(0.5 * rate)
    pre_roll = int(math.ceil(compressor.settle_s * rate))
    warm = compressor.process_whole(signal)[cut:]
    cold = compressor.process_whole(signal[cut - pre_roll :])[pre_roll:]
    assert np.abs(warm - cold).max() < 1e-6


def test_process_leaves_the_given_state_untouched():
    compressor = Compressor(48000, threshold_db=-30.0, ratio=4.0, detector="rms", sidechain_hpf_hz=100.0)
    state = compressor.init_state(2)
    _, state = compressor.process(dynamic_signal(48000, 0.1), state)
    before = {name: value.copy() for name, value in state.items()}
    compressor.process(dynamic_signal(48000, 0.1), state)
    assert all(np.array_equal(state[name], before[name]) for name in before)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(ratio=0.5), "ratio: must be >= 1, got 0.5"),
        (dict(attack_s=-0.1), "attack_s: must be >= 0, got -0.1"),
        (dict(release_s=-1.0), "release_s: must be >= 0, got -1"),
        (dict(knee_db=-3.0), "knee_db: must be >= 0, got -3"),
        (dict(detector="avg"), "detector: must be one of 'peak', 'rms', got 'avg'"),
        (dict(sidechain_hpf_hz=24000.0), "sidechain_hpf_hz: must be such that 0 < sidechain_hpf_hz < 24000"),
        (dict(sidechain_hpf_hz=0.0), "sidechain_hpf_hz: must be such that 0 < sidechain_hpf_hz < 24000"),
        (dict(mix=1.5), "mix: must be <= 1, got 1.5"),
        (dict(mix=-0.1), "mix: must be >= 0, got -0.1"),
        (dict(stereo_link="yes"), "stereo_link: must be true or false, got 'yes'"),
        (dict(threshold_db=float("nan")), "threshold_db: must be finite, got nan"),
    ],
)
def test_bad_parameters_are_rejected_naming_the_rule(kwargs, message):
    parameters = dict(threshold_db=-20.0, ratio=4.0) | kwargs
    with pytest.raises(ParameterError, match=message.replace("(", r"\(")):
        Compressor(48000, **parameters)


def test_nan_in_a_block_is_rejected():
    compressor = Compressor(48000, threshold_db=-20.0, ratio=4.0)
    block = np.zeros((100, 2))
    block[42, 1] = np.nan
    with pytest.raises(BlockError, match="NaN or infinite samples, first at frame 42"):
        compressor.process(block, compressor.init_state(2))
