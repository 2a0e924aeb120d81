import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.delay import Delay, note_to_seconds
from dsp.effect import process_in_blocks
from dsp.errors import BlockError, ParameterError
from dsp.generators import sine_tone

RATES = [44100, 48000, 96000]


def impulse(frames, channels=1):
    signal = np.zeros((frames, channels))
    signal[0] = 1.0
    return signal


@pytest.mark.parametrize("rate", RATES)
def test_an_impulse_echoes_once_at_the_rounded_delay_scaled_by_mix(rate):
    effect = Delay(rate, time_s=0.0123456, feedback=0.0, mix=0.4)
    delay = round(0.0123456 * rate)
    out = effect.process_whole(impulse(3 * delay))[:, 0]
    assert effect.delay_samples == delay
    assert out[0] == pytest.approx(0.6)
    assert out[delay] == pytest.approx(0.4)
    assert np.count_nonzero(out) == 2


@pytest.mark.parametrize("rate", [44100, 48000])
def test_time_rounds_to_the_nearest_sample_with_halves_up(rate):
    assert Delay(rate, time_s=10.4 / rate).delay_samples == 10
    assert Delay(rate, time_s=10.5 / rate).delay_samples == 11


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("feedback", [0.5, -0.6])
def test_repeats_decay_by_the_feedback(rate, feedback):
    effect = Delay(rate, time_s=0.01, feedback=feedback, mix=1.0)
    delay = effect.delay_samples
    out = effect.process_whole(impulse(6 * delay + 1))[:, 0]
    echoes = out[delay :: delay]
    np.testing.assert_allclose(echoes, feedback ** np.arange(6), rtol=1e-12)
    assert np.count_nonzero(out) == 6


@pytest.mark.parametrize("rate", RATES)
def test_ping_pong_alternates_the_echoes_between_channels(rate):
    effect = Delay(rate, time_s=0.005, feedback=0.7, mix=1.0, ping_pong=True)
    delay = effect.delay_samples
    out = effect.process_whole(impulse(5 * delay + 1, channels=2))
    for k in range(1, 6):
        side = (k - 1) % 2
        assert out[k * delay, side] == pytest.approx(0.7 ** (k - 1))
        assert out[k * delay, 1 - side] == 0.0
    assert np.count_nonzero(out) == 5


def test_ping_pong_feeds_the_mono_sum_into_the_left_line():
    effect = Delay(48000, time_s=0.001, feedback=0.5, mix=1.0, ping_pong=True)
    signal = np.zeros((100, 2))
    signal[0, 1] = 1.0
    out = effect.process_whole(signal)
    assert out[48, 0] == pytest.approx(0.5) and out[48, 1] == 0.0
    assert out[96, 1] == pytest.approx(0.25) and out[96, 0] == 0.0


def first_two_echo_levels(effect, freq_hz, delay):
    """RMS of the first two echoes of a 50 ms tone burst (the delay is longer)."""
    burst = sine_tone(freq_hz, 0.05, effect.sample_rate, level_dbfs=0.0, channels=1)
    out = effect.process_whole(np.concatenate([burst, np.zeros((3 * delay, 1))]))[:, 0]
    return [np.sqrt(np.mean(out[k * delay : k * delay + burst.shape[0]] ** 2)) for k in (1, 2)]


@pytest.mark.parametrize("rate", RATES)
def test_highcut_attenuates_the_repeats_of_a_high_tone_and_passes_a_low_one(rate):
    effect = Delay(rate, time_s=0.1, feedback=0.5, mix=1.0, highcut_hz=2000.0)
    delay = effect.delay_samples
    first, second = first_two_echo_levels(effect, 12000.0, delay)
    assert second / first < 0.5 * 0.05
    first, second = first_two_echo_levels(effect, 200.0, delay)
    assert second / first == pytest.approx(0.5, rel=0.02)


@pytest.mark.parametrize(
    "note,seconds",
    [("1/1", 2.0), ("1/2", 1.0), ("1/4", 0.5), ("1/8", 0.25), ("1/16", 0.125), ("1/8.", 0.375), ("1/4.", 0.75), ("1/8t", 1 / 6), ("3/16", 0.375)],
)
def test_note_values_at_120_bpm(note, seconds):
    assert note_to_seconds(note, 120.0) == pytest.approx(seconds)


def test_from_note_sets_the_time_at_the_tempo():
    effect = Delay.from_note(48000, "1/8", 100.0, feedback=0.2)
    assert effect.time_s == pytest.approx(0.3)
    assert effect.delay_samples == 14400
    assert effect.feedback == 0.2


@pytest.mark.parametrize(
    "note,tempo,message",
    [
        ("1/3", 120.0, r"time_note: denominator must be a power of two from 1 to 128, got '1/3'"),
        ("1/256", 120.0, r"time_note: denominator must be a power of two"),
        ("quarter", 120.0, r'time_note: must look like "1/4", "1/8." \(dotted\) or "1/8t" \(triplet\), got \'quarter\''),
        ("1/4x", 120.0, r"time_note: must look like"),
        ("0/4", 120.0, r"time_note: must look like"),
        (4, 120.0, r"time_note: must look like"),
        ("1/4", 0.0, r"tempo_bpm: must be > 0, got 0"),
        ("1/4", -90.0, r"tempo_bpm: must be > 0, got -90"),
    ],
)
def test_bad_note_values_are_rejected(note, tempo, message):
    with pytest.raises(ParameterError, match=message):
        note_to_seconds(note, tempo)


