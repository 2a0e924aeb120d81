"""What each deliverable says about itself: the session's metadata as the file's tags, and for WAV the Broadcast Wave ``bext`` chunk with its measured loudness."""

from __future__ import annotations

from dsp.bwf import BroadcastExtension
from dsp.loudness import LoudnessReport
from dsp.tags import SOFTWARE, Tags
from farm.session.metadata import Metadata

ORIGINATOR_CHARS = 32


def file_tags(metadata: Metadata | None, stem: str | None = None, track: tuple[int, int] | None = None) -> Tags:
    """The tags of a file from ``metadata``: the master's, or a stem's (titled after its strip, without the song's ISRC and barcode).

    ``track`` is (number, total) for a song of an album.
    """
    metadata = metadata or Metadata()
    date = metadata.date.isoformat() if metadata.date else (str(metadata.year) if metadata.year else None)
    title = metadata.title
    if stem is not None:
        title = f"{title} - {stem}" if title else stem
    return Tags(
        title=title,
        artist=metadata.artist,
        album=metadata.album,
        album_artist=metadata.album_artist,
        composer=metadata.composer,
        genre=metadata.genre,
        date=date,
        isrc=metadata.isrc if stem is None else None,
        barcode=metadata.upc if stem is None else None,
        copyright=metadata.copyright,
        publisher=metadata.publisher,
        comment=metadata.comment,
        track_number=track[0] if track else None,
        track_total=track[1] if track else None,
    )


def broadcast_extension(tags: Tags, loudness: LoudnessReport, sample_rate: int, bit_depth: str) -> BroadcastExtension:
    """The ``bext`` chunk of a WAV file with ``tags``, measured as ``loudness``, written at ``sample_rate`` Hz and ``bit_depth`` ("16", "24", "32f").

    Description: "title - artist", then "ISRC:" and the code (the prefix that
    tools read the ISRC from). Originator: the publisher, else the artist.
    Origination date: the release date when the metadata has one; the
    render's clock is not used, so a render makes the same file every time.
    """
    summary = " - ".join(part for part in (tags.title, tags.artist) if part)
    details = [f"ISRC:{tags.isrc}"] if tags.isrc else []
    word_bits = "32" if bit_depth == "32f" else bit_depth
    return BroadcastExtension(
        description="\r\n".join([summary, *details]) if summary else "\r\n".join(details),
        originator=(tags.publisher or tags.artist or "")[:ORIGINATOR_CHARS],
        origination_date=tags.date if tags.date and len(tags.date) == 10 else "",
        loudness_value_lufs=loudness.integrated_lufs,
        loudness_range_lu=loudness.loudness_range_lu,
        max_true_peak_dbtp=loudness.true_peak_dbtp,
        max_momentary_lufs=loudness.momentary_max_lufs,
        max_short_term_lufs=loudness.short_term_max_lufs,
        coding_history=(f"A=PCM,F={sample_rate},W={word_bits},M=stereo,T={SOFTWARE}",),
    )
