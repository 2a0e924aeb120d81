"""4x oversampling by two cascaded polyphase IIR halfband stages, run as 4-lane vectors.

Each 2x stage is a halfband of :mod:`dsp.halfband`: two chains of first-order
allpass sections ``(a + z^-2) / (1 + a z^-2)``, evaluated at the low rate of
the stage (Valenzuela & Constantinides, IEE Proceedings G 130(6), 1983):

- interpolation feeds every input sample to both chains; chain 0 gives the
  even output sample and chain 1 the odd one;
- decimation feeds the odd input sample to chain 0 and the even one to
  chain 1 and averages the two outputs.

Stage 1 (base rate <-> 2x) passes to :data:`PASSBAND_RATIO` of the base-rate
Nyquist frequency (19.4 kHz at 44.1 kHz, 21.1 kHz at 48 kHz) and stops from
``2 - PASSBAND_RATIO`` of it, so nothing folds back below the passband edge;
stage 2 (2x <-> 4x) passes the same band, which is a far wider transition for
it. Both reach :data:`STOPBAND_DB`: 8 coefficients give 113.4 dB for stage 1,
4 give 127.9 dB for stage 2. The passband ripple is below 1e-10 dB. The phase
is not linear: the round trip (up then down) delays low frequencies by
:func:`round_trip_delay_samples` (4.51 base-rate samples) and 20 kHz at
48 kHz by 12.7.

**Lanes.** Numba vectorises neither recursions nor straight-line code (its
LLVM pipeline runs without the SLP vectoriser), so the filters run on a
4-lane vector type, :data:`Lanes`, which compiles to one LLVM
``<4 x double>``: lanes (0, 1) are the two chains of a left channel, lanes
(2, 3) those of a right channel. A stereo pair of channels thus costs one
vector operation per pair of sections, with the states in registers and the
arithmetic of every lane exactly that of the scalar formula (no fast-math),
so blocks of any size give bit-identical output. An odd channel count runs its
last channel in both halves.

The stage functions (:func:`interpolate`, :func:`decimate`,
:func:`upsample_lanes`, :func:`downsample_lanes`) compile into the caller's
numba loop, which is how :mod:`dsp.saturation` fuses the whole oversampled
path into one loop; :func:`upsample` and :func:`downsample` use them for a
plain 4x round trip.
"""

from __future__ import annotations

import math
import operator

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, models, overload, register_model

from . import halfband

FACTOR = 4
"""Oversampling ratio: two cascaded 2x stages."""

PASSBAND_RATIO = 0.88
"""Passband edge of the round trip, as a fraction of the base-rate Nyquist frequency."""

STOPBAND_DB = 110.0
"""Required stopband attenuation of each stage, in dB."""

STAGE1 = halfband.design(STOPBAND_DB, PASSBAND_RATIO)
"""Allpass coefficients of the base rate <-> 2x stage."""

STAGE2 = halfband.design(STOPBAND_DB, PASSBAND_RATIO / 2.0)
"""Allpass coefficients of the 2x <-> 4x stage (the same passband, relative to twice the rate)."""

SETTLE_DECAY_DB = 160.0
"""Decay of the slowest pole that defines the settle time: 120 dB, plus 40 dB because that pole
sits in both the up and the down chain of stage 1 (a double pole decays as ``n r^n``) and the
states of a loud signal exceed full scale."""


def round_trip_delay_samples() -> float:
    """Group delay at 0 Hz of upsampling then downsampling, in base-rate samples (4.51).

    Each stage is passed twice, up and down; a stage-1 sample is half a
    base-rate sample and a stage-2 sample a quarter. A decimator outputs the
    filter's value at the odd high-rate instant of each pair, one high-rate
    sample earlier than the even one, which takes ``1/2 + 1/4`` off.
    """
    stage1 = 2.0 * halfband.group_delay_samples(STAGE1) - 1.0
    stage2 = 2.0 * halfband.group_delay_samples(STAGE2) - 1.0
    return stage1 / 2.0 + stage2 / 4.0


