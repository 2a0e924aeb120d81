"""One chunk of one strip: what a track, bus or the master does to its audio.

Signal flow of a track or bus (session format, "Semantics"): source (a
track's clips, with clip gain and fades, summed; a bus's feeds, each delayed
for latency compensation, summed) -> polarity -> insert effects -> width ->
fader (``gain_db``, or its automation) -> pan -> output bus. A pre-fader send
taps after the effects; a post-fader send after the pan. An automated
parameter follows its envelope instead of its static value, read where the
audio lies on the timeline (behind the latency of the strip's inputs and
effects); ``mute``
automation silences the strip after its effects (its sends too), each switch
ramped over one control period of the grid anchored at timeline frame 0. A mono
pre-fader tap feeds both sides of the bus at unity.

A sidechain key is taken like a send: pre-fader after the effects (before
mute, so a muted "ghost" track can still key another), post-fader as the
strip's output after its pan (mute and solo included). It reaches the keyed
effect through its own compensation delay and its ``level_db``, as a mono
signal on both sides; only the effect's detector hears it.
"""

from __future__ import annotations

import functools

import numpy as np

from dsp import io as audio_io
from dsp.automation import CONTROL_PERIOD_FRAMES
from dsp.errors import AudioFileError
from dsp.fades import fade_gain
from dsp.gain import invert_polarity
from dsp.mixing import add_into
from dsp.pan import pan
from dsp.stereo import apply_width
from dsp.units import db_to_linear
from farm.session import routes
from farm.storage import stems

from .plan import StripPlan
from .prefader import STATE_KEY, TrackCache, cached_effects, keep_effects, prefader_key


def initial_state(strip: StripPlan, sample_rate: int) -> dict:
    """The silent state of a strip before its first chunk."""
    return {
        "fx": [effect.init_state(strip.channels) for effect in strip.effects],
        "feeds": [{"history": np.zeros((feed.delay_samples, 2))} for feed in strip.feeds],
        "keys": [{"history": np.zeros((key.delay_samples, 2))} for key in strip.keys],
    }


def destinations(strip: StripPlan) -> list[str]:
    """Where a track or bus sends audio, in the fixed order of its task's returns."""
    return sorted(routes(strip.spec))


def track_source(strip: StripPlan, start: int, stop: int, sample_rate: int) -> np.ndarray:
    """A track's clips over frames ``[start, stop)``, with clip gain and fades, summed.

    A stem at another rate is resampled as it is read (:func:`dsp.io.resample_range`).
    """
    out = np.zeros((stop - start, strip.channels))
    for clip, stem, span in zip(strip.spec.clip_list, strip.stems, strip.spans):
        clip_start, offset, length = span.start_frame, span.offset_frames, span.frames
        lo, hi = max(start, clip_start), min(stop, clip_start + length)
        if lo >= hi:
            continue
        first, last = offset + lo - clip_start, offset + hi - clip_start
        if stem.sample_rate == sample_rate:
            audio = _stem_frames(stem, first, last)
        else:
            audio = audio_io.resample_range(functools.partial(_stem_frames, stem), stem.frames, stem.sample_rate, sample_rate, first, last)
        fade_in, fade_out = int(round(clip.fade_in_s * sample_rate)), int(round(clip.fade_out_s * sample_rate))
        gain = db_to_linear(clip.gain_db)
        if fade_in or fade_out:
            gain = gain * fade_gain(lo - clip_start, hi - lo, length, fade_in, fade_out, clip.fade_shape)
        add_into(out, audio, lo - start, gain)
    return out


def _stem_frames(stem: audio_io.AudioInfo, start: int, stop: int) -> np.ndarray:
    """Frames ``[start, stop)`` of a stem file, refused if one is NaN or infinite."""
    audio = stems.read_frames(stem.path, start, stop)
    if not np.isfinite(audio).all():
        bad = start + int(np.argmin(np.isfinite(audio).all(axis=1)))
        raise AudioFileError(f"{stem.path}: NaN or infinite sample at frame {bad} ({bad / stem.sample_rate:.3f} s into the file)")
    return audio


