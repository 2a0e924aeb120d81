"""Track groups: several tracks rendered by one task, their outputs summed per destination.

A task has a fixed cost (scheduling, passing its arguments and results, on
Ray a trip through the object store), and a track's outputs are only ever
summed on the buses they feed. So the tracks of a render are split into
groups of at most :data:`TRACKS_PER_TASK`; one task renders a group's chunk
and returns one block per destination, the sum of its members' outputs
there. Buses then sum a few group blocks instead of one block per track.

A group's members share everything the buses see of a feed:

- their latency (``latency_out``), so one compensation delay fits the sum;
- time-parallel chunking (pre-roll). A track that carries state from chunk
  to chunk renders alone, so its chain of chunks holds no other track back;
  but the tracks that carry state because a stem is made of them or of
  what they feed share groups, as all their chains move in step anyway.
  A track whose sidechain listens to another strip renders alone too: its
  task must wait for that strip's key.

A group also returns, after its destinations' sums, the sidechain keys that
its members give other strips and its members' stems.

Groups depend only on the session and the chunk size, never on the cluster,
so the order in which floating-point sums are taken, and with it every
output sample, is the same on any executor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING

from farm.session import routes

if TYPE_CHECKING:
    from .plan import StripPlan

TRACKS_PER_TASK = 8
"""The most tracks one task renders; enough to share a task's cost, few enough to keep many tasks for many CPUs."""


@dataclasses.dataclass(frozen=True)
class TrackGroup:
    """Tracks rendered by one task per chunk.

    Attributes
    ----------
    name
        The group's name, distinct from every strip's (it is a feed's source).
    tracks
        Its members' names, in session order.
    destinations
        Every bus (or the master) a member feeds, sorted: the order of the
        task's returned blocks.
    latency_out
        Frames by which every member's output lags the timeline.
    time_parallel
        Whether the members' chunks start from silence with pre-roll (True)
        or the one member carries its state from chunk to chunk (False).
    taps
        The sidechain keys its members give: ``(track, pre_fader)``, in the
        order the task returns them after the destinations' sums.
    stems
        The members whose stems are written, in the order the task returns
        them after the keys.
    """

    name: str
    tracks: tuple[str, ...]
    destinations: tuple[str, ...]
    latency_out: int
    time_parallel: bool
    taps: tuple[tuple[str, bool], ...] = ()
    stems: tuple[str, ...] = ()


def group_tracks(tracks: Iterable["StripPlan"], taken: set[str], exact: set[str] = frozenset()) -> tuple[TrackGroup, ...]:
    """Split ``tracks`` (in session order) into groups; ``taken`` holds the names no group may take.

    Tracks alike in latency and chunking are split into as few groups of at
    most :data:`TRACKS_PER_TASK` as can be, their sizes differing by at most
    one. Tracks in ``exact`` carry their state so that a stem is the same
    however the render is chunked; they share groups among themselves, and
    the groups, like the sums taken in them, do not depend on the chunk size.
    """
    alike: dict[tuple, list["StripPlan"]] = {}
    for track in tracks:
        if track.keys or (not track.time_parallel and track.name not in exact):
            key = (track.latency_out, track.name)
        else:
            key = (track.latency_out, track.name in exact)
        alike.setdefault(key, []).append(track)
    groups: list[TrackGroup] = []
    for members in alike.values():
        count = -(-len(members) // TRACKS_PER_TASK)
        size, extra = divmod(len(members), count)
        first = 0
        for index in range(count):
            part = members[first : first + size + (index < extra)]
            first += len(part)
            destinations = sorted({target for track in part for target in routes(track.spec)})
            name = _free_name(f"track group {len(groups) + 1}", taken)
            taken.add(name)
            taps = tuple((track.name, pre_fader) for track in part for pre_fader in track.taps)
            stems = tuple(track.name for track in part if track.stem)
            groups.append(
                TrackGroup(name, tuple(track.name for track in part), tuple(destinations), part[0].latency_out, part[0].time_parallel, taps, stems)
            )
    return tuple(groups)


def _free_name(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "'"
    return name