def settle_samples() -> float:
    """Base-rate samples for the slowest allpass pole to decay by :data:`SETTLE_DECAY_DB`.

    A section of coefficient ``a`` has its poles at radius ``sqrt(a)`` per
    sample of its stage's high rate, that is ``a`` per base-rate sample in
    stage 1 and ``a**2`` in stage 2.
    """
    radius = max(float(np.max(STAGE1)), float(np.max(STAGE2)) ** 2)
    return -SETTLE_DECAY_DB / (20.0 * math.log10(radius))


# ---------------------------------------------------------------------------
# Lanes: four float64 values in one LLVM vector, for numba code.

_VECTOR = ir.VectorType(ir.DoubleType(), 4)
_INDEX = ir.IntType(32)


class LanesType(types.Type):
    """Numba type of four float64 lanes held as one ``<4 x double>``."""

    def __init__(self) -> None:
        super().__init__(name="Lanes")


Lanes = LanesType()


@register_model(LanesType)
class _LanesModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VECTOR)


@intrinsic
def lanes(typingctx, a, b, c, d):
    """The lanes ``(a, b, c, d)`` (numba only)."""

    def codegen(context, builder, signature, args):
        vector = ir.Constant(_VECTOR, ir.Undefined)
        for index, value in enumerate(args):
            vector = builder.insert_element(vector, value, ir.Constant(_INDEX, index))
        return vector

    return Lanes(types.float64, types.float64, types.float64, types.float64), codegen


@intrinsic
def splat(typingctx, value):
    """``value`` in all four lanes (numba only)."""

    def codegen(context, builder, signature, args):
        vector = ir.Constant(_VECTOR, ir.Undefined)
        for index in range(4):
            vector = builder.insert_element(vector, args[0], ir.Constant(_INDEX, index))
        return vector

    return Lanes(types.float64), codegen


@intrinsic
def lane(typingctx, vector, index):
    """Lane ``index`` (a literal 0 to 3) of ``vector`` (numba only)."""
    if not isinstance(index, types.IntegerLiteral):
        return None
    position = index.literal_value

    def codegen(context, builder, signature, args):
        return builder.extract_element(args[0], ir.Constant(_INDEX, position))

    return types.float64(Lanes, index), codegen


def _elementwise(instruction: str):
    def typer(typingctx, a, b):
        def codegen(context, builder, signature, args):
            return getattr(builder, instruction)(args[0], args[1])

        return Lanes(Lanes, Lanes), codegen

    return intrinsic(typer)


def _select(comparison: str):
    def typer(typingctx, a, b):
        def codegen(context, builder, signature, args):
            return builder.select(
                builder.fcmp_ordered(comparison, args[0], args[1]), args[0], args[1]
            )

        return Lanes(Lanes, Lanes), codegen

    return intrinsic(typer)


def _shuffle(mask: list[int]):
    def typer(typingctx, a, b):
        def codegen(context, builder, signature, args):
            return builder.shuffle_vector(
                args[0], args[1], ir.Constant(ir.VectorType(_INDEX, 4), mask)
            )

        return Lanes(Lanes, Lanes), codegen

    return intrinsic(typer)


minimum = _select("<")
"""Lane-wise minimum of two vectors (numba only)."""

maximum = _select(">")
"""Lane-wise maximum of two vectors (numba only)."""

_even_lanes = _shuffle([0, 0, 2, 2])
_odd_lanes = _shuffle([1, 1, 3, 3])
_swapped_pairs = _shuffle([1, 0, 3, 2])
_joined_pairs = _shuffle([0, 5, 2, 7])


def _register_operator(op, instruction: str) -> None:
    kernel = _elementwise(instruction)

    def typer(a, b):
        if isinstance(a, LanesType) and isinstance(b, LanesType):
            return lambda a, b: kernel(a, b)
        if isinstance(a, LanesType) and isinstance(b, types.Number):
            return lambda a, b: kernel(a, splat(b))
        if isinstance(a, types.Number) and isinstance(b, LanesType):
            return lambda a, b: kernel(splat(a), b)
        return None

    overload(op)(typer)


