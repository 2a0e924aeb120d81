import numpy as np
import pytest

from dsp.errors import BlockError, ParameterError
from dsp.gain import Gain, invert_polarity
from dsp.mixing import add_into
from dsp.pan import pan
from dsp.stereo import Width, apply_width

ONES_MONO = np.ones((4, 1))
ONES_STEREO = np.ones((4, 2))


@pytest.mark.parametrize(
    "position,left_db,right_db",
    [(0.0, -3.0103, -3.0103), (-1.0, 0.0, -np.inf), (1.0, -np.inf, 0.0)],
)
def test_mono_constant_power_law_at_centre_and_extremes(position, left_db, right_db):
    out = pan(ONES_MONO, position)
    with np.errstate(divide="ignore"):
        levels = 20 * np.log10(np.abs(out[0]))
    assert levels[0] == pytest.approx(left_db, abs=1e-3) if np.isfinite(left_db) else abs(out[0, 0]) < 1e-15
    assert levels[1] == pytest.approx(right_db, abs=1e-3) if np.isfinite(right_db) else abs(out[0, 1]) < 1e-15


@pytest.mark.parametrize("position", np.linspace(-1, 1, 9))
def test_mono_pan_keeps_power_everywhere(position):
    out = pan(ONES_MONO, position)
    assert np.sum(out[0] ** 2) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("position,expected", [(0.0, [1.0, 1.0]), (-1.0, [1.0, 0.0]), (1.0, [0.0, 1.0]), (0.5, [0.5, 1.0]), (-0.25, [1.0, 0.75])])
def test_stereo_balance_attenuates_the_opposite_side(position, expected):
    np.testing.assert_allclose(pan(ONES_STEREO, position)[0], expected)


def test_pan_follows_a_per_frame_curve():
    out = pan(ONES_STEREO, np.array([-1.0, 0.0, 0.5, 1.0]))
    np.testing.assert_allclose(out, [[1, 0], [1, 1], [0.5, 1], [0, 1]])


def test_pan_out_of_range_is_rejected():
    with pytest.raises(ParameterError, match=r"pan: must be such that -1 <= pan <= 1"):
        pan(ONES_MONO, 1.5)


def test_width_zero_folds_to_mono_and_two_doubles_side():
    block = np.array([[1.0, 0.0], [0.3, -0.5]])
    mono = apply_width(block, 0.0)
    np.testing.assert_allclose(mono[:, 0], mono[:, 1])
    np.testing.assert_allclose(mono[:, 0], block.mean(axis=1))
    wide = apply_width(block, 2.0)
    np.testing.assert_allclose(wide[:, 0] - wide[:, 1], 2 * (block[:, 0] - block[:, 1]))
    np.testing.assert_allclose(wide.sum(axis=1), block.sum(axis=1))
    np.testing.assert_array_equal(apply_width(block, 1.0), block)


def test_width_effect_rejects_out_of_range():
    with pytest.raises(ParameterError, match=r"width: must be <= 2, got 2.5"):
        Width(48000, width=2.5)
    np.testing.assert_allclose(Width(48000, width=0.0).process_whole(np.array([[1.0, -1.0]])), [[0.0, 0.0]])


def test_gain_effect_scales_by_decibels():
    out = Gain(48000, gain_db=-6.0206).process_whole(np.ones((2, 2)))
    np.testing.assert_allclose(out, 0.5, rtol=1e-5)
    with pytest.raises(ParameterError, match=r"gain_db: must be <= 96"):
        Gain(48000, gain_db=120.0)


def test_polarity_inversion_nulls_against_the_original():
    block = np.random.default_rng(0).standard_normal((100, 2))
    assert np.max(np.abs(invert_polarity(block) + block)) == 0.0


def test_add_into_sums_at_offset_and_spreads_mono():
    bus = np.zeros((6, 2))
    add_into(bus, np.ones((2, 1)), offset=1)
    add_into(bus, np.full((3, 2), 2.0), offset=2)
    np.testing.assert_array_equal(bus[:, 0], [0, 1, 3, 2, 2, 0])
    with pytest.raises(BlockError, match=r"frames \[5, 7\) fall outside the bus of 6 frames"):
        add_into(bus, np.ones((2, 2)), offset=5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("gain", [0.5, np.linspace(0.0, 1.0, 5)])
def test_add_into_scales_by_a_number_or_one_gain_per_frame(dtype, channels, gain):
    rng = np.random.default_rng(channels)
    block = rng.standard_normal((5, channels)).astype(dtype)
    bus = rng.standard_normal((8, 2))
    expected = bus.copy()
    expected[2:7] += block.astype(np.float64) * np.reshape(gain, (-1, 1))
    add_into(bus, block, offset=2, gain=gain)
    np.testing.assert_array_equal(bus, expected)


def test_add_into_refuses_a_gain_of_the_wrong_length():
    with pytest.raises(BlockError, match=r"gain: must be a number or one value per frame \(2\), got shape \(3,\)"):
        add_into(np.zeros((4, 2)), np.ones((2, 2)), gain=np.ones(3))


@pytest.mark.parametrize("channels", [1, 2])
def test_pan_with_a_gain_is_the_gain_then_the_pan_law(channels):
    rng = np.random.default_rng(4)
    block = rng.standard_normal((64, channels))
    fader = rng.uniform(0.1, 2.0, 64)
    position = np.linspace(-1.0, 1.0, 64)
    np.testing.assert_array_equal(pan(block, position, fader), pan(block * fader[:, None], position))
    np.testing.assert_array_equal(pan(block, 0.3, 0.5), pan(block * 0.5, 0.3))
    with pytest.raises(ParameterError, match=r"gain: must be a number or one value per frame \(64\), got shape \(3,\)"):
        pan(block, 0.0, np.ones(3))
