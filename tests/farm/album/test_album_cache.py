"""An album through the render cache: every stage reuses what did not change, and the files are those of a render from scratch."""

import hashlib

import yaml

from farm.album import render_album
from farm.engine.chunkcache import ChunkCache
from farm.engine.executor import LocalExecutor
from tests.farm.album.test_album import write_album


def files(folder):
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir()) if path.suffix in (".wav", ".cue")}


def render(album, out, cache):
    return render_album(album, out, chunk_s=3.0, executor=LocalExecutor(), cache=cache)


def total(counts):
    return sum(counts["hits"].values()) + sum(counts["misses"].values())


def test_an_album_rendered_again_is_read_whole_from_the_cache_and_a_revised_song_renders_only_itself(tmp_path):
    album = write_album(tmp_path, mode="track")
    cache = ChunkCache(tmp_path / "cache")
    first = render(album, tmp_path / "first", cache)["cache"]
    assert {"tracks", "master", "deliver"} <= set(first["misses"])  # a stage whose input is another's, unchanged, hits even here
    again = render(album, tmp_path / "again", ChunkCache(tmp_path / "cache"))["cache"]
    assert again["misses"] == {} and total(again) == total(first), "every stage of every song is found"
    assert files(tmp_path / "again") == files(tmp_path / "first")

    song = tmp_path / "song1" / "session.yaml"
    session = yaml.safe_load(song.read_text())
    session["tracks"][0]["gain_db"] = -1.0
    song.write_text(yaml.safe_dump(session))
    revised = render(album, tmp_path / "revised", ChunkCache(tmp_path / "cache"))
    scratch = render(album, tmp_path / "scratch", None)
    assert scratch["cache"] is None and revised["cache"]["track_effects"]["hits"] == 3, "the revised track's effects are read back: only its fader runs"
    assert files(tmp_path / "revised") == files(tmp_path / "scratch")
    assert files(tmp_path / "revised")["02 Second Song.wav"] == files(tmp_path / "first")["02 Second Song.wav"]
    hits, misses = sum(revised["cache"]["hits"].values()), sum(revised["cache"]["misses"].values())
    assert hits > 0 and 0 < misses < total(first), "the other songs' stages are reused; the revised song's, and the continuous file, are made again"
