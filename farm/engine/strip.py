"""One chunk of one strip: what a track, bus or the master does to its audio.

Signal flow of a track or bus (session format, "Semantics"): source (a
track's clips, with clip gain and fades, summed; a bus's feeds, each delayed
for latency compensation, summed) -> polarity -> insert effects -> width ->
fader (``gain_db``, or its automation) -> pan -> output bus. A pre-fader send
taps after the effects; a post-fader send after the pan. An automated
parameter follows its envelope instead of its static value; ``mute``
automation silences the strip after its effects (its sends too), each switch
ramped over one control period of the grid anchored at timeline frame 0. A mono
pre-fader tap feeds both sides of the bus at unity.
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


def initial_state(strip: StripPlan, sample_rate: int) -> dict:
    """The silent state of a strip before its first chunk."""
    return {
        "fx": [effect.init_state(strip.channels) for effect in strip.effects],
        "feeds": [{"history": np.zeros((feed.delay_samples, 2))} for feed in strip.feeds],
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
    count, frames = len(strip.feeds), stop - begin
    previous, current = (blocks[:count], blocks[count:]) if begin < start else ([None] * count, blocks[-count:] if count else [])
    total = np.zeros((frames, 2))
    new_states = []
    for feed_state, before, block in zip(state["feeds"], previous, current):
        pieces = [feed_state["history"], block] if before is None else [feed_state["history"], before[before.shape[0] - (start - begin) :], block]
        offset = 0
        for piece in pieces:
            used = min(piece.shape[0], frames - offset)
            if used > 0:
                add_into(total, piece[:used], offset)
            offset += piece.shape[0]
        new_states.append({"history": _last_frames(pieces, feed_state["history"].shape[0])})
    return total, new_states


def _last_frames(pieces: list[np.ndarray], frames: int) -> np.ndarray:
    """The last ``frames`` frames of the pieces joined end to end, as a new array."""
    if frames <= pieces[-1].shape[0]:
        return pieces[-1][pieces[-1].shape[0] - frames :].copy()
    joined = np.concatenate(pieces)
    return joined[joined.shape[0] - frames :].copy()


def run_effects(strip: StripPlan, audio: np.ndarray, state: dict, begin: int, sample_rate: int) -> tuple[np.ndarray, list]:
    """The insert chain over frames ``[begin, ...)``, each effect resuming from its state and following its automation.

    An effect's automation is read where its input lies on the timeline: a
    bus's input arrives late by its compensation, and each effect before it
    adds its latency, so the envelope moves with the audio it shapes.
    """
    lag = strip.latency_out - sum(effect.latency_samples for effect in strip.effects)
    new_states = []
    for index, (effect, effect_state) in enumerate(zip(strip.effects, state["fx"])):
        lanes = strip.effect_lanes(index, begin - lag, audio.shape[0], sample_rate)
        if lanes is not None:
            audio, effect_state = effect.process_automated(audio, effect_state, lanes)
        else:
            audio, effect_state = effect.process(audio, effect_state)
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


def route(strip: StripPlan, audio: np.ndarray, start: int, sample_rate: int) -> dict[str, np.ndarray]:
    """Mute, width, fader, pan and sends of a processed chunk: stereo audio per destination."""
    spec, frames = strip.spec, audio.shape[0]
    if not strip.audible:
        return {name: np.zeros((frames, 2)) for name in destinations(strip)}
    audio = _unmuted(strip, audio, start, sample_rate)
    fader = db_to_linear(_parameter(strip, "gain_db", spec.gain_db, start, frames, sample_rate))
    width = _parameter(strip, "width", spec.width, start, frames, sample_rate)
    outputs = {spec.output: pan(apply_width(audio, width), _parameter(strip, "pan", spec.pan, start, frames, sample_rate), fader)}
    for send in spec.sends:
        level = _parameter(strip, f"sends.{send.bus}.level_db", send.level_db, start, frames, sample_rate)
        tap = audio if send.pre_fader else outputs[spec.output]
        sent = np.multiply(tap, _gain(level), out=np.empty((frames, 2)))
        outputs[send.bus] = outputs[send.bus] + sent if send.bus in outputs else sent
    return outputs


def render_strip_chunk(
    strip: StripPlan, begin: int, start: int, stop: int, state: dict, feed_blocks: list[np.ndarray], sample_rate: int
) -> tuple[dict[str, np.ndarray], dict]:
    """Render frames ``[begin, stop)`` of a track or bus, for its chunk ``[start, stop)``; returns its outputs and new state.

    ``feed_blocks`` are a bus's, as :func:`sum_feeds` takes them.
    """
    if strip.kind == "track":
        audio, feed_states = track_source(strip, begin, stop, sample_rate), state["feeds"]
    else:
        audio, feed_states = sum_feeds(strip, feed_blocks, state, begin, start, stop)
    if strip.spec.polarity_invert:
        audio = invert_polarity(audio)
    audio, fx_states = run_effects(strip, audio, state, begin, sample_rate)
    return route(strip, audio, begin, sample_rate), {"fx": fx_states, "feeds": feed_states}