@pytest.mark.parametrize("feedback", [0.0, 0.5, -0.9])
def test_tail_ends_where_the_repeats_fall_below_minus_120_db(feedback):
    effect = Delay(48000, time_s=0.002, feedback=feedback, mix=1.0)
    tail = round(effect.tail_s * 48000)
    out = np.abs(effect.process_whole(impulse(tail + 10 * effect.delay_samples))[:, 0])
    assert out[tail + 1 :].max() < 1e-6
    assert out[tail - effect.delay_samples + 1 : tail + 1].max() >= 1e-6
    assert effect.settle_s == effect.tail_s


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(1, 700), min_size=1, max_size=10), st.booleans())
def test_blocks_of_any_size_are_bit_exact(block_frames, ping_pong):
    effect = Delay(48000, time_s=0.004, feedback=-0.7, mix=0.6, ping_pong=ping_pong, highcut_hz=3000.0)
    signal = np.random.default_rng(0).standard_normal((3000, 2))
    np.testing.assert_array_equal(process_in_blocks(effect, signal, block_frames), effect.process_whole(signal))


def test_process_leaves_the_given_state_untouched():
    effect = Delay(48000, time_s=0.001, feedback=0.5, highcut_hz=5000.0)
    _, state = effect.process(np.random.default_rng(1).standard_normal((500, 2)), effect.init_state(2))
    snapshot = {key: value.copy() for key, value in state.items()}
    effect.process(np.ones((300, 2)), state)
    for key, value in snapshot.items():
        np.testing.assert_array_equal(state[key], value)


@pytest.mark.parametrize(
    "params,message",
    [
        ({"time_s": 0.0}, r"time_s: must be at least half a sample \(>= 1.04e-05 s at sample_rate 48000\), got 0"),
        ({"time_s": -0.1}, r"time_s: must be at least half a sample"),
        ({"time_s": 25.0}, r"time_s: must be <= 20, got 25"),
        ({"time_s": 0.1, "feedback": 1.2}, r"feedback: must be > -1 and < 1, got 1.2"),
        ({"time_s": 0.1, "feedback": -1.0}, r"feedback: must be > -1 and < 1, got -1"),
        ({"time_s": 0.1, "mix": 1.5}, r"mix: must be <= 1, got 1.5"),
        ({"time_s": 0.1, "ping_pong": "yes"}, r"ping_pong: must be true or false, got 'yes'"),
        ({"time_s": 0.1, "highcut_hz": 30000.0}, r"highcut_hz: must be such that 0 < highcut_hz < 24000 \(Nyquist at sample_rate 48000\), got 30000"),
        ({"time_s": 0.1, "highcut_hz": 0.0}, r"highcut_hz: must be such that 0 < highcut_hz < 24000"),
    ],
)
def test_bad_parameters_are_rejected(params, message):
    with pytest.raises(ParameterError, match=message):
        Delay(48000, **params)


def test_ping_pong_needs_a_stereo_signal():
    with pytest.raises(BlockError, match=r"block: ping_pong needs 2 channels, got 1"):
        Delay(48000, time_s=0.1, ping_pong=True).init_state(1)


def test_tail_counts_whole_echoes():
    effect = Delay(48000, time_s=0.25, feedback=0.5)
    echoes = 1 + math.floor(math.log(1e-6) / math.log(0.5))
    assert effect.tail_s == pytest.approx(echoes * 0.25)


def test_a_line_with_room_to_move_echoes_exactly_as_the_exact_line_until_its_time_moves():
    from dsp.automation import Envelope, Lanes

    rate = 48000
    signal = np.random.default_rng(3).standard_normal((9600, 2))
    exact = Delay(rate, time_s=0.01, feedback=0.4, mix=0.5)
    roomy = exact.for_automation({"time_s": (0.005, 0.05)})
    assert roomy.max_time_s == 0.05 and exact.for_automation({"mix": (0.0, 1.0)}) is exact
    np.testing.assert_array_equal(roomy.process_whole(signal), exact.process_whole(signal))
    impulse = np.zeros((rate, 1))
    impulse[0] = 1.0
    dry_free = Delay(rate, time_s=0.01, feedback=0.0, mix=1.0).for_automation({"time_s": (0.01, 0.02)})
    lanes = Lanes({"time_s": Envelope.from_points([[0.0, 0.0125]])}, 0, rate, rate)
    echo, _ = dry_free.process_automated(impulse, dry_free.init_state(1), lanes)
    assert np.flatnonzero(echo[:, 0]).tolist() == [600]
    lanes = Lanes({"time_s": Envelope.from_points([[0.0, 0.01255]])}, 0, rate, rate)
    echo, _ = dry_free.process_automated(impulse, dry_free.init_state(1), lanes)
    np.testing.assert_allclose(echo[602:604, 0], [0.6, 0.4], atol=1e-9)


def test_a_delay_built_without_room_refuses_a_moving_time():
    from dsp.automation import Envelope, Lanes

    delay = Delay(48000, time_s=0.01)
    lanes = Lanes({"time_s": Envelope.from_points([[0.0, 0.02]])}, 0, 100, 48000)
    with pytest.raises(ParameterError, match=r"^time_s: a delay follows automation of time_s only when built with room for it"):
        delay.process_automated(np.zeros((100, 1)), delay.init_state(1), lanes)
