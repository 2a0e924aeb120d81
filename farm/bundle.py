"""Session bundles: a zip holding a session file at its root and the files it names.

Unpacking refuses anything that could write outside the target folder
(absolute names, ``..``, links), archives whose content would exceed the
size limit once unpacked, and bundles without a session file.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from .errors import FarmError
from .session import load

MAX_ENTRIES = 10_000
SESSION_NAMES = ("session.yaml", "session.yml", "session.json")
"""The names a bundle's session file may have, at its root."""


class BundleError(FarmError, ValueError):
    """A bundle cannot be accepted; the message says why."""


def unpack_bundle(source: str | os.PathLike | io.IOBase, target: Path, max_unpacked_bytes: int) -> Path:
    """Unpack a bundle zip into ``target`` (created) and return its session file's path.

    Raises BundleError before writing anything if the archive is unsafe,
    too large or has no session file.
    """
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"bundle: not a zip archive ({exc})") from None
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            raise BundleError(f"bundle: holds {len(entries)} entries, at most {MAX_ENTRIES} are allowed")
        total = 0
        for entry in entries:
            _check_entry(entry)
            total += entry.file_size
            if total > max_unpacked_bytes:
                raise BundleError(f"bundle: unpacks to more than the limit of {max_unpacked_bytes} bytes")
        names = {entry.filename for entry in entries if not entry.is_dir()}
        if not any(name in names for name in SESSION_NAMES):
            raise BundleError(f"bundle: no session file at its root (expected one of: {', '.join(SESSION_NAMES)})")
        target.mkdir(parents=True, exist_ok=True)
        root = target.resolve()
        for entry in entries:
            destination = (root / entry.filename).resolve()
            if root not in destination.parents:
                raise BundleError(f"bundle: entry {entry.filename!r} would be written outside the bundle folder")
            if entry.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(entry) as reader, open(destination, "wb") as writer:
                    written = 0
                    while chunk := reader.read(1 << 20):
                        written += len(chunk)
                        if written > entry.file_size:
                            raise BundleError(f"bundle: entry {entry.filename!r} is larger than its header says")
                        writer.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                raise BundleError(f"bundle: entry {entry.filename!r} is corrupt or unsupported ({exc})") from None
    session = session_file(target)
    if session is None:
        raise BundleError(f"bundle: no session file at its root (expected one of: {', '.join(SESSION_NAMES)})")
    return session


def session_file(bundle: Path) -> Path | None:
    """The session file at the root of an unpacked bundle, or None."""
    return next((bundle / name for name in SESSION_NAMES if (bundle / name).is_file()), None)


def _check_entry(entry: zipfile.ZipInfo) -> None:
    name = entry.filename
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise BundleError(f"bundle: entry {name!r} has an absolute path")
    if ".." in path.parts:
        raise BundleError(f"bundle: entry {name!r} climbs out of the bundle with '..'")
    if stat.S_ISLNK(entry.external_attr >> 16):
        raise BundleError(f"bundle: entry {name!r} is a symbolic link; links are not accepted")


def pack_bundle(path: str | os.PathLike) -> bytes:
    """Zip a session for upload: a folder with a session file at its root as it is,
    or a session file with every file it names (stems, impulse responses)."""
    path = Path(path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if path.is_dir():
            if session_file(path) is None:
                raise BundleError(f"{path}: no session file at the folder's root (expected one of: {', '.join(SESSION_NAMES)})")
            for item in sorted(path.rglob("*")):
                if item.is_file():
                    archive.write(item, item.relative_to(path).as_posix())
        else:
            loaded = load(path)
            archive.write(path, "session.json" if path.suffix.lower() == ".json" else "session.yaml")
            named = {posixpath.normpath(PurePosixPath(name).as_posix()) for name in set(loaded.files) | _impulse_responses(loaded.session)}
            for relative in sorted(named):
                archive.write(loaded.folder / relative, relative)
    return buffer.getvalue()


def _impulse_responses(session) -> set[str]:
    strips = list(session.tracks) + list(session.buses)
    chains = [strip.fx for strip in strips] + [session.master.fx]
    return {spec.ir_file for chain in chains for spec in chain if getattr(spec, "type", None) == "convolution"}
