"""Panning into stereo.

Mono sources use the constant-power (sine/cosine) law, -3 dB at centre, so a
source panned anywhere keeps its power. Stereo sources use balance: pan
attenuates the opposite side linearly and centre is unity, as in most DAWs.
``pan`` runs from -1 (hard left) to +1 (hard right); it may be a per-frame
array for sample-accurate automation.
"""

from __future__ import annotations

import numba
import numpy as np

from .errors import BlockError, ParameterError


def _check_pan(pan: float | np.ndarray, frames: int) -> np.ndarray:
    pan = np.asarray(pan, dtype=np.float64)
    if pan.ndim not in (0, 1) or (pan.ndim == 1 and pan.shape[0] != frames):
        raise ParameterError(f"pan: must be a number or one value per frame ({frames}), got shape {pan.shape}")
    if not np.all(np.isfinite(pan)) or np.any(np.abs(pan) > 1.0):
        raise ParameterError("pan: must be such that -1 <= pan <= 1")
    return pan


def constant_power_gains(pan: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left and right gains of the constant-power law: ``cos(theta), sin(theta)``.

    ``theta = (pan + 1) * pi / 4``; centre gives 0.7071 (-3.01 dB) on each side.
    """
    theta = (np.asarray(pan, dtype=np.float64) + 1.0) * (np.pi / 4.0)
    return np.cos(theta), np.sin(theta)


def balance_gains(pan: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left and right gains of the balance law: ``1 - max(pan, 0)`` and ``1 + min(pan, 0)``."""
    pan = np.asarray(pan, dtype=np.float64)
    return 1.0 - np.maximum(pan, 0.0), 1.0 + np.minimum(pan, 0.0)


@numba.njit(cache=True, nogil=True)
def _place(block: np.ndarray, gain: np.ndarray, left: np.ndarray, right: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``(block * gain) * left`` and ``(block * gain) * right`` per frame into ``out``, each factor one value or one per frame."""
    frames = block.shape[0]
    last = block.shape[1] - 1
    for n in range(frames):
        g = gain[n if gain.shape[0] > 1 else 0]
        out[n, 0] = block[n, 0] * g * left[n if left.shape[0] > 1 else 0]
        out[n, 1] = block[n, last] * g * right[n if right.shape[0] > 1 else 0]
    return out


def pan(block: np.ndarray, pan: float | np.ndarray, gain: float | np.ndarray = 1.0) -> np.ndarray:
    """Place a mono (frames, 1) or stereo (frames, 2) block in stereo, after a linear ``gain``.

    ``gain`` (a fader, say) is a number or one value per frame, applied
    before the pan law in the same pass.

    Returns
    -------
    numpy.ndarray
        float64, shaped (frames, 2).
    """
    block = np.asarray(block, dtype=np.float64)
    if block.ndim != 2 or block.shape[1] not in (1, 2):
        raise BlockError(f"block: must be shaped (frames, 1) or (frames, 2) to pan, got shape {block.shape}")
    frames = block.shape[0]
    position = _check_pan(pan, frames)
    gain = np.asarray(gain, dtype=np.float64)
    if gain.ndim not in (0, 1) or (gain.ndim == 1 and gain.shape[0] != frames):
        raise ParameterError(f"gain: must be a number or one value per frame ({frames}), got shape {gain.shape}")
    left, right = constant_power_gains(position) if block.shape[1] == 1 else balance_gains(position)
    if frames == 0:
        return np.empty((0, 2))
    return _place(np.ascontiguousarray(block), np.atleast_1d(gain), np.atleast_1d(left), np.atleast_1d(right), np.empty((frames, 2)))
