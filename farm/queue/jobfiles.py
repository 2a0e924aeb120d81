"""Where the service keeps a job's files: a local folder or object storage.

Under the root (``mixfarm serve --data`` by default, or ``--storage``: a
folder or an fsspec URI such as ``s3://bucket/prefix``), a job's files lie in
``jobs/<id>/``: ``bundle/`` holds the unpacked upload (the session and the
files it names, and ``import_report.json`` when it came as a DAW project),
``out/`` the deliverables and ``report.json``. With a URI
root, render tasks read their own frame ranges of the stems from storage (the
head does not ship stems to them) and the finished outputs are uploaded there.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import uuid
from pathlib import Path

from farm.errors import StorageError
from farm.storage import Location

from .bundle import SESSION_NAMES

MAX_IMPORT_REPORT_BYTES = 8 * 1024 * 1024
"""The largest import report the service reads back to show it."""

log = logging.getLogger("mixfarm.jobfiles")


def job_folder(root: str | os.PathLike | Location, job_id: str) -> Location:
    """Where a job's bundle and outputs live under ``root``."""
    return Location.of(root).joinpath("jobs", job_id)


@dataclasses.dataclass(frozen=True)
class JobFiles:
    """The jobs' folders under ``root``: a local folder (a path or a ``file://`` URI) or a storage URI."""

    root: Location

    def __init__(self, root: str | os.PathLike | Location) -> None:
        object.__setattr__(self, "root", Location.of(root))

    def bundle(self, job_id: str) -> Location:
        """The folder of the job's unpacked bundle."""
        return job_folder(self.root, job_id).joinpath("bundle")

    def out(self, job_id: str) -> Location:
        """The folder of the job's outputs."""
        return job_folder(self.root, job_id).joinpath("out")

    def output(self, job_id: str, name: str) -> Location:
        """Where the job's output ``name`` (a path inside ``out/``) lies."""
        return self.out(job_id).joinpath(*name.split("/"))

    def check(self) -> None:
        """Make sure the root can be written: write a small probe file there and delete it.

        Raises StorageError naming the root.
        """
        probe = self.root.joinpath(f".mixfarm-probe-{uuid.uuid4().hex[:12]}")
        try:
            probe.write_bytes(b"mixfarm")
            probe.remove()
        except Exception as exc:  # noqa: BLE001 - any backend's failure means the same: unusable storage
            raise StorageError(f"storage {self.root}: cannot be written ({type(exc).__name__}: {exc})") from None

    def keep_bundle(self, job_id: str, staging: Path) -> None:
        """Store the bundle unpacked in ``staging/bundle`` as the job's bundle.

        A local root takes the staging folder as the job's folder (a rename
        on the same filesystem); a URI root gets every file uploaded.
        Raises StorageError.
        """
        try:
            if self.root.is_local:
                folder = job_folder(self.root, job_id).local_path
                folder.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(staging, folder)
            else:
                self.bundle(job_id).upload_folder_from(staging / "bundle")
        except Exception as exc:  # noqa: BLE001 - any backend's failure means the same: the bundle is not stored
            raise StorageError(f"storage {self.root}: cannot store the bundle of job {job_id} ({type(exc).__name__}: {exc})") from None

    def session_file(self, job_id: str) -> Location | None:
        """The session file at the root of the job's bundle, or None."""
        locations = (self.bundle(job_id).joinpath(name) for name in SESSION_NAMES)
        return next((location for location in locations if location.is_file()), None)

    def import_report(self, job_id: str) -> dict | None:
        """The report of the project import that made the job's session, or None when it was sent as a session.

        Raises StorageError when storage cannot be read.
        """
        from farm.projects import IMPORT_REPORT_NAME

        location = self.bundle(job_id).joinpath(IMPORT_REPORT_NAME)
        try:
            if not location.is_file() or location.size() > MAX_IMPORT_REPORT_BYTES:
                return None
            text = location.read_text()
        except OSError as exc:
            raise StorageError(f"storage {self.root}: cannot read the import report of job {job_id} ({exc})") from None
        try:
            report = json.loads(text)
        except (ValueError, RecursionError):
            return None
        return report if _is_import_report(report) else None

    def clear_out(self, job_id: str) -> None:
        """Delete the job's outputs (before it renders again)."""
        self.out(job_id).remove()

    def purge(self, job_id: str) -> None:
        """Delete the job's folder (bundle, outputs, work folders left by a render that died); raises StorageError."""
        try:
            job_folder(self.root, job_id).remove()
        except Exception as exc:  # noqa: BLE001 - any backend's failure means the same: the files stay
            raise StorageError(f"storage {self.root}: cannot delete the files of job {job_id} ({type(exc).__name__}: {exc})") from None

    def remove(self, job_id: str) -> None:
        """Delete the job's folder, as far as storage lets: a failure is logged, not raised."""
        try:
            job_folder(self.root, job_id).remove()
        except Exception as exc:  # noqa: BLE001 - cleanup must not hide the error that caused it
            log.warning("storage %s: could not delete the files of job %s: %s", self.root, job_id, exc)


def _is_import_report(report: object) -> bool:
    """Whether ``report`` has the shape of an import report (a bundle sent as a session may carry any file by that name)."""
    if not isinstance(report, dict):
        return False
    texts = all(isinstance(report.get(field), str) for field in ("project", "format", "application"))
    counts = all(isinstance(report.get(field), int) for field in ("tracks", "buses", "clips"))
    findings = all(
        isinstance(report.get(field), list)
        and all(isinstance(item, dict) and all(isinstance(item.get(key), str) for key in ("where", "element", "what", "why")) for item in report[field])
        for field in ("losses", "notes")
    )
    return texts and counts and findings
