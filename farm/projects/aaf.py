"""An AAF project (``.aaf``, from Pro Tools, Media Composer and others) as a mixfarm session, read with ``pyaaf2``.

An AAF file holds mobs: a top-level composition mob whose sound slots are
the tracks, master mobs that clips point at, and source mobs that hold the
audio (embedded essence) or point at files (locators). The mapping:

- each sound ``TimelineMobSlot`` of the top-level composition is a track,
  named after the slot, its positions counted in the slot's edit rate;
- its ``Sequence`` is walked in order: a ``SourceClip`` is a clip (its
  ``StartTime`` is the offset into the source, through the master mob down
  to the file), a ``Filler`` a gap, a ``Transition`` a crossfade (the clips
  around it overlap by its length, fading linearly);
- a clip's ``FadeInLength``/``FadeOutLength`` are its fades (``FadeLinearAmp``
  linear, ``FadeLinearPower`` equal power);
- an ``OperationGroup`` of the standard ``Mono Audio Gain`` (``Amplitude``,
  a linear factor) or ``Mono Audio Pan`` (``Pan``, 0 left to 1 right) is a
  clip gain when it wraps a clip, and the track's fader or pan, constant or
  automated (its control points' times are fractions of its length), when it
  wraps the whole track;
- embedded PCM essence is written out as WAV files; linked media are taken
  from inside the project's folder, found by their name there when the
  recorded path does not lead inside it.

Anything else (other effects, video, nested scopes, essence of other
kinds, curved interpolation) is reported.
"""

from __future__ import annotations

import glob
import math
import struct
import urllib.parse
import wave
from pathlib import Path

from farm.errors import ProjectError
from farm.session.model import (
    FORMAT,
    MAX_AUTOMATION_POINTS,
    MAX_CLIPS_PER_TRACK,
    MAX_TRACKS,
)

from .drafts import TIME_DECIMALS
from .media import MediaFolder
from .names import strip_names
from .ramps import traced_gain_ramps
from .report import ImportReport

GAIN_OPERATIONS = {"9d2ea894-0968-11d3-8a38-0050040ef7d2", "9d2ea895-0968-11d3-8a38-0050040ef7d2"}
"""OperationDef_MonoAudioGain and OperationDef_StereoAudioGain."""
PAN_OPERATION = "9d2ea893-0968-11d3-8a38-0050040ef7d2"
AMPLITUDE = "e4962321-2267-11d3-8a4c-0050040ef7d2"
PAN = "e4962322-2267-11d3-8a4c-0050040ef7d2"
LINEAR_INTERPOLATION = "5b6c85a4-0ede-11d3-80a9-006008143e6f"
CONSTANT_INTERPOLATION = "5b6c85a5-0ede-11d3-80a9-006008143e6f"
FADE_SHAPES = {"FadeLinearAmp": "linear", "FadeLinearPower": "equal_power", 1: "linear", 2: "equal_power"}
"""AAF FadeType (by name or number) -> fade shape."""
MAX_DEPTH = 32
"""The deepest that sequences, operation groups and mob references may nest."""
_CHUNK_BYTES = 1 << 20


