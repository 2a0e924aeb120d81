import numpy as np
import pytest

from dsp import halfband
from dsp.errors import ParameterError

DESIGNS = [(110.0, 0.88), (110.0, 0.44), (100.0, 0.95), (60.0, 0.5), (140.0, 0.8)]


def response_db(coefficients, freq_ratio):
    return 20 * np.log10(np.abs(halfband.frequency_response(coefficients, freq_ratio)))


@pytest.mark.parametrize("stopband_db,passband_ratio", DESIGNS)
def test_measured_stopband_reaches_the_required_attenuation(
    stopband_db, passband_ratio
):
    coefficients = halfband.design(stopband_db, passband_ratio)
    stopband = np.linspace(2 - passband_ratio, 2, 200_001)
    worst_db = response_db(coefficients, stopband).max()
    assert worst_db <= -stopband_db
    assert worst_db == pytest.approx(
        -halfband.stopband_attenuation_db(coefficients.size, passband_ratio), abs=0.05
    )


@pytest.mark.parametrize("stopband_db,passband_ratio", DESIGNS)
def test_passband_ripple_is_the_square_of_the_stopband_ripple(
    stopband_db, passband_ratio
):
    coefficients = halfband.design(stopband_db, passband_ratio)
    passband = np.linspace(0, passband_ratio, 200_001)
    levels_db = response_db(coefficients, passband)
    assert levels_db.max() < 1e-12
    stopband_power = 10 ** (
        -halfband.stopband_attenuation_db(coefficients.size, passband_ratio) / 10
    )
    assert levels_db.min() >= 10 * np.log10(1 - 1.01 * stopband_power) - 1e-12


@pytest.mark.parametrize("stopband_db,passband_ratio", DESIGNS)
def test_the_count_is_the_fewest_even_one(stopband_db, passband_ratio):
    count = halfband.design(stopband_db, passband_ratio).size
    assert count % 2 == 0
    assert halfband.stopband_attenuation_db(count, passband_ratio) >= stopband_db
    assert halfband.stopband_attenuation_db(count - 2, passband_ratio) < stopband_db


def test_coefficients_are_ascending_in_the_unit_interval():
    coefficients = halfband.design(110.0, 0.88)
    assert coefficients.size == 8
    assert np.all((coefficients > 0) & (coefficients < 1))
    assert np.all(np.diff(coefficients) > 0)


@pytest.mark.parametrize("stopband_db,passband_ratio", DESIGNS)
def test_group_delay_is_the_slope_of_the_phase_at_low_frequencies(
    stopband_db, passband_ratio
):
    coefficients = halfband.design(stopband_db, passband_ratio)
    freq_ratio = np.array([0.0, 1e-4])
    phase = np.unwrap(np.angle(halfband.frequency_response(coefficients, freq_ratio)))
    high_rate_radians = np.pi * freq_ratio / 2
    slope = -(phase[1] - phase[0]) / (high_rate_radians[1] - high_rate_radians[0])
    assert slope == pytest.approx(halfband.group_delay_samples(coefficients), rel=1e-6)


@pytest.mark.parametrize(
    "args,message",
    [
        ((10.0, 0.9), r"stopband_db: must be >= 20, got 10"),
        ((110.0, 1.0), r"passband_ratio: must be <= 0.99, got 1"),
        ((110.0, 0.0), r"passband_ratio: must be >= 0.05, got 0"),
    ],
)
def test_bad_parameters_are_rejected(args, message):
    with pytest.raises(ParameterError, match=message):
        halfband.design(*args)
