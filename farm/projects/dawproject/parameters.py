"""DAWproject parameters in mixfarm's units, and the automation targets they become.

A DAWproject parameter (``RealParameter``) states its ``unit`` and may state
``min`` and ``max``. A fader's ``Volume`` is a linear gain factor (1 is
0 dB) or decibels; a ``Pan`` is ``normalized`` from 0 (left) to 1 (right)
or spans ``min`` to ``max``; times are seconds and frequencies hertz.
:func:`convert` turns a value into what the session's field holds, and
refuses a unit it cannot read so the caller reports the loss.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

MIN_LEVEL_DB = -144.0
"""The lowest level a session holds; a linear gain of 0 (silence) becomes this."""
MAX_LEVEL_DB = 24.0


class UnitError(ValueError):
    """A parameter's unit is not one its field can be read from."""


@dataclasses.dataclass(frozen=True)
class Scale:
    """A parameter's unit and range, as its element declares them."""

    unit: str | None
    low: float | None = None
    high: float | None = None


def convert(kind: str, value: float, scale: Scale) -> float:
    """``value``, written in ``scale``, as the field of ``kind`` holds it; raises :class:`UnitError`.

    ``kind`` says what the field measures: ``level`` (a fader or send, dB
    from a linear factor or dB, within -144 to 24), ``pan``, ``mute`` (0 or
    1), ``db`` (another level), ``seconds``, ``hertz``, ``ratio``,
    ``fraction`` (0 to 1, or percent) or ``plain`` (taken as written).
    """
    unit = scale.unit
    if kind == "plain":
        return value
    if kind == "mute":
        return 1.0 if value >= 0.5 else 0.0
    if kind in ("level", "db"):
        if unit == "decibel":
            decibels = value
        elif unit == "linear":
            decibels = 20.0 * math.log10(value) if value > 0.0 else -math.inf
        else:
            raise UnitError(f"a level in {unit or 'no unit'} (decibel or linear expected)")
        return min(max(decibels, MIN_LEVEL_DB), MAX_LEVEL_DB) if kind == "level" else max(decibels, MIN_LEVEL_DB)
    if kind == "pan":
        if scale.low is not None and scale.high is not None and scale.high > scale.low:
            if (scale.low, scale.high) == (-1.0, 1.0):
                return value
            return 2.0 * (value - scale.low) / (scale.high - scale.low) - 1.0
        if unit == "normalized":
            return 2.0 * value - 1.0
        if unit == "percent":
            return value / 100.0
        if unit == "linear":
            return value
        raise UnitError(f"a pan in {unit or 'no unit'} (normalized, linear or percent expected)")
    if kind == "fraction":
        if unit == "percent":
            return value / 100.0
        if unit in ("linear", "normalized", None):
            return value
        raise UnitError(f"a fraction in {unit} (percent, linear or normalized expected)")
    expected = {"seconds": "seconds", "hertz": "hertz", "ratio": "linear"}[kind]
    if unit not in (expected, None):
        raise UnitError(f"a value in {unit} ({expected} expected)")
    return value


@dataclasses.dataclass
class Target:
    """What automation of one DAWproject parameter moves in the session.

    ``strip`` is the strip draft it belongs to. Either ``key`` is a strip
    automation key (``gain_db``, ``pan``, ``mute``, ``sends.<send>.level_db``
    with the send's draft in ``send``), or ``effect`` and ``parameter`` name an
    effect's parameter. ``kind`` and ``scale`` convert the values; a
    ``refused`` target says why its automation cannot be followed.
    """

    strip: object
    kind: str
    scale: Scale
    key: str | None = None
    send: object = None
    effect: object = None
    parameter: str | None = None
    refused: str | None = None
    adjust: Callable[[float], float] | None = None
    """What the static value goes through besides its unit (a gate's range made negative), applied to every point too."""
