import numpy as np
import pytest

from dsp.automation import Envelope
from dsp.errors import ParameterError


def test_linear_ramp_between_points_and_holds_outside():
    envelope = Envelope.from_points([[1.0, -60.0], [2.0, 0.0]])
    values = envelope.evaluate(0, 3000, 1000)
    assert values[500] == -60.0 and values[1000] == -60.0
    assert values[1500] == pytest.approx(-30.0)
    assert values[1001] == pytest.approx(-60.0 + 60.0 / 1000)
    assert values[2000] == 0.0 and values[2999] == 0.0


def test_any_frame_range_matches_the_whole_timeline():
    envelope = Envelope.from_points([[0.0, 0.0], [0.013, 1.0], [0.5, -1.0], [0.5, 0.25], [0.9, 0.5]])
    whole = envelope.evaluate(0, 48000, 48000)
    parts = np.concatenate([envelope.evaluate(start, stop - start, 48000) for start, stop in [(0, 1), (1, 777), (777, 24000), (24000, 48000)]])
    np.testing.assert_array_equal(parts, whole)


def test_a_hold_point_keeps_its_value_until_the_next_point():
    envelope = Envelope.from_points([[0.0, 0.0], [1.0, 6.0, "hold"], [2.0, -6.0], [3.0, 0.0]])
    values = envelope.evaluate(0, 4000, 1000)
    assert values[500] == pytest.approx(3.0)
    assert values[1000] == values[1500] == values[1999] == 6.0
    assert values[2000] == -6.0 and values[2500] == pytest.approx(-3.0)
    assert values[3999] == 0.0


def test_a_hold_on_the_last_point_holds_to_the_end():
    values = Envelope.from_points([[0.0, 1.0], [1.0, 2.0, "hold"]]).evaluate(0, 3000, 1000)
    assert values[0] == 1.0 and values[1000] == values[2999] == 2.0


def test_on_the_control_grid_a_step_ramps_over_one_period_and_any_frame_range_agrees():
    envelope = Envelope.from_points([[0.0, 0.0, "hold"], [0.5, 1.0, "hold"], [0.75, 0.0]])
    rate, period = 48000, 64
    whole = envelope.evaluate_on_grid(0, rate, rate, period)
    step = int(0.5 * rate)
    before, after = ((step - 1) // period) * period, -(-step // period) * period
    assert np.all(whole[:before] == 0.0) and np.all(whole[after : int(0.75 * rate) - period] == 1.0)
    assert np.all(np.diff(whole[before : after + 1]) >= 0) and after - before <= period
    parts = np.concatenate([envelope.evaluate_on_grid(start, stop - start, rate, period) for start, stop in [(0, 1), (1, 100), (100, 24001), (24001, rate)]])
    np.testing.assert_array_equal(parts, whole)


def test_repeated_time_makes_a_step():
    envelope = Envelope.from_points([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    values = envelope.evaluate(0, 2000, 1000)
    assert values[999] == 0.0 and values[1000] == 1.0


@pytest.mark.parametrize(
    "points,message",
    [
        ([], r"gain_db: must hold at least one \[time_s, value\] point"),
        ([[1.0, 0.0], [0.5, 1.0]], r"gain_db\[1\]\.time_s: times must not decrease, got 0.5 after 1"),
        ([[-1.0, 0.0]], r"gain_db\[0\]\.time_s: must be >= 0, got -1"),
        ([[0.0, float("nan")]], r"gain_db\[0\]\.value: must be finite"),
        ([[0.0, 1.0, 2.0]], r"gain_db\[0\]: must be \[time_s, value\] or \[time_s, value, hold\], got \[0.0, 1.0, 2.0\]"),
        ([[0.0, 1.0, "hld"]], r"gain_db\[0\]: must be \[time_s, value\] or \[time_s, value, hold\]"),
    ],
)
def test_bad_points_name_the_point(points, message):
    with pytest.raises(ParameterError, match=message):
        Envelope.from_points(points, "gain_db")
