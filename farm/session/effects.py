"""The registry of effect types a session may name, and how each is built.

Each ``fx`` entry of a session is ``{type: NAME, ...parameters}``. The
parameters, their types and defaults come from the :mod:`dsp` effect class
registered under that name, so the session model and the signal processing
never disagree; the class's own validation checks the values when the effect
is built at the render sample rate. A few session-level conveniences are
translated here: ``eq`` bands, ``delay``'s ``time_note`` (needs the session's
``tempo_bpm``) and ``convolution``'s ``ir_file`` (a file inside the session
folder, on disk or in object storage, read through :mod:`farm.storage.stems`).

Every number must be finite, and what a session controls is bounded before
any audio is touched: times (:data:`MAX_EFFECT_TIME_S`, a limiter's
lookahead :data:`MAX_LOOKAHEAD_S`), levels (:data:`MAX_EFFECT_LEVEL_DB`),
text, EQ bands, and impulse response files (rate, channels,
:data:`MAX_IMPULSE_RESPONSE_S`).
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Annotated, Literal, Union

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from dsp.compressor import Compressor
from dsp.convolution import Convolution
from dsp.de_esser import DeEsser
from dsp.delay import Delay, note_to_seconds
from dsp.effect import Effect
from dsp.eq import EqBand, Equalizer
from dsp.errors import AudioFileError
from dsp.gain import Gain
from dsp.gate import Gate
from dsp.io import AudioInfo
from dsp.limiter import Limiter
from dsp.multiband import MAX_CROSSOVERS, CompressorBand, MultibandCompressor
from dsp.reverb import Reverb
from dsp.saturation import Saturation
from dsp.stereo import Width
from farm.storage import Location, stems

from .names import StripName
from .paths import MAX_PATH_CHARS
from .samplescan import rate_problem

EFFECTS: dict[str, type[Effect]] = {
    cls.type_name: cls for cls in (Gain, Equalizer, Compressor, MultibandCompressor, Gate, DeEsser, Saturation, Delay, Reverb, Convolution, Width, Limiter)
}
"""Effect type name -> its :mod:`dsp` class."""

MAX_EFFECT_TIME_S = 60.0
"""The longest time parameter (a ``*_s`` field: attack, release, hold, delay, decay) of any effect, in seconds."""
MAX_LOOKAHEAD_S = 0.1
"""The longest limiter lookahead in seconds (its buffers grow with it)."""
MAX_EFFECT_LEVEL_DB = 144.0
"""The largest magnitude of a level parameter (a ``*_db`` or ``*_dbtp`` field) of any effect, in dB."""
MAX_PARAMETER_CHARS = 64
"""The longest text parameter (a choice such as ``detector``, a note value), in characters."""
MAX_EQ_BANDS = 32
MAX_IMPULSE_RESPONSE_S = 30.0
"""The longest impulse response file, in seconds."""
MAX_TOTAL_IMPULSE_RESPONSE_S = 120.0
"""The longest the impulse responses of all of a session's convolutions may last together, in seconds."""

_NOT_SESSION_FIELDS = {"sample_rate", "ir", "ir_sample_rate", "key_input", "max_time_s"}

