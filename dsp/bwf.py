"""Broadcast Wave metadata: the ``bext`` chunk (EBU Tech 3285 version 2, with its loudness fields) and a ``LIST``/``INFO`` chunk.

libsndfile writes the WAV file; :func:`add_wav_metadata` then rewrites its
chunks as ``fmt``, any others libsndfile wrote, ``bext``, ``LIST``, then
``data`` last, its samples copied unchanged. The loudness fields can only be
known once the samples are measured, which is why the chunks come after.
"""

from __future__ import annotations

import dataclasses
import math
import os
import struct
import unicodedata
from pathlib import Path

from .errors import AudioFileError

BEXT_VERSION = 2
"""EBU Tech 3285 version 2 adds the loudness fields of EBU R 128."""
LOUDNESS_NOT_SET = 0x7FFF
"""What a loudness field holds when there is no value (silence has no integrated loudness)."""
_BEXT_FIXED = struct.Struct("<256s32s32s10s8sIIH64s5h180s")
_CHUNK_HEADER = struct.Struct("<4sI")
_COPY_BYTES = 1 << 20

INFO_IDS = {
    "title": b"INAM",
    "artist": b"IART",
    "album": b"IPRD",
    "genre": b"IGNR",
    "date": b"ICRD",
    "copyright": b"ICOP",
    "comment": b"ICMT",
    "software": b"ISFT",
    "track_number": b"ITRK",
}
"""The RIFF INFO ids (Microsoft's Multimedia Programming Interface and Data Specifications 1.0, and ITRK as players use it) of the fields written."""


@dataclasses.dataclass(frozen=True)
class BroadcastExtension:
    """The fields of a ``bext`` chunk. Text is written as ASCII (see :func:`_ascii`), cut to each field's size.

    Loudness in LUFS, LU and dBTP, as measured per EBU R 128 (None: not set).
    ``coding_history`` is EBU R 98's lines, e.g. ``A=PCM,F=48000,W=24,M=stereo,T=mixfarm``.
    """

    description: str = ""
    originator: str = ""
    originator_reference: str = ""
    origination_date: str = ""
    origination_time: str = ""
    time_reference_samples: int = 0
    loudness_value_lufs: float | None = None
    loudness_range_lu: float | None = None
    max_true_peak_dbtp: float | None = None
    max_momentary_lufs: float | None = None
    max_short_term_lufs: float | None = None
    coding_history: tuple[str, ...] = ()

    def to_bytes(self) -> bytes:
        """The chunk's body."""
        history = "".join(line + "\r\n" for line in self.coding_history)
        fixed = _BEXT_FIXED.pack(
            _ascii(self.description, 256),
            _ascii(self.originator, 32),
            _ascii(self.originator_reference, 32),
            _ascii(self.origination_date, 10),
            _ascii(self.origination_time, 8),
            self.time_reference_samples & 0xFFFFFFFF,
            self.time_reference_samples >> 32,
            BEXT_VERSION,
            bytes(64),
            *(
                _hundredths(value)
                for value in (self.loudness_value_lufs, self.loudness_range_lu, self.max_true_peak_dbtp, self.max_momentary_lufs, self.max_short_term_lufs)
            ),
            bytes(180),
        )
        return fixed + history.encode("ascii", "replace")


def _ascii(text: str, size: int) -> bytes:
    """``text`` as at most ``size`` ASCII bytes: accented letters as their base letter, characters ASCII lacks dropped."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore")[:size]


def _hundredths(value: float | None) -> int:
    """A loudness field: the value in hundredths, held to int16, or :data:`LOUDNESS_NOT_SET`."""
    if value is None or not math.isfinite(value):
        return LOUDNESS_NOT_SET
    return max(-32768, min(32766, round(value * 100)))


def info_chunk(fields: dict[bytes, str]) -> bytes:
    """A ``LIST`` chunk of type ``INFO`` holding ``fields`` (INFO id -> text, written as UTF-8, zero-terminated)."""
    body = b"INFO"
    for chunk_id, text in fields.items():
        value = text.encode("utf-8") + b"\0"
        body += _chunk(chunk_id, value)
    return _chunk(b"LIST", body)


def _chunk(chunk_id: bytes, body: bytes) -> bytes:
    return _CHUNK_HEADER.pack(chunk_id, len(body)) + body + (b"\0" if len(body) % 2 else b"")


def add_wav_metadata(path: str | os.PathLike, bext: BroadcastExtension, info: dict[bytes, str]) -> None:
    """Give the WAV file at ``path`` a ``bext`` chunk and (when ``info`` has fields) a ``LIST``/``INFO`` chunk, before its ``data``.

    Chunks of those kinds already in the file are replaced; the samples are
    not touched. Raises AudioFileError naming the file if it is not a RIFF
    WAVE file with a ``data`` chunk.
    """
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    with open(path, "rb") as source:
        kept, data_at, data_size = _read_chunks(path, source)
        extra = _chunk(b"bext", bext.to_bytes()) + (info_chunk(info) if info else b"")
        body_size = 4 + sum(len(chunk) for chunk in kept) + len(extra) + _CHUNK_HEADER.size + data_size + data_size % 2
        if body_size > 0xFFFFFFFF:
            raise AudioFileError(f"{path}: too large for a RIFF file's metadata ({body_size} bytes)")
        with open(partial, "wb") as target:
            target.write(_CHUNK_HEADER.pack(b"RIFF", body_size) + b"WAVE")
            for chunk in kept:
                target.write(chunk)
            target.write(extra)
            target.write(_CHUNK_HEADER.pack(b"data", data_size))
            source.seek(data_at)
            _copy(source, target, data_size)
            if data_size % 2:
                target.write(b"\0")
    os.replace(partial, path)


def _read_chunks(path: Path, source) -> tuple[list[bytes], int, int]:
    """The chunks of a WAV file to keep (whole, header included), and where its samples start and how many bytes they take."""
    header = source.read(12)
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        raise AudioFileError(f"{path}: not a RIFF WAVE file")
    kept: list[bytes] = []
    while True:
        head = source.read(_CHUNK_HEADER.size)
        if len(head) < _CHUNK_HEADER.size:
            raise AudioFileError(f"{path}: no data chunk")
        chunk_id, size = _CHUNK_HEADER.unpack(head)
        if chunk_id == b"data":
            return kept, source.tell(), size
        body = source.read(size + size % 2)
        if chunk_id == b"bext" or (chunk_id == b"LIST" and body[:4] == b"INFO"):
            continue
        kept.append(head + body)


def _copy(source, target, size: int) -> None:
    while size > 0:
        data = source.read(min(size, _COPY_BYTES))
        if not data:
            raise AudioFileError(f"{source.name}: the data chunk ends early")
        target.write(data)
        size -= len(data)

