"""Writing DAWproject archives for the import tests: project.xml as the test gives it, audio made on the spot."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import soundfile

from farm.projects.dawproject.schema import problems


def wav_bytes(audio: np.ndarray, rate: int = 48000) -> bytes:
    """``audio`` (frames, channels) as a 32-bit float WAV file."""
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, format="WAV", subtype="FLOAT")
    return buffer.getvalue()


def project_xml(structure: str, lanes: str = "", tempo_bpm: float | None = 120.0, extra: str = "") -> str:
    """A whole project.xml around the given Structure and arrangement Lanes contents."""
    transport = f'<Transport><Tempo id="tempo" unit="bpm" value="{tempo_bpm}"/></Transport>' if tempo_bpm is not None else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Project version="1.0"><Application name="mixfarm tests" version="1"/>'
        f'{transport}<Structure>{structure}</Structure>'
        f'<Arrangement id="arrangement"><Lanes id="lanes" timeUnit="beats">{lanes}</Lanes>{extra}</Arrangement></Project>'
    )


def write_dawproject(path: Path, xml: str, files: dict[str, bytes] | None = None, title: str | None = None, check: bool = True) -> Path:
    """Write a .dawproject archive holding ``xml`` as project.xml and ``files`` by their archive paths; by default the XML must be valid against Project.xsd."""
    if check:
        found = problems(xml.encode(), "Project.xsd")
        assert not found, found
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.xml", xml)
        if title is not None:
            archive.writestr("metadata.xml", f"<MetaData><Title>{title}</Title></MetaData>")
        for name, data in (files or {}).items():
            archive.writestr(name, data)
    return path
