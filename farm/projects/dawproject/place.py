"""Where the positions of one DAWproject timeline fall on the session's clock, in seconds."""

from __future__ import annotations

from farm.projects.tempo import TempoMap

BEATS = "beats"
SECONDS = "seconds"


class Place:
    """Maps a timeline's positions (in ``unit``) to seconds on the session's timeline.

    Positions in beats on the arrangement, and in timelines nested in it
    that count in beats too, follow the tempo map (``beat_shift`` says which
    arrangement beat position 0 is). Any other timeline is linear:
    ``seconds = origin_s + scale * position``, where content counted in
    beats inside a timeline counted in seconds runs at the base tempo.
    """

    def __init__(self, tempo: TempoMap, unit: str, beat_shift: float | None = None, origin_s: float = 0.0, scale: float = 1.0) -> None:
        self.tempo = tempo
        self.unit = unit
        self.beat_shift = beat_shift
        self.origin_s = origin_s
        self.scale = scale

    @classmethod
    def of_unit(cls, tempo: TempoMap, unit: str) -> "Place":
        """The arrangement's own place for positions in ``unit``, starting at 0."""
        if unit == BEATS:
            return cls(tempo, BEATS, beat_shift=0.0)
        return cls(tempo, SECONDS)

    def seconds(self, position: float) -> float:
        """The time in seconds at which ``position`` plays."""
        if self.beat_shift is not None:
            return self.tempo.seconds(position + self.beat_shift)
        return self.origin_s + self.scale * position

    def inner(self, at: float, start: float, unit: str) -> "Place":
        """The place of content counted in ``unit`` whose position ``start`` plays at this timeline's position ``at``."""
        if unit == self.unit:
            if self.beat_shift is not None:
                return Place(self.tempo, unit, beat_shift=self.beat_shift + at - start)
            return Place(self.tempo, unit, origin_s=self.origin_s + self.scale * (at - start), scale=self.scale)
        return self.anchored(self.seconds(at), start, unit)

    def anchored(self, at_s: float, start: float, unit: str) -> "Place":
        """The place of content counted in ``unit`` whose position ``start`` plays at ``at_s`` seconds."""
        if unit == self.unit and self.beat_shift is not None:
            beat = _beat_at(self.tempo, at_s)
            return Place(self.tempo, unit, beat_shift=beat - start)
        scale = self.scale if unit == self.unit else _unit_seconds(self.tempo, unit)
        return Place(self.tempo, unit, origin_s=at_s - scale * start, scale=scale)

    def span_s(self, at: float, length: float, unit: str) -> float:
        """How many seconds ``length`` (in ``unit``) lasts from this timeline's position ``at``."""
        if unit == self.unit:
            return self.seconds(at + length) - self.seconds(at)
        return length * _unit_seconds(self.tempo, unit)

    def file_seconds(self, position: float) -> float:
        """How far into an audio file content position ``position`` lies, the file playing at its own speed."""
        return position * _unit_seconds(self.tempo, self.unit)


def _unit_seconds(tempo: TempoMap, unit: str) -> float:
    """Seconds per unit: 1 for seconds, a beat at the base tempo for beats."""
    return 1.0 if unit == SECONDS else 60.0 / tempo.base_bpm


def _beat_at(tempo: TempoMap, at_s: float) -> float:
    """The beat position that plays at ``at_s`` seconds (the tempo map inverted by bisection)."""
    low, high = -1.0, 1.0
    while tempo.seconds(low) > at_s:
        low *= 2.0
    while tempo.seconds(high) < at_s:
        high *= 2.0
    for _ in range(100):
        middle = 0.5 * (low + high)
        if tempo.seconds(middle) < at_s:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)
