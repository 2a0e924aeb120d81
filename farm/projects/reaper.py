"""A REAPER project (``.rpp``) as a mixfarm session.

An RPP file is REAPER's text format: nested ``<BLOCK ...>`` chunks of
lines, parsed in one pass by :mod:`.rppchunks`. The mapping:

- each ``<TRACK>`` is a strip: ``NAME``, ``VOLPAN`` (a linear volume, pan
  from -1 left to +1 right), ``MUTESOLO`` (mute, solo). A folder track
  (``ISBUS 1 1`` opens a folder, ``ISBUS 2 -n`` closes ``n``) is a bus that
  its children play into while their ``MAINSEND`` is on; a track whose
  ``MAINSEND`` is off plays into no output but its sends (a muted bus
  ``(no main send)`` stands for that). ``AUXRECV`` lines (on the receiving
  track: the source track's index from 0, the mode, a linear volume, pan,
  mute) are sends: mode 0 is post-fader, 3 pre-fader (after the effects);
  the receiving track becomes a bus.
- each ``<ITEM>`` is a clip from its active take (``TAKE SEL``, else the
  first): ``POSITION``, ``LENGTH`` and ``SOFFS`` (the offset into the
  source) in seconds; the item's volume times the take's is the clip gain;
  ``FADEIN``/``FADEOUT`` (shape, length, auto-crossfade length) are the
  fades, shape 0 linear and 1 equal power; ``LOOP 1`` repeats the source to
  fill the item. ``<SOURCE WAVE>`` (or ``FLAC``, ``MP3``, ``VORBIS``,
  ``OPUS``, ``WAVPACK``) names the file, relative to the project's folder;
  a ``SECTION`` source starts ``STARTPOS`` into the file inside it.
- envelopes (``PT time value shape`` points, shape 0 linear, 1 square):
  ``VOLENV2`` (linear volume) is ``gain_db``, ``PANENV2`` is ``pan`` (its
  values run opposite to ``VOLPAN``'s: +1 is left), ``MUTEENV`` is ``mute``
  (1 sounds, 0 mutes), ``AUXVOLENV`` after an ``AUXRECV`` is the send's level.
  ``VOLENV`` (pre-FX) and ``VOLENV3`` (trim) become automated ``gain``
  effects at the start and the end of the chain.
- the master's ``MASTER_VOLUME`` is a ``gain`` effect on the master chain.

Plug-ins (``VST``, ``JS``, ``AU``, ``CLAP``, ``DX``, ``LV2``), MIDI and other
sources, stretched, pitched, reversed or muted items, take FX and envelopes,
automation items, curved envelope shapes and any block this importer does not
know are reported.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from pathlib import Path

from farm.errors import ProjectError
from farm.session.model import (
    FORMAT,
    MASTER,
    MAX_AUTOMATION_POINTS,
    MAX_BUSES,
    MAX_CLIPS_PER_TRACK,
    MAX_TRACKS,
)

from .drafts import TIME_DECIMALS, MixerDraft
from .media import MediaFolder
from .names import strip_names
from .ramps import traced_gain_ramps
from .report import ImportReport
from .rppchunks import Block, ChunkError
from .rppchunks import parse as parse_chunks

MAX_RPP_BYTES = 64 * 1024 * 1024
"""The largest RPP file read, in bytes."""
MAX_RPP_LINES = 1_000_000
"""The most lines an RPP file may hold (a 200-track project with 2,000 items and their envelopes holds about 30,000)."""
MIN_LEVEL_DB = -144.0
MAX_LEVEL_DB = 24.0
FILE_SOURCES = ("WAVE", "FLAC", "MP3", "VORBIS", "OPUS", "WAVPACK")
PLUGIN_TAGS = {"VST": "plug-in", "JS": "JS effect", "AU": "AU plug-in", "CLAP": "CLAP plug-in", "DX": "DirectX plug-in", "LV2": "LV2 plug-in", "VIDEO_EFFECT": "video effect"}
FADE_SHAPES = {0: "linear", 1: "equal_power"}
"""REAPER fade shapes with a mixfarm curve: 0 is linear; 1, REAPER's default, rises fast and eases in, as an equal-power fade does."""
MAX_LOOP_PASSES = 1024
UNROUTED_BUS = "(no main send)"
SEND_MODES = {0: False, 3: True}
"""AUXRECV mode -> pre_fader: 0 post-fader (after pan), 3 pre-fader (after the effects)."""
TRACK_ENVELOPES = {"VOLENV2", "PANENV2", "MUTEENV", "VOLENV", "VOLENV3", "AUXVOLENV", "AUXPANENV", "AUXMUTEENV"}
UNSUPPORTED_TRACK_BLOCKS = {
    "PANENV": "pre-FX pan envelope",
    "WIDTHENV": "pre-FX width envelope",
    "WIDTHENV2": "width envelope",
    "FREEZE": "frozen track state",
    "PARMENV": "plug-in parameter envelope",
}
QUIET_BLOCKS = {"TRACK": {"RECCFG", "MIDIOUT", "INSTRUMENT_REC", "BUSCOMP", "EXT", "FXCHAIN_REC"}, "ITEM": {"SM"}, "PROJECT": {
    "RECORD_CFG", "APPLYFX_CFG", "RENDER_CFG", "METRONOME", "PROJBAY", "EXTENSIONS", "NOTES", "TEMPOENVEX", "MASTERPLAYSPEEDENV", "RULERLANES", "CYCLEACTIONS", "MASTERHWOUT", "PROJ_OFFSETS",
}}
"""Blocks that hold settings of the editor, recording or rendering, not of the mix: read past without a word."""


