"""The contract every effect keeps: a validated description plus a resumable step.

An effect is a frozen dataclass of parameters (units in the names), validated
once when it is built, with its sample rate. Processing is a pure step::

    state = effect.init_state(channels)
    out, state = effect.process(block, state)

``block`` is a float array shaped ``(frames, channels)``; ``state`` is a dict of
plain numpy arrays that pickles, so a chunk rendered on one machine can hand its
state to the next chunk on another. ``process`` never modifies the state it is
given (a retried chunk can start again from the same state) and feeding a signal
in blocks of any sizes gives the same output as feeding it whole. This is
scipy.signal's ``sosfilt(..., zi=) -> (y, zf)`` idea applied to every effect.

Each effect also states:

``latency_samples``
    the delay it adds (look-ahead), which the renderer compensates;
``tail_s``
    how long its output goes on after its input stops (reverb, delay);
``settle_s``
    how much earlier input a cold start needs to match a warm one to below
    -120 dBFS (used as pre-roll when state is not carried).

An effect may follow automation of some of its parameters (``automatable``,
a band's as ``bands.<n>.<field>``): ``process_automated`` takes their
envelopes and the block's place on the timeline (:class:`dsp.automation.Lanes`)
and reads them by timeline position, so any cut of the signal into blocks
gives the same output.

A dynamics effect built with ``key_input=True`` (``compressor``, ``gate``)
listens to a sidechain key instead of its input: ``process(block, state,
key=...)`` takes the key's frames alongside the block's (mono or stereo), and
only the detector hears it; the audio path is the block's as ever.
"""

from __future__ import annotations

import abc
import dataclasses
import re
from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from .automation import Lanes
from .errors import BlockError, ParameterError
from .validate import check_block, check_sample_rate

State = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Effect(abc.ABC):
    """Base class of resumable effects.

    Subclasses are frozen dataclasses that add their parameters as fields,
    validate them in ``_validate`` and implement ``_init_state`` and
    ``_process``.
    """

    sample_rate: float

    type_name: ClassVar[str] = ""
    automatable: ClassVar[tuple[str, ...]] = ()
    """Parameters whose automation the effect follows; ``bands.*.<field>`` stands for every band's."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "sample_rate", check_sample_rate(self.sample_rate))
        self._validate()

    def _validate(self) -> None:
        """Check the parameters; raise :class:`~dsp.errors.ParameterError`."""

    @property
    def latency_samples(self) -> int:
        """Delay, in samples, that the effect adds to its input."""
        return 0

    @property
    def tail_s(self) -> float:
        """Seconds the output goes on after the input falls silent."""
        return 0.0

    @property
    def settle_s(self) -> float:
        """Seconds of earlier input a cold start needs to match a warm one."""
        return 0.0

    def init_state(self, channels: int) -> State:
        """Return the silent starting state for a signal of ``channels`` channels."""
        if not isinstance(channels, (int, np.integer)) or channels < 1:
            raise BlockError(f"channels: must be a positive integer, got {channels!r}")
        state = self._init_state(int(channels))
        state["channels"] = np.array(int(channels))
        return state

    def process(self, block: np.ndarray, state: State, key: np.ndarray | None = None) -> tuple[np.ndarray, State]:
        """Process one block; return the output block (float64) and the new state.

        The state passed in is left untouched. ``key`` is the sidechain key
        over the same frames, for an effect built with ``key_input=True``.
        """
        channels = int(state["channels"])
        block = check_block(block, channels=channels, sample_rate=self.sample_rate)
        key = self._checked_key(key, block.shape[0])
        if block.shape[0] == 0:
            return block, {name: value.copy() for name, value in state.items()}
        out, new_state = self._process(block, state) if key is None else self._process_keyed(block, state, key, None)
        new_state["channels"] = state["channels"]
        return out, new_state

    def _checked_key(self, key: np.ndarray | None, frames: int) -> np.ndarray | None:
        """The sidechain key as a stereo float64 block (a mono key on both sides); None for an effect without a key input."""
        if not getattr(self, "key_input", False):
            if key is not None:
                raise BlockError(f"key: this {self.type_name} has no key input (built without key_input=True)")
            return None
        if key is None:
            raise BlockError(f"key: this {self.type_name} listens to a sidechain key; pass its frames as key=")
        key = check_block(key, sample_rate=self.sample_rate)
        if key.shape[0] != frames:
            raise BlockError(f"key: covers {key.shape[0]} frames, the block {frames}")
        if key.shape[1] > 2:
            raise BlockError(f"key: must be mono or stereo, got {key.shape[1]} channels")
        return np.repeat(key, 2, axis=1) if key.shape[1] == 1 else key

    def _process_keyed(self, block: np.ndarray, state: State, key: np.ndarray, lanes: Lanes | None) -> tuple[np.ndarray, State]:
        """Process a validated block with the detector listening to the stereo ``key``, following ``lanes`` when given."""
        raise NotImplementedError(f"{self.type_name} has no key input")

    def automates(self, parameter: str) -> bool:
        """Whether the effect follows automation of ``parameter`` (``threshold_db``, ``bands.2.threshold_db``)."""
        return self.automation_problem(parameter) is None

    def automation_problem(self, parameter: str) -> str | None:
        """Why the effect cannot follow automation of ``parameter``, or None when it can."""
        pattern = re.sub(r"^bands\.\d+\.", "bands.*.", parameter)
        if pattern not in self.automatable:
            followed = ", ".join(self.automatable) or "none yet"
            return f"{self.type_name} does not follow automation of {parameter!r}; it follows: {followed}"
        index = re.match(r"^bands\.(\d+)\.", parameter)
        count = len(getattr(self, "bands", ()))
        if index is not None and int(index.group(1)) >= count:
            return f"no band {index.group(1)}; this {self.type_name} has {count} (0 to {count - 1})"
        return None

    def with_parameter(self, parameter: str, value: float) -> "Effect":
        """The effect with ``parameter`` set to ``value``, validated (ParameterError names the parameter)."""
        band = re.match(r"^bands\.(\d+)\.(\w+)$", parameter)
        if band is None:
            return dataclasses.replace(self, **{parameter: value})
        index, field = int(band.group(1)), band.group(2)
        bands = list(self.bands)
        bands[index] = dataclasses.replace(bands[index], **{field: value})
        return dataclasses.replace(self, bands=tuple(bands))

    def for_automation(self, ranges: Mapping[str, tuple[float, float]]) -> "Effect":
        """The effect as it must be built to follow automation whose values span ``ranges`` (parameter -> (lowest, highest)).

        Itself, unless its state must make room (a delay's line for its longest time).
        """
        return self

    def check_automation(self, parameter: str, value: float) -> None:
        """Raise ParameterError unless the effect follows automation of ``parameter`` and ``value`` is allowed for it."""
        problem = self.automation_problem(parameter)
        if problem is not None:
            raise ParameterError(f"{parameter}: {problem}")
        self.with_parameter(parameter, value)

    def process_automated(self, block: np.ndarray, state: State, lanes: Lanes, key: np.ndarray | None = None) -> tuple[np.ndarray, State]:
        """Process one block with the parameters of ``lanes`` following their envelopes (see :meth:`process`)."""
        channels = int(state["channels"])
        block = check_block(block, channels=channels, sample_rate=self.sample_rate)
        key = self._checked_key(key, block.shape[0])
        if lanes.frames != block.shape[0]:
            raise BlockError(f"lanes: cover {lanes.frames} frames, the block {block.shape[0]}")
        for parameter in lanes.envelopes:
            problem = self.automation_problem(parameter)
            if problem is not None:
                raise ParameterError(f"{parameter}: {problem}")
        if block.shape[0] == 0:
            return block, {name: value.copy() for name, value in state.items()}
        out, new_state = self._process_automated(block, state, lanes) if key is None else self._process_keyed(block, state, key, lanes)
        new_state["channels"] = state["channels"]
        return out, new_state

    def _process_automated(self, block: np.ndarray, state: State, lanes: Lanes) -> tuple[np.ndarray, State]:
        """Process a validated block following ``lanes``; effects with ``automatable`` parameters override it."""
        raise NotImplementedError(f"{self.type_name} follows no automation")

    def process_whole(self, signal: np.ndarray) -> np.ndarray:
        """Process a whole signal from the silent state and return the output."""
        signal = check_block(signal, sample_rate=self.sample_rate)
        out, _ = self.process(signal, self.init_state(signal.shape[1]))
        return out

    @abc.abstractmethod
    def _init_state(self, channels: int) -> State:
        """Return the effect's own starting state arrays."""

    @abc.abstractmethod
    def _process(self, block: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """Process a validated float64 block without modifying ``state``."""


def process_in_blocks(effect: Effect, signal: np.ndarray, block_frames: list[int] | np.ndarray) -> np.ndarray:
    """Process ``signal`` from the silent state, cut into blocks of the given lengths.

    ``block_frames`` lists block lengths in frames; the last block takes what is
    left. The result equals :meth:`Effect.process_whole` for a resumable effect.
    """
    signal = check_block(signal, sample_rate=effect.sample_rate)
    state = effect.init_state(signal.shape[1])
    outputs = []
    start = 0
    for frames in list(block_frames) + [signal.shape[0]]:
        stop = min(start + int(frames), signal.shape[0])
        out, state = effect.process(signal[start:stop], state)
        outputs.append(out)
        start = stop
        if start >= signal.shape[0]:
            break
    return np.concatenate(outputs, axis=0)
