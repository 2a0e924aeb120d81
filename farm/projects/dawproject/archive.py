"""Opening a ``.dawproject`` file: a zip archive with ``project.xml``, ``metadata.xml`` and the audio."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

from farm.errors import ProjectError

from .xmlnode import Node, parse

PROJECT_XML = "project.xml"
METADATA_XML = "metadata.xml"
MAX_XML_BYTES = 64 * 1024 * 1024
"""The largest ``project.xml`` or ``metadata.xml`` read, unpacked, in bytes."""
MAX_ARCHIVE_ENTRIES = 100_000
MAX_STATE_BYTES = 1024 * 1024
"""The largest device state file read, in bytes."""


class Archive:
    """An open ``.dawproject`` archive; ``name`` is how messages call it."""

    def __init__(self, path: Path) -> None:
        self.name = path.name
        try:
            self.zip = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise ProjectError(f"{self.name}: not a DAWproject file: not a readable zip archive ({exc})") from None
        except OSError as exc:
            raise ProjectError(f"{self.name}: cannot be read ({exc.strerror or exc})") from None
        if len(self.zip.infolist()) > MAX_ARCHIVE_ENTRIES:
            raise ProjectError(f"{self.name}: holds {len(self.zip.infolist())} files; a project archive may hold at most {MAX_ARCHIVE_ENTRIES}")

    def close(self) -> None:
        self.zip.close()

    def has(self, member: str) -> bool:
        """Whether the archive holds ``member``."""
        return member in self.zip.NameToInfo

    def xml(self, member: str, required: bool = True) -> Node | None:
        """The parsed XML file ``member`` of the archive (None when absent and not ``required``)."""
        if not self.has(member):
            if required:
                raise ProjectError(f"{self.name}: not a DAWproject file: it holds no {member}")
            return None
        return parse(self.read(member, MAX_XML_BYTES), f"{self.name}: {member}")

    def read(self, member: str, limit_bytes: int) -> bytes:
        """The bytes of ``member``, refused past ``limit_bytes`` however its header states its size."""
        info = self.zip.getinfo(member)
        if info.file_size > limit_bytes:
            raise ProjectError(f"{self.name}: {member} unpacks to {info.file_size} bytes, over the limit of {limit_bytes}")
        try:
            with self.zip.open(info) as handle:
                data = handle.read(limit_bytes + 1)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError) as exc:
            raise ProjectError(f"{self.name}: {member} is damaged, truncated, encrypted or compressed in a way zip readers lack ({exc})") from None
        if len(data) > limit_bytes:
            raise ProjectError(f"{self.name}: {member} unpacks to more than {limit_bytes} bytes")
        return data
