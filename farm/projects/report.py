"""The import report: what a DAW project held that the session could not take, and what was left out on purpose.

Nothing of a project is dropped without a word. A *loss* changes what the
session sounds like or holds against the project (a third-party plug-in, a
MIDI track, a stretched clip); a *note* records something left out that
changes nothing audible (a bypassed device, a disabled send, an empty track).
``mixfarm import --strict`` fails on any loss.
"""

from __future__ import annotations

import dataclasses

MAX_LISTED = 50
"""The most losses and notes written to the terminal; the report file holds them all."""


@dataclasses.dataclass(frozen=True)
class Finding:
    """One thing not translated: where it was (a strip or ``project``), the project element, what it is and why."""

    where: str
    element: str
    what: str
    why: str

    def line(self) -> str:
        """One line for the terminal: ``where: what (element): why``."""
        return f"{self.where}: {self.what} ({self.element}): {self.why}"


@dataclasses.dataclass
class ImportReport:
    """What an import found and did: the project, the session written and every loss and note."""

    project: str
    format: str
    application: str = ""
    losses: list[Finding] = dataclasses.field(default_factory=list)
    notes: list[Finding] = dataclasses.field(default_factory=list)
    media: list[dict] = dataclasses.field(default_factory=list)
    counts: dict[str, int] = dataclasses.field(default_factory=dict)

    def loss(self, where: str, element: str, what: str, why: str) -> None:
        """Record something the session lacks against the project."""
        self.losses.append(Finding(where, element, what, why))

    def note(self, where: str, element: str, what: str, why: str) -> None:
        """Record something left out that changes nothing audible."""
        self.notes.append(Finding(where, element, what, why))

    def to_dict(self) -> dict:
        """The report as ``import_report.json`` holds it."""
        return {
            "project": self.project,
            "format": self.format,
            "application": self.application,
            **self.counts,
            "media": self.media,
            "losses": [dataclasses.asdict(finding) for finding in self.losses],
            "notes": [dataclasses.asdict(finding) for finding in self.notes],
        }

    def lines(self, command: str) -> list[str]:
        """The losses and notes as terminal lines, at most :data:`MAX_LISTED` of each."""
        out = []
        for label, findings in (("lost", self.losses), ("left out", self.notes)):
            out += [f"{command}: {label}: {finding.line()}" for finding in findings[:MAX_LISTED]]
            if len(findings) > MAX_LISTED:
                out.append(f"{command}: {label}: ... and {len(findings) - MAX_LISTED} more (see the report)")
        return out
