import numpy as np
import pytest

from dsp.errors import ParameterError
from dsp.fades import fade_curve, fade_gain


@pytest.mark.parametrize("shape", ["linear", "equal_power", "exponential"])
def test_curves_run_from_silence_to_unity_monotonically(shape):
    gain = fade_curve(shape, np.linspace(0, 1, 1001))
    assert gain[0] == 0.0 and gain[-1] == pytest.approx(1.0)
    assert np.all(np.diff(gain) > 0)


def test_curve_midpoints():
    assert fade_curve("linear", 0.5) == pytest.approx(0.5)
    assert fade_curve("equal_power", 0.5) == pytest.approx(np.sqrt(0.5))
    assert fade_curve("exponential", 0.5) == pytest.approx((10**-1.5 - 1e-3) / (1 - 1e-3))
    assert 20 * np.log10(fade_curve("exponential", 0.75)) == pytest.approx(-15.0, abs=0.1)


def test_equal_power_crossfade_keeps_power():
    t = np.linspace(0, 1, 101)
    assert np.allclose(fade_curve("equal_power", t) ** 2 + fade_curve("equal_power", 1 - t) ** 2, 1.0)


def test_fade_gain_in_chunks_equals_whole_region():
    whole = fade_gain(0, 1000, 1000, 300, 200, "exponential")
    parts = np.concatenate([fade_gain(a, b - a, 1000, 300, 200, "exponential") for a, b in [(0, 7), (7, 299), (299, 801), (801, 1000)]])
    np.testing.assert_array_equal(parts, whole)
    assert whole[0] == 0.0 and whole[500] == 1.0 and whole[-1] == pytest.approx(fade_curve("exponential", 1 / 200))


def test_frames_outside_the_region_are_silent():
    gain = fade_gain(-5, 20, 10)
    assert np.all(gain[:5] == 0) and np.all(gain[5:15] == 1) and np.all(gain[15:] == 0)


def test_unknown_shape_is_rejected():
    with pytest.raises(ParameterError, match=r"fade_shape: must be one of 'linear', 'equal_power', 'exponential', got 'cosine'"):
        fade_curve("cosine", 0.5)
