"""The cue sheet of an album's continuous file: each song's title, performer, ISRC and start, in CD frames (75 per second)."""

from __future__ import annotations

from .loading import LoadedAlbum

CD_FRAMES_PER_S = 75
FILE_TYPES = {"wav": "WAVE", "aiff": "AIFF", "mp3": "MP3"}
"""The cue sheet's FILE types; other formats are listed as WAVE, as players expect."""


def cd_time(seconds: float) -> str:
    """``seconds`` as a cue sheet's MM:SS:FF, rounded to the nearest CD frame."""
    frames = round(seconds * CD_FRAMES_PER_S)
    return f"{frames // (60 * CD_FRAMES_PER_S):02d}:{frames // CD_FRAMES_PER_S % 60:02d}:{frames % CD_FRAMES_PER_S:02d}"


def _quoted(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def cue_sheet(album: LoadedAlbum, songs: list[dict], continuous: dict) -> str:
    """The cue sheet for the continuous file ``continuous`` (its deliverable facts), from the album and its song reports.

    Each track's INDEX 01 is where the song starts in the file; after a gap,
    INDEX 00 marks where the gap starts (the previous song's end). The
    album's UPC/EAN goes in CATALOG (13 digits, a UPC-A with a leading 0).
    """
    metadata = album.album.metadata
    lines = []
    if metadata and metadata.genre:
        lines.append(f"REM GENRE {_quoted(metadata.genre)}")
    if metadata and metadata.release_year:
        lines.append(f"REM DATE {metadata.release_year}")
    if metadata and metadata.upc:
        lines.append(f"CATALOG {metadata.upc.zfill(13)}")
    performer = (metadata.album_artist or metadata.artist) if metadata else None
    if performer:
        lines.append(f"PERFORMER {_quoted(performer)}")
    lines.append(f"TITLE {_quoted((metadata.album if metadata and metadata.album else None) or album.album.name)}")
    lines.append(f"FILE {_quoted(continuous['path'])} {FILE_TYPES.get(continuous['format'], 'WAVE')}")
    previous_end_s = None
    for song, report in zip(album.songs, songs):
        lines.append(f"  TRACK {song.index:02d} AUDIO")
        lines.append(f"    TITLE {_quoted(song.song.title)}")
        if song.metadata.artist:
            lines.append(f"    PERFORMER {_quoted(song.metadata.artist)}")
        if song.metadata.isrc:
            lines.append(f"    ISRC {song.metadata.isrc}")
        if previous_end_s is not None and report["start_s"] > previous_end_s:
            lines.append(f"    INDEX 00 {cd_time(previous_end_s)}")
        lines.append(f"    INDEX 01 {cd_time(report['start_s'])}")
        previous_end_s = report["start_s"] + report["duration_s"]
    return "\r\n".join(lines) + "\r\n"
