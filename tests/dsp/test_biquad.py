import numpy as np
import pytest
import scipy.signal

from dsp.biquad import sosfilt


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("channels", [1, 2, 3, 5])
def test_matches_scipy_sosfilt_bit_for_bit(order, channels):
    """Bandpass designs of 1 to 5 sections: odd counts and an odd channel take the kernel's padded and mono paths."""
    rng = np.random.default_rng(order + 10 * channels)
    sos = scipy.signal.butter(order, [200.0, 3000.0], "bandpass", fs=48000, output="sos")
    block = rng.standard_normal((5000, channels))
    zi = rng.standard_normal((sos.shape[0], 2, channels))
    expected, expected_zf = scipy.signal.sosfilt(sos, block, axis=0, zi=zi)
    out, zf = sosfilt(sos, block, zi)
    assert np.array_equal(out, expected)
    assert np.array_equal(zf, expected_zf)
    assert zf.shape == zi.shape


def test_output_is_c_ordered_and_the_state_given_is_untouched():
    sos = scipy.signal.butter(2, 1000.0, fs=48000, output="sos")
    zi = np.ones((1, 2, 2))
    out, zf = sosfilt(sos, np.ones((100, 2)), zi)
    assert out.flags.c_contiguous
    assert np.array_equal(zi, np.ones((1, 2, 2)))
    assert not np.array_equal(zf, zi)


def test_state_carries_across_blocks():
    sos = scipy.signal.butter(4, 500.0, "highpass", fs=48000, output="sos")
    block = np.random.default_rng(3).standard_normal((9000, 2))
    whole, _ = sosfilt(sos, block, np.zeros((2, 2, 2)))
    first, state = sosfilt(sos, block[:1234], np.zeros((2, 2, 2)))
    second, _ = sosfilt(sos, block[1234:], state)
    assert np.array_equal(np.concatenate([first, second]), whole)
