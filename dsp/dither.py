"""Dither and quantisation to 16- or 24-bit PCM.

``tpdf``
    triangular-PDF dither of +-1 LSB peak (the sum of two independent uniform
    variables of 1 LSB each) added before rounding. It makes the error
    independent of the signal: white, with power ``LSB**2 / 12`` from rounding
    plus ``LSB**2 / 6`` from the dither, ``LSB**2 / 4`` in all (Lipshitz,
    Wannamaker & Vanderkooy, "Quantization and Dither: A Theoretical Survey",
    JAES 40(5), 1992).
``shaped``
    the same TPDF dither inside an error-feedback loop whose filter is
    Wannamaker's 3-tap F-weighted shaper (``1.623, -0.982, 0.109``;
    Wannamaker, "Psychoacoustically Optimal Noise Shaping", JAES 40(7), 1992),
    moving the error out of the ear's most sensitive band to high frequencies.
``none``
    plain rounding.

The dither noise is drawn from pages of :data:`PAGE_FRAMES` frames, each seeded
from ``(seed, page index)``, so the noise at a frame depends only on the seed
and the frame's position: a render quantised in blocks of any size is
identical to one quantised whole, and re-rendering with the same seed
reproduces it bit for bit.
"""

from __future__ import annotations

import dataclasses

import numba
import numpy as np

from .validate import check_block, check_choice

KINDS = ("none", "tpdf", "shaped")
BIT_DEPTHS = (16, 24)
PAGE_FRAMES = 65536
SHAPING_FILTER = np.array([1.623, -0.982, 0.109])


def lsb(bit_depth: int) -> float:
    """Size of one least significant bit at ``bit_depth`` bits, full scale 1.0."""
    return 2.0 ** (1 - bit_depth)


@numba.njit(cache=True, nogil=True)
def _shaped_quantise(block, noise, errors, coefficients, step, low, high):
    frames, channels = block.shape
    taps = coefficients.shape[0]
    out = np.empty_like(block)
    history = errors.copy()
    for ch in range(channels):
        for n in range(frames):
            feedback = 0.0
            for k in range(taps):
                feedback += coefficients[k] * history[k, ch]
            wanted = block[n, ch] - feedback
            level = np.floor((wanted + noise[n, ch]) / step + 0.5)
            level = min(max(level, low), high)
            out[n, ch] = level * step
            for k in range(taps - 1, 0, -1):
                history[k, ch] = history[k - 1, ch]
            history[0, ch] = out[n, ch] - wanted
    return out, history


@dataclasses.dataclass(frozen=True)
class Quantiser:
    """Dither and quantise float samples to ``bit_depth`` bits.

    Parameters
    ----------
    bit_depth : int
        16 or 24.
    dither : str
        ``"none"``, ``"tpdf"`` or ``"shaped"``.
    seed : int
        Seeds the dither noise; derive it from (session, output, ...) so a render
        is reproducible.
    """

    bit_depth: int = 24
    dither: str = "tpdf"
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("bit_depth", self.bit_depth, BIT_DEPTHS)
        check_choice("dither", self.dither, KINDS)

    def init_state(self, channels: int) -> dict[str, np.ndarray]:
        """Start at frame 0 with no shaping error history."""
        return {"frame": np.array(0, dtype=np.int64), "errors": np.zeros((SHAPING_FILTER.shape[0], channels))}

    def process(self, block: np.ndarray, state: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Quantise one block; return float samples on the integer grid and the new state."""
        block = check_block(block, channels=state["errors"].shape[1])
        step = lsb(self.bit_depth)
        low, high = -(2.0 ** (self.bit_depth - 1)), 2.0 ** (self.bit_depth - 1) - 1
        start = int(state["frame"])
        noise = self.noise(start, block.shape[0], block.shape[1]) * step
        errors = state["errors"]
        if self.dither == "shaped":
            out, errors = _shaped_quantise(block, noise, errors, SHAPING_FILTER, step, low, high)
        else:
            out = np.clip(np.floor((block + noise) / step + 0.5), low, high) * step
        return out, {"frame": np.array(start + block.shape[0], dtype=np.int64), "errors": errors}

    def process_whole(self, signal: np.ndarray) -> np.ndarray:
        """Quantise a whole signal from frame 0."""
        signal = check_block(signal)
        return self.process(signal, self.init_state(signal.shape[1]))[0]

    def noise(self, start_frame: int, frames: int, channels: int) -> np.ndarray:
        """TPDF noise in LSB for frames ``[start_frame, start_frame + frames)``; zeros for ``none``."""
        if self.dither == "none" or frames == 0:
            return np.zeros((frames, channels))
        first, last = start_frame // PAGE_FRAMES, (start_frame + frames - 1) // PAGE_FRAMES
        pages = [self._page(index, channels) for index in range(first, last + 1)]
        offset = start_frame - first * PAGE_FRAMES
        return np.concatenate(pages, axis=0)[offset : offset + frames]

    def _page(self, index: int, channels: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, index])
        uniform = rng.random((2, PAGE_FRAMES, channels))
        return uniform[0] - uniform[1]
