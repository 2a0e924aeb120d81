"""A channel's devices as mixfarm effects.

DAWproject names four built-in devices with their parameters, and they map
onto mixfarm's effects:

- ``Equalizer``: each ``Band`` (``highPass``, ``lowPass``, ``bell``,
  ``lowShelf``, ``highShelf``, ``notch``, ``bandPass``) becomes an ``eq``
  band; a pass filter's ``order`` (2, 4, 6, 8) is its slope in steps of
  6 dB/oct. ``InputGain`` and ``OutputGain`` become ``gain`` effects around it.
- ``Compressor``: ``Threshold``, ``Ratio``, ``Attack``, ``Release``;
  ``OutputGain`` is the make-up gain and ``InputGain`` a ``gain`` before it.
- ``NoiseGate``: ``Threshold``, ``Range``, ``Attack``, ``Release``.
- ``Limiter``: ``Threshold`` is the ceiling, ``Attack`` the look-ahead.

A device that mixfarm wrote itself (``deviceVendor="mixfarm"``) carries its
effect, exactly, in the JSON file its ``State`` names (a convolution's
impulse response in the archive beside it), and its automatable parameters
under their automation keys. Every other device (VST2, VST3,
CLAP and AU plug-ins, a DAW's own devices) cannot run on the farm and is
reported as lost; a bypassed one (``Enabled`` false) is left out with a note.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

from .parameters import Scale, Target, UnitError, convert
from .xmlnode import Node

MIXFARM_VENDOR = "mixfarm"
"""The ``deviceVendor`` of the devices that mixfarm's export writes."""
PLUGIN_KINDS = {"Vst2Plugin": "VST2 plug-in", "Vst3Plugin": "VST3 plug-in", "ClapPlugin": "CLAP plug-in", "AuPlugin": "AU plug-in"}
DEVICE_TAGS = ("Device", "BuiltinDevice", "Equalizer", "Compressor", "NoiseGate", "Limiter", *PLUGIN_KINDS)
EQ_KINDS = {"highPass": "highpass", "lowPass": "lowpass", "bell": "bell", "lowShelf": "low_shelf", "highShelf": "high_shelf", "notch": "notch", "bandPass": "bandpass"}
PASS_ORDERS = {2: 12, 4: 24, 6: 36, 8: 48}
"""A pass filter's order -> its slope in dB/oct."""
PARAMETER_TAGS = ("RealParameter", "BoolParameter", "IntegerParameter", "EnumParameter")


@dataclasses.dataclass
class EffectDraft:
    """One effect on its way into a strip's ``fx``: its entry, and the word its id is made from if it gets automated.

    An ``optional`` effect (a device's input or output gain at 0 dB) is kept
    only if automation moves it.
    """

    spec: dict
    label: str
    optional: bool = False
    automated: bool = False


