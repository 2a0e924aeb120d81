"""K-weighting coefficients against BS.1770-4's published table and the analogue prototype."""

import numpy as np
import pytest
import scipy.signal

from dsp import kweighting
from dsp.errors import ParameterError

FREQS_HZ = np.array([10.0, 38.0, 100.0, 500.0, 997.0, 1682.0, 4000.0, 10000.0, 16000.0, 20000.0])


def stage_response(sos_row: np.ndarray, freq_hz: np.ndarray, sample_rate: float) -> np.ndarray:
    _, response = scipy.signal.freqz(sos_row[:3], sos_row[3:], worN=freq_hz, fs=sample_rate)
    return response


def warped(freq_hz: np.ndarray, centre_hz: float, sample_rate: float) -> np.ndarray:
    """Analogue frequency that the bilinear transform, prewarped at ``centre_hz``, maps to ``freq_hz``."""
    return centre_hz * np.tan(np.pi * freq_hz / sample_rate) / np.tan(np.pi * centre_hz / sample_rate)


def test_derived_coefficients_at_48k_match_the_published_table_to_1e_12():
    np.testing.assert_allclose(kweighting.derived_sos(48000), kweighting.PUBLISHED_SOS, rtol=0, atol=1e-12)


def test_sos_at_48k_is_the_published_table_exactly():
    assert np.array_equal(kweighting.sos(48000), kweighting.PUBLISHED_SOS)


@pytest.mark.parametrize("sample_rate", [44100.0, 96000.0])
def test_shelf_stage_matches_the_prototype_at_prewarped_frequencies(sample_rate):
    freqs = FREQS_HZ[FREQS_HZ < sample_rate / 2]
    digital = stage_response(kweighting.sos(sample_rate)[0], freqs, sample_rate)
    analogue = kweighting.shelf_prototype(warped(freqs, kweighting.SHELF_FREQ_HZ, sample_rate))
    np.testing.assert_allclose(np.abs(digital), np.abs(analogue), rtol=1e-9)


@pytest.mark.parametrize("sample_rate", [44100.0, 96000.0])
def test_highpass_stage_matches_the_prototype_times_its_unnormalised_gain(sample_rate):
    freqs = FREQS_HZ[FREQS_HZ < sample_rate / 2]
    digital = stage_response(kweighting.sos(sample_rate)[1], freqs, sample_rate)
    k = np.tan(np.pi * kweighting.HIGHPASS_FREQ_HZ / sample_rate)
    gain = 1.0 + k / kweighting.HIGHPASS_Q + k * k
    analogue = kweighting.highpass_prototype(warped(freqs, kweighting.HIGHPASS_FREQ_HZ, sample_rate))
    np.testing.assert_allclose(np.abs(digital), gain * np.abs(analogue), rtol=1e-9)


@pytest.mark.parametrize("sample_rate", [44100.0, 48000.0])
def test_gain_at_997_hz_is_the_0_691_db_the_standard_offsets(sample_rate):
    _, response = scipy.signal.sosfreqz(kweighting.sos(sample_rate), worN=[997.0], fs=sample_rate)
    assert 20 * np.log10(abs(response[0])) == pytest.approx(0.691, abs=0.005)


def test_weighting_cuts_lows_and_lifts_highs_by_about_4_db():
    _, response = scipy.signal.sosfreqz(kweighting.sos(48000), worN=[20.0, 10000.0], fs=48000)
    low_db, high_db = 20 * np.log10(np.abs(response))
    assert low_db < -10.0
    assert high_db == pytest.approx(4.0, abs=0.2)


def test_bad_sample_rate_is_refused_with_the_rule():
    with pytest.raises(ParameterError, match="sample_rate: must be >= 1000"):
        kweighting.sos(10)
