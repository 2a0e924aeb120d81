"""Cascaded biquads over (frames, channels) blocks, with carried state.

:func:`sosfilt` computes what ``scipy.signal.sosfilt(sos, block, axis=0,
zi=zi)`` computes, bit for bit (the same transposed direct form II, the same
order of operations), but reads and writes the block in its own
(frames, channels) layout: scipy's filters along the last axis, so a
(frames, channels) block costs a transposed copy on the way in and returns
a Fortran-ordered array that the next stage must copy back.

A biquad's recursion is bound by the latency of its multiply-add chain, not
by arithmetic, so the kernel runs several independent recursions per frame:
two sections of the cascade (the second one a frame behind the first, as
it were) on two channels at once, with every state in a register.
"""

from __future__ import annotations

import numba
import numpy as np

_IDENTITY_SECTION = np.array([[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]])
"""``y = x``: pads an odd count of sections to pairs; its state stays zero for finite input."""


@numba.njit(inline="always")
def section_pair_step(x: float, coefficients: tuple, state: tuple) -> tuple[float, tuple]:
    """One frame through two cascaded sections: the output and the new state.

    ``coefficients`` is ``(b0, b1, b2, a1, a2)`` of the first section then of
    the second; ``state`` is ``(z0, z1)`` of the first then of the second.
    scipy.signal.sosfilt's arithmetic, operation for operation.
    """
    b0, b1, b2, a1, a2, d0, d1, d2, e1, e2 = coefficients
    p0, p1, q0, q1 = state
    y = b0 * x + p0
    p0 = b1 * x - a1 * y + p1
    p1 = b2 * x - a2 * y
    w = d0 * y + q0
    q0 = d1 * y - e1 * w + q1
    q1 = d2 * y - e2 * w
    return w, (p0, p1, q0, q1)


@numba.njit(inline="always")
def section_pair_coefficients(sos: np.ndarray, s: int) -> tuple:
    """Sections ``s`` and ``s + 1`` of ``sos`` as :func:`section_pair_step` takes them."""
    return (sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5], sos[s + 1, 0], sos[s + 1, 1], sos[s + 1, 2], sos[s + 1, 4], sos[s + 1, 5])


@numba.njit(inline="always")
def load_pair_state(z: np.ndarray, s: int, c: int) -> tuple:
    """The memories of sections ``s`` and ``s + 1`` on channel ``c`` of ``z`` (sections, 2, channels), as :func:`section_pair_step` takes them."""
    return (z[s, 0, c], z[s, 1, c], z[s + 1, 0, c], z[s + 1, 1, c])


@numba.njit(inline="always")
def store_pair_state(z: np.ndarray, s: int, c: int, state: tuple) -> None:
    """Write :func:`section_pair_step`'s state back as the memories of sections ``s`` and ``s + 1`` on channel ``c``."""
    z[s, 0, c], z[s, 1, c], z[s + 1, 0, c], z[s + 1, 1, c] = state


@numba.njit(cache=True, nogil=True)
def _section_pair_stereo(sos: np.ndarray, s: int, src: np.ndarray, out: np.ndarray, z: np.ndarray, c: int) -> None:
    """Sections ``s`` and ``s + 1`` over channels ``c`` and ``c + 1`` of ``src`` into ``out``; state ``z`` updated."""
    coefficients = section_pair_coefficients(sos, s)
    left, right = load_pair_state(z, s, c), load_pair_state(z, s, c + 1)
    for n in range(src.shape[0]):
        out[n, c], left = section_pair_step(src[n, c], coefficients, left)
        out[n, c + 1], right = section_pair_step(src[n, c + 1], coefficients, right)
    store_pair_state(z, s, c, left)
    store_pair_state(z, s, c + 1, right)


@numba.njit(cache=True, nogil=True)
def _section_pair_mono(sos: np.ndarray, s: int, src: np.ndarray, out: np.ndarray, z: np.ndarray, c: int) -> None:
    """Sections ``s`` and ``s + 1`` over channel ``c`` of ``src`` into ``out``; state ``z`` updated."""
    coefficients = section_pair_coefficients(sos, s)
    state = load_pair_state(z, s, c)
    for n in range(src.shape[0]):
        out[n, c], state = section_pair_step(src[n, c], coefficients, state)
    store_pair_state(z, s, c, state)


@numba.njit(cache=True, nogil=True)
def _cascade(sos: np.ndarray, block: np.ndarray, zi: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``sos`` has an even count of sections; ``zi`` one state per section and channel. Filters into ``out``; returns the final state."""
    channels = block.shape[1]
    zf = zi.copy()
    for s in range(0, sos.shape[0], 2):
        src = block if s == 0 else out
        c = 0
        while c + 1 < channels:
            _section_pair_stereo(sos, s, src, out, zf, c)
            c += 2
        if c < channels:
            _section_pair_mono(sos, s, src, out, zf, c)
    return zf


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
    sos = np.asarray(sos, dtype=np.float64)
    block = np.ascontiguousarray(block, dtype=np.float64)
    sections = sos.shape[0]
    if sections % 2:
        sos = np.concatenate([sos, _IDENTITY_SECTION])
        zi = np.concatenate([zi, np.zeros((1, 2, block.shape[1]))])
    out = np.empty_like(block)  # numpy's allocation: a large one gets huge pages, numba's takes a fault every 4 KiB
    zf = _cascade(np.ascontiguousarray(sos), block, np.asarray(zi, dtype=np.float64), out)
    return out, zf[:sections].copy() if sections % 2 else zf
