"""Cascaded biquads over (frames, channels) blocks, with carried state.

:func:`sosfilt` computes what ``scipy.signal.sosfilt(sos, block, axis=0,
zi=zi)`` computes, bit for bit (the same transposed direct form II, the same
order of operations), but reads and writes the block in its own
(frames, channels) layout: scipy's filters along the last axis, so a
(frames, channels) block costs a transposed copy on the way in and returns
a Fortran-ordered array that the next stage must copy back.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _cascade(sos: np.ndarray, block: np.ndarray, zi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    frames, channels = block.shape
    sections = sos.shape[0]
    out = np.empty((frames, channels))
    zf = zi.copy()
    state = np.empty((sections, 2))
    for c in range(channels):
        for s in range(sections):
            state[s, 0] = zf[s, 0, c]
            state[s, 1] = zf[s, 1, c]
        for n in range(frames):
            x = block[n, c]
            for s in range(sections):
                y = sos[s, 0] * x + state[s, 0]
                state[s, 0] = sos[s, 1] * x - sos[s, 4] * y + state[s, 1]
                state[s, 1] = sos[s, 2] * x - sos[s, 5] * y
                x = y
            out[n, c] = x
        for s in range(sections):
            zf[s, 0, c] = state[s, 0]
            zf[s, 1, c] = state[s, 1]
    return out, zf


def sosfilt(sos: np.ndarray, block: np.ndarray, zi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Filter ``block`` (frames, channels) through second-order sections from state ``zi``.

    Parameters
    ----------
    sos : numpy.ndarray
        Sections, shape (n, 6), rows ``[b0, b1, b2, 1, a1, a2]`` (``a0`` normalised to 1).
    block : numpy.ndarray
        float64 samples, shape (frames, channels).
    zi : numpy.ndarray
        State, shape (n, 2, channels), as ``scipy.signal.sosfilt`` takes it with ``axis=0``.

    Returns
    -------
    tuple of numpy.ndarray
        The C-ordered output, shaped like ``block``, and the final state (``zi``
        is left untouched).
    """
    return _cascade(np.ascontiguousarray(sos, dtype=np.float64), np.ascontiguousarray(block, dtype=np.float64), zi)
