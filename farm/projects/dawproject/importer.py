"""A DAWproject project as a mixfarm session: tracks, buses, clips, devices and automation.

The structure's tracks become strips. A track whose channel is a group
(``role="submix"``) or an effect return (``role="effect"``), or that any
channel routes or sends into, becomes a bus; a track with audio clips
becomes a track; the ``master`` channel's devices become the master chain
(its fader a ``gain`` effect at the end). Each channel's ``Volume``, ``Pan``,
``Mute``, ``solo``, ``Sends`` (``pre`` or ``post`` fader) and
``destination`` map onto the strip's fields. A channel that has clips and
also receives other channels becomes a bus fed by a track of its clips,
named ``<name> (audio)``, which is the same signal flow.

Automation (``Points`` on the arrangement) follows volume, pan, mute, send
levels and the mapped device parameters; ``linear`` and ``hold`` points
become ramps and steps. A fader ramp written as a linear gain factor is
traced in steps of at most :data:`farm.projects.ramps.RAMP_STEP_DB`, so the
session's ramp (straight in dB) follows the same curve.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from farm.errors import ProjectError
from farm.projects.drafts import TIME_DECIMALS, MixerDraft
from farm.projects.media import MediaFolder
from farm.projects.names import strip_names
from farm.projects.ramps import traced_gain_ramps
from farm.projects.report import ImportReport
from farm.projects.tempo import MAX_BPM, MIN_BPM, TempoMap
from farm.session.model import (
    FORMAT,
    MASTER,
    MAX_AUTOMATION_POINTS,
    MAX_BUSES,
    MAX_CLIPS_PER_TRACK,
    MAX_TRACKS,
)
from farm.session.names import MAX_NAME_CHARS

from .archive import MAX_STATE_BYTES, METADATA_XML, PROJECT_XML, Archive
from .devices import DeviceReader, EffectDraft
from .extras import EXTRAS_NAME, MAX_EXTRAS_BYTES, apply_extras
from .parameters import Scale, Target, UnitError, convert
from .place import BEATS, Place
from .timeline import ClipReader, Lane, Piece
from .xmlnode import Node

MAX_STRUCTURE_DEPTH = 64
"""The deepest that tracks may nest in groups."""
DEFAULT_BPM = 120.0


@dataclasses.dataclass
class SendDraft:
    destination: str
    level_db: float
    pre_fader: bool
    element: str
    bus: str | None = None


@dataclasses.dataclass(eq=False)
class StripDraft(MixerDraft):
    """A track, bus or the master on its way into the session."""

    element: str = ""
    role: str = "regular"
    parent: "StripDraft | None" = None
    destination: str | None = None
    effects: list[EffectDraft] = dataclasses.field(default_factory=list)
    sends: list[SendDraft] = dataclasses.field(default_factory=list)
    pieces: list[Piece] = dataclasses.field(default_factory=list)
    effect_lanes: list[tuple[EffectDraft, str, list, str]] = dataclasses.field(default_factory=list)
    reader: ClipReader | None = None
    output: str = MASTER

    @property
    def is_bus(self) -> bool:
        return self.role in ("submix", "effect") or self.receives

    @property
    def label(self) -> str:
        return MASTER if self.role == MASTER else f"{'bus' if self.is_bus else 'track'} {self.name!r}"


class DawProjectImporter:
    """Reads one ``.dawproject`` file into a session document, copying its media into ``media`` and reporting every loss to ``report``."""

    def __init__(self, path: Path, media: MediaFolder, report: ImportReport) -> None:
        self.path = path
        self.media = media
        self.report = report
        self.archive = Archive(path)
        self.strips: list[StripDraft] = []
        self.by_channel: dict[str, StripDraft] = {}
        self.by_track: dict[str, StripDraft] = {}
        self.targets: dict[str, Target] = {}
        self.master: StripDraft | None = None
        self._ids: dict[str, Node] | None = None
        self._root: Node | None = None

    def read(self) -> dict:
        """The session document; raises :class:`farm.errors.ProjectError` for a project that cannot be read."""
        try:
            root = self.archive.xml(PROJECT_XML)
            if root.tag != "Project":
                raise ProjectError(f"{root.source}: not a DAWproject project: its root element is <{root.tag}>, not <Project>")
            self._root = root
            application = root.child("Application")
            if application is not None:
                self.report.application = f"{application.get('name', '')} {application.get('version', '')}".strip()
            tempo = self._tempo(root)
            structure = root.child("Structure")
            if structure is not None:
                self._structure(structure.children("Track", "Channel"), None, 0)
            arrangement = root.child("Arrangement")
            lanes: list[tuple[Lane, str]] = []
            if arrangement is not None:
                for timeline in arrangement.children("Lanes"):
                    self._arrange(timeline, Place.of_unit(tempo, timeline.get("timeUnit") or BEATS), None, lanes)
            self._route()
            self._automate(lanes)
            document = self._document(root, tempo)
        finally:
            self.archive.close()
        return document

    def _tempo(self, root: Node) -> TempoMap:
        transport = root.child("Transport")
        node = transport.child("Tempo") if transport is not None else None
        base = node.number("value", DEFAULT_BPM) if node is not None else DEFAULT_BPM
        if not MIN_BPM <= base <= MAX_BPM:
            raise node.error(f"the tempo must be {MIN_BPM:g} to {MAX_BPM:g} bpm, got {base:g}")
        changes = []
        arrangement = root.child("Arrangement")
        automation = arrangement.child("TempoAutomation") if arrangement is not None else None
        if automation is not None:
            if (automation.get("timeUnit") or BEATS) != BEATS:
                self.report.loss("project", automation.path, "tempo automation in seconds", "only tempo automation in beats is followed; the base tempo is used")
            else:
                for point in automation.children("RealPoint"):
                    bpm = point.number("value")
                    if bpm is None or not MIN_BPM <= bpm <= MAX_BPM:
                        raise point.error(f"a tempo must be {MIN_BPM:g} to {MAX_BPM:g} bpm")
                    time = point.number("time")
                    if time is None:
                        raise point.error("the required attribute 'time' is missing")
                    changes.append((time, bpm, point.get("interpolation", "linear") == "linear"))
        self.tempo_bpm = base if node is not None else None
        changes.sort(key=lambda change: change[0])
        return TempoMap(changes[0][1] if changes else base, changes)

    def _structure(self, nodes: list[Node], group: StripDraft | None, depth: int) -> None:
        if depth > MAX_STRUCTURE_DEPTH and nodes:
            raise nodes[0].error(f"tracks nest more than {MAX_STRUCTURE_DEPTH} groups deep")
        for node in nodes:
            channel = node if node.tag == "Channel" else node.child("Channel")
            content = set((node.get("contentType") or "").split())
            draft = None
            if node.tag == "Track" and "notes" in content and "audio" not in content:
                self.report.loss(f"track {node.get('name') or ''!r}", node.path, "MIDI track", "mixfarm renders audio; bounce the instrument to audio")
            elif channel is not None:
                draft = self._channel(node, channel, group)
            if draft is not None and node.tag == "Track" and node.get("id"):
                self.by_track[node.get("id")] = draft
            if node.tag == "Track":
                self._structure(node.children("Track"), draft if draft is not None and draft.role != MASTER else group, depth + 1)
            if len(self.strips) > MAX_TRACKS + MAX_BUSES + 1:
                raise node.error(f"the project has more than {MAX_TRACKS + MAX_BUSES} tracks; a session may have at most {MAX_TRACKS} tracks and {MAX_BUSES} buses")

    def _channel(self, track: Node, channel: Node, group: StripDraft | None) -> StripDraft | None:
        role = channel.get("role", "regular")
        name = (track.get("name") or channel.get("name") or "")[:MAX_NAME_CHARS]
        if role == "vca":
            self.report.loss(f"VCA {name!r}", channel.path, "VCA fader", "mixfarm has no VCA groups; the tracks it controls keep their own levels")
            return None
        if role == MASTER and self.master is not None:
            self.report.loss(MASTER, channel.path, "a second master channel", "a session has one master; this one is left out")
            return None
        draft = StripDraft(name, element=track.path, role=role if role in ("regular", "master", "effect", "submix") else "regular", parent=group, destination=channel.get("destination"))
        draft.solo = channel.flag("solo", False)
        where = draft.label if role != MASTER else MASTER
        mute = channel.child("Mute")
        if mute is not None:
            draft.mute = mute.flag("value", False)
            self._target(mute, Target(draft, "mute", Scale(None), key="mute"))
        volume = channel.child("Volume")
        if volume is not None:
            draft.gain_db = self._parameter(volume, draft, "level", "gain_db", 0.0, where)
        pan = channel.child("Pan")
        if pan is not None:
            draft.pan = self._parameter(pan, draft, "pan", "pan", 0.0, where)
        sends = channel.child("Sends")
        for send in sends.children("Send") if sends is not None else ():
            self._send(send, draft, where)
        devices = channel.child("Devices")
        if devices is not None:
            draft.effects = DeviceReader(draft, where, self.targets, self.report, self._state, self._embedded).read(devices)
        if channel.get("id"):
            self.by_channel[channel.get("id")] = draft
        if role == MASTER:
            self.master = draft
        else:
            self.strips.append(draft)
        draft.reader = ClipReader(where, self.report, self._audio, self._lookup, MAX_CLIPS_PER_TRACK)
        return draft

    def _parameter(self, node: Node, draft: StripDraft, kind: str, key: str, fallback: float, where: str) -> float:
        scale = Scale(node.get("unit"), node.number("min"), node.number("max"))
        self._target(node, Target(draft, kind, scale, key=key))
        value = node.number("value")
        if value is None:
            return fallback
        try:
            return convert(kind, value, scale)
        except UnitError as exc:
            self.report.loss(where, node.path, node.tag, f"{exc}; {fallback:g} is used")
            return fallback

    def _target(self, node: Node, target: Target) -> None:
        if node.get("id"):
            self.targets[node.get("id")] = target

    def _send(self, node: Node, draft: StripDraft, where: str) -> None:
        destination = node.get("destination")
        enable = node.child("Enable")
        if enable is not None:
            self._target(enable, Target(draft, "mute", Scale(None), refused="a send cannot be switched on and off by automation in mixfarm"))
        if destination is None:
            self.report.note(where, node.path, "send", "has no destination: left out")
            return
        if enable is not None and not enable.flag("value", True):
            self.report.note(where, node.path, "send", "disabled (Enable is false): left out")
            return
        pan = node.child("Pan")
        if pan is not None:
            self._target(pan, Target(draft, "pan", Scale(None), refused="a send has no pan in mixfarm"))
            value = pan.number("value")
            try:
                centred = value is None or abs(convert("pan", value, Scale(pan.get("unit"), pan.number("min"), pan.number("max")))) < 1e-9
            except UnitError:
                centred = False
            if not centred:
                self.report.loss(where, pan.path, "send pan", "a send in mixfarm keeps the strip's pan; it is sent centred")
        send = SendDraft(destination, 0.0, node.get("type", "post") == "pre", node.path)
        volume = node.child("Volume")
        if volume is not None:
            scale = Scale(volume.get("unit"), volume.number("min"), volume.number("max"))
            self._target(volume, Target(draft, "level", scale, send=send))
            value = volume.number("value")
            if value is not None:
                try:
                    send.level_db = convert("level", value, scale)
                except UnitError as exc:
                    self.report.loss(where, volume.path, "send volume", f"{exc}; 0 dB is used")
        draft.sends.append(send)

    def _state(self, node: Node, member: str) -> bytes:
        from farm.projects.media import archive_member

        name = archive_member(member, node.where)
        if not self.archive.has(name):
            raise node.error(f"the state file {member!r} is not in the project archive")
        return self.archive.read(name, MAX_STATE_BYTES)

    def _embedded(self, node: Node, member: str) -> str:
        return self.media.from_archive(self.archive.zip, member, node.where)

    def _audio(self, node: Node):
        file = node.child("File")
        if file is None:
            raise node.error("Audio needs a File")
        path = file.required("path")
        if file.flag("external", False):
            target = self.media.from_disk(path, self.path.parent, file.where)
        else:
            target = self.media.from_archive(self.archive.zip, path, file.where)
        return target, self.media.facts(target, file.where)

    def _lookup(self, identifier: str, node: Node) -> Node:
        if self._ids is None:
            self._ids = {}
            pending = [self._root]
            while pending:
                current = pending.pop()
                if current.get("id"):
                    self._ids.setdefault(current.get("id"), current)
                pending.extend(current.children())
        if identifier not in self._ids:
            raise node.error(f"the reference {identifier!r} names no element")
        return self._ids[identifier]

    def _arrange(self, node: Node, place: Place, strip: StripDraft | None, lanes: list, depth: int = 0) -> None:
        """Walk the arrangement's lanes, handing each track's timelines to its clip reader."""
        if depth > MAX_STRUCTURE_DEPTH:
            raise node.error(f"lanes nest more than {MAX_STRUCTURE_DEPTH} deep")
        track = node.get("track")
        if track is not None:
            strip = self.by_track.get(track) or self.by_channel.get(track)
            if strip is None:
                self.report.loss("project", node.path, "a lane of a track that was not imported", "its clips and automation are left out")
                return
        unit = node.get("timeUnit") or place.unit
        place = place.inner(0.0, 0.0, unit)
        if node.tag in ("Lanes", "Timeline"):
            for child in node.children():
                self._arrange(child, place, strip, lanes, depth + 1)
            return
        if node.tag == "Points":
            reader = strip.reader if strip is not None else ClipReader("project", self.report, self._audio, self._lookup, MAX_CLIPS_PER_TRACK)
            reader.timeline(node, place)
            lanes.extend((lane, reader.where) for lane in reader.lanes)
            reader.lanes.clear()
            return
        if node.tag in ("markers", "Markers", "Warp"):
            return
        if strip is None:
            self.report.loss("project", node.path, f"<{node.tag}> on no track", "it belongs to no track, so it is left out")
            return
        pieces = strip.reader.timeline(node, place)
        if strip is self.master:
            if pieces:
                self.report.loss(MASTER, node.path, "clips on the master track", "the master plays no clips of its own in mixfarm; left out")
            return
        strip.pieces += pieces
        if len(strip.pieces) > MAX_CLIPS_PER_TRACK:
            raise node.error(f"{strip.label} has more than {MAX_CLIPS_PER_TRACK} clips; a session track may have at most {MAX_CLIPS_PER_TRACK}")

    def _route(self) -> None:
        """Resolve destinations and sends, decide which strips are buses, and split channels that both play clips and receive."""
        for draft in self.strips:
            for send in draft.sends:
                target = self.by_channel.get(send.destination)
                if target is None or target is self.master:
                    self.report.loss(draft.label, send.element, "send", "its destination is not a bus that was imported; left out")
                    continue
                target.receives = True
            if draft.destination is not None:
                target = self.by_channel.get(draft.destination)
                if target is None:
                    self.report.loss(draft.label, draft.element, "output", f"routes to {draft.destination!r}, which was not imported; it plays into the master")
                elif target is not self.master:
                    target.receives = True
            elif draft.parent is not None:
                draft.parent.receives = True
        split: list[StripDraft] = []
        for draft in self.strips:
            if draft.is_bus and draft.pieces:
                audio = StripDraft(f"{draft.name} (audio)", element=draft.element, pieces=draft.pieces, feeds=draft)
                draft.pieces = []
                self.report.note(draft.label, draft.element, "clips on a channel that other channels play into", f"they play from the track {audio.name!r} into it")
                split.append(audio)
        for draft in [*self.strips]:
            if not draft.is_bus and not draft.pieces:
                self.report.note(draft.label, draft.element, "track without audio clips", "left out")
                self.strips.remove(draft)
        self.strips += split
        self._name()
        for draft in self.strips:
            target = draft.feeds
            if target is None and draft.destination is not None:
                target = self.by_channel.get(draft.destination)
            elif target is None and draft.parent is not None:
                target = draft.parent
            draft.output = target.session_name if target is not None and target is not self.master and target in self.strips else MASTER
            for send in draft.sends:
                bus = self.by_channel.get(send.destination)
                if bus is not None and bus is not self.master and bus in self.strips:
                    send.bus = bus.session_name
        tracks = sum(1 for draft in self.strips if not draft.is_bus)
        buses = len(self.strips) - tracks
        if tracks > MAX_TRACKS or buses > MAX_BUSES:
            raise ProjectError(f"{self.archive.name}: has {tracks} tracks and {buses} buses; a session may have at most {MAX_TRACKS} tracks and {MAX_BUSES} buses")
        if not tracks:
            raise ProjectError(f"{self.archive.name}: has no audio clip on any track, so there is nothing to render")

    def _name(self) -> None:
        for draft, name in zip(self.strips, strip_names([draft.name for draft in self.strips])):
            draft.session_name = name

    def _automate(self, lanes: list[tuple[Lane, str]]) -> None:
        for lane, where in lanes:
            if not lane.target:
                continue
            target = self.targets.get(lane.target)
            if target is None:
                self.report.loss(where, lane.element.path, f"automation of the parameter {lane.target!r}", "that parameter belongs to nothing imported (a plug-in or an unmapped control)")
                continue
            draft = target.strip
            where = draft.label
            if target.refused or (draft is self.master and target.effect is None and target.key is not None and not target.key.startswith("fx.")):
                why = target.refused or "the master's fader, pan and mute have no automation in mixfarm"
                self.report.loss(where, lane.element.path, "automation", why)
                continue
            if not lane.points:
                self.report.note(where, lane.element.path, "automation lane", "holds no points: left out")
                continue
            points = self._points(lane, target, where)
            if points is None:
                continue
            if target.effect is not None:
                target.effect.automated = True
                draft.effect_lanes.append((target.effect, target.parameter, points, lane.element.path))
                continue
            key = target.key
            if target.send is not None:
                if target.send.bus is None:
                    continue
                key = f"sends.{target.send.bus}.level_db"
            if key in draft.automation:
                self.report.loss(where, lane.element.path, f"a second {key} lane", "one lane per parameter; the first is kept")
                continue
            draft.automation[key] = points

    def _points(self, lane: Lane, target: Target, where: str) -> list | None:
        """The session points of ``lane`` in ``target``'s unit, or None when its unit cannot be read."""
        scale = Scale(lane.element.get("unit") or target.scale.unit, target.scale.low, target.scale.high)
        raw = []
        for time_s, point in lane.points:
            if point.tag == "BoolPoint":
                value, hold = (1.0 if point.flag("value", False) else 0.0), True
            else:
                value = point.number("value")
                if value is None:
                    raise point.error("the required attribute 'value' is missing")
                hold = point.tag != "RealPoint" or point.get("interpolation") == "hold"
            try:
                value = convert(target.kind, value, scale)
            except UnitError as exc:
                self.report.loss(where, lane.element.path, "automation", f"{exc}; the lane is left out")
                return None
            if target.adjust is not None:
                value = target.adjust(value)
            raw.append((max(time_s, 0.0), value, hold))
        raw.sort(key=lambda item: item[0])
        if lane.points[-1][1].tag != "RealPoint":
            raw[-1] = (*raw[-1][:2], False)
        if target.kind == "level" and scale.unit == "linear" and len(raw) <= MAX_AUTOMATION_POINTS:
            raw = traced_gain_ramps(raw, MAX_AUTOMATION_POINTS)
        if len(raw) > MAX_AUTOMATION_POINTS:
            self.report.loss(where, lane.element.path, "automation", f"{len(raw)} points, over the session's {MAX_AUTOMATION_POINTS} a lane; left out")
            return None
        return [[round(time_s, TIME_DECIMALS), value, "hold"] if hold else [round(time_s, TIME_DECIMALS), value] for time_s, value, hold in raw]

    def _document(self, root: Node, tempo: TempoMap) -> dict:
        tracks, buses = [], []
        for draft in self.strips:
            entry = self._strip(draft)
            if draft.is_bus:
                buses.append(entry)
            else:
                entry["clips"] = [self._clip(piece) for piece in draft.pieces]
                tracks.append(entry)
        document = {"format": FORMAT, "name": self._title(), "sample_rate": self.media.most_common_rate()}
        if self.tempo_bpm is not None:
            document["tempo_bpm"] = self.tempo_bpm
        document["tracks"] = tracks
        if buses:
            document["buses"] = buses
        master = self._master()
        if master:
            document["master"] = master
        self.report.counts = {"tracks": len(tracks), "buses": len(buses), "clips": sum(len(track["clips"]) for track in tracks)}
        if self.archive.has(EXTRAS_NAME):
            apply_extras(document, self.archive.read(EXTRAS_NAME, MAX_EXTRAS_BYTES), self.report, f"{self.archive.name}: {EXTRAS_NAME}")
        for track in tracks:
            if len(track["clips"]) == 1 and set(track["clips"][0]) == {"file"}:
                track["file"] = track.pop("clips")[0]["file"]
        return document

    def _strip(self, draft: StripDraft) -> dict:
        entry = draft.mixer_fields()
        effects = self._effects(draft)
        if effects:
            entry["fx"] = effects
        sends = [{"bus": send.bus, "level_db": send.level_db, **({"pre_fader": True} if send.pre_fader else {})} for send in draft.sends if send.bus]
        if sends:
            entry["sends"] = sends
        if draft.output != MASTER:
            entry["output"] = draft.output
        if draft.automation:
            entry["automation"] = draft.automation
        return entry

    def _effects(self, draft: StripDraft) -> list[dict]:
        kept = [effect for effect in draft.effects if not effect.optional or effect.automated]
        ids = {effect.spec["id"] for effect in kept if isinstance(effect.spec.get("id"), str)}
        for effect in kept:
            if effect.automated and not effect.spec.get("id"):
                base = re.sub(r"[^a-z0-9_]+", "_", effect.label.lower()).strip("_") or "fx"
                base = base if not base.isdigit() else f"fx_{base}"
                identifier, number = base, 2
                while identifier in ids:
                    identifier = f"{base}_{number}"
                    number += 1
                ids.add(identifier)
                effect.spec = {"id": identifier, **effect.spec}
        for effect, parameter, points, element in draft.effect_lanes:
            if effect not in kept:
                continue
            key = f"fx.{effect.spec['id']}.{parameter}"
            if key in draft.automation:
                self.report.loss(draft.label, element, f"a second {key} lane", "one lane per parameter; the first is kept")
            else:
                draft.automation[key] = points
        return [effect.spec for effect in kept]

    def _clip(self, piece: Piece) -> dict:
        facts = self.media.facts(piece.file, piece.element)
        clip: dict = {"file": piece.file}
        start, offset = round(piece.start_s, TIME_DECIMALS), round(piece.offset_s, TIME_DECIMALS)
        if start:
            clip["start_s"] = start
        if offset:
            clip["offset_s"] = offset
        if abs(piece.offset_s + piece.duration_s - facts.duration_s) > 0.5 / facts.sample_rate:
            clip["duration_s"] = round(piece.duration_s, TIME_DECIMALS)
        if piece.gain_db:
            clip["gain_db"] = piece.gain_db
        if piece.fade_in_s:
            clip["fade_in_s"] = round(piece.fade_in_s, TIME_DECIMALS)
        if piece.fade_out_s:
            clip["fade_out_s"] = round(piece.fade_out_s, TIME_DECIMALS)
        return clip

    def _master(self) -> dict:
        if self.master is None:
            return {}
        draft = self.master
        effects = [effect.spec for effect in draft.effects if not effect.optional]
        if draft.gain_db:
            effects.append({"type": "gain", "gain_db": draft.gain_db})
        if draft.pan:
            self.report.loss(MASTER, draft.element, "master pan", "the master has no pan in mixfarm; it plays centred")
        if draft.mute:
            self.report.loss(MASTER, draft.element, "muted master", "a muted master would render silence; it plays")
        for send in draft.sends:
            self.report.loss(MASTER, send.element, "send from the master", "the master has no sends in mixfarm; left out")
        for key in draft.automation:
            self.report.loss(MASTER, draft.element, f"automation of {key}", "the master's effects have no automation in mixfarm")
        for effect, parameter, points, element in draft.effect_lanes:
            self.report.loss(MASTER, element, f"automation of {effect.label} {parameter}", "the master's effects have no automation in mixfarm")
        return {"fx": effects} if effects else {}

    def _title(self) -> str:
        metadata = self.archive.xml(METADATA_XML, required=False)
        title = metadata.child("Title") if metadata is not None else None
        text = (title.element.text or "").strip() if title is not None else ""
        return (title.element.text if title is not None and text else self.path.stem)[:MAX_NAME_CHARS]

