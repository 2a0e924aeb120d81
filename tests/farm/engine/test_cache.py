"""Revisions through the render cache: bit-identical to a render from scratch, and only what a change reaches runs again."""

import hashlib
import json

import numpy as np
import pytest
import soundfile

from farm.engine.chunkcache import ChunkCache
from farm.engine.executor import LocalExecutor
from farm.engine.render import render
from tests.helpers.sessions import RATE, tone, write_session, write_stem

TRACKS = 4
CHUNK_S = 1.0


def song(stems, *, gain_db=0.0, send_db=-12.0, bus_threshold_db=-20.0, target_lufs=-16.0, outputs=None) -> dict:
    return {
        "tracks": [
            {
                "name": f"t{index}",
                "file": stem,
                "gain_db": gain_db if index == 1 else 0.0,
                "fx": [{"type": "compressor", "threshold_db": -30.0, "ratio": 3.0}],
                "sends": [{"bus": "verb", "level_db": send_db if index == 2 else -12.0}],
            }
            for index, stem in enumerate(stems)
        ],
        "buses": [{"name": "verb", "fx": [{"type": "compressor", "threshold_db": bus_threshold_db, "ratio": 2.0}]}],
        "master": {"loudness": {"target_lufs": target_lufs, "true_peak_dbtp": -1.0}},
        "outputs": outputs or [{"path": "master.wav"}, {"path": "master.flac", "format": "flac"}],
    }


@pytest.fixture
def stems(tmp_path):
    return [write_stem(tmp_path, f"t{index}.wav", tone(110.0 * (index + 2), 4.0, 0.2)) for index in range(TRACKS)]


def files(folder):
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir()) if path.suffix in (".wav", ".flac", ".mp3")}


def render_with(tmp_path, session: dict, out: str, cache):
    path = write_session(tmp_path, session, name=f"{out}.yaml")
    return render(path, tmp_path / out, chunk_s=CHUNK_S, executor=LocalExecutor(), cache=cache)


@pytest.fixture
def first(tmp_path, stems):
    """A cache filled by a first render of the song."""
    cache = ChunkCache(tmp_path / "cache")
    report = render_with(tmp_path, song(stems), "first", cache)
    assert report["cache"]["hits"] == {} and report["cache"]["misses"]["tracks"] > 0
    return cache


def revise(tmp_path, cache, session):
    """The revised session rendered through the cache and from scratch: the cached report, after checking the files match."""
    cached = render_with(tmp_path, session, "cached", cache)
    fresh = render_with(tmp_path, session, "fresh", None)
    assert files(tmp_path / "cached") == files(tmp_path / "fresh"), "a cached render is bit-identical to one from scratch"
    assert fresh["cache"] is None
    return cached["cache"]


def test_the_same_session_again_is_read_whole_from_the_cache(tmp_path, stems, first):
    counts = revise(tmp_path, first, song(stems))
    assert counts["misses"] == {} and set(counts["hits"]) == {"tracks", "bus", "mix", "master", "deliver"}


def test_a_fader_change_runs_that_track_and_what_is_downstream_of_it(tmp_path, stems, first):
    counts = revise(tmp_path, first, song(stems, gain_db=-1.0))
    chunks = 4
    assert counts["misses"]["tracks"] == chunks, "only the changed track's group, every chunk"
    assert counts["hits"]["tracks"] == (TRACKS - 1) * chunks
    assert counts["track_effects"] == {"hits": chunks, "misses": 0}, "its effects' output is reused: only its fader runs"
    assert counts["misses"]["mix"] == chunks and "mix" not in counts["hits"]


def test_a_send_level_change_runs_its_track_the_bus_and_the_mix(tmp_path, stems, first):
    counts = revise(tmp_path, first, song(stems, send_db=-6.0))
    assert counts["misses"]["tracks"] == 4 and counts["hits"]["tracks"] == 12
    assert counts["misses"]["bus"] > 0 and "bus" not in counts["hits"]


def test_a_bus_effect_change_leaves_every_track_cached(tmp_path, stems, first):
    counts = revise(tmp_path, first, song(stems, bus_threshold_db=-26.0))
    assert "tracks" not in counts["misses"] and counts["hits"]["tracks"] == 16
    assert counts["misses"]["bus"] > 0 and counts["misses"]["mix"] > 0


def test_a_loudness_target_change_runs_only_the_loudness_stage_and_delivery(tmp_path, stems, first):
    counts = revise(tmp_path, first, song(stems, target_lufs=-12.0))
    assert set(counts["misses"]) == {"master", "deliver"}
    assert {"tracks", "bus", "mix"} <= set(counts["hits"])


def test_an_added_output_format_runs_only_its_own_chunks(tmp_path, stems, first):
    outputs = [{"path": "master.wav"}, {"path": "master.flac", "format": "flac"}, {"path": "small.wav", "sample_rate": 44100, "bit_depth": 16}]
    counts = revise(tmp_path, first, song(stems, outputs=outputs))
    assert set(counts["misses"]) <= {"master", "deliver"} and counts["hits"]["deliver"] >= 1
    assert {"tracks", "bus", "mix"} <= set(counts["hits"])


