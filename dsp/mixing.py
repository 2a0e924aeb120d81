"""Summing signals onto a bus."""

from __future__ import annotations

import numba
import numpy as np

from .errors import BlockError


@numba.njit(cache=True, nogil=True)
def _add_scaled(bus: np.ndarray, block: np.ndarray, gain: float) -> None:
    """``bus += float64(block) * gain``, both flat and of one length."""
    for i in range(block.shape[0]):
        bus[i] += np.float64(block[i]) * gain


def add_into(bus: np.ndarray, block: np.ndarray, offset: int = 0, gain: float | np.ndarray = 1.0) -> None:
    """Add ``block * gain`` into the float64 ``bus`` in place, starting at frame ``offset``.

    A mono block added to a stereo bus feeds both channels. ``gain`` is linear,
    a number or one value per frame of the block. Frames of the block that
    fall outside the bus are an error, never silently dropped.
    """
    block = np.asarray(block)
    if block.ndim != 2 or bus.ndim != 2:
        raise BlockError(f"block: must be 2-D (frames, channels), got shapes {block.shape} into {bus.shape}")
    if block.shape[1] not in (1, bus.shape[1]):
        raise BlockError(f"block: has {block.shape[1]} channels, cannot sum into a {bus.shape[1]}-channel bus")
    if offset < 0 or offset + block.shape[0] > bus.shape[0]:
        raise BlockError(
            f"block: frames [{offset}, {offset + block.shape[0]}) fall outside the bus of {bus.shape[0]} frames"
        )
    if bus.dtype != np.float64 or not bus.flags.writeable:
        raise BlockError(f"bus: must be a writeable float64 array, got {bus.dtype}")
    gain = np.atleast_1d(np.asarray(gain, dtype=np.float64))
    if gain.ndim != 1 or gain.shape[0] not in (1, block.shape[0]):
        raise BlockError(f"gain: must be a number or one value per frame ({block.shape[0]}), got shape {np.shape(gain)}")
    target = bus[offset : offset + block.shape[0]]
    if gain.shape[0] == 1 and block.shape[1] == bus.shape[1] and bus.flags.c_contiguous:
        _add_scaled(target.reshape(-1), np.ascontiguousarray(block).reshape(-1), float(gain[0]))
    else:
        target += np.multiply(block, gain[:, None], dtype=np.float64)
