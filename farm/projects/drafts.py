"""What every importer builds before it writes a strip: the mixer settings a track or bus carries, and its routing."""

from __future__ import annotations

import dataclasses

TIME_DECIMALS = 9
"""Imported times are rounded to the nanosecond, so that seconds written in a project come back as written."""
FADER_DEFAULTS = (("gain_db", 0.0), ("pan", 0.0), ("mute", False), ("solo", False))


@dataclasses.dataclass(eq=False)
class MixerDraft:
    """A strip on its way into a session: its project name, fader, pan, mute, solo and automation, whether other
    strips play into it (which makes it a bus), the strip a split-off track of its clips feeds, and its session name.

    Drafts compare by identity: two strips with the same settings are still two strips.
    """

    name: str
    gain_db: float = 0.0
    pan: float = 0.0
    mute: bool = False
    solo: bool = False
    automation: dict[str, list] = dataclasses.field(default_factory=dict)
    receives: bool = False
    feeds: "MixerDraft | None" = None
    session_name: str = ""

    def mixer_fields(self) -> dict:
        """The session fields of the fader, pan, mute and solo that differ from their defaults, with the name first."""
        entry: dict = {"name": self.session_name}
        entry.update({field: getattr(self, field) for field, default in FADER_DEFAULTS if getattr(self, field) != default})
        return entry