def test_a_stem_replaced_under_the_same_name_is_a_new_input(tmp_path, stems, first):
    soundfile.write(tmp_path / stems[0], tone(97.0, 4.0, 0.2), RATE, subtype="FLOAT")
    counts = revise(tmp_path, first, song(stems))
    assert counts["misses"]["tracks"] == 4 and counts["hits"]["tracks"] == 12


def test_a_corrupted_or_truncated_entry_is_made_again_never_used(tmp_path, stems, first):
    for index, entry in enumerate(sorted(path for path in (tmp_path / "cache").rglob("*") if path.is_file())):
        data = entry.read_bytes()
        entry.write_bytes(data[:-100] if index % 2 else data[:-1] + bytes([data[-1] ^ 0xFF]))
    cache = ChunkCache(tmp_path / "cache")
    counts = revise(tmp_path, cache, song(stems))
    assert counts["corrupt_entries"] > 0 and sum(counts["misses"].values()) > 0
    again = render_with(tmp_path, song(stems), "again", ChunkCache(tmp_path / "cache"))["cache"]
    assert again["corrupt_entries"] == 0 and again["misses"] == {}, "the entries made again are whole"


def test_eviction_keeps_the_cache_under_its_limit_dropping_the_least_recently_used(tmp_path):
    cache = ChunkCache(tmp_path / "small", limit_bytes=50_000)
    block = np.zeros(2000, dtype=np.float64)  # 16 kB an entry
    keys = [hashlib.blake2b(str(index).encode(), digest_size=32).hexdigest() for index in range(8)]
    for key in keys[:2]:
        cache.put(key, (block,))
    assert cache.get(keys[0]) is not None  # used again: keys[1] is now the least recently used
    for key in keys[2:]:
        cache.put(key, (block,))
        cache.trim()
        assert cache.size_bytes() <= 50_000
    assert cache.get(keys[-1]) is not None and cache.get(keys[1]) is None


def test_a_bad_key_or_limit_is_refused(tmp_path):
    with pytest.raises(ValueError, match="cache key: must be 64 lowercase hex characters"):
        ChunkCache(tmp_path).get("../escape")
    with pytest.raises(ValueError, match="cache limit: must be > 0 bytes"):
        ChunkCache(tmp_path, limit_bytes=0)


def test_a_render_that_forgets_older_results_keys_reuses_less_but_stays_exact(tmp_path, stems, first, monkeypatch):
    from farm.engine import taskcache

    monkeypatch.setattr(taskcache, "MAX_NAMED_REFS", 2)
    counts = revise(tmp_path, first, song(stems))
    report = json.loads((tmp_path / "cached" / "report.json").read_text())
    assert counts["hits"]["tracks"] > 0, "a task whose inputs' keys are kept is still found"
    assert sum(counts["hits"].values()) < report["tasks"], "tasks whose inputs' keys were forgotten ran, uncached"


def test_a_later_render_knows_its_stems_from_the_cache_and_reads_only_a_changed_one(tmp_path, stems, first, monkeypatch):
    from farm.engine import fingerprint

    original, hashed = fingerprint._content_hash, []
    monkeypatch.setattr(fingerprint, "_content_hash", lambda handle: hashed.append(handle.name) or original(handle))
    fingerprint._identities.clear()  # as in a new process: a revision from the command line
    assert revise(tmp_path, ChunkCache(tmp_path / "cache"), song(stems))["misses"] == {}
    assert hashed == [], "every stem's identity was read from the cache, none of them hashed again"
    soundfile.write(tmp_path / stems[2], tone(97.0, 4.0, 0.2), RATE, subtype="FLOAT")
    fingerprint._identities.clear()
    counts = render_with(tmp_path, song(stems), "changed", ChunkCache(tmp_path / "cache"))["cache"]
    assert [name.rsplit("/", 1)[1] for name in hashed] == ["t2.wav"] and counts["misses"]["tracks"] == 4


def test_every_deliverable_kind_through_the_cache_is_the_file_a_render_from_scratch_writes(tmp_path, stems):
    kinds = [
        {"path": "master.wav", "bit_depth": 16, "dither": "shaped"},
        {"path": "master.aiff"},
        {"path": "master.flac", "format": "flac"},
        {"path": "master.mp3", "format": "mp3", "bitrate_kbps": 192},
        {"path": "master.opus", "format": "opus", "bitrate_kbps": 128},
        {"path": "master.m4a", "format": "aac", "bitrate_kbps": 192},
        {"path": "stems/{name}.wav", "stems": "all", "bit_depth": "32f"},
    ]
    cache = ChunkCache(tmp_path / "cache")
    render_with(tmp_path, song(stems, outputs=kinds), "first", cache)
    counts = revise(tmp_path, cache, song(stems, bus_threshold_db=-26.0, outputs=kinds))
    assert counts["hits"]["tracks"] > 0 and "tracks" not in counts["misses"] and counts["misses"]["deliver"] > 0, "the tracks' stems come from the cache"
    written = {path.relative_to(tmp_path / "cached").as_posix(): path.read_bytes() for path in (tmp_path / "cached").rglob("*") if path.is_file() and path.name != "report.json"}
    fresh = {path.relative_to(tmp_path / "fresh").as_posix(): path.read_bytes() for path in (tmp_path / "fresh").rglob("*") if path.is_file() and path.name != "report.json"}
    assert written.keys() == fresh.keys() and len(written) >= 6 + TRACKS
    assert [name for name in written if written[name] != fresh[name]] == []
