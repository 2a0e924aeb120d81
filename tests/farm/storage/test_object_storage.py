"""Sessions, stems and outputs in object storage: a real S3-compatible server (moto) on loopback."""

import numpy as np
import pytest
import soundfile

from farm.engine.executor import LocalExecutor
from farm.engine.render import render
from farm.errors import SessionError
from farm.session import load
from tests.helpers.s3server import moto_s3
from tests.helpers.sessions import RATE, tone, write_session, write_stem

pytest.importorskip("s3fs")

BUCKET = "studio"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with moto_s3(BUCKET) as client:
        yield client


def upload_folder(client, folder, prefix):
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(folder).as_posix()}")


def song(folder):
    stems = [write_stem(folder, "bass.wav", tone(55.0, 3.0, 0.4)), write_stem(folder, "keys.wav", tone(440.0, 2.0, 0.2, channels=2, rate=44100), rate=44100)]
    return write_session(
        folder,
        {
            "tracks": [
                {"name": "bass", "file": stems[0], "fx": [{"type": "compressor", "threshold_db": -20, "ratio": 3}]},
                {"name": "keys", "clips": [{"file": stems[1], "start_s": 0.5, "fade_in_s": 0.2}], "sends": [{"bus": "verb", "level_db": -9}]},
            ],
            "buses": [{"name": "verb", "fx": [{"type": "reverb", "decay_s": 0.8, "mix": 1.0}]}],
            "sample_rate": RATE,
            "master": {"loudness": {"preset": "spotify"}, "tail_s": 0.5},
            "outputs": [{"path": "master.wav", "bit_depth": 24}, {"path": "cd/master.flac", "format": "flac", "bit_depth": 16, "sample_rate": 44100}],
        },
    )


def test_session_in_object_storage_renders_there_like_a_local_one(s3, tmp_path):
    session = song(tmp_path / "song")
    upload_folder(s3, tmp_path / "song", "sessions/song")
    local = render(session, tmp_path / "local", chunk_s=0.7, executor=LocalExecutor())
    remote = render(f"s3://{BUCKET}/sessions/song/session.yaml", f"s3://{BUCKET}/renders/song", chunk_s=0.7, executor=LocalExecutor())
    listed = sorted(item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix="renders/song/")["Contents"])
    assert listed == ["renders/song/cd/master.flac", "renders/song/master.wav", "renders/song/mix-bus.flac", "renders/song/report.json"]
    for path in [item["path"] for item in local["deliverables"]] + [local["mix"]["path"]]:
        s3.download_file(BUCKET, f"renders/song/{path}", str(tmp_path / "fetched"))
        assert (tmp_path / "fetched").read_bytes() == (tmp_path / "local" / path).read_bytes()
    assert remote["deliverables"] == local["deliverables"]


def test_missing_stem_and_escaping_path_in_object_storage_are_named(s3, tmp_path):
    (tmp_path / "bad").mkdir()
    write_session(tmp_path / "bad", {"tracks": [{"name": "a", "file": "stems/none.wav"}, {"name": "b", "file": "../outside.wav"}]})
    upload_folder(s3, tmp_path / "bad", "sessions/bad")
    with pytest.raises(SessionError) as caught:
        load(f"s3://{BUCKET}/sessions/bad/session.yaml")
    assert caught.value.problems == [
        f"tracks[0].file: s3://{BUCKET}/sessions/bad/stems/none.wav: no such file",
        "tracks[1].file: must stay inside the session folder, got '../outside.wav'",
    ]


def test_truncated_stem_in_object_storage_is_detected(s3, tmp_path):
    stem = write_stem(tmp_path / "cut", "a.wav", tone(220.0, 1.0), subtype="PCM_24")
    raw = (tmp_path / "cut" / stem).read_bytes()
    (tmp_path / "cut" / stem).write_bytes(raw[: len(raw) // 2])
    write_session(tmp_path / "cut", {"tracks": [{"name": "a", "file": stem}]})
    upload_folder(s3, tmp_path / "cut", "sessions/cut")
    with pytest.raises(SessionError, match=r"s3://studio/sessions/cut/stems/a\.wav: truncated WAV"):
        load(f"s3://{BUCKET}/sessions/cut/session.yaml")
    assert np.isfinite(soundfile.info(str(tmp_path / "cut" / stem)).frames)


def write_ir(folder, name, rate=RATE, channels=1):
    """A short decaying noise burst as an impulse response at ``irs/<name>``."""
    frames = int(0.25 * rate)
    rng = np.random.default_rng(7)
    ir = rng.standard_normal((frames, channels)) * np.exp(-np.arange(frames) / (0.05 * rate))[:, None] * 0.3
    path = folder / "irs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, ir, rate, subtype="FLOAT")
    return f"irs/{name}"


def test_impulse_responses_in_object_storage_render_like_local_ones(s3, tmp_path):
    folder = tmp_path / "roomy"
    stem = write_stem(folder, "snare.wav", tone(180.0, 2.0, 0.4))
    room, hall = write_ir(folder, "room.wav"), write_ir(folder, "hall.wav", rate=44100, channels=2)
    session = write_session(
        folder,
        {
            "tracks": [{"name": "snare", "file": stem, "fx": [{"type": "convolution", "ir_file": room, "mix": 0.3}], "sends": [{"bus": "hall", "level_db": -6}]}],
            "buses": [{"name": "hall", "fx": [{"type": "convolution", "ir_file": hall, "gain_db": -3}]}],
            "sample_rate": RATE,
            "master": {"tail_s": 0.3},
        },
    )
    upload_folder(s3, folder, "sessions/roomy")
    local = render(session, tmp_path / "local", chunk_s=0.5, executor=LocalExecutor())
    remote = render(f"s3://{BUCKET}/sessions/roomy/session.yaml", f"s3://{BUCKET}/renders/roomy", chunk_s=0.5, executor=LocalExecutor())
    s3.download_file(BUCKET, "renders/roomy/master.wav", str(tmp_path / "fetched.wav"))
    assert (tmp_path / "fetched.wav").read_bytes() == (tmp_path / "local" / "master.wav").read_bytes()
    assert remote["deliverables"] == local["deliverables"]


def test_missing_and_escaping_impulse_responses_in_object_storage_are_named(s3, tmp_path):
    folder = tmp_path / "noir"
    stem = write_stem(folder, "a.wav", tone(220.0, 1.0))
    fx = [{"type": "convolution", "ir_file": "irs/none.wav"}, {"type": "convolution", "ir_file": "../ir.wav"}]
    write_session(folder, {"tracks": [{"name": "a", "file": stem, "fx": fx}]})
    upload_folder(s3, folder, "sessions/noir")
    with pytest.raises(SessionError) as caught:
        load(f"s3://{BUCKET}/sessions/noir/session.yaml")
    assert caught.value.problems == [
        f"tracks[0].fx[0].ir_file: s3://{BUCKET}/sessions/noir/irs/none.wav: impulse response file not found",
        "tracks[0].fx[1].ir_file: must stay inside the session folder, got '../ir.wav'",
    ]
