import math

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.automation import Envelope, Lanes
from dsp.effect import process_in_blocks
from dsp.errors import BlockError, ParameterError
from dsp.limiter import SAFETY_MARGIN_DB, Limiter, max_gain_reduction_db

RATES = [44100, 48000, 96000]


def true_peak_db(signal):
    """Largest magnitude of the signal interpolated 8x by scipy's polyphase resampler, in dB."""
    return 20 * math.log10(np.abs(scipy.signal.resample_poly(signal, 8, 1, axis=0)).max())


def db(level_db):
    return 10 ** (level_db / 20)


def hot_signal(name, rate, seconds=1.0):
    """Material far above the ceiling, two channels, followed by 50 ms of silence to flush the limiter."""
    rng = np.random.default_rng(11)
    frames = int(seconds * rate)
    t = np.arange(frames) / rate
    if name == "white noise +12 dBFS":
        signal = rng.standard_normal((frames, 2)) * db(12.0) / 3.0
    elif name == "square wave +6 dBFS":
        square = np.sign(np.sin(2 * np.pi * 997.0 * t))
        signal = db(6.0) * np.stack([square, -square], axis=1)
    elif name == "sine near Nyquist +9 dBFS":
        freq_hz = 0.45 * rate
        signal = db(9.0) * np.stack([np.sin(2 * np.pi * freq_hz * t), np.cos(2 * np.pi * freq_hz * t + 0.3)], axis=1)
    elif name == "fs/4 at 45 degrees, +3 dBTP":
        wave = 1.41 * np.sin(np.pi / 2 * np.arange(frames) + np.pi / 4)
        signal = np.stack([wave, wave], axis=1)
    elif name == "drums driven 20 dB over":
        drum = np.zeros(frames)
        hit = np.arange(int(0.2 * rate)) / rate
        stroke = np.exp(-hit / 0.03) * (np.sin(2 * np.pi * 60 * hit) + 0.5 * rng.standard_normal(hit.size))
        for start in range(0, frames - hit.size, int(0.25 * rate)):
            drum[start : start + hit.size] += stroke
        drum *= db(20.0) / np.abs(drum).max()
        signal = np.stack([drum, 0.7 * np.roll(drum, 5)], axis=1)
    return np.concatenate([signal, np.zeros((int(0.05 * rate), 2))])


HOT = [
    "white noise +12 dBFS",
    "square wave +6 dBFS",
    "sine near Nyquist +9 dBFS",
    "fs/4 at 45 degrees, +3 dBTP",
    "drums driven 20 dB over",
]


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("name", HOT)
@pytest.mark.parametrize("ceiling_dbtp,release_s", [(-1.0, 0.05), (-0.1, 0.0)])
def test_output_never_exceeds_the_ceiling_at_8x(rate, name, ceiling_dbtp, release_s):
    limiter = Limiter(rate, ceiling_dbtp=ceiling_dbtp, release_s=release_s)
    out_db = true_peak_db(limiter.process_whole(hot_signal(name, rate)))
    assert out_db <= ceiling_dbtp
    assert out_db > ceiling_dbtp - 1.0


