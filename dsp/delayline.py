"""A pure integer-sample delay, for latency compensation."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from .effect import Effect, State
from .errors import ParameterError


@dataclasses.dataclass(frozen=True)
class DelayLine(Effect):
    """Delay the signal by ``delay_samples`` whole samples (>= 0), nothing else."""

    delay_samples: int = 0

    type_name: ClassVar[str] = "delay_line"

    def _validate(self) -> None:
        if isinstance(self.delay_samples, bool) or not isinstance(self.delay_samples, (int, np.integer)) or self.delay_samples < 0:
            raise ParameterError(f"delay_samples: must be a non-negative integer, got {self.delay_samples!r}")

    @property
    def latency_samples(self) -> int:
        return int(self.delay_samples)

    def _init_state(self, channels: int) -> State:
        return {"history": np.zeros((int(self.delay_samples), channels))}

    def _process(self, block: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        joined = np.concatenate([state["history"], block], axis=0)
        frames = block.shape[0]
        return joined[:frames].copy(), {"history": joined[frames:].copy()}
