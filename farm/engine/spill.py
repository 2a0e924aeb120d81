"""The mix and the master kept on the render process's own disk between stages, not in the executor.

A later stage reads the whole mix (each loudness pass) and the whole master
(every deliverable), so both must outlive the stage that made them. Kept as
task results they would sit in Ray's object store for the whole render:
276 MB each for a 12-minute song, counted again in every worker that reads
them. A :class:`SpilledSignal` instead takes each block from the executor
once the task that made it is done, appends it to a file in the render's
work folder, and lets the executor's copy go. When tasks read a range, the
blocks that cover it are put back (:meth:`Executor.put_block`), a few at a
time. So the store holds the blocks in flight, not the song, and memory
stays flat with the song's length.

The file is local to the process that runs the render (the driver), so no
folder is shared between nodes; a spilled block no longer depends on the
node whose task made it.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import numpy as np

from .blocks import BLOCK_DTYPE, BlockSignal, assemble
from .diskspace import writing_into


class SpilledSignal(BlockSignal):
    """A signal made of consecutive blocks, each moved to a file on this machine once it is ready.

    It is indexed as a :class:`farm.engine.blocks.BlockSignal`: :meth:`add` a
    block's reference as its task is submitted, :meth:`covering` for the
    references of a range. :meth:`spill` moves finished blocks to the file
    (their entries in ``refs`` become None); up to ``kept`` blocks put back
    for readers are remembered, so neighbouring ranges share them.
    :meth:`close` deletes the file.
    """

    def __init__(self, executor: Any, path: Path, kept: int) -> None:
        super().__init__()
        self._executor = executor
        self._path = path
        self._file = open(path, "xb")  # noqa: SIM115 (closed by close())
        self._offsets: list[int] = []
        self._shapes: list[tuple[int, int]] = []
        self._put: collections.OrderedDict[int, Any] = collections.OrderedDict()
        self._kept = kept

    @property
    def spilled(self) -> int:
        """How many blocks, from the first, are in the file."""
        return len(self._offsets)

    def spill(self, count: int | None = None) -> None:
        """Move the blocks up to the ``count``-th (default: all added) to the file, waiting for them, and drop the executor's copies.

        A full disk raises RenderError naming the work folder.
        """
        count = len(self.refs) if count is None else count
        if count <= self.spilled:
            return
        blocks = self._executor.get(self.refs[self.spilled : count])
        with writing_into(self._path.parent):
            for index, block in enumerate(blocks, self.spilled):
                block = np.ascontiguousarray(block, dtype=BLOCK_DTYPE)
                offset = self._file.tell()
                block.tofile(self._file)
                self._offsets.append(offset)
                self._shapes.append(block.shape)
                self.refs[index] = None
            self._file.flush()

    def covering(self, start: int, stop: int) -> tuple[tuple[int, ...], list[Any]]:
        """The blocks that overlap frames ``[start, stop)``: their first frames, and references to them."""
        indices = self.overlapping(start, stop)
        return tuple(self.starts[indices.start : indices.stop]), [self._ref(index) for index in indices]

    def read(self, start: int, stop: int, channels: int) -> np.ndarray:
        """Frames ``[start, stop)`` read from the file, as float64 (frames, ``channels``); those no block covers are silence.

        Only spilled blocks can be read: raises ValueError for a range that reaches one that is not.
        """
        indices = self.overlapping(start, stop)
        if indices.stop > self.spilled:
            raise ValueError(f"frames [{start}, {stop}): block {indices.stop - 1} is not spilled yet")
        return assemble(tuple(self.starts[indices.start : indices.stop]), [self._block(index) for index in indices], start, stop, channels)

    def _block(self, index: int) -> np.ndarray:
        """Block ``index``, read from the file."""
        frames, channels = self._shapes[index]
        return np.fromfile(self._path, dtype=BLOCK_DTYPE, count=frames * channels, offset=self._offsets[index]).reshape(frames, channels)

    def _ref(self, index: int) -> Any:
        """A reference to block ``index``: the task's own until it is spilled, then one put back from the file."""
        if self.refs[index] is not None:
            return self.refs[index]
        if index in self._put:
            self._put.move_to_end(index)
            return self._put[index]
        self._put[index] = ref = self._executor.put_block(self._block(index))
        while len(self._put) > self._kept:
            self._put.popitem(last=False)
        return ref

    def close(self) -> None:
        """Delete the file and forget every reference."""
        self._file.close()
        self._path.unlink(missing_ok=True)
        self.refs.clear()
        self._put.clear()