@pytest.mark.parametrize("rate", RATES)
def test_material_below_the_ceiling_is_only_delayed(rate):
    limiter = Limiter(rate, ceiling_dbtp=-1.0)
    rng = np.random.default_rng(5)
    signal = rng.standard_normal((rate // 2, 2)) * 0.05
    assert true_peak_db(signal) < -6.0
    out = limiter.process_whole(signal)
    delay = limiter.latency_samples
    assert np.array_equal(out[delay:], signal[:-delay])
    assert not out[:delay].any()


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("lookahead_s", [0.001, 0.005, 0.02])
def test_latency_samples_is_the_measured_delay(rate, lookahead_s):
    limiter = Limiter(rate, lookahead_s=lookahead_s)
    click = np.zeros((rate // 10, 1))
    click[100] = 4.0
    out = limiter.process_whole(click)
    assert int(np.argmax(np.abs(out[:, 0]))) - 100 == limiter.latency_samples
    assert limiter.latency_samples == round(lookahead_s * rate) + 10


@pytest.mark.parametrize("rate", RATES)
def test_max_gain_reduction_is_reported_in_db(rate):
    limiter = Limiter(rate, ceiling_dbtp=-1.0)
    t = np.arange(rate // 2) / rate
    sine = np.repeat(db(6.0) * np.sin(2 * np.pi * 1000 * t)[:, None], 2, axis=1)
    _, state = limiter.process(sine, limiter.init_state(2))
    assert max_gain_reduction_db(state) == pytest.approx(7.0 + SAFETY_MARGIN_DB, abs=0.05)
    _, state = limiter.process(sine * db(-20.0), state)
    assert max_gain_reduction_db(state) == pytest.approx(7.0 + SAFETY_MARGIN_DB, abs=0.05)
    _, fresh = limiter.process(sine * db(-20.0), limiter.init_state(2))
    assert max_gain_reduction_db(fresh) == 0.0


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("release_s", [0.02, 0.05, 0.2])
def test_gain_recovers_with_the_release_time_constant(rate, release_s):
    limiter = Limiter(rate, ceiling_dbtp=-1.0, lookahead_s=0.002, release_s=release_s)
    t = np.arange(int((0.1 + 12 * release_s) * rate)) / rate
    level = np.where(t < 0.1, db(6.0), db(-20.0))
    sine = np.repeat((level * np.cos(2 * np.pi * 500 * t))[:, None], 2, axis=1)
    out = limiter.process_whole(sine)
    delay = limiter.latency_samples
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = out[delay:, 0] / sine[:-delay, 0]
    after = int(0.1 * rate) + 2 * (delay + 1)
    usable = np.abs(sine[after : -delay, 0]) > 0.5 * db(-20.0)
    reduction = 1.0 - gain[after:]
    tail = usable & (reduction > 1e-3 * reduction[0])
    slope, _ = np.polyfit(np.nonzero(tail)[0] / rate, np.log(reduction[tail]), 1)
    assert -1.0 / slope == pytest.approx(release_s, rel=0.1)


def mixed_signal(rate, seconds=0.5):
    """Hot noise bursts, quiet passages and silence, two channels."""
    rng = np.random.default_rng(2)
    frames = int(seconds * rate)
    levels = db(rng.choice([-60.0, -20.0, 0.0, 6.0, 12.0], size=frames // int(0.02 * rate) + 1))
    envelope = np.repeat(levels, int(0.02 * rate))[:frames]
    return envelope[:, None] * rng.standard_normal((frames, 2)) * 0.4


@pytest.mark.parametrize("rate", RATES)
@settings(max_examples=20, deadline=None)
@given(blocks=st.lists(st.integers(min_value=1, max_value=6000), min_size=1, max_size=12))
def test_any_block_sizes_give_the_whole_signal_result(rate, blocks):
    limiter = Limiter(rate, lookahead_s=0.003, release_s=0.02)
    signal = mixed_signal(rate)
    assert np.array_equal(process_in_blocks(limiter, signal, blocks), limiter.process_whole(signal))


def test_settle_s_of_pre_roll_matches_a_warm_start():
    rate = 48000
    limiter = Limiter(rate)
    signal = mixed_signal(rate, seconds=limiter.settle_s + 0.5)
    cut = signal.shape[0] - int(0.3 * rate)
    pre_roll = int(math.ceil(limiter.settle_s * rate))
    warm = limiter.process_whole(signal)[cut:]
    cold = limiter.process_whole(signal[cut - pre_roll :])[pre_roll:]
    assert np.abs(warm - cold).max() < 1e-6


def test_process_leaves_the_given_state_untouched():
    limiter = Limiter(48000)
    state = limiter.init_state(2)
    _, state = limiter.process(mixed_signal(48000, 0.1), state)
    before = {name: value.copy() for name, value in state.items()}
    limiter.process(mixed_signal(48000, 0.1), state)
    assert all(np.array_equal(state[name], before[name]) for name in before)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(lookahead_s=0.0), "lookahead_s: must be > 0, got 0"),
        (dict(lookahead_s=-0.005), "lookahead_s: must be > 0, got -0.005"),
        (dict(release_s=-0.1), "release_s: must be >= 0, got -0.1"),
        (dict(ceiling_dbtp=0.5), "ceiling_dbtp: must be <= 0, got 0.5"),
        (dict(ceiling_dbtp=float("inf")), "ceiling_dbtp: must be finite, got inf"),
    ],
)
def test_bad_parameters_are_rejected_naming_the_rule(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        Limiter(48000, **kwargs)


def test_nan_in_a_block_is_rejected():
    limiter = Limiter(48000)
    block = np.zeros((10, 2))
    block[7, 1] = np.nan
    with pytest.raises(BlockError, match="NaN or infinite samples, first at frame 7"):
        limiter.process(block, limiter.init_state(2))


def test_an_automated_ceiling_holds_wherever_it_moves():
    rate = 48000
    rng = np.random.default_rng(21)
    signal = rng.standard_normal((rate, 2)) * 0.5
    limiter = Limiter(rate, ceiling_dbtp=-1.0, release_s=0.02)
    steps = [[0.0, -12.0, "hold"], [0.25, -3.0, "hold"], [0.5, -18.0], [0.75, -6.0]]
    lanes = Lanes({"ceiling_dbtp": Envelope.from_points(steps)}, 0, rate, rate)
    out, _ = limiter.process_automated(signal, limiter.init_state(2), lanes)
    latency = limiter.latency_samples
    on_timeline = out[latency:]
    ceiling_db = Envelope.from_points(steps).evaluate(0, on_timeline.shape[0], rate)
    for start in range(0, on_timeline.shape[0] - 480, 480):
        window = on_timeline[start : start + 480]
        assert true_peak_db(window) <= np.max(ceiling_db[max(0, start - 24) : start + 504]) + 0.05, f"over the ceiling near {start / rate:.3f} s"
    assert true_peak_db(on_timeline[int(0.3 * rate) : int(0.45 * rate)]) > -3.5, "the raised ceiling lets the peaks up"


def test_the_lookahead_cannot_be_automated():
    with pytest.raises(ParameterError, match="^lookahead_s: the limiter's lookahead_s sets its latency"):
        Limiter(48000).check_automation("lookahead_s", 0.002)
