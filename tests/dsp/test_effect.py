import pickle

import numpy as np
import pytest

from dsp.effect import process_in_blocks
from dsp.eq import EqBand, Equalizer
from dsp.errors import BlockError, ParameterError


def make_eq(rate=48000):
    return Equalizer(rate, bands=[EqBand("bell", 1000.0, 6.0)])


def test_process_leaves_the_given_state_untouched():
    eq = make_eq()
    state = eq.init_state(2)
    _, warm = eq.process(np.random.default_rng(0).standard_normal((500, 2)), state)
    snapshot = {key: value.copy() for key, value in warm.items()}
    eq.process(np.ones((300, 2)), warm)
    for key in snapshot:
        np.testing.assert_array_equal(warm[key], snapshot[key])


def test_state_pickles_and_resumes_elsewhere():
    eq = make_eq()
    signal = np.random.default_rng(1).standard_normal((2000, 2))
    first, state = eq.process(signal[:700], eq.init_state(2))
    second, _ = pickle.loads(pickle.dumps(eq)).process(signal[700:], pickle.loads(pickle.dumps(state)))
    np.testing.assert_array_equal(np.concatenate([first, second]), eq.process_whole(signal))


def test_process_in_blocks_with_empty_and_oversized_blocks():
    eq = make_eq()
    signal = np.random.default_rng(2).standard_normal((1000, 1))
    np.testing.assert_array_equal(process_in_blocks(eq, signal, [0, 10, 5000]), eq.process_whole(signal))


def test_wrong_channel_count_is_rejected():
    eq = make_eq()
    with pytest.raises(BlockError, match=r"block: must have 2 channel\(s\), got 1"):
        eq.process(np.zeros((10, 1)), eq.init_state(2))


def test_wrong_shape_is_rejected():
    eq = make_eq()
    with pytest.raises(BlockError, match=r"block: must be a 2-D array shaped \(frames, channels\), got shape \(10,\)"):
        eq.process(np.zeros(10), eq.init_state(1))


def test_integer_samples_are_rejected():
    eq = make_eq()
    with pytest.raises(BlockError, match=r"must hold floating-point samples, got dtype int16"):
        eq.process(np.zeros((10, 1), dtype=np.int16), eq.init_state(1))


def test_bad_sample_rate_is_rejected():
    with pytest.raises(ParameterError, match=r"sample_rate: must be >= 1000, got 0"):
        make_eq(0)
