"""DAW projects in and out: import DAWproject, REAPER and AAF projects as sessions, export a session as a DAWproject.

:func:`import_project` reads a project by its file name's ending, writes
``DIR/session.yaml`` with the media in ``DIR/media`` and the loss report
``DIR/import_report.json`` (:mod:`.report`), and checks the session as a
render would.
"""

from .importing import (
    IMPORT_REPORT_NAME,
    SESSION_NAME,
    Imported,
    import_project,
    project_format,
)

__all__ = ["IMPORT_REPORT_NAME", "SESSION_NAME", "Imported", "import_project", "project_format"]
