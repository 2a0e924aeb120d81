import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.effect import process_in_blocks
from dsp.errors import BlockError, ParameterError
from dsp.gate import Gate

RATES = [44100, 48000, 96000]

OPEN_GAIN = 1.0 - 1e-9
"""A gain above this counts as fully open."""


def steps(rate, *segments):
    """Constant levels (dBFS) held for given seconds: ``steps(rate, (-6, 0.1), (-60, 0.5))``, two channels."""
    parts = [np.full(int(round(seconds * rate)), 10 ** (level_db / 20)) for level_db, seconds in segments]
    signal = np.concatenate(parts)
    return np.stack([signal, -0.5 * signal], axis=1)


def gain(gate, signal):
    return gate.process_whole(signal)[:, 0] / signal[:, 0]


def time_to_cover_s(trace, start, end, rate):
    """Seconds until ``trace`` has covered 1 - 1/e of the way from ``start`` to ``end``."""
    return int(np.argmax((trace - start) / (end - start) >= 1 - math.exp(-1))) / rate


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("range_db", [-80.0, -20.0, -6.0])
def test_closed_gate_attenuates_by_range_db(rate, range_db):
    gate = Gate(rate, threshold_db=-40.0, range_db=range_db)
    signal = steps(rate, (-10.0, 0.1), (-50.0, 1.8))
    steady = slice(int(1.6 * rate), None)
    attenuation_db = 20 * np.log10(gain(gate, signal)[steady])
    assert attenuation_db == pytest.approx(np.full(attenuation_db.shape, range_db), abs=0.1)


@pytest.mark.parametrize("rate", RATES)
def test_open_gate_passes_the_signal(rate):
    gate = Gate(rate, threshold_db=-40.0)
    signal = steps(rate, (-30.0, 0.2))
    assert gain(gate, signal)[int(0.1 * rate) :].min() > OPEN_GAIN


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("hold_s", [0.0, 0.01, 0.1234])
def test_gate_holds_open_for_exactly_hold_s_after_the_signal_drops(rate, hold_s):
    """Tolerance: none; the hold is ``round(hold_s * rate)`` samples exactly."""
    gate = Gate(rate, threshold_db=-40.0, hold_s=hold_s)
    signal = steps(rate, (-10.0, 0.1), (-50.0, 0.4))
    drop = int(round(0.1 * rate))
    after_drop = gain(gate, signal)[drop:]
    held = int(np.argmax(after_drop <= OPEN_GAIN))
    assert held == round(hold_s * rate)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("attack_s,release_s", [(0.001, 0.1), (0.01, 0.03), (0.0005, 0.5)])
def test_attack_and_release_time_constants(rate, attack_s, release_s):
    gate = Gate(rate, threshold_db=-40.0, range_db=-60.0, attack_s=attack_s, hold_s=0.02, release_s=release_s)
    closed = 10 ** (-60.0 / 20)
    signal = steps(rate, (-50.0, 0.05), (-10.0, 0.2 + 10 * attack_s), (-50.0, 10 * release_s))
    trace = gain(gate, signal)
    opening = int(round(0.05 * rate))
    closing = opening + int(round((0.2 + 10 * attack_s) * rate)) + gate.hold_frames
    assert time_to_cover_s(trace[opening:], closed, 1.0, rate) == pytest.approx(attack_s, rel=0.1, abs=1.5 / rate)
    assert time_to_cover_s(trace[closing:], 1.0, closed, rate) == pytest.approx(release_s, rel=0.1)


@pytest.mark.parametrize("rate", RATES)
def test_gate_is_linked_across_channels(rate):
    gate = Gate(rate, threshold_db=-40.0)
    loud_left = np.concatenate([steps(rate, (-10.0, 0.2))[:, :1], steps(rate, (-60.0, 0.2))[:, :1]], axis=1)
    gains = gate.process_whole(loud_left) / loud_left
    np.testing.assert_allclose(gains[:, 0], gains[:, 1], rtol=1e-12)
    assert gains[int(0.05 * rate) :, 1].min() > OPEN_GAIN


def bursts(rate, seconds=0.4):
    """Tone bursts between -60 and -10 dBFS, 30 ms each, two channels."""
    rng = np.random.default_rng(3)
    frames = int(seconds * rate)
    levels = 10 ** (rng.choice([-60.0, -45.0, -30.0, -10.0], size=frames // int(0.03 * rate) + 1) / 20)
    envelope = np.repeat(levels, int(0.03 * rate))[:frames]
    wave = np.sin(2 * np.pi * 300 * np.arange(frames) / rate) + 0.1 * rng.standard_normal(frames)
    return np.stack([envelope * wave, 0.3 * envelope * wave[::-1]], axis=1)


@pytest.mark.parametrize("rate", RATES)
@settings(max_examples=20, deadline=None)
@given(blocks=st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=12))
def test_any_block_sizes_give_the_whole_signal_result(rate, blocks):
    gate = Gate(rate, threshold_db=-35.0, range_db=-40.0, hold_s=0.005, release_s=0.02)
    signal = bursts(rate)
    assert np.array_equal(process_in_blocks(gate, signal, blocks), gate.process_whole(signal))


def test_settle_s_of_pre_roll_matches_a_warm_start():
    rate = 48000
    gate = Gate(rate, threshold_db=-35.0, hold_s=0.05, release_s=0.05)
    signal = bursts(rate, seconds=gate.settle_s + 0.5)
    cut = signal.shape[0] - int(0.3 * rate)
    pre_roll = int(math.ceil(gate.settle_s * rate))
    warm = gate.process_whole(signal)[cut:]
    cold = gate.process_whole(signal[cut - pre_roll :])[pre_roll:]
    assert np.abs(warm - cold).max() < 1e-6


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(range_db=3.0), "range_db: must be <= 0, got 3"),
        (dict(attack_s=-0.1), "attack_s: must be >= 0, got -0.1"),
        (dict(hold_s=-0.01), "hold_s: must be >= 0, got -0.01"),
        (dict(release_s=-1.0), "release_s: must be >= 0, got -1"),
        (dict(threshold_db="loud"), "threshold_db: must be a number, got 'loud'"),
    ],
)
def test_bad_parameters_are_rejected_naming_the_rule(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        Gate(48000, **(dict(threshold_db=-40.0) | kwargs))


def test_nan_in_a_block_is_rejected():
    gate = Gate(48000, threshold_db=-40.0)
    block = np.zeros((10, 2))
    block[3, 0] = np.nan
    with pytest.raises(BlockError, match="NaN or infinite samples, first at frame 3"):
        gate.process(block, gate.init_state(2))