class AafImporter:
    """Reads one ``.aaf`` file into a session document, writing or copying its media into ``media``."""

    def __init__(self, path: Path, media: MediaFolder, report: ImportReport) -> None:
        self.path = path
        self.name = path.name
        self.media = media
        self.report = report
        self._sources: dict[tuple, tuple[str, float] | None] = {}

    def read(self) -> dict:
        """The session document; raises :class:`farm.errors.ProjectError` for a file that cannot be read."""
        import aaf2
        from aaf2.exceptions import AAFError

        try:
            handle = aaf2.open(str(self.path), "r")
        except (AAFError, OSError, ValueError, EOFError, IndexError, KeyError, struct.error) as exc:
            raise ProjectError(f"{self.name}: not a readable AAF file ({exc})") from None
        try:
            with handle:
                return self._document(handle)
        except (AAFError, ValueError, EOFError, IndexError, KeyError, struct.error, AttributeError, TypeError) as exc:
            raise ProjectError(f"{self.name}: a damaged or unexpected AAF structure ({type(exc).__name__}: {exc})") from None

    def _document(self, handle) -> dict:
        compositions = list(handle.content.toplevel()) or list(handle.content.compositionmobs())
        if not compositions:
            raise ProjectError(f"{self.name}: holds no composition (no sequence of clips) to import")
        composition = compositions[0]
        if len(compositions) > 1:
            self.report.note("project", "CompositionMob", f"{len(compositions) - 1} other compositions", f"only the top-level {composition.name!r} is imported")
        self.report.application = self._application(handle)
        tracks = []
        sound_slots = 0
        for number, slot in enumerate(composition.slots, 1):
            where = f"CompositionMob/Slot[{number}]"
            kind = str(slot.media_kind)
            if kind != "Sound":
                if kind == "Picture":
                    self.report.note("project", where, "video track", "mixfarm renders audio only")
                continue
            sound_slots += 1
            if sound_slots > MAX_TRACKS:
                raise ProjectError(f"{self.name}: has more than {MAX_TRACKS} sound tracks; a session may have at most {MAX_TRACKS}")
            track = {"name": slot.name or "", "clips": [], "automation": {}, "gain_db": 0.0, "pan": 0.0, "where": where}
            rate = float(slot.edit_rate) if slot.edit_rate is not None and slot.edit_rate.denominator else 0.0
            if not 0.0 < rate < 1e7:
                raise ProjectError(f"{self.name}: {where}: an edit rate of {slot.edit_rate}; it must be a positive number of units a second")
            self._segment(slot.segment, 0, rate, track, where, top=True, depth=0)
            if len(track["clips"]) > MAX_CLIPS_PER_TRACK:
                raise ProjectError(f"{self.name}: {where}: more than {MAX_CLIPS_PER_TRACK} clips; a session track may have at most {MAX_CLIPS_PER_TRACK}")
            if track["clips"]:
                tracks.append(track)
            else:
                self.report.note(f"track {track['name']!r}", where, "track without audio clips", "left out")
        if not tracks:
            raise ProjectError(f"{self.name}: has no audio clip on any track, so there is nothing to render")
        entries = []
        for track, name in zip(tracks, strip_names([track["name"] for track in tracks])):
            entry = {"name": name}
            for field in ("gain_db", "pan"):
                if track[field]:
                    entry[field] = track[field]
            if track["automation"]:
                entry["automation"] = track["automation"]
            entry["clips"] = track["clips"]
            entries.append(entry)
        self.report.counts = {"tracks": len(entries), "buses": 0, "clips": sum(len(entry["clips"]) for entry in entries)}
        return {"format": FORMAT, "name": (composition.name or self.path.stem)[:256], "sample_rate": self.media.most_common_rate(), "tracks": entries}

    def _application(self, handle) -> str:
        try:
            identification = list(handle.header["IdentificationList"].value)[-1]
            return f"{identification['ProductName'].value} {identification['ProductVersionString'].value}".strip()
        except (KeyError, IndexError, AttributeError, TypeError):
            return ""

    def _segment(self, segment, at: int, rate: float, track: dict, where: str, top: bool, depth: int) -> None:
        """Place ``segment``, starting ``at`` edit units (of ``rate`` per second), on ``track``."""
        if depth > MAX_DEPTH:
            raise ProjectError(f"{self.name}: {where}: nests more than {MAX_DEPTH} levels deep")
        kind = type(segment).__name__
        label = f"track {track['name']!r}"
        if kind == "Sequence":
            self._sequence(segment, at, rate, track, where, depth)
        elif kind == "SourceClip":
            self._clip(segment, at, rate, track, where, int(segment.length))
        elif kind == "OperationGroup":
            self._operation(segment, at, rate, track, where, top, depth)
        elif kind == "Selector":
            self._segment(segment["Selected"].value, at, rate, track, f"{where}/Selected", top, depth + 1)
        elif kind == "EssenceGroup":
            choices = list(segment["Choices"].value)
            if choices:
                self._segment(choices[0], at, rate, track, f"{where}/Choices[1]", top, depth + 1)
        elif kind not in ("Filler",):
            self.report.loss(label, where, kind, "not a component this importer reads; left out")

    def _sequence(self, sequence, at: int, rate: float, track: dict, where: str, depth: int) -> None:
        position = at
        crossfade = 0
        for number, component in enumerate(sequence.components, 1):
            kind = type(component).__name__
            if kind == "Transition":
                length = int(component.length)
                position -= length
                if track["clips"]:
                    last = track["clips"][-1]
                    last["fade_out_s"] = round(length / rate, TIME_DECIMALS)
                    last.setdefault("fade_shape", "linear")
                crossfade = length
                continue
            before = len(track["clips"])
            length = _length(component)
            if kind == "SourceClip":
                self._clip(component, position, rate, track, f"{where}/{kind}[{number}]", length)
            elif kind != "Filler":
                self._segment(component, position, rate, track, f"{where}/{kind}[{number}]", top=False, depth=depth + 1)
            if crossfade and len(track["clips"]) > before:
                first = track["clips"][before]
                first["fade_in_s"] = round(crossfade / rate, TIME_DECIMALS)
                first.setdefault("fade_shape", "linear")
            crossfade = 0
            position += length

    def _clip(self, clip, at: int, rate: float, track: dict, where: str, length: int) -> None:
        if length <= 0:
            return
        found = self._source(clip, rate, where, f"track {track['name']!r}")
        if found is None:
            return
        file, offset_s = found
        start_s = at / rate
        duration_s = length / rate
        if start_s < 0:
            offset_s, duration_s, start_s = offset_s - start_s, duration_s + start_s, 0.0
        facts = self.media.facts(file, f"{self.name}: {where}")
        duration_s = min(duration_s, facts.duration_s - offset_s)
        if duration_s <= 0:
            return
        entry = {"file": file, "start_s": round(start_s, TIME_DECIMALS)}
        if offset_s:
            entry["offset_s"] = round(offset_s, TIME_DECIMALS)
        entry["duration_s"] = round(duration_s, TIME_DECIMALS)
        for field, prefix in (("fade_in_s", "FadeIn"), ("fade_out_s", "FadeOut")):
            fade = clip.get(f"{prefix}Length")
            if fade is not None and fade.value:
                entry[field] = round(min(int(fade.value) / rate, duration_s), TIME_DECIMALS)
                shape = clip.get(f"{prefix}Type")
                entry["fade_shape"] = FADE_SHAPES.get(shape.value if shape is not None else None, "linear")
        track["clips"].append(entry)

    def _source(self, clip, rate: float, where: str, label: str):
        """``(session path, offset in seconds)`` of the audio ``clip`` plays, following mob references down to a file; None if it has none."""
        key = (clip.mob_id, clip.slot_id)
        if key not in self._sources:
            self._sources[key] = self._follow(clip, where, label)
        found = self._sources[key]
        if found is None:
            return None
        file, below_s = found
        return file, int(clip.start or 0) / rate + below_s

    def _follow(self, clip, where: str, label: str):
        """``(session path, offset in seconds inside the mob ``clip`` points at)``: the references followed down to the audio."""
        offset_s = 0.0
        current = clip
        title = None
        for _ in range(MAX_DEPTH):
            mob = current.mob
            if mob is None:
                self.report.loss(label, where, "clip without a source", "it points at no mob in the file; left out")
                return None
            title = title or mob.name
            descriptor = mob.get("EssenceDescription")
            descriptor = descriptor.value if descriptor is not None else None
            if type(mob).__name__ == "SourceMob" and descriptor is not None and type(descriptor).__name__ not in ("TapeDescriptor", "ImportDescriptor", "FilmDescriptor"):
                return self._essence(mob, descriptor, title, where, label), offset_s
            slot = current.slot
            segment = slot.segment if slot is not None else None
            while type(segment).__name__ in ("Sequence", "EssenceGroup"):
                items = list(segment.components) if type(segment).__name__ == "Sequence" else list(segment["Choices"].value)
                segment = next((item for item in items if type(item).__name__ == "SourceClip"), None)
            if type(segment).__name__ != "SourceClip":
                self.report.loss(label, where, "clip", f"its source mob {mob.name!r} leads to no audio; left out")
                return None
            offset_s += int(segment.start or 0) / float(slot.edit_rate)
            current = segment
        raise ProjectError(f"{self.name}: {where}: mob references nest more than {MAX_DEPTH} deep")

    def _essence(self, mob, descriptor, title: str | None, where: str, label: str) -> str:
        """The session path of a source mob's audio (``title``: the clip's master mob's name): its embedded essence
        written out, or its linked file copied in."""
        kind = type(descriptor).__name__
        if mob.essence is not None:
            if kind != "PCMDescriptor":
                raise ProjectError(f"{self.name}: {where}: embedded essence described by {kind}; mixfarm reads embedded PCM only")
            channels = int(descriptor["Channels"].value)
            sample_rate = int(float(descriptor["SampleRate"].value))
            width = int(descriptor["QuantizationBits"].value) // 8
            if width not in (1, 2, 3, 4) or channels < 1:
                raise ProjectError(f"{self.name}: {where}: embedded PCM of {width * 8} bits in {channels} channels is not readable")

            def write(handle, count) -> None:
                with wave.open(handle, "wb") as out:
                    out.setnchannels(channels)
                    out.setframerate(sample_rate)
                    out.setsampwidth(width)
                    stream = mob.essence.open("r")
                    while chunk := stream.read(_CHUNK_BYTES):
                        count(len(chunk))
                        out.writeframesraw(chunk)

            return self.media.from_writer(f"essence:{mob.mob_id}", f"{_file_name(title or mob.name or 'audio')}.wav", write, f"{self.name}: {title or mob.name}")
        locators = list(descriptor["Locator"].value) if descriptor.get("Locator") is not None else []
        urls = [locator["URLString"].value for locator in locators if locator.get("URLString") is not None]
        if not urls:
            raise ProjectError(f"{self.name}: {where}: the source {mob.name!r} has neither embedded audio nor a file location")
        return self._linked(urls[0], where, label)

    def _linked(self, url: str, where: str, label: str) -> str:
        parsed = urllib.parse.urlparse(url)
        path = urllib.parse.unquote(parsed.path if parsed.scheme in ("file", "") else url)
        folder = self.path.parent.resolve()
        candidate = Path(path) if Path(path).is_absolute() else folder / path
        try:
            inside = candidate.resolve().is_relative_to(folder) and candidate.is_file()
        except OSError:
            inside = False
        if inside:
            return self.media.from_disk(str(candidate), folder, f"{self.name}: {where}")
        name = Path(path).name
        found = next((match for match in sorted(folder.rglob(glob.escape(name))) if match.is_file() and match.name == name), None) if name else None
        if found is None:
            raise ProjectError(
                f"{self.name}: {where}: the linked media {url!r} is not inside the project's folder {folder}, and no file named {name!r} is; "
                "only files inside that folder are imported"
            )
        self.report.note(label, where, f"linked media {name!r}", f"found by its name at {found.relative_to(folder).as_posix()} (the file records {url})")
        return self.media.from_disk(str(found), folder, f"{self.name}: {where}")

    def _operation(self, group, at: int, rate: float, track: dict, where: str, top: bool, depth: int) -> None:
        label = f"track {track['name']!r}"
        inputs = list(group.segments)
        operation = group.operation
        auid = str(operation.auid) if operation is not None else ""
        name = operation.name if operation is not None else "unnamed"
        before = len(track["clips"])
        if inputs:
            self._segment(inputs[0], at, rate, track, f"{where}/InputSegments[1]", top, depth + 1)
        if len(inputs) > 1:
            self.report.loss(label, where, f"{name} with {len(inputs)} inputs", "only its first input is imported")
        if auid not in GAIN_OPERATIONS and auid != PAN_OPERATION:
            self.report.loss(label, where, f"effect {name!r}", "not an AAF operation mixfarm maps; the audio plays without it")
            return
        wanted = AMPLITUDE if auid in GAIN_OPERATIONS else PAN
        parameter = next((item for item in group.parameters if item.parameterdef is not None and str(item.parameterdef.auid) == wanted), None)
        if parameter is None:
            return
        length = _length(group)
        if type(parameter).__name__ == "ConstantValue":
            value = float(parameter.value)
            if auid in GAIN_OPERATIONS:
                gain_db = _decibels(value)
                if top:
                    track["gain_db"] = min(max(track["gain_db"] + gain_db, -144.0), 24.0)
                else:
                    for clip in track["clips"][before:]:
                        clip["gain_db"] = max(min(clip.get("gain_db", 0.0) + gain_db, 48.0), -96.0)
            elif top:
                track["pan"] = max(-1.0, min(1.0, 2.0 * value - 1.0))
            else:
                self.report.loss(label, where, "clip pan", "a mixfarm clip has no pan; it plays through the track's")
            return
        points = self._points(parameter, at, length, rate, auid in GAIN_OPERATIONS, label, where)
        if points is None:
            return
        if not top:
            self.report.loss(label, where, f"{name} envelope on a clip", "a mixfarm clip has one gain and no pan; the track's automation is not changed")
            return
        key = "gain_db" if auid in GAIN_OPERATIONS else "pan"
        if key in track["automation"]:
            self.report.loss(label, where, f"a second {key} envelope", "one lane per parameter; the first is kept")
            return
        track["automation"][key] = points

    def _points(self, parameter, at: int, length: int, rate: float, gain: bool, label: str, where: str) -> list | None:
        interpolation = parameter.interpolationdef
        kind = str(interpolation.auid) if interpolation is not None else LINEAR_INTERPOLATION
        if kind not in (LINEAR_INTERPOLATION, CONSTANT_INTERPOLATION):
            self.report.loss(label, where, f"{interpolation.name if interpolation is not None else 'curved'} interpolation", "followed as straight lines")
        hold = kind == CONSTANT_INTERPOLATION
        raw = []
        for point in parameter.pointlist:
            time_s = (at + float(point.time) * length) / rate
            value = float(point.value)
            raw.append((max(time_s, 0.0), _decibels(value) if gain else max(-1.0, min(1.0, 2.0 * value - 1.0)), hold))
        if not raw or len(raw) > MAX_AUTOMATION_POINTS:
            if raw:
                self.report.loss(label, where, "envelope", f"{len(raw)} points, over the session's {MAX_AUTOMATION_POINTS} a lane; left out")
            return None
        raw.sort(key=lambda item: item[0])
        raw[-1] = (*raw[-1][:2], False)
        if gain and not hold:
            raw = traced_gain_ramps(raw, MAX_AUTOMATION_POINTS)
        if len(raw) > MAX_AUTOMATION_POINTS:
            self.report.loss(label, where, "envelope", f"{len(raw)} points, over the session's {MAX_AUTOMATION_POINTS} a lane; left out")
            return None
        return [[round(time_s, TIME_DECIMALS), value, "hold"] if held else [round(time_s, TIME_DECIMALS), value] for time_s, value, held in raw]



def _length(segment, depth: int = 0) -> int:
    """A segment's length in edit units: as stored, or, where a writer left a sequence's or an operation's at 0,
    from what it holds (a sequence's components less its transitions' overlaps)."""
    stored = int(segment.length or 0)
    kind = type(segment).__name__
    if stored > 0 or depth > MAX_DEPTH:
        return stored
    if kind == "Sequence":
        return sum(-_length(item, depth + 1) if type(item).__name__ == "Transition" else _length(item, depth + 1) for item in segment.components)
    if kind == "OperationGroup":
        inputs = list(segment.segments)
        return _length(inputs[0], depth + 1) if inputs else 0
    return stored


def _decibels(linear: float) -> float:
    return min(max(20.0 * math.log10(linear), -144.0), 24.0) if linear > 0 else -144.0


def _file_name(name: str) -> str:
    """``name`` as a file name: path separators and control characters replaced."""
    cleaned = "".join("_" if character in '/\\:*?"<>|' or ord(character) < 32 else character for character in name).strip(" .")
    return cleaned[:200] or "audio"
