"""Static gain and polarity."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from .automation import Lanes
from .effect import Effect, State
from .units import db_to_linear
from .validate import check_number

MAX_GAIN_DB = 96.0


@dataclasses.dataclass(frozen=True)
class Gain(Effect):
    """Multiply the signal by ``gain_db`` decibels (within +-96 dB)."""

    gain_db: float = 0.0

    type_name: ClassVar[str] = "gain"
    automatable: ClassVar[tuple[str, ...]] = ("gain_db",)

    def _validate(self) -> None:
        check_number("gain_db", self.gain_db, minimum=-MAX_GAIN_DB, maximum=MAX_GAIN_DB)

    def _init_state(self, channels: int) -> State:
        return {}

    def _process(self, block: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        return block * db_to_linear(self.gain_db), {}

    def _process_automated(self, block: np.ndarray, state: State, lanes: Lanes) -> tuple[np.ndarray, State]:
        return block * db_to_linear(lanes.per_frame("gain_db"))[:, None], {}


def invert_polarity(block: np.ndarray) -> np.ndarray:
    """Return the block with every sample's sign flipped."""
    return -np.asarray(block, dtype=np.float64)