Seconds = Annotated[float, Field(le=MAX_EFFECT_TIME_S)]
Text = Annotated[str, Field(max_length=MAX_PARAMETER_CHARS)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _fields_of(cls: type) -> dict[str, tuple[object, object]]:
    hints = typing.get_type_hints(cls)
    fields = {}
    for field in dataclasses.fields(cls):
        if field.name in _NOT_SESSION_FIELDS or not field.init:
            continue
        default = field.default if field.default is not dataclasses.MISSING else ...
        fields[field.name] = (_bounded(field.name, hints[field.name]), default)
    return fields


def _bounded(name: str, hint: object) -> object:
    """The type ``hint`` of the parameter ``name`` with the session's bounds on times, levels and text."""
    if hint is str:
        return Text
    if hint is not float:
        return hint
    if name == "lookahead_s":
        return Annotated[float, Field(le=MAX_LOOKAHEAD_S)]
    if name.endswith("_s"):
        return Seconds
    if name.endswith(("_db", "_dbtp")):
        return Annotated[float, Field(ge=-MAX_EFFECT_LEVEL_DB, le=MAX_EFFECT_LEVEL_DB)]
    return hint


MAX_SIDECHAIN_LEVEL_DB = 24.0
"""The most a sidechain key may be raised, in dB."""


class Sidechain(_Spec):
    """Where a compressor's or gate's detector listens: another strip's signal instead of its own."""

    model_config = ConfigDict(populate_by_name=True)

    source: StripName = Field(alias="from", description="The track or bus whose signal keys the detector.")
    pre_fader: bool = Field(
        True, description="true: the key is the strip after its effects, before mute, width, fader and pan; false: what it sends to its output, after the pan."
    )
    level_db: float = Field(0.0, ge=-MAX_EFFECT_LEVEL_DB, le=MAX_SIDECHAIN_LEVEL_DB, description="Gain on the key in dB, before the detector.")


_SIDECHAIN_FIELD = (
    Sidechain | None,
    Field(None, description="Listen to another track or bus (the key) instead of this strip's own signal; the audio path is unchanged. Null: the strip's own signal."),
)

EqBandSpec = pydantic.create_model("EqBandSpec", __base__=_Spec, **_fields_of(EqBand))
CompressorBandSpec = pydantic.create_model("CompressorBandSpec", __base__=_Spec, **_fields_of(CompressorBand))

_OVERRIDES: dict[str, dict[str, tuple[object, object]]] = {
    "eq": {"bands": (list[EqBandSpec], Field([], max_length=MAX_EQ_BANDS, description="The bands, in order, as one cascade; none passes the signal unchanged."))},
    "multiband_compressor": {
        "crossovers_hz": (list[float], Field(..., min_length=1, max_length=MAX_CROSSOVERS, description="1 to 4 crossover frequencies in Hz, ascending, below Nyquist (24 dB/octave Linkwitz-Riley).")),
        "bands": (
            list[CompressorBandSpec],
            Field(..., min_length=2, max_length=MAX_CROSSOVERS + 1, description="One compressor per band, lowest band first: one more than there are crossovers."),
        ),
    },
    "delay": {
        "time_s": (Seconds | None, Field(None, description="Delay time in seconds, up to 20, rounded to the nearest sample (at least one). Give time_s or time_note.")),
        "time_note": (
            Text | None,
            Field(None, description='Delay time as a note value at the session\'s tempo_bpm: "1/4" one beat, "1/8." dotted, "1/8t" triplet, "3/16"; denominators 1 to 128. Give time_s or time_note.'),
        ),
    },
    "compressor": {"sidechain": _SIDECHAIN_FIELD},
    "gate": {"sidechain": _SIDECHAIN_FIELD},
    "convolution": {"ir_file": (Annotated[str, Field(min_length=1, max_length=MAX_PATH_CHARS, description="The impulse response, an audio file relative to the session file's folder.")], ...)},
}


MAX_EFFECT_ID_CHARS = 64

EffectId = Annotated[str, Field(min_length=1, max_length=MAX_EFFECT_ID_CHARS, pattern=r"^[a-z0-9_]+$")]

_ID_FIELD = (
    EffectId | None,
    Field(
        None,
        description="A name for this entry, unique within its strip: lower-case letters, digits and underscores, not digits alone "
        "(which would read as the entry's position).",
    ),
)


def _spec_model(name: str, cls: type[Effect]) -> type[BaseModel]:
    fields = _fields_of(cls)
    fields.update(_OVERRIDES.get(name, {}))
    return pydantic.create_model(
        f"{cls.__name__}Spec", __base__=_Spec, type=(Literal[name], Field(description="Which effect this entry is.")), id=_ID_FIELD, **fields
    )


SPEC_MODELS: dict[str, type[BaseModel]] = {name: _spec_model(name, cls) for name, cls in EFFECTS.items()}
"""Effect type name -> the pydantic model of its session entry."""

FxSpec = Annotated[Union[tuple(SPEC_MODELS.values())], Field(discriminator="type")]
"""One ``fx`` entry of a session, whichever its type."""


def build_effect(
    spec: BaseModel,
    sample_rate: float,
    *,
    tempo_bpm: float | None = None,
    folder: Location | None = None,
    roots: list[Path] | None = None,
) -> Effect:
    """The :mod:`dsp` effect an ``fx`` entry describes, at ``sample_rate`` Hz.

    Raises
    ------
    dsp.errors.ParameterError, ValueError
        With the message starting with the offending field's name.
    """
    params = spec.model_dump()
    name = params.pop("type")
    params.pop("id")
    if params.pop("sidechain", None) is not None:
        params["key_input"] = True
    if name == "eq":
        params["bands"] = tuple(EqBand(**band) for band in params["bands"])
    elif name == "multiband_compressor":
        params["bands"] = tuple(CompressorBand(**band) for band in params["bands"])
    elif name == "delay":
        params = _delay_time(params, tempo_bpm)
    elif name == "convolution":
        return _convolution(params, sample_rate, folder, roots)
    return EFFECTS[name](sample_rate, **params)


def _convolution(params: dict, sample_rate: float, folder: Location | None, roots: list[Path] | None) -> Convolution:
    """The convolution effect with its ``ir_file`` located in the session folder (a path or a URI; further
    allowed folders: ``roots``) and read."""
    if folder is None:
        raise ValueError("ir_file: cannot be resolved without the session folder")
    written = params.pop("ir_file")
    try:
        location = folder.resolve_inside(written, roots or ())
        if not location.is_file():
            raise AudioFileError(f"{location}: impulse response file not found")
        _check_impulse_response(stems.info(location), written)
        samples, rate = stems.read_impulse_response(location)
    except (ValueError, OSError) as exc:
        raise ValueError(f"ir_file: {exc}") from None
    return Convolution.from_array(sample_rate, samples, ir_sample_rate=rate, **params)


def _check_impulse_response(facts: AudioInfo, written: str) -> None:
    """Raise ValueError unless the impulse response file ``written`` has a usable rate, 1 or 2 channels, and is short enough."""
    problem = rate_problem(facts, written, "impulse responses")
    if problem:
        raise ValueError(problem)
    if facts.channels > 2:
        raise ValueError(f"{written!r} has {facts.channels} channels; impulse responses must be mono or stereo")
    if facts.duration_s > MAX_IMPULSE_RESPONSE_S:
        raise ValueError(f"{written!r} lasts {facts.duration_s:g} s; an impulse response may last at most {MAX_IMPULSE_RESPONSE_S:g} s")


def _delay_time(params: dict, tempo_bpm: float | None) -> dict:
    time_s, time_note = params.pop("time_s"), params.pop("time_note")
    if (time_s is None) == (time_note is None):
        raise ValueError("time_s: give exactly one of time_s or time_note")
    if time_note is not None:
        if tempo_bpm is None:
            raise ValueError(f"time_note: {time_note!r} needs the session's tempo_bpm")
        time_s = note_to_seconds(time_note, tempo_bpm)
    return {"time_s": time_s, **params}
