"""The compiler: a validated session becomes an explicit render plan.

The plan says, without touching any audio, what each task will do:

- the timeline: the session's length in frames (last clip end plus the
  master tail) and its grid of time chunks;
- the strips (tracks, buses, the master) in an order where every strip comes
  after everything that feeds it, each with the feeds it sums;
- latency compensation: every feed into a summing point is delayed so all
  arrive aligned (the plugin-delay-compensation of a DAW), and the mix bus is
  read ``mix_latency`` frames late so the output lines up with the timeline;
- which strips sound, after mute and solo;
- the loudness stage (:mod:`farm.engine.mastering`) and every deliverable
  (:mod:`farm.engine.delivery`): rates, chunk grids, lengths, quantisers.

How joins stay exact (docs/architecture.md explains it at length): the compiler
picks one of two ways per strip.

- **Pre-roll** (time-parallel): each chunk starts from silent state
  ``preroll_frames`` early and discards them, so the chunks of the strip run
  at once, on any workers. The pre-roll is :data:`~farm.engine.preroll.PREROLL_MARGIN` times the
  chain's settle time (the sum of its effects' ``settle_s``, each the time
  after which a cold start matches a warm one below -120 dBFS) plus the
  longest latency-compensation delay of its feeds. A track reads its pre-roll
  from its stems; a bus or the master sums its feeds' blocks of the previous
  chunk and this one.
- **Carry state** (exact): chunk k+1 starts from chunk k's final state, so
  the chunks of the strip run in sequence. Chosen when the pre-roll would be
  longer than a chunk (a long reverb or feedback delay with short chunks).

Either way the master nulls against the one-pass render below -120 dBFS
(bit-exact where every strip carries state). A deliverable quantised to 16
bits can still differ where such a tiny difference crosses a rounding step:
by one LSB at isolated samples, or a few samples on with shaped dither,
whose error feedback carries the change on.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Iterator, Mapping, Sequence

from dsp.automation import Envelope, Lanes
from dsp.effect import Effect
from dsp.io import AudioInfo
from farm.session import (
    FX_AUTOMATION_PREFIX,
    MASTER,
    Bus,
    LoadedSession,
    Track,
    audibility,
    effect_automation,
    routes,
    stem_strips,
)
from farm.session.clips import ClipSpan

from .delivery import DeliverablePlan, plan_deliverable
from .groups import TrackGroup, group_tracks
from .mastering import LoudnessPlan, plan_loudness
from .prefader import TrackCache
from .preroll import chain_preroll_frames, first_frame, meter_preroll_frames
from .tagging import file_tags

DEFAULT_CHUNK_S = 20.0
"""Seconds per time chunk unless the caller asks for another length.

Every chunk of a time-parallel strip re-renders its pre-roll (about 2 s for a
track's EQ and compressor, 3 to 4 s for a reverb bus or the master's sum), and
every task costs the same to schedule and to pass results through whatever
the executor moves them with, so longer chunks render a song in fewer CPU
seconds: 20 s chunks take about 6 % less CPU in process and 12 % less on Ray
than 10 s chunks for a 17-track minute (benchmarks/render_session.py). Shorter
chunks spread one song over more CPUs at once (``--chunk-s 10`` or less, for a
short song on a big cluster)."""
MIX_TRUE_PEAK_OVERSAMPLING = 4
"""The mix bus is metered with BS.1770's 4x true-peak interpolator."""



@dataclasses.dataclass(frozen=True)
class Feed:
    """Audio flowing from ``source`` into a summing point, delayed by ``delay_samples``."""

    source: str
    delay_samples: int


@dataclasses.dataclass(frozen=True)
class Key:
    """A sidechain key into effect ``effect`` of a strip: ``source``'s signal at its tap, delayed by ``delay_samples`` and raised by ``level_db``.

    The delay lines the key up with the audio the effect's detector sits
    beside, as a feed's compensation does at a summing point.
    """

    effect: int
    source: str
    pre_fader: bool
    level_db: float
    delay_samples: int

    @property
    def tap(self) -> tuple[str, bool]:
        """Where the key is taken: ``(strip name, pre_fader)``."""
        return self.source, self.pre_fader