def sum_feeds(strip: StripPlan, blocks: list[np.ndarray], state: dict, begin: int, start: int, stop: int) -> tuple[np.ndarray, list]:
    """The feeds of a bus (or the master) over frames ``[begin, stop)``, each delayed by its compensation, summed.

    ``blocks`` holds one block per feed for the chunk ``[start, stop)``,
    preceded, when the chunk has pre-roll (``begin < start``), by one block
    per feed for the previous chunk, whose last frames supply the pre-roll.
    Each feed's delay line (its last ``delay_samples`` frames, carried in
    ``state["feeds"]``) comes first. Returns the sum and the new delay states.
    """
    total = np.zeros((stop - begin, 2))
    new_states = [_delayed_into(total, line, before, block, begin, start) for line, (before, block) in zip(state["feeds"], _pairs(blocks, len(strip.feeds), begin, start))]
    return total, new_states


def strip_keys(strip: StripPlan, blocks: list[np.ndarray], state: dict, begin: int, start: int, stop: int) -> tuple[dict[int, np.ndarray], list]:
    """The sidechain keys of a strip over frames ``[begin, stop)``, by effect position, each delayed and at its level.

    ``blocks`` holds the keys' taps as :func:`sum_feeds` takes a bus's feeds;
    ``state["keys"]`` their delay lines. Returns the keys and the new delay states.
    """
    keys, new_states = {}, []
    for key, line, (before, block) in zip(strip.keys, state["keys"], _pairs(blocks, len(strip.keys), begin, start)):
        audio = np.zeros((stop - begin, 2))
        new_states.append(_delayed_into(audio, line, before, block, begin, start))
        keys[key.effect] = audio * db_to_linear(key.level_db) if key.level_db else audio
    return keys, new_states


def _pairs(blocks: list[np.ndarray], count: int, begin: int, start: int) -> list[tuple[np.ndarray | None, np.ndarray]]:
    """Each input's (previous chunk's block or None, this chunk's block) from ``blocks`` laid out as :func:`sum_feeds` takes them."""
    if begin < start:
        return list(zip(blocks[:count], blocks[count:]))
    return [(None, block) for block in (blocks[-count:] if count else [])]


def _delayed_into(out: np.ndarray, line: dict, before: np.ndarray | None, block: np.ndarray, begin: int, start: int) -> dict:
    """Add one input into ``out`` (frames ``[begin, ...)``) after its delay line ``line``; return the delay line's new state."""
    pieces = [line["history"], block] if before is None else [line["history"], before[before.shape[0] - (start - begin) :], block]
    frames, offset = out.shape[0], 0
    for piece in pieces:
        used = min(piece.shape[0], frames - offset)
        if used > 0:
            add_into(out, piece[:used], offset)
        offset += piece.shape[0]
    return {"history": _last_frames(pieces, line["history"].shape[0])}


def _last_frames(pieces: list[np.ndarray], frames: int) -> np.ndarray:
    """The last ``frames`` frames of the pieces joined end to end, as a new array."""
    if frames <= pieces[-1].shape[0]:
        return pieces[-1][pieces[-1].shape[0] - frames :].copy()
    joined = np.concatenate(pieces)
    return joined[joined.shape[0] - frames :].copy()


def run_effects(strip: StripPlan, audio: np.ndarray, state: dict, begin: int, sample_rate: int, keys: dict[int, np.ndarray] | None = None) -> tuple[np.ndarray, list]:
    """The insert chain over frames ``[begin, ...)``, each effect resuming from its state and following its automation.

    An effect's automation is read where its input lies on the timeline: a
    bus's input arrives late by its compensation, and each effect before it
    adds its latency, so the envelope moves with the audio it shapes. A
    keyed effect's detector hears its key from ``keys`` (by effect position).
    """
    lag = strip.input_latency
    keys = keys or {}
    new_states = []
    for index, (effect, effect_state) in enumerate(zip(strip.effects, state["fx"])):
        lanes = strip.effect_lanes(index, begin - lag, audio.shape[0], sample_rate)
        key = keys.get(index)
        if lanes is not None:
            audio, effect_state = effect.process_automated(audio, effect_state, lanes, key=key)
        else:
            audio, effect_state = effect.process(audio, effect_state, key=key)
        lag += effect.latency_samples
        new_states.append(effect_state)
    return audio, new_states


def _parameter(strip: StripPlan, key: str, static: float, start: int, frames: int, sample_rate: int) -> np.ndarray | float:
    envelope = strip.envelopes.get(key)
    return static if envelope is None else envelope.evaluate(start, frames, sample_rate)