for _op, _instruction in (
    (operator.add, "fadd"),
    (operator.sub, "fsub"),
    (operator.mul, "fmul"),
    (operator.truediv, "fdiv"),
):
    _register_operator(_op, _instruction)


# ---------------------------------------------------------------------------
# Stages, generic over the number of sections (resolved when numba types the call).


def allpass_chain(x, state, coefficients):
    """Run ``x`` through first-order allpass sections; return ``(y, new_state)`` (numba only).

    ``coefficients`` is a tuple of lanes, one per section; ``state`` is one
    longer: the previous input, then each section's previous output. A
    section computes ``y = a * (x - y_prev) + x_prev`` (the HIIR form).
    """


@overload(allpass_chain)
def _allpass_chain(x, state, coefficients):
    if len(coefficients) == 0:
        return lambda x, state, coefficients: (x, (x,))

    def chain(x, state, coefficients):
        y = coefficients[0] * (x - state[1]) + state[0]
        out, rest = allpass_chain(y, state[1:], coefficients[1:])
        return out, (x,) + rest

    return chain


def lane_coefficients(coefficients):
    """The chains' coefficients as lanes ``(a_2i, a_2i+1, a_2i, a_2i+1)``, one per section pair (numba only)."""


@overload(lane_coefficients)
def _lane_coefficients(coefficients):
    if len(coefficients) == 0:
        return lambda coefficients: ()
    return lambda coefficients: (
        (lanes(coefficients[0], coefficients[1], coefficients[0], coefficients[1]),)
        + lane_coefficients(coefficients[2:])
    )


def load_state(states, left, right, coefficients, index=0):
    """States ``index`` onward of channels ``left`` and ``right`` as lanes (numba only).

    ``states`` is shaped (channels, 2 chains, sections per chain + 1); the
    result has one more entry than ``coefficients``. With ``left == right``
    (the last of an odd channel count) both halves hold the same channel.
    """


@numba.njit
def _gather(states, left, right, index):
    """State ``index`` of both chains of channels ``left`` and ``right``, as lanes."""
    return lanes(
        states[left, 0, index],
        states[left, 1, index],
        states[right, 0, index],
        states[right, 1, index],
    )


@overload(load_state)
def _load_state(states, left, right, coefficients, index=0):
    if len(coefficients) == 0:
        return lambda states, left, right, coefficients, index=0: (
            _gather(states, left, right, index),
        )
    return lambda states, left, right, coefficients, index=0: (
        (_gather(states, left, right, index),)
        + load_state(states, left, right, coefficients[1:], index + 1)
    )


@numba.njit
def store_state(states, left, right, state):
    """Write lanes ``state`` back to channels ``left`` and ``right`` of ``states``."""
    for index in range(len(state)):
        vector = state[index]
        states[left, 0, index] = lane(vector, 0)
        states[left, 1, index] = lane(vector, 1)
        states[right, 0, index] = lane(vector, 2)
        states[right, 1, index] = lane(vector, 3)


@numba.njit
def interpolate(x, state, coefficients):
    """One 2x interpolation step: lanes ``(l, l, r, r)`` to ``(l_even, l_odd, r_even, r_odd)``."""
    return allpass_chain(x, state, coefficients)


@numba.njit
def decimate(pair, state, coefficients):
    """One 2x decimation step: lanes ``(l_even, l_odd, r_even, r_odd)`` to ``(l, l, r, r)``."""
    y, state = allpass_chain(_swapped_pairs(pair, pair), state, coefficients)
    return 0.5 * (y + _swapped_pairs(y, y)), state


@numba.njit
def upsample_lanes(pair, state, coefficients):
    """Stage 2 of the way up: one 2x pair of samples to the four 4x samples, as two pairs."""
    first, state = interpolate(_even_lanes(pair, pair), state, coefficients)
    second, state = interpolate(_odd_lanes(pair, pair), state, coefficients)
    return first, second, state


@numba.njit
def downsample_lanes(first, second, state, coefficients):
    """Stage 2 of the way down: two 4x pairs to one 2x pair ``(l_even, l_odd, r_even, r_odd)``."""
    even, state = decimate(first, state, coefficients)
    odd, state = decimate(second, state, coefficients)
    return _joined_pairs(even, odd), state