@dataclasses.dataclass(frozen=True)
class StripPlan:
    """One track, bus or the master as the renderer sees it.

    Attributes
    ----------
    name, kind
        The strip's name; ``"track"``, ``"bus"`` or ``"master"``.
    spec
        The session's Track or Bus (None for the master).
    channels
        Channels of its processing chain (a track of mono stems stays mono
        until it is panned; buses and the master are stereo).
    feeds
        What it sums: track groups (:mod:`farm.engine.groups`) and buses;
        empty for tracks.
    effects
        Its insert chain, built at the render rate.
    input_latency
        Frames by which the input of its chain lags the timeline: a bus's
        feeds arrive that late; a track's clips are read that late only so
        that a sidechain key that comes later still reaches its detector in time.
    latency_out
        Frames by which its output lags the timeline.
    audible
        False when mute or solo silence it.
    stems
        For tracks: each clip's file's header facts (path, rate, frames);
        a file at another rate is resampled chunk by chunk as it is read.
    spans
        For tracks: where each clip plays at the render rate
        (:class:`farm.session.clips.ClipSpan`), so no task reads a header.
    preroll_frames
        Frames each chunk starts early from silent state, so chunks run in
        parallel; None when the strip carries its state from chunk to chunk.
    envelopes
        The strip's own automation as envelopes, by key (``gain_db``,
        ``mute``, ``sends.<bus>.level_db``), built once from the checked session.
    effect_envelopes
        Its effects' automation: fx position -> parameter -> envelope.
    keys
        The sidechain keys its effects listen to (:class:`Key`).
    taps
        Where other strips' sidechains take their key from this one: ``True``
        after its effects (pre-fader), ``False`` its output (post-fader).
    stem
        Whether a deliverable is made of its output (a stem).
    """

    name: str
    kind: str
    spec: Track | Bus | None
    channels: int
    feeds: tuple[Feed, ...]
    effects: tuple[Effect, ...]
    latency_out: int
    audible: bool
    stems: tuple[AudioInfo, ...] = ()
    spans: tuple[ClipSpan, ...] = ()
    preroll_frames: int | None = None
    envelopes: Mapping[str, Envelope] = dataclasses.field(default_factory=dict)
    effect_envelopes: Mapping[int, Mapping[str, Envelope]] = dataclasses.field(default_factory=dict)
    input_latency: int = 0
    keys: tuple[Key, ...] = ()
    taps: tuple[bool, ...] = ()
    stem: bool = False

    def effect_lanes(self, index: int, start_frame: int, frames: int, sample_rate: int) -> Lanes | None:
        """The automation of effect ``index`` over frames ``[start_frame, start_frame + frames)`` of its input, or None."""
        automated = self.effect_envelopes.get(index)
        return None if automated is None else Lanes(automated, start_frame, frames, sample_rate)

    @property
    def time_parallel(self) -> bool:
        """Whether the strip's chunks start from silence with pre-roll instead of carrying state."""
        return self.preroll_frames is not None

    def first_frame(self, start: int) -> int:
        """Where rendering the strip's chunk that starts at frame ``start`` begins (see :func:`first_frame`)."""
        return first_frame(start, self.preroll_frames)


