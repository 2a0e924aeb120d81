"""A DAWproject arrangement's clips, flattened onto the session's timeline in seconds.

DAWproject nests timelines: an arrangement's ``Lanes`` hold per-track lanes
of ``Clips``, and a ``Clip`` shows a window of a content timeline (an
``Audio`` file, ``Warps`` over one, another ``Clips`` timeline, or ``Lanes``
of them). Each timeline counts in ``beats`` or ``seconds`` (``timeUnit``,
inherited from the timeline around it; a clip's ``contentTimeUnit`` for its
content). A clip plays its content from ``playStart`` at its ``time`` for
``duration`` (both in the outer timeline's unit), up to ``playStop``,
looping between ``loopStart`` and ``loopEnd`` when they are given.

:class:`Place` maps a timeline's positions to seconds: positions in beats on
the arrangement follow the tempo map; content counted in beats inside
seconds is converted at the base tempo. Every audio region ends up a
:class:`Piece`, a mixfarm clip: a file, where it starts on the timeline,
where in the file and for how long, its gain and its fades.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from .place import BEATS, SECONDS, Place
from .xmlnode import Node

TIMELINE_TAGS = ("Timeline", "Lanes", "Notes", "Clips", "ClipSlot", "markers", "Markers", "Warps", "Audio", "Video", "Points")
MAX_LOOP_PASSES = 1024
"""The most passes of a looped clip's loop that are unrolled into clips."""
MAX_DEPTH = 32
"""The deepest that clips may nest in clips (references included)."""
MAX_CLIP_VISITS = 100_000
"""The most clips one track's timelines may hold, nested and referenced ones counted each time they play."""
WARP_TOLERANCE_S = 1e-4
"""How far a warp marker may sit from where the clip's own speed puts it, in seconds, for the clip to count as not stretched."""
EDGE_TOLERANCE_S = 1e-6


@dataclasses.dataclass
class Piece:
    """One audio region on the session's timeline: a mixfarm clip, and the element it came from."""

    file: str
    start_s: float
    offset_s: float
    duration_s: float
    element: str
    gain_db: float = 0.0
    fade_in_s: float = 0.0
    fade_out_s: float = 0.0

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclasses.dataclass
class Lane:
    """An automation lane found on the arrangement: the parameter it targets and its points in seconds."""

    target: str
    element: Node
    points: list[tuple[float, Node]]


@dataclasses.dataclass(frozen=True)
class _Window:
    low_s: float
    high_s: float

    def cut(self, low_s: float, high_s: float) -> "_Window":
        return _Window(max(self.low_s, low_s), min(self.high_s, high_s))

    @property
    def empty(self) -> bool:
        return self.high_s <= self.low_s + EDGE_TOLERANCE_S


EVERYTHING = _Window(0.0, math.inf)


