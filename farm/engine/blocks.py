"""A long signal held as the consecutive blocks that tasks returned, wherever the executor keeps results.

The mixing stage returns the mix bus chunk by chunk and the loudness stage
the master; a later task reads any frame range of them from the blocks that
cover it, which the driver hands it as arguments. So intermediate audio
moves between machines the way every task result does: on Ray, through its
object store (which spills to the node's local disk when full); in process,
as arrays. No folder needs to be shared between nodes, and no process holds
more of a signal than the range it works on. The mix and the master, read
whole by later stages, wait between them in the render's work folder
(:mod:`farm.engine.spill`); a stem's blocks stay in the executor until it
is delivered, right after the mix stage.

The blocks hold 32-bit floats (:data:`BLOCK_DTYPE`), the precision of most
mix engines: a 24-bit mantissa keeps each sample to within 2**-24 of itself
(-144 dB), half a 24-bit step at full scale, while every stage still
computes in 64-bit. That halves what moves between nodes and what a long
song keeps on disk between stages. Stages meter the values
they keep, so the loudness the report gives is that of the stored signal.
"""

from __future__ import annotations

import bisect
import dataclasses
from typing import Any

import numpy as np

BLOCK_DTYPE = np.float32
"""The sample type of the mix and master blocks kept between stages."""


@dataclasses.dataclass
class BlockSignal:
    """The driver's index of a signal: which frames each block covers, and the executor's reference to it."""

    starts: list[int] = dataclasses.field(default_factory=list)
    stops: list[int] = dataclasses.field(default_factory=list)
    refs: list[Any] = dataclasses.field(default_factory=list)

    def add(self, start: int, stop: int, ref: Any) -> None:
        """Record the block ``ref`` covering frames ``[start, stop)``, after the last one; an empty one is left out."""
        if self.stops and start < self.stops[-1]:
            raise ValueError(f"blocks: must be added in order, got [{start}, {stop}) after one ending at {self.stops[-1]}")
        if stop > start:
            self.starts.append(start)
            self.stops.append(stop)
            self.refs.append(ref)

    def overlapping(self, start: int, stop: int) -> range:
        """The indices of the blocks that overlap frames ``[start, stop)``."""
        return range(bisect.bisect_right(self.stops, start), bisect.bisect_left(self.starts, stop))

    def covering(self, start: int, stop: int) -> tuple[tuple[int, ...], list[Any]]:
        """The blocks that overlap frames ``[start, stop)``: their first frames, and their references."""
        indices = self.overlapping(start, stop)
        return tuple(self.starts[indices.start : indices.stop]), self.refs[indices.start : indices.stop]


def assemble(starts: tuple[int, ...], blocks: tuple[np.ndarray, ...] | list[np.ndarray], start: int, stop: int, channels: int = 2) -> np.ndarray:
    """Frames ``[start, stop)`` of a signal from ``blocks``, the one at index i beginning at frame ``starts[i]``, as float64.

    Frames no block covers (before the first, after the last) read as silence.
    """
    out = np.zeros((max(0, stop - start), channels))
    for first, block in zip(starts, blocks):
        lo, hi = max(start, first), min(stop, first + block.shape[0])
        if lo < hi:
            out[lo - start : hi - start] = block[lo - first : hi - first]
    return out
