"""DAW projects in and out: import DAWproject, REAPER and AAF projects as sessions, export a session as a DAWproject.

:func:`import_project` reads a project by its file name's ending, writes
``DIR/session.yaml`` with the media in ``DIR/media`` and the loss report
``DIR/import_report.json`` (:mod:`.report`), and checks the session as a
render would.
"""

from .importing import (
    FORMATS,
    IMPORT_REPORT_NAME,
    SESSION_NAME,
    Imported,
    import_project,
    project_format,
)

PROJECT_SUFFIXES = tuple(FORMATS)
"""The file endings of the projects that :func:`import_project` reads."""

__all__ = ["IMPORT_REPORT_NAME", "PROJECT_SUFFIXES", "SESSION_NAME", "Imported", "import_project", "project_format"]
