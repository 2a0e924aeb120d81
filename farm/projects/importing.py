"""Importing a project: pick the reader by the file's ending, write the session, its media and the report, check the session."""

from __future__ import annotations

import dataclasses
import json
import struct
import wave
from pathlib import Path

from farm.errors import ProjectError, SessionError

from .media import DEFAULT_MAX_MEDIA_BYTES, MediaFolder
from .report import ImportReport

SESSION_NAME = "session.yaml"
IMPORT_REPORT_NAME = "import_report.json"
UNEXPECTED = (ValueError, TypeError, AttributeError, LookupError, ArithmeticError, RecursionError, RuntimeError, struct.error, wave.Error, EOFError)
"""What a reader raises on a project shaped in a way it did not foresee; reported as a ProjectError naming the file,
never as a traceback. (ProjectError itself is a ValueError and passes through unchanged.)"""
FORMATS = {".dawproject": "dawproject", ".rpp": "reaper", ".aaf": "aaf"}
"""Project file ending -> the format read."""


@dataclasses.dataclass(frozen=True)
class Imported:
    """An imported project: the session file written, its document and the report."""

    session_path: Path
    document: dict
    report: ImportReport


def project_format(path: Path) -> str:
    """The format of the project ``path`` by its ending; an ending no reader takes is an error that lists those that are."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ProjectError(f"{path.name}: not a project mixfarm imports; it reads {', '.join(sorted(FORMATS))} files")
    return fmt


def import_project(project: Path, out_dir: Path, *, force: bool = False, max_media_bytes: int = DEFAULT_MAX_MEDIA_BYTES) -> Imported:
    """Import ``project`` into the folder ``out_dir``: ``session.yaml``, ``media/`` and ``import_report.json``.

    Raises
    ------
    farm.errors.ProjectError
        The project cannot be read (naming the file and the element), or
        ``out_dir`` already holds a session and ``force`` is not given.
    farm.errors.SessionError
        The session written does not validate (``session.yaml`` is removed;
        the report stays).
    """
    from farm.session import load
    from farm.session.writing import dump_session

    fmt = project_format(project)
    if not project.is_file():
        raise ProjectError(f"{project}: no such project file")
    session_path = out_dir / SESSION_NAME
    if session_path.exists() and not force:
        raise ProjectError(f"{session_path}: already exists; pass --force to replace it")
    out_dir.mkdir(parents=True, exist_ok=True)
    report = ImportReport(project.name, fmt)
    media = MediaFolder(out_dir, max_media_bytes)
    try:
        document = _reader(fmt)(project, media, report).read()
    except ProjectError:
        raise
    except UNEXPECTED as exc:
        raise ProjectError(f"{project.name}: cannot be read as {fmt}: {type(exc).__name__}: {str(exc)[:200]}") from None
    report.media = media.entries
    session_path.write_text(dump_session(document), encoding="utf-8")
    (out_dir / IMPORT_REPORT_NAME).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    try:
        load(session_path)
    except SessionError:
        session_path.unlink()
        raise
    return Imported(session_path, document, report)


def _reader(fmt: str):
    if fmt == "dawproject":
        from .dawproject.importer import DawProjectImporter

        return DawProjectImporter
    if fmt == "reaper":
        from .reaper import ReaperImporter

        return ReaperImporter
    if fmt == "aaf":
        from .aaf import AafImporter

        return AafImporter
    raise ProjectError(f"no reader for {fmt}")
