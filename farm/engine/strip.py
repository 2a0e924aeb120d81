"""One chunk of one strip: what a track, bus or the master does to its audio.

Signal flow of a track or bus (session format, "Semantics"): source (a
track's clips, with clip gain and fades, summed; a bus's feeds, each delayed
for latency compensation, summed) -> polarity -> insert effects -> width ->
fader (``gain_db``, or its automation) -> pan -> output bus. A pre-fader send
taps after the effects; a post-fader send after the pan. An automated
parameter follows its envelope instead of its static value. A mono
pre-fader tap feeds both sides of the bus at unity.
"""

from __future__ import annotations

import numpy as np

from dsp.automation import Envelope
from dsp.delayline import DelayLine
from dsp.errors import AudioFileError
from dsp.fades import fade_gain
from dsp.gain import invert_polarity
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
        "feeds": [DelayLine(sample_rate, delay_samples=feed.delay_samples).init_state(2) for feed in strip.feeds],
    }


def destinations(strip: StripPlan) -> list[str]:
    """Where a track or bus sends audio, in the fixed order of its task's returns."""
    return sorted(routes(strip.spec))


def track_source(strip: StripPlan, start: int, stop: int, sample_rate: int) -> np.ndarray:
    """A track's clips over frames ``[start, stop)``, with clip gain and fades, summed."""
    out = np.zeros((stop - start, strip.channels))
    for clip, path, span in zip(strip.spec.clip_list, strip.files, strip.spans):
        clip_start, offset, length = span.start_frame, span.offset_frames, span.frames
        lo, hi = max(start, clip_start), min(stop, clip_start + length)
        if lo >= hi:
            continue
        first = offset + lo - clip_start
        audio = stems.read_frames(path, first, offset + hi - clip_start)
        if not np.isfinite(audio).all():
            bad = first + int(np.argmin(np.isfinite(audio).all(axis=1)))
            raise AudioFileError(f"{path}: NaN or infinite sample at frame {bad} ({bad / sample_rate:.3f} s into the file)")
        fade_in, fade_out = int(round(clip.fade_in_s * sample_rate)), int(round(clip.fade_out_s * sample_rate))
        gain = db_to_linear(clip.gain_db)
        if fade_in or fade_out:
            gain = gain * fade_gain(lo - clip_start, hi - lo, length, fade_in, fade_out, clip.fade_shape)[:, None]
        out[lo - start : hi - start] += audio * gain
    return out


def join_feeds(strip: StripPlan, blocks: list[np.ndarray], begin: int, start: int) -> list[np.ndarray]:
    """Each feed over frames ``[begin, ...)`` of a chunk that starts at ``start``.

    ``blocks`` holds one block per feed for the chunk, preceded, when the
    chunk has pre-roll (``begin < start``), by one block per feed for the
    previous chunk, which supplies the pre-roll's frames.
    """
    count = len(strip.feeds)
    if begin == start:
        return blocks[-count:] if count else []
    previous, current = blocks[:count], blocks[count:]
    return [np.concatenate([before[before.shape[0] - (start - begin) :], block]) for before, block in zip(previous, current)]


def sum_feeds(strip: StripPlan, blocks: list[np.ndarray], state: dict, sample_rate: int, frames: int) -> tuple[np.ndarray, list]:
    """Delay each feed by its compensation and sum them; returns the sum and the delay states."""
    total = np.zeros((frames, 2))
    new_states = []
    for feed, block, feed_state in zip(strip.feeds, blocks, state["feeds"]):
        delayed, feed_state = DelayLine(sample_rate, delay_samples=feed.delay_samples).process(block, feed_state)
        total += delayed
        new_states.append(feed_state)
    return total, new_states


def run_effects(strip: StripPlan, audio: np.ndarray, state: dict) -> tuple[np.ndarray, list]:
    """The insert chain, each effect resuming from its state."""
    new_states = []
    for effect, effect_state in zip(strip.effects, state["fx"]):
        audio, effect_state = effect.process(audio, effect_state)
        new_states.append(effect_state)
    return audio, new_states


def _parameter(strip: StripPlan, key: str, static: float, start: int, frames: int, sample_rate: int) -> np.ndarray | float:
    points = strip.spec.automation.get(key)
    if points is None:
        return static
    return Envelope.from_points(points, key).evaluate(start, frames, sample_rate)


def _gain(value: np.ndarray | float) -> np.ndarray | float:
    return db_to_linear(value) if np.ndim(value) == 0 else db_to_linear(value)[:, None]


def route(strip: StripPlan, audio: np.ndarray, start: int, sample_rate: int) -> dict[str, np.ndarray]:
    """Width, fader, pan and sends of a processed chunk: stereo audio per destination."""
    spec, frames = strip.spec, audio.shape[0]
    outputs = {name: np.zeros((frames, 2)) for name in destinations(strip)}
    if not strip.audible:
        return outputs
    main = apply_width(audio, spec.width) * _gain(_parameter(strip, "gain_db", spec.gain_db, start, frames, sample_rate))
    main = pan(main, _parameter(strip, "pan", spec.pan, start, frames, sample_rate))
    outputs[spec.output] += main
    for send in spec.sends:
        level = _parameter(strip, f"sends.{send.bus}.level_db", send.level_db, start, frames, sample_rate)
        outputs[send.bus] += (audio if send.pre_fader else main) * _gain(level)
    return outputs


def render_strip_chunk(
    strip: StripPlan, start: int, stop: int, state: dict, feed_blocks: list[np.ndarray], sample_rate: int
) -> tuple[dict[str, np.ndarray], dict]:
    """Render frames ``[start, stop)`` of a track or bus; returns its outputs and new state."""
    if strip.kind == "track":
        audio, feed_states = track_source(strip, start, stop, sample_rate), state["feeds"]
    else:
        audio, feed_states = sum_feeds(strip, feed_blocks, state, sample_rate, stop - start)
    if strip.spec.polarity_invert:
        audio = invert_polarity(audio)
    audio, fx_states = run_effects(strip, audio, state)
    return route(strip, audio, start, sample_rate), {"fx": fx_states, "feeds": feed_states}