@dataclasses.dataclass(frozen=True)
class ChunkGrid(Sequence[tuple[int, int]]):
    """The chunks ``(start, stop)`` covering ``frames`` frames, ``chunk_frames`` each (the last may be shorter).

    Each chunk is computed when asked for, so the grid takes the same small
    memory however long the timeline. A grid over 0 frames holds one empty chunk.
    """

    frames: int
    chunk_frames: int

    def __len__(self) -> int:
        return max(1, -(-self.frames // self.chunk_frames))

    def __getitem__(self, index: int | slice) -> tuple[int, int] | list[tuple[int, int]]:
        if isinstance(index, slice):
            return [self[position] for position in range(*index.indices(len(self)))]
        index = operator.index(index)
        count = len(self)
        if not -count <= index < count:
            raise IndexError(f"chunk {index} of a grid of {count}")
        start = (index % count) * self.chunk_frames
        return start, min(start + self.chunk_frames, self.frames)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return (self[index] for index in range(len(self)))


@dataclasses.dataclass(frozen=True)
class RenderPlan:
    """Every stage of a render, as the executors need it; picklable, and free of audio.

    Attributes
    ----------
    session_name, sample_rate
        The session's name and the render rate in Hz.
    timeline_frames, content_frames
        The session's length (last clip end plus the master tail) and its
        last clip's end, in frames.
    chunk_frames
        Frames per time chunk.
    strips
        The mix: every track, then every bus, in session order, then the master.
    groups
        The tracks as the tasks render them (:class:`~farm.engine.groups.TrackGroup`).
    order
        The mixing stage's tasks of one chunk, by name (track groups, buses,
        the master), each after every task whose audio or key it reads.
    mix_latency
        Frames by which the mix bus lags the timeline.
    loudness
        The loudness stage (:class:`~farm.engine.mastering.LoudnessPlan`).
    deliverables
        One plan per file to write, in the session's order of outputs, a
        stem output giving one per strip
        (:class:`~farm.engine.delivery.DeliverablePlan`).
    track_cache
        With a render cache, where track tasks keep each track's audio after
        its effects, and its stems' identities, so a change after them
        (fader, pan, sends) does not run the effects again
        (:mod:`farm.engine.prefader`); None without.
    """

    session_name: str
    sample_rate: int
    timeline_frames: int
    content_frames: int
    chunk_frames: int
    strips: tuple[StripPlan, ...]
    groups: tuple[TrackGroup, ...]
    order: tuple[str, ...]
    mix_latency: int
    loudness: LoudnessPlan
    deliverables: tuple[DeliverablePlan, ...]
    track_cache: TrackCache | None = None

    @property
    def render_frames(self) -> int:
        """Frames the mixing stage renders: the timeline plus the mix latency."""
        return self.timeline_frames + self.mix_latency

    def chunks(self, frames: int | None = None) -> ChunkGrid:
        """The chunk grid ``(start, stop), ...`` over ``frames`` (default: the mixing stage), computed as it is read."""
        return ChunkGrid(self.render_frames if frames is None else frames, self.chunk_frames)

    def strip(self, name: str) -> StripPlan:
        """The strip called ``name``."""
        return next(strip for strip in self.strips if strip.name == name)

    def group(self, name: str) -> TrackGroup:
        """The track group called ``name``."""
        return next(group for group in self.groups if group.name == name)


def compile_plan(loaded: LoadedSession, chunk_s: float = DEFAULT_CHUNK_S) -> RenderPlan:
    """Compile a loaded session into a :class:`RenderPlan` with chunks of ``chunk_s`` seconds.

    A ``chunk_s`` longer than the song renders it in one pass.
    """
    if not (isinstance(chunk_s, (int, float)) and math.isfinite(chunk_s) and chunk_s > 0):
        raise ValueError(f"chunk_s: must be > 0 seconds, got {chunk_s!r}")
    session, rate = loaded.session, loaded.sample_rate
    chunk_frames = max(1, int(round(chunk_s * rate)))
    audible = audibility(session)
    latency = _latencies(session, loaded.effects)
    taps = _taps(session)
    stems = {name for output in session.outputs if output.stems is not None for name in stem_strips(session, output)}
    exact = _feeding(session, stems)
    plans: dict[str, StripPlan] = {}
    for track in session.tracks:
        automation = _automation(track)
        effects = _prepared(loaded.effects[track.name], automation["effect_envelopes"])
        channels = max(loaded.files[clip.file].channels for clip in track.clip_list)
        strip = StripPlan(
            track.name,
            "track",
            track,
            channels,
            (),
            effects,
            latency[track.name] + _latency(effects),
            audible[track.name],
            tuple(loaded.files[clip.file] for clip in track.clip_list),
            loaded.spans[track.name],
            input_latency=latency[track.name],
            keys=_keys(track.fx, latency[track.name], effects, latency, loaded.effects),
            taps=taps.get(track.name, ()),
            stem=track.name in stems,
            **automation,
        )
        plans[track.name] = dataclasses.replace(strip, preroll_frames=None if track.name in exact else _preroll(strip, rate, chunk_frames, 0))
    groups = group_tracks(plans.values(), {track.name for track in session.tracks} | {bus.name for bus in session.buses} | {MASTER}, exact)
    for bus in session.buses:
        automation = _automation(bus)
        effects = _prepared(loaded.effects[bus.name], automation["effect_envelopes"])
        strip = StripPlan(
            bus.name,
            "bus",
            bus,
            2,
            _feeds_into(bus.name, latency[bus.name], session, groups, latency, loaded.effects),
            effects,
            latency[bus.name] + _latency(effects),
            audible[bus.name],
            input_latency=latency[bus.name],
            keys=_keys(bus.fx, latency[bus.name], effects, latency, loaded.effects),
            taps=taps.get(bus.name, ()),
            stem=bus.name in stems,
            **automation,
        )
        plans[bus.name] = dataclasses.replace(strip, preroll_frames=None if bus.name in exact else _preroll(strip, rate, chunk_frames, 0))
    master_effects = loaded.effects[MASTER]
    master = StripPlan(
        MASTER,
        "master",
        None,
        2,
        _feeds_into(MASTER, latency[MASTER], session, groups, latency, loaded.effects),
        master_effects,
        latency[MASTER] + _latency(master_effects),
        True,
        input_latency=latency[MASTER],
        keys=_keys(session.master.fx, latency[MASTER], master_effects, latency, loaded.effects),
    )
    plans[MASTER] = dataclasses.replace(master, preroll_frames=_preroll(master, rate, chunk_frames, meter_preroll_frames(rate, MIX_TRUE_PEAK_OVERSAMPLING)))
    timeline_frames = loaded.timeline_frames
    deliverables = []
    for index, output in enumerate(session.outputs):
        for name in stem_strips(session, output) if output.stems is not None else [None]:
            tags = file_tags(session.metadata, stem=name)
            deliverables.append(plan_deliverable(len(deliverables), output, session.name, rate, timeline_frames, chunk_frames, stem=name, tags=tags))
    return RenderPlan(
        session.name,
        rate,
        timeline_frames,
        loaded.content_frames,
        chunk_frames,
        tuple(plans.values()),
        groups,
        _task_order(groups, plans),
        plans[MASTER].latency_out,
        plan_loudness(session.master, rate, chunk_frames, loaded.reference),
        tuple(deliverables),
    )


def _latencies(session, effects: Mapping[str, tuple[Effect, ...]]) -> dict[str, int]:
    """Each strip's input latency in frames (the master's under ``"master"``).

    A bus's input is as late as its latest feed; any strip's is at least as
    late as each sidechain key it takes, less the latency of the effects
    before the keyed one, so no key has to arrive before it was made.
    """
    feeders: dict[str, list[str]] = {}
    for strip in [*session.tracks, *session.buses]:
        for target in routes(strip):
            feeders.setdefault(target, []).append(strip.name)
    chains = {strip.name: strip.fx for strip in [*session.tracks, *session.buses]} | {MASTER: session.master.fx}
    found: dict[str, int] = {}

    def output_latency(name: str) -> int:
        return input_latency(name) + _latency(effects[name])

    def input_latency(name: str) -> int:
        if name not in found:
            need = max((output_latency(feeder) for feeder in feeders.get(name, ())), default=0)
            for index, spec in enumerate(chains[name]):
                sidechain = getattr(spec, "sidechain", None)
                if sidechain is not None:
                    need = max(need, output_latency(sidechain.source) - _latency(effects[name][:index]))
            found[name] = need
        return found[name]

    return {name: input_latency(name) for name in chains}


def _feeding(session, names: set[str]) -> set[str]:
    """The strips ``names`` and every strip that feeds or keys them, directly or through others."""
    sources: dict[str, set[str]] = {}
    for strip in [*session.tracks, *session.buses]:
        for target in routes(strip):
            sources.setdefault(target, set()).add(strip.name)
        for spec in strip.fx:
            sidechain = getattr(spec, "sidechain", None)
            if sidechain is not None:
                sources.setdefault(strip.name, set()).add(sidechain.source)
    found, pending = set(names), list(names)
    while pending:
        for source in sources.get(pending.pop(), ()):
            if source not in found:
                found.add(source)
                pending.append(source)
    return found


def _keys(chain: list, input_latency: int, effects: tuple[Effect, ...], latency: Mapping[str, int], chains: Mapping[str, tuple[Effect, ...]]) -> tuple[Key, ...]:
    """The sidechain keys of a strip's ``chain`` (its session entries), each delayed to meet its effect's input."""
    keys = []
    for index, spec in enumerate(chain):
        sidechain = getattr(spec, "sidechain", None)
        if sidechain is not None:
            arrives = latency[sidechain.source] + _latency(chains[sidechain.source])
            delay = input_latency + _latency(effects[:index]) - arrives
            keys.append(Key(index, sidechain.source, sidechain.pre_fader, sidechain.level_db, delay))
    return tuple(keys)


def _taps(session) -> dict[str, tuple[bool, ...]]:
    """The key taps each strip gives other strips' sidechains: strip -> its ``pre_fader`` taps, sorted."""
    taps: dict[str, set[bool]] = {}
    for strip in [*session.tracks, *session.buses, session.master]:
        for spec in strip.fx:
            sidechain = getattr(spec, "sidechain", None)
            if sidechain is not None:
                taps.setdefault(sidechain.source, set()).add(sidechain.pre_fader)
    return {name: tuple(sorted(found)) for name, found in taps.items()}


def _task_order(groups: tuple[TrackGroup, ...], plans: Mapping[str, StripPlan]) -> tuple[str, ...]:
    """The mixing stage's tasks of one chunk (track groups, buses, the master) in an order where each follows what it reads."""
    group_of = {track: group.name for group in groups for track in group.tracks}

    def node(strip_name: str) -> str:
        return group_of.get(strip_name, strip_name)

    needs: dict[str, set[str]] = {group.name: {node(key.source) for track in group.tracks for key in plans[track].keys} for group in groups}
    for strip in plans.values():
        if strip.kind != "track":
            needs[strip.name] = {feed.source for feed in strip.feeds} | {node(key.source) for key in strip.keys}
    order: list[str] = []
    placed: set[str] = set()

    def place(name: str) -> None:
        if name not in placed:
            placed.add(name)
            for need in sorted(needs[name]):
                place(need)
            order.append(name)

    for name in needs:
        place(name)
    return tuple(order)


def _preroll(strip: StripPlan, sample_rate: int, chunk_frames: int, extra_frames: int) -> int | None:
    delay_frames = max((line.delay_samples for line in (*strip.feeds, *strip.keys)), default=0)
    return chain_preroll_frames(_settling_chain(strip), sample_rate, chunk_frames, delay_frames + extra_frames)


def _automation(strip: Track | Bus) -> dict:
    """A checked strip's automation as :class:`StripPlan` holds it: its own envelopes and its effects'."""
    own = {key: Envelope.from_points(points, key) for key, points in strip.automation.items() if not key.startswith(FX_AUTOMATION_PREFIX)}
    effects = {
        index: {parameter: Envelope.from_points(points, parameter) for parameter, points in lanes.items()} for index, lanes in effect_automation(strip).items()
    }
    return {"envelopes": own, "effect_envelopes": effects}


def _prepared(effects: tuple[Effect, ...], effect_envelopes: Mapping[int, Mapping[str, Envelope]]) -> tuple[Effect, ...]:
    """The chain with each automated effect built to follow the range its automation spans (:meth:`dsp.effect.Effect.for_automation`)."""
    return tuple(
        effect.for_automation({name: (min(envelope.values), max(envelope.values)) for name, envelope in effect_envelopes[index].items()})
        if index in effect_envelopes
        else effect
        for index, effect in enumerate(effects)
    )


def _settling_chain(strip: StripPlan) -> tuple[Effect, ...]:
    """The strip's effects as its pre-roll must assume them: an automated one with the breakpoint values it settles slowest at.

    Candidates are each automated parameter at its lowest and highest
    breakpoint, and all of them at their lowest or all at their highest.
    """
    chain = []
    for index, effect in enumerate(strip.effects):
        envelopes = strip.effect_envelopes.get(index, {})
        extremes = {parameter: (min(envelope.values), max(envelope.values)) for parameter, envelope in envelopes.items()}
        variants = [effect]
        for parameter, (low, high) in extremes.items():
            variants += [effect.with_parameter(parameter, low), effect.with_parameter(parameter, high)]
        for side in (0, 1):
            variant = effect
            for parameter, values in extremes.items():
                variant = variant.with_parameter(parameter, values[side])
            variants.append(variant)
        chain.append(max(variants, key=lambda candidate: candidate.settle_s))
    return tuple(chain)


def _latency(effects: tuple[Effect, ...]) -> int:
    return sum(effect.latency_samples for effect in effects)


def _feeds_into(
    target: str, arrival: int, session, groups: tuple[TrackGroup, ...], latency: Mapping[str, int], chains: Mapping[str, tuple[Effect, ...]]
) -> tuple[Feed, ...]:
    """The feeds of ``target`` (from track groups and buses), each delayed to arrive at its input latency ``arrival``."""
    latencies = {group.name: group.latency_out for group in groups if target in group.destinations}
    latencies.update((bus.name, latency[bus.name] + _latency(chains[bus.name])) for bus in session.buses if target in routes(bus))
    return tuple(Feed(source, arrival - source_latency) for source, source_latency in latencies.items())
