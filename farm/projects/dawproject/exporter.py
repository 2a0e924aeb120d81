"""A session as a DAWproject archive that a DAW opens: ``mixfarm export SESSION --to dawproject -o FILE.dawproject``.

The mapping is the importer's, written backwards:

- each track is a ``Track`` with an audio ``Channel``; each bus a ``Track``
  whose channel is a group (``submix``) when strips play into it, an effect
  return (``effect``) when only sends reach it; the master is the
  ``master`` channel. Faders are ``Volume`` in decibels, pans ``Pan`` from
  -1 to 1, sends ``Send`` (``pre`` or ``post``), outputs ``destination``.
- clips are ``Clip`` elements on a ``seconds`` arrangement with their
  ``Audio`` (copied into the archive's ``audio/`` folder), ``playStart``
  and fades; a clip gain is a ``gain`` expression lane in the clip.
- ``eq``, ``compressor``, ``gate`` and ``limiter`` are written as the
  format's ``Equalizer``, ``Compressor``, ``NoiseGate`` and ``Limiter`` with
  their parameters, and every other effect as a ``BuiltinDevice``. Each
  device (``deviceVendor="mixfarm"``) also carries its exact settings in a
  JSON ``State`` file, which mixfarm reads back in place of the
  approximation a DAW's own device would be.
- automation lanes are ``Points`` on the parameters they move.

What the format has no place for (a strip's width and polarity, the fade
shapes, the master's loudness stage, fades and tail, the outputs) is kept
in ``mixfarm.json`` in the archive, so a session comes back from its
export as it was; a DAW that saves the project again leaves that file out.
The written ``project.xml`` and ``metadata.xml`` are checked against the
format's schemas before the archive is finished.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ElementTree
import zipfile
from pathlib import Path

from farm.errors import ProjectError
from farm.session import MASTER, Session
from farm.session.loading import LoadedSession

from .archive import METADATA_XML, PROJECT_XML
from .devices import MIXFARM_VENDOR, PASS_ORDERS
from .extras import EXTRAS_NAME, extras_of
from .schema import check

APPLICATION = "mixfarm"
_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
EQ_TYPES = {"highpass": "highPass", "lowpass": "lowPass", "bell": "bell", "low_shelf": "lowShelf", "high_shelf": "highShelf", "notch": "notch", "bandpass": "bandPass"}
ORDERS = {slope: order for order, slope in PASS_ORDERS.items()}
BUILT_IN = {"eq": "Equalizer", "compressor": "Compressor", "gate": "NoiseGate", "limiter": "Limiter"}
UNITS = (("_db", "decibel"), ("_dbtp", "decibel"), ("_s", "seconds"), ("_hz", "hertz"))


def export_dawproject(loaded: LoadedSession, target: Path) -> Path:
    """Write the validated session ``loaded`` as the DAWproject archive ``target``; returns ``target``.

    Raises :class:`farm.errors.ProjectError` for a name that XML cannot hold (a control character).
    """
    session = loaded.session
    for name in [session.name, *(strip.name for strip in [*session.tracks, *session.buses])]:
        if _XML_UNSAFE.search(name):
            raise ProjectError(f"{target.name}: the name {name[:60]!r} holds a control character, which XML cannot carry; rename it")
    writer = _Writer(loaded)
    project = writer.project()
    metadata = ElementTree.Element("MetaData")
    ElementTree.SubElement(metadata, "Title").text = loaded.session.name
    project_xml = _serialise(project)
    metadata_xml = _serialise(metadata)
    check(project_xml, "Project.xsd", f"{target.name}: {PROJECT_XML}")
    check(metadata_xml, "MetaData.xsd", f"{target.name}: {METADATA_XML}")
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(PROJECT_XML, project_xml)
        archive.writestr(METADATA_XML, metadata_xml)
        archive.writestr(EXTRAS_NAME, json.dumps(extras_of(loaded.session), indent=1))
        for name, state in writer.states.items():
            archive.writestr(name, json.dumps(state))
        for member, source in writer.media.items():
            archive.write(source, member, compress_type=zipfile.ZIP_STORED)
    os.replace(partial, target)
    return target


def _serialise(element: ElementTree.Element) -> bytes:
    ElementTree.indent(element)
    return ElementTree.tostring(element, encoding="utf-8", xml_declaration=True)


def _number(value: float) -> str:
    return repr(float(value))


class _Writer:
    def __init__(self, loaded: LoadedSession) -> None:
        self.loaded = loaded
        self.session: Session = loaded.session
        self.states: dict[str, dict] = {}
        self.media: dict[str, Path] = {}
        self._media_names: dict[str, str] = {}
        self._next = 0
        self.channels: dict[str, str] = {}
        self.parameters: dict[tuple[str, str], str] = {}

    def _id(self) -> str:
        self._next += 1
        return f"id{self._next}"

    def project(self) -> ElementTree.Element:
        session = self.session
        project = ElementTree.Element("Project", version="1.0")
        ElementTree.SubElement(project, "Application", name=APPLICATION, version=_version())
        if session.tempo_bpm is not None:
            transport = ElementTree.SubElement(project, "Transport")
            ElementTree.SubElement(transport, "Tempo", id=self._id(), unit="bpm", value=_number(session.tempo_bpm))
        strips = [*session.tracks, *session.buses]
        for strip in strips:
            self.channels[strip.name] = self._id()
        self.channels[MASTER] = self._id()
        structure = ElementTree.SubElement(project, "Structure")
        fed = {strip.output for strip in strips}
        for strip in session.tracks:
            self._track(structure, strip, "regular")
        for strip in session.buses:
            self._track(structure, strip, "submix" if strip.name in fed else "effect")
        master = ElementTree.SubElement(structure, "Track", id=self._id(), name="Master", contentType="audio", loaded="true")
        channel = ElementTree.SubElement(master, "Channel", id=self.channels[MASTER], role="master", audioChannels="2")
        self._devices(channel, MASTER, session.master.fx, {})
        ElementTree.SubElement(channel, "Volume", id=self._id(), unit="decibel", value="0.0", min="-144.0", max="24.0")
        arrangement = ElementTree.SubElement(project, "Arrangement", id=self._id())
        lanes = ElementTree.SubElement(arrangement, "Lanes", id=self._id(), timeUnit="seconds")
        for strip in strips:
            self._lanes(lanes, strip)
        return project

    def _track(self, structure: ElementTree.Element, strip, role: str) -> None:
        track = ElementTree.SubElement(structure, "Track", id=self._id(), name=strip.name, contentType="audio", loaded="true")
        self.parameters[(strip.name, "track")] = track.get("id")
        channel = ElementTree.SubElement(track, "Channel", id=self.channels[strip.name], role=role, audioChannels="2", destination=self.channels[strip.output])
        if strip.solo:
            channel.set("solo", "true")
        automation = strip.automation
        effects = {key: points for key, points in automation.items() if key.startswith("fx.")}
        self._devices(channel, strip.name, strip.fx, effects)
        self._parameter(channel, "Mute", strip.name, "mute", value="true" if strip.mute else "false", boolean=True)
        self._parameter(channel, "Pan", strip.name, "pan", unit="linear", value=_number(strip.pan), min="-1.0", max="1.0")
        if strip.sends:
            sends = ElementTree.SubElement(channel, "Sends")
            for send in strip.sends:
                element = ElementTree.SubElement(sends, "Send", id=self._id(), destination=self.channels[send.bus], type="pre" if send.pre_fader else "post")
                self._parameter(element, "Volume", strip.name, f"sends.{send.bus}.level_db", unit="decibel", value=_number(send.level_db), min="-144.0", max="24.0")
        self._parameter(channel, "Volume", strip.name, "gain_db", unit="decibel", value=_number(strip.gain_db), min="-144.0", max="24.0")

    def _parameter(self, parent: ElementTree.Element, tag: str, strip: str, key: str, boolean: bool = False, **attributes: str) -> ElementTree.Element:
        element = ElementTree.SubElement(parent, tag, id=self._id(), **attributes)
        self.parameters[(strip, key)] = element.get("id")
        return element

    def _devices(self, channel: ElementTree.Element, strip: str, chain, automation: dict) -> None:
        if not chain:
            return
        devices = ElementTree.SubElement(channel, "Devices")
        for position, spec in enumerate(chain):
            fields = spec.model_dump(exclude_none=True, by_alias=True)
            if spec.type == "convolution":
                fields["ir_file"] = self._member(spec.ir_file)
            tag = BUILT_IN.get(spec.type, "BuiltinDevice")
            device = ElementTree.SubElement(
                devices, tag, id=self._id(), deviceName=f"mixfarm {spec.type}", deviceRole="audioFX", deviceVendor=MIXFARM_VENDOR, deviceID=f"mixfarm.{spec.type}"
            )
            references = {str(position)} | ({spec.id} if spec.id else set())
            keys = [key for key in automation if key.split(".", 2)[1] in references]
            if keys:
                parameters = ElementTree.SubElement(device, "Parameters")
                for key in keys:
                    parameter = key.split(".", 2)[2]
                    unit = next((unit for suffix, unit in UNITS if parameter.endswith(suffix)), "linear")
                    self._parameter(parameters, "RealParameter", strip, key, unit=unit, name=key)
            state = f"mixfarm/fx/{device.get('id')}.json"
            self.states[state] = fields
            ElementTree.SubElement(device, "State", path=state)
            _built_in(device, spec)

    def _lanes(self, arrangement: ElementTree.Element, strip) -> None:
        lanes = ElementTree.SubElement(arrangement, "Lanes", id=self._id(), track=self.parameters[(strip.name, "track")])
        clips = getattr(strip, "clip_list", None)
        if clips:
            element = ElementTree.SubElement(lanes, "Clips", id=self._id())
            for clip in clips:
                self._clip(element, clip)
        for key, points in strip.automation.items():
            if key == "width":
                continue
            target = self.parameters[(strip.name, key)]
            lane = ElementTree.SubElement(lanes, "Points", id=self._id())
            ElementTree.SubElement(lane, "Target", parameter=target)
            for index, point in enumerate(points):
                hold = len(point) == 3
                last = index == len(points) - 1
                if key == "mute" and hold != last:
                    ElementTree.SubElement(lane, "BoolPoint", time=_number(point[0]), value="true" if float(point[1]) >= 0.5 else "false")
                else:
                    ElementTree.SubElement(lane, "RealPoint", time=_number(point[0]), value=_number(float(point[1])), interpolation="hold" if hold else "linear")

    def _clip(self, parent: ElementTree.Element, clip) -> None:
        facts = self.loaded.files[clip.file]
        duration = clip.duration_s if clip.duration_s is not None else facts.duration_s - clip.offset_s
        element = ElementTree.SubElement(
            parent, "Clip", time=_number(clip.start_s), duration=_number(duration), contentTimeUnit="seconds", playStart=_number(clip.offset_s), fadeTimeUnit="seconds"
        )
        if clip.fade_in_s:
            element.set("fadeInTime", _number(clip.fade_in_s))
        if clip.fade_out_s:
            element.set("fadeOutTime", _number(clip.fade_out_s))
        content = element
        if clip.gain_db:
            content = ElementTree.SubElement(element, "Lanes", id=self._id(), timeUnit="seconds")
        audio = ElementTree.SubElement(
            content, "Audio", id=self._id(), timeUnit="seconds", channels=str(facts.channels), sampleRate=str(facts.sample_rate), duration=_number(facts.duration_s)
        )
        ElementTree.SubElement(audio, "File", path=self._member(clip.file))
        if clip.gain_db:
            lane = ElementTree.SubElement(content, "Points", id=self._id(), unit="decibel")
            ElementTree.SubElement(lane, "Target", expression="gain")
            ElementTree.SubElement(lane, "RealPoint", time="0.0", value=_number(clip.gain_db), interpolation="hold")

    def _member(self, file: str) -> str:
        """The archive path of the session's audio file ``file``, copied once into ``audio/``."""
        if file in self._media_names:
            return self._media_names[file]
        source = self.loaded.folder.resolve_inside(file, self.loaded.roots).local_path
        stem, suffix = os.path.splitext(source.name)
        name, number = f"audio/{source.name}", 2
        while name.casefold() in {member.casefold() for member in self.media}:
            name = f"audio/{stem} {number}{suffix}"
            number += 1
        self.media[name] = source
        self._media_names[file] = name
        return name


