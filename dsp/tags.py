"""Tags written into audio files, each format its own way.

- FLAC and Opus: Vorbis comments (field names as the Xiph.Org recommendation
  and common players use them: ``TITLE``, ``ISRC``, ``BARCODE``...);
- MP3 and AIFF: ID3v2.3 frames (``TIT2``, ``TSRC`` for the ISRC...), AIFF in
  its ``ID3`` chunk;
- AAC (MP4): iTunes atoms, the ISRC and barcode as iTunes freeform atoms;
- WAV: a ``LIST``/``INFO`` chunk and a Broadcast Wave ``bext`` chunk
  (:mod:`dsp.bwf`).

mutagen writes every format but WAV's chunks.
"""

from __future__ import annotations

import dataclasses
import os

import mutagen
from mutagen import id3
from mutagen.aiff import AIFF
from mutagen.flac import FLAC
from mutagen.mp4 import MP4, MP4FreeForm
from mutagen.oggopus import OggOpus

from . import bwf
from .errors import AudioFileError

SOFTWARE = "mixfarm"


@dataclasses.dataclass(frozen=True)
class Tags:
    """What a file says about its song; None where unknown. ``date`` is ``YYYY`` or ``YYYY-MM-DD``."""

    title: str | None = None
    artist: str | None = None
    album: str | None = None
    album_artist: str | None = None
    composer: str | None = None
    genre: str | None = None
    date: str | None = None
    isrc: str | None = None
    barcode: str | None = None
    copyright: str | None = None
    publisher: str | None = None
    comment: str | None = None
    track_number: int | None = None
    track_total: int | None = None

    @property
    def track(self) -> str | None:
        """``n`` or ``n/total``."""
        if self.track_number is None:
            return None
        return f"{self.track_number}/{self.track_total}" if self.track_total else str(self.track_number)


_VORBIS = {
    "title": "TITLE",
    "artist": "ARTIST",
    "album": "ALBUM",
    "album_artist": "ALBUMARTIST",
    "composer": "COMPOSER",
    "genre": "GENRE",
    "date": "DATE",
    "isrc": "ISRC",
    "barcode": "BARCODE",
    "copyright": "COPYRIGHT",
    "publisher": "LABEL",
    "comment": "COMMENT",
}
_ID3 = {
    "title": "TIT2",
    "artist": "TPE1",
    "album": "TALB",
    "album_artist": "TPE2",
    "composer": "TCOM",
    "genre": "TCON",
    "date": "TDRC",
    "isrc": "TSRC",
    "copyright": "TCOP",
    "publisher": "TPUB",
}
_MP4 = {
    "title": "\xa9nam",
    "artist": "\xa9ART",
    "album": "\xa9alb",
    "album_artist": "aART",
    "composer": "\xa9wrt",
    "genre": "\xa9gen",
    "date": "\xa9day",
    "copyright": "cprt",
    "comment": "\xa9cmt",
}
_MP4_FREEFORM = {"isrc": "ISRC", "barcode": "BARCODE", "publisher": "LABEL"}
_MP4_FREEFORM_PREFIX = "----:com.apple.iTunes:"


def _fields(tags: Tags, names: dict[str, str]) -> dict[str, str]:
    """The set fields of ``tags`` that ``names`` maps, by the format's name for them."""
    return {key: getattr(tags, field) for field, key in names.items() if getattr(tags, field) is not None}


def write_tags(path: str | os.PathLike, format: str, tags: Tags, bext: bwf.BroadcastExtension | None = None) -> None:
    """Write ``tags`` into the finished file at ``path`` of ``format``; a WAV file also gets ``bext`` (default: an empty one).

    Raises AudioFileError naming the file when it cannot be tagged.
    """
    try:
        if format == "wav":
            text_fields = {field: field for field in bwf.INFO_IDS if field not in ("software", "track_number")}
            info = {bwf.INFO_IDS[field]: value for field, value in _fields(tags, text_fields).items()}
            if tags.track:
                info[bwf.INFO_IDS["track_number"]] = tags.track
            info[bwf.INFO_IDS["software"]] = SOFTWARE
            bwf.add_wav_metadata(path, bext or bwf.BroadcastExtension(), info)
        elif format in ("flac", "opus"):
            _write_vorbis(path, format, tags)
        elif format in ("mp3", "aiff"):
            _write_id3(path, format, tags)
        elif format == "aac":
            _write_mp4(path, tags)
        else:
            raise AudioFileError(f"{path}: mixfarm cannot tag {format} files")
    except AudioFileError:
        raise
    except (OSError, ValueError, mutagen.MutagenError) as exc:
        raise AudioFileError(f"{path}: could not write its tags ({exc})") from exc


def _write_vorbis(path, format: str, tags: Tags) -> None:
    audio = FLAC(path) if format == "flac" else OggOpus(path)
    if audio.tags is None:
        audio.add_tags()
    for key, value in _fields(tags, _VORBIS).items():
        audio.tags[key] = [value]
    if tags.track_number is not None:
        audio.tags["TRACKNUMBER"] = [str(tags.track_number)]
        if tags.track_total:
            audio.tags["TRACKTOTAL"] = [str(tags.track_total)]
    audio.tags["ENCODER"] = [SOFTWARE]
    audio.save()


def _write_id3(path, format: str, tags: Tags) -> None:
    if format == "aiff":
        audio = AIFF(path)
        if audio.tags is None:
            audio.add_tags()
        frames = audio.tags
    else:
        try:
            frames = id3.ID3(path)
        except id3.ID3NoHeaderError:
            frames = id3.ID3()
    for key, value in _fields(tags, _ID3).items():
        frames.add(getattr(id3, key)(encoding=id3.Encoding.UTF16, text=[value]))
    if tags.barcode is not None:
        frames.add(id3.TXXX(encoding=id3.Encoding.UTF16, desc="BARCODE", text=[tags.barcode]))
    if tags.comment is not None:
        frames.add(id3.COMM(encoding=id3.Encoding.UTF16, lang="eng", desc="", text=[tags.comment]))
    if tags.track:
        frames.add(id3.TRCK(encoding=id3.Encoding.UTF16, text=[tags.track]))
    frames.add(id3.TSSE(encoding=id3.Encoding.UTF16, text=[SOFTWARE]))
    if format == "aiff":
        audio.save(v2_version=3)
    else:
        frames.save(path, v2_version=3)


def _write_mp4(path, tags: Tags) -> None:
    audio = MP4(path)
    if audio.tags is None:
        audio.add_tags()
    for key, value in _fields(tags, _MP4).items():
        audio.tags[key] = [value]
    for key, value in _fields(tags, _MP4_FREEFORM).items():
        audio.tags[_MP4_FREEFORM_PREFIX + key] = [MP4FreeForm(value.encode("utf-8"))]
    if tags.track_number is not None:
        audio.tags["trkn"] = [(tags.track_number, tags.track_total or 0)]
    audio.tags["\xa9too"] = [SOFTWARE]
    audio.save()