@dataclasses.dataclass(eq=False)
class _Strip(MixerDraft):
    where: str = ""
    folder: "_Strip | None" = None
    main_send: bool = True
    clips: list[dict] = dataclasses.field(default_factory=list)
    fx: list[dict] = dataclasses.field(default_factory=list)
    sends: list[dict] = dataclasses.field(default_factory=list)
    is_folder: bool = False

    @property
    def is_bus(self) -> bool:
        return self.is_folder or self.receives

    @property
    def label(self) -> str:
        return f"track {self.name!r}"


class ReaperImporter:
    """Reads one ``.rpp`` file into a session document, copying its media into ``media`` and reporting to ``report``."""

    def __init__(self, path: Path, media: MediaFolder, report: ImportReport) -> None:
        self.path = path
        self.name = path.name
        self.media = media
        self.report = report
        self.strips: list[_Strip] = []
        self.master_fx: list[dict] = []

    def read(self) -> dict:
        """The session document; raises :class:`farm.errors.ProjectError` for a file that cannot be read."""
        root = self._parse()
        header = root.attrib
        self.report.application = f"REAPER {header[1]}" if len(header) > 1 else "REAPER"
        tempo = self._line(root, "TEMPO")
        tracks = [child for child in root.children if _is_block(child) and child.tag == "TRACK"]
        if len(tracks) > MAX_TRACKS + MAX_BUSES:
            raise ProjectError(f"{self.name}: has {len(tracks)} tracks; a session may have at most {MAX_TRACKS} tracks and {MAX_BUSES} buses")
        self._master(root)
        folders: list[_Strip] = []
        track_number = 0
        for child in root.children:
            if not _is_block(child):
                continue
            if child.tag == "TRACK":
                track_number += 1
                strip = self._track(child, track_number - 1, folders[-1] if folders else None)
                self.strips.append(strip)
                self._folder(child, strip, folders)
            elif child.tag not in ("MASTERFXLIST",) and child.tag not in QUIET_BLOCKS["PROJECT"] and not child.tag.startswith("MASTER"):
                self._unknown(child, "project", f"<{child.tag}>")
        for number, child in enumerate(tracks):
            self._receives(child, self.strips[number])
        return self._document(self._number(tempo[1], "TEMPO") if tempo and len(tempo) > 1 else None)

    def _parse(self) -> Block:
        size = self.path.stat().st_size
        if size > MAX_RPP_BYTES:
            raise ProjectError(f"{self.name}: {size} bytes, over the limit of {MAX_RPP_BYTES} for a project file")
        try:
            text = self.path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProjectError(f"{self.name}: not a REAPER project: not UTF-8 text (byte {exc.start})") from None
        if not text.lstrip().startswith("<REAPER_PROJECT"):
            raise ProjectError(f"{self.name}: not a REAPER project: it does not start with <REAPER_PROJECT")
        lines = text.count("\n")
        if lines > MAX_RPP_LINES:
            raise ProjectError(f"{self.name}: {lines} lines, over the limit of {MAX_RPP_LINES} for a project file")
        try:
            return parse_chunks(text)
        except ChunkError as exc:
            raise ProjectError(f"{self.name}: not a readable REAPER project: {exc}") from None

    def _line(self, block, tag: str) -> list[str] | None:
        return next((child for child in block.children if isinstance(child, list) and child and child[0] == tag), None)

    def _number(self, text: str, where: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ProjectError(f"{self.name}: {where}: {text[:40]!r} is not a number") from None
        if not math.isfinite(value):
            raise ProjectError(f"{self.name}: {where}: {text[:40]!r} is not a finite number")
        return value

    def _fields(self, line: list[str] | None, where: str, count: int) -> list[float]:
        """The first ``count`` fields after the tag of ``line`` as numbers (missing fields are 0)."""
        values = [self._number(text, where) for text in (line or [])[1 : count + 1]]
        return values + [0.0] * (count - len(values))

    def _master(self, root) -> None:
        volume = self._line(root, "MASTER_VOLUME")
        if volume:
            level, pan = self._fields(volume, "MASTER_VOLUME", 2)
            if level != 1.0:
                self.master_fx.append({"type": "gain", "gain_db": _decibels(level)})
            if pan:
                self.report.loss(MASTER, "MASTER_VOLUME", "master pan", "the master has no pan in mixfarm; it plays centred")
        mutesolo = self._line(root, "MASTERMUTESOLO")
        if mutesolo and int(self._fields(mutesolo, "MASTERMUTESOLO", 1)[0]) & 1:
            self.report.loss(MASTER, "MASTERMUTESOLO", "muted master", "a muted master would render silence; it plays")
        for child in root.children:
            if _is_block(child) and child.tag == "MASTERFXLIST":
                self._plugins(child, MASTER, "MASTERFXLIST")
            elif _is_block(child) and child.tag.startswith("MASTER") and child.tag != "MASTERPLAYSPEEDENV" and _active(child):
                self.report.loss(MASTER, f"<{child.tag}>", "master envelope", "the master has no automation in mixfarm")

    def _track(self, block, index: int, folder: _Strip | None) -> _Strip:
        name_line = self._line(block, "NAME")
        where = f"TRACK[{index + 1}]"
        strip = _Strip(name_line[1] if name_line and len(name_line) > 1 else "", where=where, folder=folder)
        volume, pan = self._fields(self._line(block, "VOLPAN"), f"{where}/VOLPAN", 2) if self._line(block, "VOLPAN") else (1.0, 0.0)
        strip.gain_db, strip.pan = _level(volume), max(-1.0, min(1.0, pan))
        mute, solo = self._fields(self._line(block, "MUTESOLO"), f"{where}/MUTESOLO", 2)
        strip.mute, strip.solo = bool(mute), bool(solo)
        main_send = self._line(block, "MAINSEND")
        strip.main_send = not main_send or self._fields(main_send, f"{where}/MAINSEND", 1)[0] != 0
        chain_on = self._line(block, "FX")
        chain_bypassed = chain_on is not None and self._fields(chain_on, f"{where}/FX", 1)[0] == 0
        items = 0
        for child in block.children:
            if not _is_block(child):
                continue
            tag = child.tag
            if tag == "ITEM":
                items += 1
                strip.clips += self._item(child, strip, f"{where}/ITEM[{items}]")
                if len(strip.clips) > MAX_CLIPS_PER_TRACK:
                    raise ProjectError(f"{self.name}: {where}: more than {MAX_CLIPS_PER_TRACK} clips; a session track may have at most {MAX_CLIPS_PER_TRACK}")
            elif tag == "FXCHAIN":
                if chain_bypassed:
                    self.report.note(strip.label, f"{where}/FXCHAIN", "effects chain", "bypassed (FX 0): left out")
                else:
                    self._plugins(child, strip.label, f"{where}/FXCHAIN")
            elif tag in TRACK_ENVELOPES:
                if not tag.startswith("AUX"):
                    self._envelope(child, strip, f"{where}/{tag}")
            elif tag in UNSUPPORTED_TRACK_BLOCKS:
                if _active(child):
                    self.report.loss(strip.label, f"{where}/{tag}", UNSUPPORTED_TRACK_BLOCKS[tag], "mixfarm does not follow it")
                else:
                    self.report.note(strip.label, f"{where}/{tag}", "envelope", "inactive (ACT 0): left out")
            elif tag not in QUIET_BLOCKS["TRACK"]:
                self._unknown(child, strip.label, f"{where}/{tag}")
        return strip

    def _folder(self, block, strip: _Strip, folders: list[_Strip]) -> None:
        isbus = self._line(block, "ISBUS")
        if not isbus:
            return
        kind, depth = self._fields(isbus, f"{strip.where}/ISBUS", 2)
        if kind == 1:
            strip.is_folder = True
            folders.append(strip)
        elif kind == 2:
            for _ in range(min(int(abs(depth)), len(folders))):
                folders.pop()

    def _receives(self, block, strip: _Strip) -> None:
        send = None
        for child in block.children:
            if isinstance(child, list) and child and child[0] == "AUXRECV":
                send = self._receive(child, strip)
            elif _is_block(child) and child.tag.startswith("AUX") and child.tag in TRACK_ENVELOPES and send is not None:
                source, entry = send
                where = f"{strip.where}/{child.tag}"
                if child.tag == "AUXVOLENV":
                    points = self._points(child, source, where, "level")
                    if points is not None:
                        source.automation[f"sends.{id(strip)}.level_db"] = points
                elif _active(child):
                    what = "send pan envelope" if child.tag == "AUXPANENV" else "send mute envelope"
                    self.report.loss(source.label, where, what, "mixfarm sends have no pan or mute automation")

    def _receive(self, line: list[str], strip: _Strip):
        where = f"{strip.where}/AUXRECV"
        index, mode, volume, pan, mute, mono, phase = self._fields(line, where, 7)
        index = int(index)
        if not 0 <= index < len(self.strips) or self.strips[index] is strip:
            self.report.loss(strip.label, where, "receive", f"from track index {index}, which is not another track of the project; left out")
            return None
        source = self.strips[index]
        if mute:
            self.report.note(source.label, where, f"send to {strip.name!r}", "muted: left out")
            return None
        if int(mode) not in SEND_MODES:
            self.report.loss(source.label, where, f"pre-FX send to {strip.name!r}", "mixfarm's pre-fader sends tap after the effects; sent pre-fader")
        if pan:
            self.report.loss(source.label, where, f"send pan to {strip.name!r}", "a send in mixfarm keeps the strip's pan; it is sent centred")
        if mono or phase:
            self.report.loss(source.label, where, f"mono or inverted send to {strip.name!r}", "mixfarm sends the strip as it is")
        strip.receives = True
        entry = {"bus": strip, "level_db": _level(volume), "pre_fader": SEND_MODES.get(int(mode), True)}
        source.sends.append(entry)
        return source, entry

    def _plugins(self, chain, where: str, path: str) -> None:
        bypassed = False
        counts: collections.Counter = collections.Counter()
        for child in chain.children:
            if isinstance(child, list) and child and child[0] == "BYPASS":
                bypassed = self._fields(child, f"{path}/BYPASS", 1)[0] != 0
            elif _is_block(child):
                counts[child.tag] += 1
                element = f"{path}/{child.tag}[{counts[child.tag]}]"
                name = child.attrib[0] if child.attrib else child.tag
                if child.tag not in PLUGIN_TAGS and child.tag != "PARMENV":
                    self._unknown(child, where, element)
                elif bypassed:
                    self.report.note(where, element, f"{PLUGIN_TAGS.get(child.tag, child.tag)} {name!r}", "bypassed: left out")
                elif child.tag != "PARMENV":
                    self.report.loss(where, element, f"{PLUGIN_TAGS[child.tag]} {name!r}", "plug-ins cannot run on the farm; the track renders without it")
                bypassed = False

    def _item(self, block, strip: _Strip, where: str) -> list[dict]:
        takes, active = _takes(block)
        fields = {child[0]: child for child in takes[0] if isinstance(child, list) and child}
        position = self._fields(fields.get("POSITION"), f"{where}/POSITION", 1)[0]
        length = self._fields(fields.get("LENGTH"), f"{where}/LENGTH", 1)[0]
        if "MUTE" in fields and self._fields(fields["MUTE"], f"{where}/MUTE", 1)[0]:
            self.report.note(strip.label, where, "item", "muted: left out")
            return []
        for child in block.children:
            if _is_block(child) and child.tag not in ("SOURCE",) and child.tag not in QUIET_BLOCKS["ITEM"] and _active(child):
                what = {"TAKEFX": "take FX", "VOLENV": "take volume envelope", "PANENV": "take pan envelope", "MUTEENV": "take mute envelope", "PITCHENV": "take pitch envelope"}.get(child.tag)
                if what:
                    self.report.loss(strip.label, f"{where}/{child.tag}", what, "mixfarm does not follow it")
                else:
                    self._unknown(child, strip.label, f"{where}/{child.tag}")
        take = active
        take_fields = {child[0]: child for child in takes[take] if isinstance(child, list) and child}
        source = next((child for child in takes[take] if _is_block(child) and child.tag == "SOURCE"), None)
        if source is None:
            self.report.note(strip.label, where, "item", "has no source: left out")
            return []
        item_volume, take_pan, take_volume = self._fields(fields.get("VOLPAN") or ["VOLPAN", "1", "0", "1"], f"{where}/VOLPAN", 3)
        if take:
            take_pan, take_volume = self._fields(take_fields.get("TAKEVOLPAN") or ["TAKEVOLPAN", "0", "1"], f"{where}/TAKEVOLPAN", 2)
        if take_volume < 0:
            self.report.loss(strip.label, where, "item with inverted phase", "a mixfarm clip has no polarity switch; it plays as recorded")
        if take_pan:
            self.report.loss(strip.label, where, "item pan", "a mixfarm clip has no pan; it plays through the track's")
        rate, _, pitch = self._fields(take_fields.get("PLAYRATE"), f"{where}/PLAYRATE", 3) if "PLAYRATE" in take_fields else (1.0, 0.0, 0.0)
        if rate != 1.0:
            self.report.loss(strip.label, where, "time-stretched item", f"a play rate of {rate:g}; mixfarm does not stretch audio, so it plays at its own speed")
        if pitch:
            self.report.loss(strip.label, where, "pitch-shifted item", "mixfarm does not shift pitch; it plays unshifted")
        offset = self._fields(take_fields.get("SOFFS"), f"{where}/SOFFS", 1)[0]
        found = self._source(source, strip, f"{where}/SOURCE")
        if found is None:
            return []
        file, start_in_file, section_s = found
        facts = self.media.facts(file, f"{self.name}: {where}")
        gain_db = _decibels(abs(item_volume) * abs(take_volume)) if item_volume and take_volume else MIN_LEVEL_DB
        fade_in = self._fade(fields.get("FADEIN"), strip, f"{where}/FADEIN")
        fade_out = self._fade(fields.get("FADEOUT"), strip, f"{where}/FADEOUT")
        loop = "LOOP" in fields and self._fields(fields["LOOP"], f"{where}/LOOP", 1)[0] != 0
        available = min(facts.duration_s - start_in_file, section_s) if section_s is not None else facts.duration_s - start_in_file
        pieces = _pieces(position, length, offset, available, loop)
        if len(pieces) > MAX_LOOP_PASSES:
            self.report.loss(strip.label, where, "looped item", f"its source repeats more than {MAX_LOOP_PASSES} times; the rest is cut")
            pieces = pieces[:MAX_LOOP_PASSES]
        clips = []
        for begin, source_s, duration in pieces:
            clip = {"file": file, "start_s": round(begin, TIME_DECIMALS), "offset_s": round(start_in_file + source_s, TIME_DECIMALS), "duration_s": round(duration, TIME_DECIMALS)}
            if not clip["offset_s"]:
                del clip["offset_s"]
            if gain_db:
                clip["gain_db"] = max(gain_db, -96.0)
            clips.append(clip)
        self._fades(clips, fade_in, fade_out, position, position + length, strip, where)
        return clips

    def _source(self, source, strip: _Strip, where: str):
        """``(session path, seconds into the file where the source starts, the section's length or None)`` of a source block, or None."""
        kind = source.attrib[0] if source.attrib else ""
        if kind == "SECTION":
            inner = next((child for child in source.children if _is_block(child) and child.tag == "SOURCE"), None)
            if inner is None:
                self.report.loss(strip.label, where, "section source", "names no source inside it; left out")
                return None
            mode = self._line(source, "MODE")
            if mode and int(self._fields(mode, f"{where}/MODE", 1)[0]) in (2, 3):
                self.report.loss(strip.label, where, "reversed item", "mixfarm plays audio forwards; it plays forwards")
            found = self._source(inner, strip, f"{where}/SOURCE")
            if found is None:
                return None
            start = self._fields(self._line(source, "STARTPOS"), f"{where}/STARTPOS", 1)[0]
            length = self._line(source, "LENGTH")
            return found[0], found[1] + start, self._fields(length, f"{where}/LENGTH", 1)[0] if length else None
        if kind in FILE_SOURCES:
            file = self._line(source, "FILE")
            if not file or len(file) < 2:
                raise ProjectError(f"{self.name}: {where}: a {kind} source needs a FILE")
            return self.media.from_disk(file[1], self.path.parent, f"{self.name}: {where}/FILE"), 0.0, None
        if kind == "EMPTY":
            self.report.note(strip.label, where, "empty item", "holds no audio: left out")
        elif kind == "MIDI":
            self.report.loss(strip.label, where, "MIDI item", "mixfarm renders audio; bounce the instrument to audio")
        else:
            self.report.loss(strip.label, where, f"{kind or 'unnamed'} source", "not an audio file source; left out")
        return None

    def _fade(self, line: list[str] | None, strip: _Strip, where: str) -> tuple[float, str]:
        if not line:
            return 0.0, "equal_power"
        shape, length, automatic = self._fields(line, where, 3)
        curve = self._fields(line, where, 6)[5]
        seconds = automatic if automatic > 0 else length
        if seconds <= 0:
            return 0.0, "equal_power"
        if int(shape) not in FADE_SHAPES or curve:
            self.report.loss(strip.label, where, f"fade shape {int(shape)}" + (f" with curvature {curve:g}" if curve else ""), "mixfarm fades are linear, equal power or exponential; equal power is used")
        return seconds, FADE_SHAPES.get(int(shape), "equal_power") if not curve else "equal_power"

    def _fades(self, clips: list[dict], fade_in, fade_out, start_s: float, end_s: float, strip: _Strip, where: str) -> None:
        (in_s, in_shape), (out_s, out_shape) = fade_in, fade_out
        if not clips or not (in_s or out_s):
            return
        first, last = clips[0], clips[-1]
        if in_s:
            if abs(first["start_s"] - start_s) > 1e-6:
                self.report.loss(strip.label, where, "fade-in", "the item's audio starts after its edge, so the fade has nothing to shape")
            else:
                first["fade_in_s"] = round(min(in_s, first["duration_s"]), TIME_DECIMALS)
        if out_s:
            if abs(last["start_s"] + last["duration_s"] - end_s) > 1e-6:
                self.report.loss(strip.label, where, "fade-out", "the item's audio ends before its edge, so the fade has nothing to shape")
            else:
                room = last["duration_s"] - last.get("fade_in_s", 0.0)
                if out_s > room + 1e-9:
                    self.report.loss(strip.label, where, "fades", "the fades overlap in the item; the fade-out is shortened to fit")
                last["fade_out_s"] = round(max(min(out_s, room), 0.0), TIME_DECIMALS)
        shapes = {shape for seconds, shape in (fade_in, fade_out) if seconds}
        if len(shapes) > 1:
            self.report.loss(strip.label, where, "fade shapes", "a mixfarm clip has one shape for both fades; the fade-in's is used")
        shape = in_shape if in_s else out_shape
        if shape != "equal_power":
            for clip in {id(first): first, id(last): last}.values():
                clip["fade_shape"] = shape

    def _envelope(self, block, strip: _Strip, where: str) -> None:
        tag = block.tag
        if not _active(block):
            self.report.note(strip.label, where, "envelope", "inactive (ACT 0): left out")
            return
        kind = {"VOLENV2": "level", "VOLENV": "level", "VOLENV3": "level", "PANENV2": "pan", "MUTEENV": "mute"}[tag]
        points = self._points(block, strip, where, kind)
        if points is None:
            return
        if tag == "VOLENV2":
            strip.automation["gain_db"] = points
        elif tag == "PANENV2":
            strip.automation["pan"] = points
        elif tag == "MUTEENV":
            strip.automation["mute"] = points
        else:
            identifier = "pre_fx_volume" if tag == "VOLENV" else "trim_volume"
            effect = {"id": identifier, "type": "gain", "gain_db": 0.0}
            strip.fx.insert(0, effect) if tag == "VOLENV" else strip.fx.append(effect)
            strip.automation[f"fx.{identifier}.gain_db"] = points

    def _points(self, block, strip: _Strip, where: str, kind: str) -> list | None:
        """The envelope's points as a session lane of ``kind`` (level, pan or mute), or None when it holds none."""
        if any(_is_block(child) and child.tag == "POOLEDENVINST" for child in block.children) or self._line(block, "POOLEDENVINST"):
            self.report.loss(strip.label, where, "automation items", "only the envelope's own points are imported")
        fader_scaled = self._line(block, "VOLTYPE") is not None and self._fields(self._line(block, "VOLTYPE"), f"{where}/VOLTYPE", 1)[0] == 1
        raw = []
        curved = False
        for child in block.children:
            if not (isinstance(child, list) and child and child[0] == "PT"):
                continue
            time_s, value, shape = self._fields(child, f"{where}/PT", 3)
            if int(shape) not in (0, 1):
                curved = True
            if kind == "level":
                value = _level(value)
            elif kind == "pan":
                value = max(-1.0, min(1.0, -value))
            else:
                value = 0.0 if value >= 0.5 else 1.0
            raw.append((max(time_s, 0.0), value, int(shape) == 1 or kind == "mute"))
        if not raw:
            self.report.note(strip.label, where, "envelope", "holds no points: left out")
            return None
        if len(raw) > MAX_AUTOMATION_POINTS:
            self.report.loss(strip.label, where, "envelope", f"{len(raw)} points, over the session's {MAX_AUTOMATION_POINTS} a lane; left out")
            return None
        raw.sort(key=lambda point: point[0])
        raw[-1] = (*raw[-1][:2], False)
        if curved:
            self.report.loss(strip.label, where, "curved envelope shapes", "slow, fast and bezier segments are followed as straight lines")
        ramps = any(not hold and a[1] != b[1] for (_, _, hold), a, b in zip(raw, raw, raw[1:]))
        if kind == "level" and ramps:
            if fader_scaled:
                self.report.loss(strip.label, where, "volume ramps on REAPER's fader scale", "REAPER's fader curve is not published; the ramps run straight in dB")
            else:
                raw = traced_gain_ramps(raw, MAX_AUTOMATION_POINTS)
        if len(raw) > MAX_AUTOMATION_POINTS:
            self.report.loss(strip.label, where, "envelope", f"{len(raw)} points, over the session's {MAX_AUTOMATION_POINTS} a lane; left out")
            return None
        return [[round(time_s, TIME_DECIMALS), value, "hold"] if hold else [round(time_s, TIME_DECIMALS), value] for time_s, value, hold in raw]

    def _unknown(self, block, where: str, element: str) -> None:
        self.report.note(where, element, f"block <{block.tag}>", "not a block this importer reads: ignored")

    def _document(self, tempo_bpm: float | None) -> dict:
        unrouted = None
        for strip in self.strips:
            if not strip.main_send and (strip.clips or strip.receives or strip.is_folder):
                if unrouted is None:
                    unrouted = _Strip(UNROUTED_BUS, where="MAINSEND", mute=True)
                    unrouted.receives = True
                strip.feeds = unrouted
                self.report.note(strip.label, f"{strip.where}/MAINSEND", "main send off", f"it plays into the muted bus {UNROUTED_BUS!r}, so only its sends are heard")
        split = []
        for strip in self.strips:
            if strip.is_bus and strip.clips:
                audio = _Strip(f"{strip.name} (audio)", where=strip.where, clips=strip.clips, feeds=strip)
                strip.clips = []
                self.report.note(strip.label, strip.where, "items on a folder or a track that receives", f"they play from the track {audio.name!r} into it")
                split.append(audio)
        kept = []
        for strip in self.strips:
            if strip.is_bus or strip.clips:
                kept.append(strip)
            else:
                self.report.note(strip.label, strip.where, "track without audio items", "left out")
        strips = kept + split + ([unrouted] if unrouted else [])
        for strip, name in zip(strips, strip_names([strip.name for strip in strips])):
            strip.session_name = name
        tracks, buses = [], []
        for strip in strips:
            entry = self._strip(strip, set(map(id, strips)))
            (buses if strip.is_bus else tracks).append(entry)
        if len(tracks) > MAX_TRACKS or len(buses) > MAX_BUSES:
            raise ProjectError(f"{self.name}: has {len(tracks)} tracks and {len(buses)} buses; a session may have at most {MAX_TRACKS} tracks and {MAX_BUSES} buses")
        if not tracks:
            raise ProjectError(f"{self.name}: has no audio item on any track, so there is nothing to render")
        self.report.counts = {"tracks": len(tracks), "buses": len(buses), "clips": sum(len(track["clips"]) for track in tracks)}
        document = {"format": FORMAT, "name": self.path.stem, "sample_rate": self.media.most_common_rate()}
        if tempo_bpm is not None:
            document["tempo_bpm"] = tempo_bpm
        document["tracks"] = tracks
        if buses:
            document["buses"] = buses
        if self.master_fx:
            document["master"] = {"fx": self.master_fx}
        return document

    def _strip(self, strip: _Strip, present: set[int]) -> dict:
        entry = strip.mixer_fields()
        if strip.fx:
            entry["fx"] = strip.fx
        sends = [{"bus": send["bus"].session_name, "level_db": send["level_db"], **({"pre_fader": True} if send["pre_fader"] else {})} for send in strip.sends if id(send["bus"]) in present]
        if sends:
            entry["sends"] = sends
        target = strip.feeds or (strip.folder if strip.folder is not None and id(strip.folder) in present else None)
        if target is not None:
            entry["output"] = target.session_name
        automation = {}
        for key, points in strip.automation.items():
            if key.startswith("sends."):
                bus = next((send["bus"] for send in strip.sends if str(id(send["bus"])) == key.split(".")[1]), None)
                if bus is None or id(bus) not in present:
                    continue
                key = f"sends.{bus.session_name}.level_db"
            automation[key] = points
        if automation:
            entry["automation"] = automation
        if not strip.is_bus:
            entry["clips"] = strip.clips
        return entry



def _is_block(child) -> bool:
    return isinstance(child, Block)


def _active(block) -> bool:
    """Whether an envelope block is active (``ACT 1``, or no ACT line); other blocks always are."""
    act = next((child for child in block.children if isinstance(child, list) and child and child[0] == "ACT"), None)
    return act is None or len(act) < 2 or act[1] != "0"


def _takes(block) -> tuple[list[list], int]:
    """An item's children split by take (the first take's lines come before any ``TAKE``), and the active take's
    number: the one marked ``TAKE SEL``, else the first."""
    takes: list[list] = [[]]
    active = 0
    for child in block.children:
        if isinstance(child, list) and child and child[0] == "TAKE":
            takes.append([])
            if "SEL" in child[1:]:
                active = len(takes) - 1
        else:
            takes[-1].append(child)
    return takes, active


def _pieces(position: float, length: float, offset: float, available: float, loop: bool) -> list[tuple[float, float, float]]:
    """``(start on the timeline, start in the source, duration)`` of each stretch of source an item of ``length`` at ``position`` plays."""
    pieces = []
    at, source_at = position, offset
    end = position + length
    if source_at < 0:
        at, source_at = at - source_at, 0.0
    while at < end - 1e-9 and available > 0:
        if source_at >= available:
            if not loop:
                break
            source_at = source_at % available
        duration = min(end - at, available - source_at)
        pieces.append((at, source_at, duration))
        at += duration
        source_at += duration
        if not loop or len(pieces) > MAX_LOOP_PASSES:
            break
    return pieces


def _decibels(linear: float) -> float:
    return 20.0 * math.log10(linear) if linear > 0 else MIN_LEVEL_DB


def _level(linear: float) -> float:
    """A linear volume as a fader level in dB, within the session's range."""
    return min(max(_decibels(linear), MIN_LEVEL_DB), MAX_LEVEL_DB)