def _built_in(device: ElementTree.Element, spec) -> None:
    """The DAWproject parameters of a built-in device, for a DAW that opens the project."""

    def real(tag: str, unit: str, value: float) -> None:
        ElementTree.SubElement(device, tag, unit=unit, value=_number(value))

    if spec.type == "eq":
        for band in spec.bands:
            element = ElementTree.SubElement(device, "Band", type=EQ_TYPES[band.kind])
            if band.kind in ("highpass", "lowpass"):
                element.set("order", str(ORDERS[band.slope_db_oct]))
            ElementTree.SubElement(element, "Freq", unit="hertz", value=_number(band.freq_hz))
            ElementTree.SubElement(element, "Gain", unit="decibel", value=_number(band.gain_db))
            ElementTree.SubElement(element, "Q", unit="linear", value=_number(band.q))
            ElementTree.SubElement(element, "Enabled", value="true" if band.enabled else "false")
    elif spec.type == "compressor":
        real("Attack", "seconds", spec.attack_s)
        real("OutputGain", "decibel", spec.makeup_db)
        real("Ratio", "linear", spec.ratio)
        real("Release", "seconds", spec.release_s)
        real("Threshold", "decibel", spec.threshold_db)
    elif spec.type == "gate":
        real("Attack", "seconds", spec.attack_s)
        real("Range", "decibel", spec.range_db)
        real("Release", "seconds", spec.release_s)
        real("Threshold", "decibel", spec.threshold_db)
    elif spec.type == "limiter":
        real("Attack", "seconds", spec.lookahead_s)
        real("Release", "seconds", spec.release_s)
        real("Threshold", "decibel", spec.ceiling_dbtp)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mixfarm")
    except PackageNotFoundError:
        return "0"

