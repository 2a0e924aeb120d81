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
        ([[0.0, 1.0, 2.0]], r"gain_db\[0\]: must be \[time_s, value\]"),
    ],
)
def test_bad_points_name_the_point(points, message):
    with pytest.raises(ParameterError, match=message):
        Envelope.from_points(points, "gain_db")