def _gain(value: np.ndarray | float) -> np.ndarray | float:
    return db_to_linear(value) if np.ndim(value) == 0 else db_to_linear(value)[:, None]


def _unmuted(strip: StripPlan, audio: np.ndarray, start: int, sample_rate: int) -> np.ndarray:
    """``audio`` silenced where the ``mute`` automation is 1, each switch ramped over one control period."""
    envelope = strip.envelopes.get("mute")
    if envelope is None:
        return audio
    muted = envelope.evaluate_on_grid(start, audio.shape[0], sample_rate, CONTROL_PERIOD_FRAMES)
    return audio * (1.0 - muted)[:, None]


def route(strip: StripPlan, audio: np.ndarray, start: int, sample_rate: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Mute, width, fader, pan and sends of a processed chunk: stereo audio per destination, and the strip's own output (its sends aside).

    ``start`` is where the chunk's first frame lies on the timeline (its
    frame less the strip's latency), so the strip's automation moves with
    the audio it shapes.
    """
    spec, frames = strip.spec, audio.shape[0]
    if not strip.audible:
        return {name: np.zeros((frames, 2)) for name in destinations(strip)}, np.zeros((frames, 2))
    audio = _unmuted(strip, audio, start, sample_rate)
    fader = db_to_linear(_parameter(strip, "gain_db", spec.gain_db, start, frames, sample_rate))
    width = _parameter(strip, "width", spec.width, start, frames, sample_rate)
    main = pan(apply_width(audio, width), _parameter(strip, "pan", spec.pan, start, frames, sample_rate), fader)
    outputs = {spec.output: main}
    for send in spec.sends:
        level = _parameter(strip, f"sends.{send.bus}.level_db", send.level_db, start, frames, sample_rate)
        tap = audio if send.pre_fader else main
        sent = np.multiply(tap, _gain(level), out=np.empty((frames, 2)))
        outputs[send.bus] = outputs[send.bus] + sent if send.bus in outputs else sent
    return outputs, main


def render_strip_chunk(
    strip: StripPlan,
    begin: int,
    start: int,
    stop: int,
    state: dict,
    feed_blocks: list[np.ndarray],
    key_blocks: list[np.ndarray],
    sample_rate: int,
    cache: TrackCache | None = None,
) -> tuple[dict[str, np.ndarray], dict[bool, np.ndarray], np.ndarray, dict, bool | None]:
    """Render frames ``[begin, stop)`` of a track or bus, for its chunk ``[start, stop)``.

    ``feed_blocks`` are a bus's, as :func:`sum_feeds` takes them;
    ``key_blocks`` its keys' taps, likewise. A track's audio after its
    effects is read from ``cache`` when there (:mod:`farm.engine.prefader`).
    Returns its outputs by destination, its key taps by ``pre_fader``
    (stereo), its own output (its stem), its new state, and whether its
    effects' result came from the cache (None when it was not looked for).
    """
    key = prefader_key(strip, begin, start, stop, state, sample_rate, cache.stems) if cache is not None else None
    stored = cached_effects(cache, key)
    keys, key_states = strip_keys(strip, key_blocks, state, begin, start, stop)
    if stored is not None:
        (audio, fx_states), feed_states = stored, state["feeds"]
    else:
        if strip.kind == "track":
            lag = strip.input_latency
            audio, feed_states = track_source(strip, begin - lag, stop - lag, sample_rate), state["feeds"]
        else:
            audio, feed_states = sum_feeds(strip, feed_blocks, state, begin, start, stop)
        if strip.spec.polarity_invert:
            audio = invert_polarity(audio)
        audio, fx_states = run_effects(strip, audio, state, begin, sample_rate, keys)
        keep_effects(cache, key, audio, fx_states)
    outputs, main = route(strip, audio, begin - strip.latency_out, sample_rate)
    taps = {pre_fader: (_stereo(audio) if pre_fader else main) for pre_fader in strip.taps}
    new_state = {"fx": fx_states, "feeds": feed_states, "keys": key_states}
    if key is not None:
        new_state[STATE_KEY] = key
    return outputs, taps, main, new_state, (stored is not None) if key is not None else None


def _stereo(audio: np.ndarray) -> np.ndarray:
    """A mono chunk on both sides at unity; a stereo one as it is."""
    return np.repeat(audio, 2, axis=1) if audio.shape[1] == 1 else audio
