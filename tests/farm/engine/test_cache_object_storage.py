"""The render cache in object storage (a real S3-compatible server, moto, on loopback): the same guarantees as a folder."""

import hashlib

import numpy as np
import pytest

from farm.engine.chunkcache import ChunkCache
from farm.engine.executor import LocalExecutor
from farm.engine.render import render
from tests.farm.engine.test_cache import TRACKS, files, song
from tests.helpers.s3server import moto_s3
from tests.helpers.sessions import RATE, tone, write_session, write_stem

pytest.importorskip("s3fs")

BUCKET = "farm"
CHUNKS = 4


@pytest.fixture(scope="module")
def s3():
    with moto_s3(BUCKET) as client:
        yield client


def cache_at(prefix, limit_bytes=10**9):
    return ChunkCache(f"s3://{BUCKET}/{prefix}", limit_bytes)


def render_with(tmp_path, session, out, cache):
    path = write_session(tmp_path, session, name=f"{out}.yaml")
    return render(path, tmp_path / out, chunk_s=1.0, executor=LocalExecutor(), cache=cache)


def stored_keys(s3, prefix):
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/").get("Contents", [])
    return [item["Key"] for item in listed if "/used/" not in item["Key"]]


@pytest.fixture
def stems(tmp_path):
    return [write_stem(tmp_path, f"t{index}.wav", tone(110.0 * (index + 2), 4.0, 0.2)) for index in range(TRACKS)]


def test_a_fader_revision_through_object_storage_is_exact_and_reuses_the_rest(s3, tmp_path, stems):
    first = render_with(tmp_path, song(stems), "first", cache_at("fader"))["cache"]
    assert first["hits"] == {} and stored_keys(s3, "fader"), "the first render stored its results in the bucket"
    cached = render_with(tmp_path, song(stems, gain_db=-1.0), "cached", cache_at("fader"))["cache"]
    render_with(tmp_path, song(stems, gain_db=-1.0), "fresh", None)
    assert files(tmp_path / "cached") == files(tmp_path / "fresh")
    assert cached["misses"]["tracks"] == CHUNKS and cached["hits"]["tracks"] == (TRACKS - 1) * CHUNKS
    assert cached["track_effects"] == {"hits": CHUNKS, "misses": 0}, "workers read each track's audio after its effects from the bucket"


def test_a_corrupted_object_is_made_again_never_used(s3, tmp_path, stems):
    render_with(tmp_path, song(stems), "first", cache_at("corrupt"))
    for key in stored_keys(s3, "corrupt"):
        data = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        s3.put_object(Bucket=BUCKET, Key=key, Body=data[:-1] + bytes([data[-1] ^ 0xFF]))
    cached = render_with(tmp_path, song(stems), "cached", cache_at("corrupt"))["cache"]
    render_with(tmp_path, song(stems), "fresh", None)
    assert files(tmp_path / "cached") == files(tmp_path / "fresh")
    assert cached["corrupt_entries"] > 0 and cached["hits"].get("tracks", 0) == 0
    again = render_with(tmp_path, song(stems), "again", cache_at("corrupt"))["cache"]
    assert again["misses"] == {} and again["corrupt_entries"] == 0


def test_eviction_holds_object_storage_to_its_limit_and_drops_the_use_markers_with_their_entries(s3):
    cache = cache_at("evict", limit_bytes=50_000)
    keys = [hashlib.blake2b(str(index).encode(), digest_size=32).hexdigest() for index in range(8)]
    for key in keys:
        cache.put(key, (np.zeros(2000),))  # 16 kB an entry
        assert cache.get(key) is not None
        cache.trim()
        assert cache.size_bytes() <= 50_000
    kept = {key.rsplit("/", 1)[1] for key in stored_keys(s3, "evict")}
    markers = [item["Key"].split("/")[2] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix="evict/used/")["Contents"]]
    assert 0 < len(kept) < len(keys) and keys[-1] in kept and keys[0] not in kept, "the least recently used went first"
    assert sorted(markers) == sorted(kept), "one use marker an entry: those of evicted entries go with them, superseded ones at a listing"


def test_a_stem_replaced_in_object_storage_under_the_same_name_is_a_new_input(s3, tmp_path, stems):
    for stem in stems:
        s3.upload_file(str(tmp_path / stem), BUCKET, f"song/{stem}")
    s3.put_object(Bucket=BUCKET, Key="song/session.yaml", Body=(write_session(tmp_path, song(stems), name="song.yaml")).read_bytes())
    session = f"s3://{BUCKET}/song/session.yaml"
    render(session, tmp_path / "first", chunk_s=1.0, executor=LocalExecutor(), cache=cache_at("stems"))
    import soundfile

    soundfile.write(tmp_path / "new.wav", tone(97.0, 4.0, 0.2), RATE, subtype="FLOAT")
    s3.upload_file(str(tmp_path / "new.wav"), BUCKET, f"song/{stems[0]}")
    counts = render(session, tmp_path / "second", chunk_s=1.0, executor=LocalExecutor(), cache=cache_at("stems"))["cache"]
    assert counts["misses"]["tracks"] == CHUNKS and counts["hits"]["tracks"] == (TRACKS - 1) * CHUNKS


def test_a_cache_that_cannot_be_reached_is_not_used_and_the_report_says_why(s3, tmp_path, stems):
    report = render_with(tmp_path, song(stems), "out", ChunkCache("s3://no-such-bucket/cache"))
    render_with(tmp_path, song(stems), "fresh", None)
    assert files(tmp_path / "out") == files(tmp_path / "fresh")
    assert report["cache"]["error"].startswith("s3://no-such-bucket/cache: cannot be read")
