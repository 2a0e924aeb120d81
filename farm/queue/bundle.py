"""Session bundles: a zip holding a session file at its root and the files it names, or a DAW project and its media.

Unpacking refuses anything that could write outside the target folder
(absolute names, ``..``, links), entry names longer or deeper than a
filesystem takes, archives whose content would exceed the size limit once
unpacked, and bundles without a session file or project. A bundle with a
project (``.dawproject``, ``.rpp``, ``.aaf``) at its root and no session file
is imported as it is unpacked (:mod:`farm.projects`): the session, its media
and ``import_report.json`` are written beside the project, and a project
archive whose media were taken out of it is removed. What the import writes
counts against the same limit, as what stays of the bundle once imported.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from farm.album import is_album
from farm.errors import BundleError, BundleTooLarge, ProjectError
from farm.projects import IMPORT_REPORT_NAME, PROJECT_SUFFIXES, import_project
from farm.session import load, read_document
from farm.storage import Location

MAX_ENTRIES = 10_000
MAX_NAME_CHARS = 1024
"""The longest entry name accepted (characters, folders included)."""
MAX_NAME_PART_BYTES = 255
"""The longest file or folder name in an entry name (UTF-8 bytes: what filesystems allow)."""
MAX_DEPTH = 32
"""The most folders an entry may lie in, plus one for the entry itself."""
SESSION_NAMES = ("session.yaml", "session.yml", "session.json", "album.yaml", "album.yml", "album.json")
"""The names a bundle's session file (or album file, format mixfarm-album/1) may have, at its root."""
ALBUM_NAME = "album.yaml"
ARCHIVED_MEDIA = (".dawproject", ".aaf")
"""Project kinds that carry their media inside; once imported, the project file is removed from the bundle."""
_EXPECTED = f"expected one of: {', '.join(SESSION_NAMES)}, or a {', '.join(PROJECT_SUFFIXES)} project"


def check_bundle(source: str | os.PathLike | io.IOBase, max_unpacked_bytes: int) -> int:
    """Check a bundle zip without unpacking it; returns the bytes it unpacks to.

    Raises BundleError if the archive is unsafe or has no session file, and
    BundleTooLarge if it unpacks to more than ``max_unpacked_bytes``.
    """
    with _open(source) as archive:
        return _checked_size(archive.infolist(), max_unpacked_bytes)


def unpack_bundle(source: str | os.PathLike | io.IOBase, target: Path, max_unpacked_bytes: int) -> Path:
    """Unpack a bundle zip into ``target`` (created) and return its session file's path.

    Raises BundleError (BundleTooLarge for the size) before writing anything
    if the archive is unsafe, too large or has no session file; BundleError
    too for an entry that is corrupt or collides with another. Any other
    OSError (a full disk, say) is raised as it comes.
    """
    with _open(source) as archive:
        entries = archive.infolist()
        unpacked_bytes = _checked_size(entries, max_unpacked_bytes)
        target.mkdir(parents=True, exist_ok=True)
        root = target.resolve()
        for entry in entries:
            _unpack_entry(archive, entry, root)
    session = session_file(target)
    if session is not None:
        return session
    projects = sorted(path for path in target.iterdir() if path.is_file() and path.suffix.lower() in PROJECT_SUFFIXES)
    if len(projects) != 1:
        raise BundleError(f"bundle: {len(projects)} projects at its root ({', '.join(path.name for path in projects)}); send one")
    try:
        kept_bytes = unpacked_bytes - (projects[0].stat().st_size if projects[0].suffix.lower() in ARCHIVED_MEDIA else 0)
        imported = import_project(projects[0], target, max_media_bytes=max(max_unpacked_bytes - kept_bytes, 0))
    except ProjectError as exc:
        message = str(exc)
        for folder in {str(target.resolve()), str(target)}:
            message = message.replace(folder + "/", "").replace(folder, ".")
        raise BundleError(f"bundle: {message}") from None
    if projects[0].suffix.lower() in ARCHIVED_MEDIA:
        projects[0].unlink()
    return imported.session_path


def import_report(bundle: Path) -> Path | None:
    """The import report of an unpacked bundle that held a project, or None."""
    path = bundle / IMPORT_REPORT_NAME
    return path if path.is_file() else None


def _open(source: str | os.PathLike | io.IOBase) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"bundle: not a zip archive ({exc})") from None


def _checked_size(entries: list[zipfile.ZipInfo], max_unpacked_bytes: int) -> int:
    """The bytes ``entries`` unpack to, once each is checked; see :func:`check_bundle`."""
    if len(entries) > MAX_ENTRIES:
        raise BundleError(f"bundle: holds {len(entries)} entries, at most {MAX_ENTRIES} are allowed")
    for entry in entries:
        _check_entry(entry)
    total = sum(entry.file_size for entry in entries)
    if total > max_unpacked_bytes:
        raise BundleTooLarge(total, max_unpacked_bytes)
    names = {entry.filename for entry in entries if not entry.is_dir()}
    projects = [name for name in names if "/" not in name and PurePosixPath(name).suffix.lower() in PROJECT_SUFFIXES]
    if not any(name in names for name in SESSION_NAMES) and not projects:
        raise BundleError(f"bundle: no session file or project at its root ({_EXPECTED})")
    return total