class DeviceReader:
    """Reads the devices of one strip, registering their parameters as automation targets."""

    def __init__(
        self, strip: object, where: str, targets: dict[str, Target], report, read_state: Callable[[Node, str], bytes], embedded: Callable[[Node, str], str]
    ) -> None:
        self.strip = strip
        self.where = where
        self.targets = targets
        self.report = report
        self.read_state = read_state
        self.embedded = embedded

    def read(self, devices: Node) -> list[EffectDraft]:
        """The effects of ``devices`` (a ``Devices`` element), in order."""
        effects: list[EffectDraft] = []
        for device in devices.children():
            name = device.get("deviceName") or device.get("name") or device.tag
            if device.tag not in DEVICE_TAGS:
                self.report.loss(self.where, device.path, f"<{device.tag}> {name!r}", "not a device this importer knows")
                continue
            enabled = device.child("Enabled")
            if enabled is not None and not enabled.flag("value", True):
                self.report.note(self.where, device.path, f"device {name!r}", "bypassed (Enabled is false): left out")
                continue
            if device.get("deviceVendor") == MIXFARM_VENDOR and device.child("State") is not None:
                effects.append(self._mixfarm(device))
            elif device.tag in PLUGIN_KINDS:
                self.report.loss(self.where, device.path, f"{PLUGIN_KINDS[device.tag]} {name!r}", "third-party plug-ins cannot run on the farm; the strip renders without it")
            elif device.tag == "Equalizer":
                effects += self._equalizer(device)
            elif device.tag == "Compressor":
                effects += self._compressor(device)
            elif device.tag == "NoiseGate":
                effects.append(self._gate(device))
            elif device.tag == "Limiter":
                effects += self._limiter(device)
            else:
                self.report.loss(self.where, device.path, f"device {name!r}", "a DAW's own device, which the farm does not have; the strip renders without it")
        return effects

    def _mixfarm(self, device: Node) -> EffectDraft:
        state = device.child("State")
        try:
            spec = json.loads(self.read_state(state, state.required("path")))
        except (ValueError, UnicodeDecodeError) as exc:
            raise state.error(f"the effect's state is not JSON ({exc})") from None
        if not isinstance(spec, dict):
            raise state.error("the effect's state must hold one JSON object")
        if isinstance(spec.get("ir_file"), str):
            spec["ir_file"] = self.embedded(state, spec["ir_file"])
        draft = EffectDraft(spec, str(spec.get("type", "fx")))
        parameters = device.child("Parameters")
        for parameter in parameters.children(*PARAMETER_TAGS) if parameters is not None else ():
            key, identifier = parameter.get("name"), parameter.get("id")
            if key and identifier:
                self.targets[identifier] = Target(self.strip, "plain", Scale(parameter.get("unit")), key=key)
        return draft

    def _value(
        self, parent: Node, tag: str, kind: str, fallback: float | None, effect: EffectDraft | None = None, parameter: str | None = None, adjust=None
    ) -> float | None:
        """The value of ``parent``'s parameter ``tag`` in mixfarm's unit, through ``adjust`` when given (``fallback``
        when absent or unreadable); registers it as a target whose points go through the same."""
        node = parent.child(tag)
        if node is None:
            return fallback
        scale = Scale(node.get("unit"), node.number("min"), node.number("max"))
        identifier = node.get("id")
        if identifier:
            refused = None if effect is not None else f"{tag} of {parent.tag} has no mixfarm parameter of its own to follow it"
            self.targets[identifier] = Target(self.strip, kind, scale, effect=effect, parameter=parameter, refused=refused, adjust=adjust)
        value = node.number("value")
        if value is None:
            return fallback
        try:
            value = convert(kind, value, scale)
        except UnitError as exc:
            self.report.loss(self.where, node.path, f"{parent.tag} {tag}", f"{exc}; the default is used")
            return fallback
        return adjust(value) if adjust is not None else value

    def _gain(self, parent: Node, tag: str) -> EffectDraft | None:
        """A ``gain`` effect for ``parent``'s ``InputGain`` or ``OutputGain`` (optional at 0 dB), or None without one."""
        if parent.child(tag) is None:
            return None
        draft = EffectDraft({"type": "gain", "gain_db": 0.0}, "gain")
        draft.spec["gain_db"] = self._value(parent, tag, "db", 0.0, draft, "gain_db")
        draft.optional = draft.spec["gain_db"] == 0.0
        return draft

    def _equalizer(self, device: Node) -> list[EffectDraft]:
        draft = EffectDraft({"type": "eq", "bands": []}, "eq")
        for band in device.children("Band"):
            kind = EQ_KINDS.get(band.required("type"))
            if kind is None:
                raise band.error(f"unknown band type {band.get('type')!r}; allowed: {', '.join(EQ_KINDS)}")
            index = len(draft.spec["bands"])
            entry = {"kind": kind, "freq_hz": self._value(band, "Freq", "hertz", 1000.0, draft, f"bands.{index}.freq_hz")}
            gain = self._value(band, "Gain", "db", None, draft, f"bands.{index}.gain_db")
            if gain is not None:
                entry["gain_db"] = gain
            q = self._value(band, "Q", "ratio", None, draft, f"bands.{index}.q")
            if q is not None:
                entry["q"] = q
            order = band.number("order")
            if kind in ("highpass", "lowpass") and order is not None:
                if int(order) in PASS_ORDERS:
                    entry["slope_db_oct"] = PASS_ORDERS[int(order)]
                else:
                    self.report.loss(self.where, band.path, f"{band.get('type')} band of order {order:g}", "mixfarm's pass filters have orders 2, 4, 6 and 8 (12 to 48 dB/oct); order 2 is used")
            enabled = band.child("Enabled")
            if enabled is not None and not enabled.flag("value", True):
                entry["enabled"] = False
            draft.spec["bands"].append(entry)
        return [effect for effect in (self._gain(device, "InputGain"), draft, self._gain(device, "OutputGain")) if effect is not None]

    def _compressor(self, device: Node) -> list[EffectDraft]:
        draft = EffectDraft({"type": "compressor"}, "compressor")
        spec = draft.spec
        spec["threshold_db"] = self._value(device, "Threshold", "db", 0.0, draft, "threshold_db")
        spec["ratio"] = self._value(device, "Ratio", "ratio", 1.0, draft, "ratio", adjust=_at_least_one)
        for tag, field in (("Attack", "attack_s"), ("Release", "release_s")):
            value = self._value(device, tag, "seconds", None, draft, field)
            if value is not None:
                spec[field] = value
        makeup = self._value(device, "OutputGain", "db", 0.0, draft, "makeup_db")
        if makeup:
            spec["makeup_db"] = makeup
        automakeup = device.child("AutoMakeup")
        if automakeup is not None and automakeup.flag("value", False):
            self.report.loss(self.where, automakeup.path, "compressor auto make-up", "mixfarm adds no automatic make-up gain; set makeup_db")
        return [effect for effect in (self._gain(device, "InputGain"), draft) if effect is not None]

    def _gate(self, device: Node) -> EffectDraft:
        draft = EffectDraft({"type": "gate"}, "gate")
        spec = draft.spec
        spec["threshold_db"] = self._value(device, "Threshold", "db", -60.0, draft, "threshold_db")
        range_db = self._value(device, "Range", "db", None, draft, "range_db", adjust=_attenuation)
        if range_db is not None:
            spec["range_db"] = range_db
        for tag, field in (("Attack", "attack_s"), ("Release", "release_s")):
            value = self._value(device, tag, "seconds", None, draft, field)
            if value is not None:
                spec[field] = value
        ratio = device.child("Ratio")
        if ratio is not None:
            self.report.loss(self.where, ratio.path, "noise gate ratio", "mixfarm's gate closes by its range, without an expansion ratio")
        return draft

    def _limiter(self, device: Node) -> list[EffectDraft]:
        draft = EffectDraft({"type": "limiter"}, "limiter")
        spec = draft.spec
        spec["ceiling_dbtp"] = self._value(device, "Threshold", "db", -1.0, draft, "ceiling_dbtp", adjust=_at_most_zero)
        lookahead = self._value(device, "Attack", "seconds", None, None, None)
        if lookahead is not None:
            spec["lookahead_s"] = min(max(lookahead, 0.0001), 0.1)
        release = self._value(device, "Release", "seconds", None, draft, "release_s")
        if release is not None:
            spec["release_s"] = release
        return [effect for effect in (self._gain(device, "InputGain"), draft, self._gain(device, "OutputGain")) if effect is not None]


def _at_least_one(ratio: float) -> float:
    """A compressor ratio: below 1:1 it would expand, which mixfarm's compressor does not."""
    return max(ratio, 1.0)


def _attenuation(range_db: float) -> float:
    """A gate's range as the attenuation it applies, in negative dB (DAWs write 80 dB or -80 dB alike)."""
    return -abs(range_db)


def _at_most_zero(ceiling_db: float) -> float:
    """A limiter's ceiling, at most 0 dBTP."""
    return min(ceiling_db, 0.0)
