"""A signal too long to hold, kept in the render's work folder as consecutive pieces.

The mixing stage writes the mix bus here piece by piece and the mastering
passes read arbitrary frame ranges back, so no process ever holds a whole
song. Pieces are ``.npy`` files (float64 unless the store says otherwise)
named by their first frame; writing a piece again (a retried task) replaces
it whole.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from farm.errors import RenderError

from .diskspace import writing_into


class ScratchSignal:
    """A folder of pieces of one (frames, channels) signal of ``dtype`` samples."""

    def __init__(self, folder: str | os.PathLike, channels: int = 2, dtype: np.dtype | type = np.float64) -> None:
        self.folder = Path(folder)
        self.channels = channels
        self.dtype = np.dtype(dtype)

    def write(self, start_frame: int, block: np.ndarray) -> None:
        """Store ``block`` as the piece starting at ``start_frame``.

        The store's parent folder, the render's work folder, must exist: a
        task left over from a render that has ended (and removed it) fails
        instead of writing, and so does a task on a node that does not share
        the filesystem the work folder is on.

        Raises
        ------
        farm.errors.RenderError
            If the work folder is not there, or its disk is full.
        """
        if block.shape[0] == 0:
            return
        try:
            self.folder.mkdir(exist_ok=True)
        except FileNotFoundError:
            raise RenderError(
                f"{self.folder.parent}: the render's work folder is not on this node; every node must share the "
                "filesystem it is on (see deploy/README.md), or the render has ended"
            ) from None
        target = self.folder / f"{start_frame:014d}.npy"
        partial = target.with_suffix(".partial.npy")
        with writing_into(self.folder):
            np.save(partial, np.ascontiguousarray(block, dtype=self.dtype))
        os.replace(partial, target)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``[start, stop)``; frames no piece covers read as silence."""
        out = np.zeros((max(0, stop - start), self.channels), dtype=self.dtype)
        for piece_start, path in self._pieces():
            if piece_start >= stop:
                break
            piece = np.load(path, mmap_mode="r")
            piece_stop = piece_start + piece.shape[0]
            if piece_stop <= start:
                continue
            lo, hi = max(start, piece_start), min(stop, piece_stop)
            out[lo - start : hi - start] = piece[lo - piece_start : hi - piece_start]
        return out

    def frames(self) -> int:
        """Frames up to the end of the last piece (0 for an empty store)."""
        pieces = self._pieces()
        if not pieces:
            return 0
        start, path = pieces[-1]
        return start + np.load(path, mmap_mode="r").shape[0]

    def _pieces(self) -> list[tuple[int, Path]]:
        if not self.folder.exists():
            return []
        return sorted((int(path.name.split(".")[0]), path) for path in self.folder.glob("*.npy") if ".partial" not in path.name)