def _unpack_entry(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, root: Path) -> None:
    """Write one checked entry under ``root``, never more bytes than its header declares."""
    destination = (root / entry.filename).resolve()
    if root not in destination.parents:
        raise BundleError(f"bundle: entry {entry.filename!r} would be written outside the bundle folder")
    try:
        if entry.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
            return
        destination.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(entry) as reader, open(destination, "wb") as writer:
            written = 0
            while chunk := reader.read(1 << 20):
                written += len(chunk)
                if written > entry.file_size:
                    raise BundleError(f"bundle: entry {entry.filename!r} is larger than its header says")
                writer.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise BundleError(f"bundle: entry {entry.filename!r} is corrupt or unsupported ({exc})") from None
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        raise BundleError(f"bundle: entry {entry.filename!r} collides with another entry (a file and a folder of the same name)") from None


def session_file(bundle: Path) -> Path | None:
    """The session file at the root of an unpacked bundle, or None."""
    return next((bundle / name for name in SESSION_NAMES if (bundle / name).is_file()), None)


def _check_entry(entry: zipfile.ZipInfo) -> None:
    name = entry.filename
    shown = name if len(name) <= 80 else f"{name[:80]}..."
    path = PurePosixPath(name.replace("\\", "/"))
    if len(name) > MAX_NAME_CHARS:
        raise BundleError(f"bundle: entry {shown!r} has a name of {len(name)} characters, at most {MAX_NAME_CHARS} are allowed")
    if len(path.parts) > MAX_DEPTH:
        raise BundleError(f"bundle: entry {shown!r} lies {len(path.parts)} levels deep, at most {MAX_DEPTH} are allowed")
    longest = max(path.parts, key=lambda part: len(part.encode()), default="")
    if len(longest.encode()) > MAX_NAME_PART_BYTES:
        raise BundleError(f"bundle: entry {shown!r} has a file or folder name of {len(longest.encode())} bytes, at most {MAX_NAME_PART_BYTES} are allowed")
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise BundleError(f"bundle: entry {name!r} has an absolute path")
    if ".." in path.parts:
        raise BundleError(f"bundle: entry {name!r} climbs out of the bundle with '..'")
    if stat.S_ISLNK(entry.external_attr >> 16):
        raise BundleError(f"bundle: entry {name!r} is a symbolic link; links are not accepted")


def pack_bundle(path: str | os.PathLike) -> bytes:
    """Zip a session for upload: a folder with a session file at its root as it is,
    a session file with every file it names (stems, impulse responses, the
    reference), an album file with its folder (as album.yaml), or a DAW
    project, imported here (its media gathered, its import report beside it)."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() in PROJECT_SUFFIXES:
        with tempfile.TemporaryDirectory(prefix="mixfarm-import-") as folder:
            try:
                import_project(path, Path(folder))
            except ProjectError as exc:
                raise BundleError(str(exc)) from None
            return pack_bundle(folder)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if path.is_dir():
            if session_file(path) is None:
                raise BundleError(f"{path}: no session file at the folder's root (expected one of: {', '.join(SESSION_NAMES)})")
            for item in sorted(path.rglob("*")):
                if item.is_file():
                    archive.write(item, item.relative_to(path).as_posix())
        elif is_album(read_document(Location.of(path))):
            archive.write(path, ALBUM_NAME)
            for item in sorted(path.parent.rglob("*")):
                if item.is_file() and item != path and not any(part.startswith(".") for part in item.relative_to(path.parent).parts):
                    archive.write(item, item.relative_to(path.parent).as_posix())
        else:
            loaded = load(path, max_duration_s=None)
            archive.write(path, "session.json" if path.suffix.lower() == ".json" else "session.yaml")
            named = {posixpath.normpath(PurePosixPath(name).as_posix()) for name in set(loaded.files) | _other_files(loaded.session)}
            for relative in sorted(named):
                archive.write(loaded.folder.local_path / relative, relative)
    return buffer.getvalue()


def _other_files(session) -> set[str]:
    """The files a session names besides its stems: impulse responses and the reference for matching."""
    strips = list(session.tracks) + list(session.buses)
    chains = [strip.fx for strip in strips] + [session.master.fx]
    named = {spec.ir_file for chain in chains for spec in chain if getattr(spec, "type", None) == "convolution"}
    return named | ({session.master.match.reference} if session.master.match else set())