class ClipReader:
    """Flattens the timelines of one track into pieces, and gathers automation lanes.

    ``audio(node)`` resolves an ``Audio`` element to its session path and
    file facts; ``lookup(id)`` finds the element a ``reference`` names.
    """

    def __init__(self, where: str, report, audio: Callable, lookup: Callable[[str, Node], Node], max_pieces: int) -> None:
        self.where = where
        self.report = report
        self.audio = audio
        self.lookup = lookup
        self.max_pieces = max_pieces
        self.lanes: list[Lane] = []
        self.pieces = 0
        self.visits = 0
        self.depth = 0

    def timeline(self, node: Node, place: Place, window: _Window = EVERYTHING, in_clip: bool = False) -> list[Piece]:
        """The pieces of the timeline ``node`` whose positions ``place`` maps, within ``window``."""
        unit = node.get("timeUnit") or place.unit
        if unit not in (BEATS, SECONDS):
            raise node.error(f"timeUnit must be beats or seconds, got {unit[:40]!r}")
        place = place.inner(0.0, 0.0, unit)
        tag = node.tag
        if tag == "Clips":
            return [piece for clip in node.children("Clip") for piece in self.clip(clip, place, window)]
        if tag in ("Lanes", "Timeline"):
            return [piece for child in node.children(*TIMELINE_TAGS) for piece in self.timeline(child, place, window, in_clip)]
        if tag == "Audio":
            return self._audio(node, place, 0.0, place.seconds(0.0), window)
        if tag == "Warps":
            return self._warps(node, place, 0.0, window)
        if tag == "Points":
            if in_clip:
                self.report.loss(self.where, node.path, "automation inside a clip", "only arrangement automation is imported")
            else:
                self.lanes.append(self._lane(node, place))
            return []
        if tag == "Notes":
            self.report.loss(self.where, node.path, "MIDI notes", "mixfarm renders audio; bounce the instrument to audio")
        elif tag == "Video":
            self.report.note(self.where, node.path, "video", "mixfarm renders audio only")
        elif tag == "ClipSlot":
            self.report.loss(self.where, node.path, "clip launcher slot", "only the arrangement is imported")
        return []

    def clip(self, node: Node, place: Place, window: _Window) -> list[Piece]:
        """The pieces of one ``Clip`` in a timeline whose positions ``place`` maps."""
        self.visits += 1
        if self.visits > MAX_CLIP_VISITS:
            raise node.error(f"{self.where} plays more than {MAX_CLIP_VISITS} clips (nested and referenced clips counted each time)")
        if self.depth >= MAX_DEPTH:
            raise node.error(f"clips nest in clips more than {MAX_DEPTH} deep (or a clip refers to itself)")
        self.depth += 1
        try:
            return self._clip(node, place, window)
        finally:
            self.depth -= 1

    def _clip(self, node: Node, place: Place, window: _Window) -> list[Piece]:
        if not node.flag("enable", True):
            self.report.note(self.where, node.path, f"clip {node.get('name') or ''}".rstrip(), "disabled: left out")
            return []
        content = self._content(node)
        if content is None:
            self.report.note(self.where, node.path, "clip", "has no content")
            return []
        time = node.number("time")
        if time is None:
            raise node.error("the required attribute 'time' is missing")
        duration = node.number("duration")
        content_unit = node.get("contentTimeUnit") or content.get("timeUnit") or place.unit
        if content_unit not in (BEATS, SECONDS):
            raise node.error(f"contentTimeUnit must be beats or seconds, got {content_unit[:40]!r}")
        play_start = node.number("playStart", 0.0)
        play_stop = node.number("playStop")
        low_s = place.seconds(time)
        high_s = place.seconds(time + duration) if duration is not None else math.inf
        fade_unit = _unit(node, "fadeTimeUnit", place.unit)
        fade_in = node.number("fadeInTime", 0.0)
        fade_out = node.number("fadeOutTime", 0.0)
        fade_in_s = place.span_s(time, fade_in, fade_unit) if fade_in > 0 else -place.span_s(time + fade_in, -fade_in, fade_unit)
        fade_out_s = place.span_s(time + duration - fade_out, fade_out, fade_unit) if fade_out > 0 and duration is not None else 0.0
        if fade_out > 0 and duration is None:
            self.report.loss(self.where, node.path, "fade-out", "the clip states no duration, so it has no end to fade at")
        early_s = 0.0
        if fade_in_s < 0:
            early_s = -fade_in_s
            low_s -= early_s
            fade_in_s = early_s
        clip_window = window.cut(max(low_s, 0.0), high_s)
        pieces: list[Piece] = []
        for number, (inner, start, stop) in enumerate(self._passes(node, place, time, content_unit, play_start, play_stop, high_s)):
            part = clip_window.cut(inner.seconds(start) - (early_s if number == 0 else 0.0), inner.seconds(stop) if math.isfinite(stop) else math.inf)
            if not part.empty:
                pieces += self._content_pieces(content, inner, start, part)
        if self.depth == 1:
            self.pieces += len(pieces)
        if self.pieces > self.max_pieces:
            raise node.error(f"{self.where} has more than {self.max_pieces} clips once flattened; a session track may have at most {self.max_pieces}")
        gain_db = self._clip_gain(content)
        for piece in pieces:
            piece.gain_db += gain_db
        self._fade(node, pieces, low_s, fade_in_s, "fade-in")
        self._fade(node, pieces, high_s, fade_out_s, "fade-out")
        return pieces

    def _content(self, node: Node) -> Node | None:
        children = node.children(*TIMELINE_TAGS)
        if children:
            return children[0]
        reference = node.get("reference")
        return self.lookup(reference, node) if reference else None

    def _passes(self, node: Node, place: Place, time: float, unit: str, play_start: float, play_stop: float | None, high_s: float):
        """``(place, start, stop)`` for each pass through the content: one, or each turn of the loop until the clip ends."""
        loop_start, loop_end = node.number("loopStart"), node.number("loopEnd")
        stop = play_stop if play_stop is not None else math.inf
        inner = place.inner(time, play_start, unit)
        if loop_start is None or loop_end is None or loop_end <= loop_start or stop <= loop_end or not math.isfinite(high_s):
            yield inner, play_start, stop
            return
        yield inner, play_start, loop_end
        at_s = inner.seconds(loop_end)
        for _ in range(MAX_LOOP_PASSES):
            if at_s >= high_s - EDGE_TOLERANCE_S:
                return
            inner = place.anchored(at_s, loop_start, unit)
            yield inner, loop_start, loop_end
            at_s = inner.seconds(loop_end)
        self.report.loss(self.where, node.path, "looped clip", f"its loop turns more than {MAX_LOOP_PASSES} times; the rest is cut")

    def _content_pieces(self, content: Node, inner: Place, start: float, window: _Window) -> list[Piece]:
        tag = content.tag
        if tag == "Audio":
            return self._audio(content, inner, start, inner.seconds(start), window, inner.file_seconds(start))
        if tag == "Warps":
            return self._warps(content, inner, start, window)
        if tag in ("Clips", "Lanes", "Timeline"):
            if tag == "Clips":
                return [piece for clip in content.children("Clip") for piece in self.clip(clip, inner.inner(0.0, 0.0, _unit(content, "timeUnit", inner.unit)), window)]
            return [piece for child in content.children(*TIMELINE_TAGS) if child.tag != "Points" or self._not_gain(child) for piece in self._content_pieces(child, inner, start, window)]
        return self.timeline(content, inner, window, in_clip=True)

    def _audio(self, node: Node, place: Place, start: float, start_s: float, window: _Window, file_s: float | None = None) -> list[Piece]:
        """The piece of the ``Audio`` node whose file position ``file_s`` plays at ``start_s`` (content position ``start``)."""
        path, facts = self.audio(node)
        file_s = place.file_seconds(start) if file_s is None else file_s
        begin_s = max(window.low_s, start_s - file_s)
        offset_s = file_s + (begin_s - start_s)
        end_s = min(window.high_s, begin_s + facts.duration_s - offset_s)
        if end_s <= begin_s + EDGE_TOLERANCE_S:
            return []
        return [Piece(path, begin_s, offset_s, end_s - begin_s, node.path)]

    def _warps(self, node: Node, place: Place, start: float, window: _Window) -> list[Piece]:
        """The pieces of a ``Warps`` timeline: its audio, played at its own speed (a stretched clip is reported as such)."""
        audio = next(iter(node.children("Audio")), None)
        if audio is None:
            self.report.loss(self.where, node.path, "warped content that is not audio", "only warped audio is imported")
            return []
        content_unit = _unit(node, "contentTimeUnit", None)
        warps = [(warp.number("time"), warp.number("contentTime"), warp) for warp in node.children("Warp")]
        if any(time is None or content is None for time, content, _ in warps):
            raise node.error("each Warp needs time and contentTime")
        if not warps:
            raise node.error("Warps holds no Warp")
        content_place = Place.of_unit(place.tempo, content_unit)
        warps.sort(key=lambda item: item[0])
        stretched = any(
            abs((content_place.seconds(c2) - content_place.seconds(c1)) - (place.seconds(t2) - place.seconds(t1))) > WARP_TOLERANCE_S
            for (t1, c1, _), (t2, c2, _) in zip(warps, warps[1:])
        )
        if stretched:
            self.report.loss(self.where, node.path, "time-stretched clip", "mixfarm does not stretch audio; the clip plays at its original speed from its start")
        time, content, _ = max((warp for warp in warps if warp[0] <= start), default=warps[0], key=lambda item: item[0])
        file_s = content_place.seconds(content) + (place.seconds(start) - place.seconds(time))
        return self._audio(audio, place, start, place.seconds(start), window, file_s)

    def _not_gain(self, node: Node) -> bool:
        target = node.child("Target")
        return target is None or target.get("expression") not in ("gain", "transpose")

    def _clip_gain(self, content: Node) -> float:
        """A clip's gain in dB from a gain-expression lane in its content; a pitch lane is reported as lost."""
        gain_db = 0.0
        for lane in content.children("Points") if content.tag in ("Lanes", "Timeline") else ():
            target = lane.child("Target")
            expression = target.get("expression") if target is not None else None
            values = [value for value in (point.number("value") for point in lane.children("RealPoint")) if value is not None]
            if expression == "transpose" and any(value for value in values):
                self.report.loss(self.where, lane.path, "pitch-shifted clip", "mixfarm does not shift pitch; the clip plays unshifted")
            if expression != "gain" or not values:
                continue
            if any(abs(value - values[0]) > 1e-9 for value in values):
                self.report.loss(self.where, lane.path, "clip gain envelope", "a mixfarm clip has one gain; its first value is used")
            unit = lane.get("unit") or "linear"
            gain_db += values[0] if unit == "decibel" else (20.0 * math.log10(values[0]) if values[0] > 0 else -96.0)
        return max(gain_db, -96.0)

    def _fade(self, node: Node, pieces: list[Piece], edge_s: float, fade_s: float, what: str) -> None:
        """Put the clip's fade on the piece at its edge (``edge_s``), or report why it cannot go there."""
        if fade_s <= 0.0:
            return
        starting = what == "fade-in"
        at_edge = [piece for piece in pieces if abs((piece.start_s if starting else piece.end_s) - edge_s) <= EDGE_TOLERANCE_S * max(1.0, edge_s)]
        if not at_edge:
            self.report.loss(self.where, node.path, what, "the clip's audio does not reach its edge, so the fade has nothing to shape")
            return
        piece = at_edge[0]
        other = piece.fade_out_s if starting else piece.fade_in_s
        room = piece.duration_s - other
        if fade_s > room + EDGE_TOLERANCE_S:
            self.report.loss(self.where, node.path, what, f"{fade_s:.3f} s does not fit the {piece.duration_s:.3f} s of audio it shapes; shortened to {room:.3f} s")
            fade_s = max(room, 0.0)
        current = piece.fade_in_s if starting else piece.fade_out_s
        if current and abs(current - fade_s) > EDGE_TOLERANCE_S:
            self.report.loss(self.where, node.path, what, "a nested clip fades at the same edge; the longer fade is used")
            fade_s = max(current, fade_s)
        if starting:
            piece.fade_in_s = fade_s
        else:
            piece.fade_out_s = fade_s

    def _lane(self, node: Node, place: Place) -> Lane:
        target = node.child("Target")
        if target is None:
            raise node.error("Points needs a Target")
        parameter = target.get("parameter")
        if parameter is None:
            expression = target.get("expression") or "nothing"
            self.report.loss(self.where, node.path, f"{expression} automation", "only automation of a parameter is imported")
            return Lane("", node, [])
        points = []
        for point in node.children("RealPoint", "BoolPoint", "IntegerPoint", "EnumPoint"):
            points.append((place.seconds(point.number("time") if point.get("time") is not None else _missing(point, "time")), point))
        return Lane(parameter, node, points)


def _missing(node: Node, name: str) -> float:
    raise node.error(f"the required attribute {name!r} is missing")


def _unit(node: Node, name: str, default: str | None) -> str:
    """The time unit attribute ``name`` of ``node`` (``beats`` or ``seconds``), or ``default``; any other value, or a
    missing one without a default, is an error naming the element."""
    unit = node.get(name) or default
    if unit not in (BEATS, SECONDS):
        raise node.error(f"{name} must be beats or seconds, got {str(unit)[:40]!r}" if unit else f"the required attribute {name!r} is missing")
    return unit