# ---------------------------------------------------------------------------
# Standalone 4x resampling, for any use that needs the high-rate signal.


def init_state(channels: int) -> dict[str, np.ndarray]:
    """Silent allpass states of both stages, both directions, shaped (channels, 2, sections per chain + 1)."""
    return {
        "up1": np.zeros((channels, 2, STAGE1.size // 2 + 1)),
        "up2": np.zeros((channels, 2, STAGE2.size // 2 + 1)),
        "down2": np.zeros((channels, 2, STAGE2.size // 2 + 1)),
        "down1": np.zeros((channels, 2, STAGE1.size // 2 + 1)),
    }


@numba.njit
def _scatter(high, row, left, right, pair):
    """Write a 4x pair of the channel pair to rows ``row`` and ``row + 1`` of ``high``."""
    high[row, left] = lane(pair, 0)
    high[row + 1, left] = lane(pair, 1)
    high[row, right] = lane(pair, 2)
    high[row + 1, right] = lane(pair, 3)


@numba.njit(cache=True, nogil=True)
def _upsample(block, high, up1, up2, stage1, stage2):
    """Fill ``high`` with ``block`` interpolated 4x; states updated in place."""
    frames, channels = block.shape
    c1 = lane_coefficients(stage1)
    c2 = lane_coefficients(stage2)
    for left in range(0, channels, 2):
        right = min(left + 1, channels - 1)
        s1 = load_state(up1, left, right, c1)
        s2 = load_state(up2, left, right, c2)
        for n in range(frames):
            x = lanes(block[n, left], block[n, left], block[n, right], block[n, right])
            pair, s1 = interpolate(x, s1, c1)
            first, second, s2 = upsample_lanes(pair, s2, c2)
            _scatter(high, FACTOR * n, left, right, first)
            _scatter(high, FACTOR * n + 2, left, right, second)
        store_state(up1, left, right, s1)
        store_state(up2, left, right, s2)


@numba.njit(cache=True, nogil=True)
def _downsample(high, block, down2, down1, stage1, stage2):
    """Fill ``block`` with ``high`` decimated 4x; states updated in place."""
    frames, channels = block.shape
    c1 = lane_coefficients(stage1)
    c2 = lane_coefficients(stage2)
    for left in range(0, channels, 2):
        right = min(left + 1, channels - 1)
        s2 = load_state(down2, left, right, c2)
        s1 = load_state(down1, left, right, c1)
        for n in range(frames):
            h = FACTOR * n
            first = lanes(
                high[h, left], high[h + 1, left], high[h, right], high[h + 1, right]
            )
            second = lanes(
                high[h + 2, left],
                high[h + 3, left],
                high[h + 2, right],
                high[h + 3, right],
            )
            pair, s2 = downsample_lanes(first, second, s2, c2)
            y, s1 = decimate(pair, s1, c1)
            block[n, left] = lane(y, 0)
            block[n, right] = lane(y, 2)
        store_state(down2, left, right, s2)
        store_state(down1, left, right, s1)


def _copied(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {key: value.copy() for key, value in state.items()}


def upsample(
    block: np.ndarray, state: dict[str, np.ndarray]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Interpolate a base-rate block (frames, channels) to 4 times as many frames; the given state is left untouched."""
    new_state = _copied(state)
    high = np.empty((FACTOR * block.shape[0], block.shape[1]))
    _upsample(
        block, high, new_state["up1"], new_state["up2"], tuple(STAGE1), tuple(STAGE2)
    )
    return high, new_state


def downsample(
    high: np.ndarray, state: dict[str, np.ndarray]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Filter and decimate a 4x block whose length is a multiple of 4; the given state is left untouched."""
    new_state = _copied(state)
    block = np.empty((high.shape[0] // FACTOR, high.shape[1]))
    _downsample(
        high,
        block,
        new_state["down2"],
        new_state["down1"],
        tuple(STAGE1),
        tuple(STAGE2),
    )
    return block, new_state
