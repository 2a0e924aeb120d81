"""An album of three songs: one session, two mixes at different loudness, a gap and a crossfade; mastered, sequenced, cued."""

import re
import threading

import numpy as np
import pytest
import soundfile
import yaml

from dsp.loudness import measure
from farm.album import load_album, render_album
from farm.engine.executor import LocalExecutor
from farm.errors import RenderCancelled, RenderError, SessionError
from tests.helpers.sessions import RATE, write_session, write_stem

TARGET_LUFS, CEILING_DBTP = -14.0, -1.0
CROSSFADE_S, GAP_S = 1.5, 2.0


def music(seconds: float, level: float, root_hz: float, seed: int) -> np.ndarray:
    """A chord and a decaying noise beat: every song different, each with its own level."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    chord = np.stack([np.sin(2 * np.pi * root_hz * t), np.sin(2 * np.pi * root_hz * 1.5 * t)], axis=1) * 0.3
    beat = rng.standard_normal((t.size, 2)) * 0.15 * np.exp(-6.0 * (t % 0.5))[:, None]
    return (chord + beat) * level


def write_album(folder, mode="album", **song_overrides):
    (folder / "song1").mkdir(parents=True, exist_ok=True)
    write_session(folder / "song1", {"tracks": [{"name": "keys", "file": write_stem(folder / "song1", "keys.wav", music(8.0, 1.0, 110.0, 1))}], "master": {"loudness": {"preset": "apple_music"}}})
    (folder / "mixes").mkdir(exist_ok=True)
    soundfile.write(folder / "mixes" / "two.wav", music(6.0, 0.45, 220.0, 2), RATE, subtype="FLOAT")
    soundfile.write(folder / "mixes" / "three.wav", music(7.0, 0.25, 165.0, 3), RATE, subtype="FLOAT")
    songs = [
        {"session": "song1/session.yaml", "title": "Midnight Drive", "isrc": "GBAYE2600001"},
        {"file": "mixes/two.wav", "title": "Second Song", "gap_s": GAP_S, "isrc": "GBAYE2600002"},
        {"file": "mixes/three.wav", "title": "Third/Song", "crossfade_s": CROSSFADE_S},
    ]
    for position, fields in song_overrides.items():
        songs[int(position[1:])].update(fields)
    album = {
        "format": "mixfarm-album/1",
        "name": "Night Drives",
        "metadata": {"artist": "The Synths", "album": "Night Drives", "upc": "012345678905", "year": 2026},
        "songs": songs,
        "master": {"loudness": {"target_lufs": TARGET_LUFS, "true_peak_dbtp": CEILING_DBTP, "mode": mode}},
        "outputs": [
            {"path": "{index:02d} {title}.wav", "bit_depth": "32f", "dither": "none"},
            {"path": "album.wav", "continuous": True, "bit_depth": "32f", "dither": "none"},
            {"cue": "album.cue"},
        ],
    }
    path = folder / "album.yaml"
    path.write_text(yaml.safe_dump(album, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def album_render(tmp_path_factory):
    folder = tmp_path_factory.mktemp("album")
    report = render_album(write_album(folder), folder / "out", chunk_s=3.0, executor=LocalExecutor())
    return folder / "out", report


def read(path):
    audio, rate = soundfile.read(path, dtype="float64", always_2d=True)
    assert rate == RATE
    return audio


def test_album_mode_puts_the_loudest_song_on_target_and_keeps_the_others_below_it(album_render):
    out, report = album_render
    names = ["01 Midnight Drive.wav", "02 Second Song.wav", "03 Third-Song.wav"]
    assert [song["deliverables"] for song in report["songs"]] == [[name] for name in names]
    after = [measure(read(out / name), RATE, true_peak_oversampling=8) for name in names]
    before = [song["mix_lufs"] for song in report["songs"]]
    loudest = int(np.argmax(before))
    assert abs(after[loudest].integrated_lufs - TARGET_LUFS) <= 0.1
    for position in range(3):
        change = (after[position].integrated_lufs - after[loudest].integrated_lufs) - (before[position] - before[loudest])
        assert abs(change) <= 0.5, f"song {position + 1} moved {change:+.2f} LU against the loudest"
        assert after[position].true_peak_dbtp <= CEILING_DBTP
        assert report["songs"][position]["gain_db"] == report["songs"][loudest]["gain_db"]
    assert before[1] - before[2] > 3.0, "the mixes should differ in loudness"


def test_the_continuous_file_places_each_song_with_its_gap_and_crossfade(album_render):
    out, report = album_render
    songs = [read(out / name) for name in ("01 Midnight Drive.wav", "02 Second Song.wav", "03 Third-Song.wav")]
    album = read(out / "album.wav")
    starts = [round(song["start_s"] * RATE) for song in report["songs"]]
    assert starts[1] == songs[0].shape[0] + round(GAP_S * RATE)
    assert starts[2] == starts[1] + songs[1].shape[0] - round(CROSSFADE_S * RATE)
    assert album.shape[0] == starts[2] + songs[2].shape[0]
    fade = round(CROSSFADE_S * RATE)
    expected = np.zeros_like(album)
    ramp = (np.arange(fade) / fade)[:, None]
    for position, (start, song) in enumerate(zip(starts, songs)):
        shaped = song.copy()
        if position == 2:
            shaped[:fade] *= ramp
        if position == 1:
            shaped[-fade:] *= 1.0 - ramp
        expected[start : start + song.shape[0]] += shaped
    assert np.abs(album - expected).max() < 1e-4
    assert np.abs(album[songs[0].shape[0] : starts[1]]).max() == 0.0, "the gap is silent"
    np.testing.assert_allclose(album[: starts[2]], expected[: starts[2]], atol=1e-7, err_msg="before the crossfade the songs are placed sample for sample")
    assert measure(album, RATE, true_peak_oversampling=8).true_peak_dbtp <= CEILING_DBTP


def test_the_cue_sheet_indexes_each_song_within_one_cd_frame(album_render):
    out, report = album_render
    text = (out / "album.cue").read_bytes().decode("utf-8")
    assert 'FILE "album.wav" WAVE' in text and "CATALOG 0012345678905" in text and 'PERFORMER "The Synths"' in text
    assert re.findall(r"ISRC (\w+)", text) == ["GBAYE2600001", "GBAYE2600002"]
    assert re.findall(r'TRACK \d\d AUDIO\r\n    TITLE "([^"]+)"', text) == ["Midnight Drive", "Second Song", "Third/Song"]
    indexes = [int(m) * 60 * 75 + int(s) * 75 + int(f) for m, s, f in re.findall(r"INDEX 01 (\d\d):(\d\d):(\d\d)", text)]
    album = read(out / "album.wav")[:, 0]
    past_fades = round(CROSSFADE_S * RATE) + 100
    for song, cd_frames in zip(report["songs"], indexes):
        piece = read(out / song["deliverables"][0])[past_fades : past_fades + 4800, 0]
        exact = [at - past_fades for at in np.flatnonzero(album == piece[0]) if np.array_equal(album[at : at + piece.size], piece)]
        assert len(exact) == 1, f"{song['title']} is not in the continuous file once, sample for sample"
        assert abs(exact[0] / RATE * 75 - cd_frames) <= 1.0, (song["title"], exact[0] / RATE, cd_frames / 75)
    assert re.search(r"INDEX 00 00:08:00\r\n    INDEX 01 00:10:00", text), "the gap before song 2 starts where song 1 ends"


def test_track_mode_puts_every_song_on_target(tmp_path):
    report = render_album(write_album(tmp_path, mode="track"), tmp_path / "out", chunk_s=3.0, executor=LocalExecutor())
    for song in report["songs"]:
        measured = measure(read(tmp_path / "out" / song["deliverables"][0]), RATE, true_peak_oversampling=8)
        assert abs(measured.integrated_lufs - TARGET_LUFS) <= 0.1 and measured.true_peak_dbtp <= CEILING_DBTP


def test_the_report_has_every_songs_loudness_start_and_length(album_render):
    _, report = album_render
    assert report["mode"] == "album" and report["target"] == {"integrated_lufs": TARGET_LUFS, "true_peak_dbtp": CEILING_DBTP}
    assert [song["index"] for song in report["songs"]] == [1, 2, 3]
    assert [song["duration_s"] for song in report["songs"]] == [8.0, 6.0, 7.0]
    assert report["songs"][1]["start_s"] == 10.0 and report["duration_s"] == pytest.approx(8 + 2 + 6 - 1.5 + 7)
    assert {item["path"] for item in report["deliverables"]} == {"01 Midnight Drive.wav", "02 Second Song.wav", "03 Third-Song.wav", "album.wav", "album.cue"}


def problems_of(path):
    with pytest.raises(SessionError) as caught:
        load_album(path)
    return caught.value.problems


def test_a_crossfade_longer_than_a_song_is_refused_naming_both(tmp_path):
    (problem,) = problems_of(write_album(tmp_path, s2={"crossfade_s": 6.5}))
    assert problem == "songs[2].crossfade_s: 6.5 s is longer than songs[1] ('Second Song', 6 s); a crossfade must fit inside both songs it joins"


def test_album_file_problems_name_their_fields(tmp_path):
    (problem,) = problems_of(write_album(tmp_path, s1={"isrc": "XX1"}))
    assert problem.startswith("songs[1].isrc: an ISRC is 12 characters")
    assert problems_of(write_album(tmp_path, s0={"gap_s": 1.0})) == [
        "songs[0].gap_s: the first song starts the album at 0 s; it has nothing before it to leave a gap after"
    ]


def test_a_bad_song_session_is_named_with_its_own_problem(tmp_path):
    path = write_album(tmp_path)
    (tmp_path / "song1" / "stems" / "keys.wav").unlink()
    (problem,) = problems_of(path)
    assert problem.startswith("songs[0].session: 'song1/session.yaml': tracks[0].file: ") and "keys.wav" in problem


def test_a_song_that_fails_to_render_fails_the_album_naming_it_and_writes_nothing(tmp_path):
    path = write_album(tmp_path)
    loaded = load_album(path)
    (tmp_path / "mixes" / "three.wav").write_bytes(b"RIFF junk")
    with pytest.raises(RenderError, match=r"songs\[2\] \(Third/Song\): "):
        render_album(path, tmp_path / "out", chunk_s=3.0, executor=LocalExecutor(), loaded=loaded)
    assert list((tmp_path / "out").iterdir()) == []


def test_a_cancelled_album_stops_every_song_and_writes_nothing(tmp_path):
    cancel = threading.Event()
    with pytest.raises(RenderCancelled):
        render_album(write_album(tmp_path), tmp_path / "out", chunk_s=1.0, executor=LocalExecutor(), cancel=cancel, progress=lambda fraction, _audio_s, _stage: cancel.set())
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{index:999999999d}.wav", "the format '999999999d' of {index} is not allowed; use a width of at most two digits"),
        ("{track}.wav", "names {track}, which is not a song field; it may hold {index}, {title}, {artist}"),
        ("{title.upper}.wav", "names {title.upper}, which is not a song field"),
    ],
)
def test_a_song_path_template_is_bounded_to_the_song_fields(tmp_path, template, problem):
    path = write_album(tmp_path)
    album = yaml.safe_load(path.read_text())
    album["outputs"][0]["path"] = template
    path.write_text(yaml.safe_dump(album))
    (found,) = problems_of(path)
    assert found.startswith("outputs[0].path: ") and problem in found, found


def test_a_missing_album_reference_is_named_like_a_sessions(tmp_path):
    path = write_album(tmp_path)
    album = yaml.safe_load(path.read_text())
    album["master"]["match"] = {"reference": "refs/none.wav"}
    path.write_text(yaml.safe_dump(album))
    (problem,) = problems_of(path)
    assert problem.startswith("master.match.reference: ") and "refs/none.wav" in problem and "no such file" in problem


JOB_ID = "0123456789abcdef"


def test_a_song_from_a_job_reads_the_output_the_service_put_beside_the_album(tmp_path):
    path = write_album(tmp_path, s1={"file": None, "job": {"id": JOB_ID, "output": "master.wav"}})
    album = yaml.safe_load(path.read_text())
    album["songs"][1].pop("file")
    path.write_text(yaml.safe_dump(album))
    (problem,) = problems_of(path)
    assert problem.startswith(f"songs[1].job: output 'master.wav' of job {JOB_ID} is not at jobs/{JOB_ID}/master.wav: the mixfarm service puts it there")
    pending = load_album(path, jobs_pending=True)
    assert [song.index for song in pending.songs] == [1, 3]

    (tmp_path / "jobs" / JOB_ID).mkdir(parents=True)
    (tmp_path / "mixes" / "two.wav").rename(tmp_path / "jobs" / JOB_ID / "master.wav")
    loaded = load_album(path)
    assert [song.duration_s for song in loaded.songs] == [8.0, 6.0, 7.0]
    assert loaded.songs[1].source == f"jobs/{JOB_ID}/master.wav"


@pytest.mark.parametrize(
    ("song", "problem"),
    [
        ({"job": {"id": "XYZ", "output": "master.wav"}, "title": "t"}, "songs[0].job.id: "),
        ({"job": {"id": JOB_ID, "output": "master.wav"}, "file": "mixes/two.wav", "title": "t"}, "songs[0]: give exactly one of session, file or job"),
    ],
)
def test_a_song_from_a_job_is_checked(tmp_path, song, problem):
    path = write_album(tmp_path)
    album = yaml.safe_load(path.read_text())
    album["songs"] = [song]
    path.write_text(yaml.safe_dump(album))
    assert any(found.startswith(problem) for found in problems_of(path)), problems_of(path)
