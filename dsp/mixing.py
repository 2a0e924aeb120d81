"""Summing signals onto a bus."""

from __future__ import annotations

import numpy as np

from .errors import BlockError


def add_into(bus: np.ndarray, block: np.ndarray, offset: int = 0) -> None:
    """Add ``block`` into ``bus`` in place, starting at frame ``offset``.

    A mono block added to a stereo bus feeds both channels. Frames of the block
    that fall outside the bus are an error, never silently dropped.
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
    bus[offset : offset + block.shape[0]] += block
