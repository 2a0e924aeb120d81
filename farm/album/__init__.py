"""Albums (format ``mixfarm-album/1``): songs mixed, mastered to one loudness plan, sequenced with gaps and crossfades, with a cue sheet.

The albums section of docs/session-format.md describes the file; :func:`load_album` checks one and
:func:`render_album` renders it.
"""

from .loading import LoadedAlbum, LoadedSong, is_album, load_album
from .model import ALBUM_FORMAT, Album
from .render import render_album

__all__ = ["ALBUM_FORMAT", "Album", "LoadedAlbum", "LoadedSong", "is_album", "load_album", "render_album"]
