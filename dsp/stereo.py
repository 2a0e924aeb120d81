"""Stereo width by mid/side scaling."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from .automation import Lanes
from .effect import Effect, State
from .errors import BlockError
from .validate import check_number

MAX_WIDTH = 2.0


def apply_width(block: np.ndarray, width: float | np.ndarray) -> np.ndarray:
    """Scale the side signal of a stereo block by ``width``, a number or one value per frame.

    ``mid = (L + R) / 2``, ``side = (L - R) / 2 * width``, ``L = mid + side``,
    ``R = mid - side``: 0 folds to mono, 1 leaves the block unchanged, 2 doubles
    the side. A mono block is returned as it is.
    """
    block = np.asarray(block, dtype=np.float64)
    if block.ndim != 2 or block.shape[1] not in (1, 2):
        raise BlockError(f"block: must be shaped (frames, 1) or (frames, 2), got shape {block.shape}")
    if np.ndim(width):
        width = np.asarray(width, dtype=np.float64)
        if width.shape != (block.shape[0],) or not np.all((width >= 0.0) & (width <= MAX_WIDTH)):
            raise BlockError(f"width: must be one value per frame ({block.shape[0]}), each within [0, {MAX_WIDTH:g}]")
    else:
        width = check_number("width", width, minimum=0.0, maximum=MAX_WIDTH)
    if block.shape[1] == 1 or (np.ndim(width) == 0 and width == 1.0):
        return block
    mid = 0.5 * (block[:, 0] + block[:, 1])
    side = 0.5 * (block[:, 0] - block[:, 1]) * width
    return np.stack([mid + side, mid - side], axis=1)


@dataclasses.dataclass(frozen=True)
class Width(Effect):
    """Mid/side stereo width as an insert effect; ``width`` from 0 (mono) to 2."""

    width: float = 1.0

    type_name: ClassVar[str] = "width"
    automatable: ClassVar[tuple[str, ...]] = ("width",)

    def _validate(self) -> None:
        check_number("width", self.width, minimum=0.0, maximum=MAX_WIDTH)

    def _init_state(self, channels: int) -> State:
        return {}

    def _process(self, block: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        return apply_width(block, self.width), {}

    def _process_automated(self, block: np.ndarray, state: State, lanes: Lanes) -> tuple[np.ndarray, State]:
        return apply_width(block, lanes.per_frame("width")), {}
