"""Session files that could hurt the service, or never render, are refused at validation with the field and the rule.

The attacks that once took gigabytes (a YAML alias bomb, deep nesting, a
timeline of a billion seconds) run in a subprocess whose address space is
capped, so a regression fails its test instead of the machine.
"""

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence

import numpy as np
import pytest
import soundfile
import yaml

from farm.engine.plan import DEFAULT_CHUNK_S, ChunkGrid, compile_plan
from farm.errors import SessionError
from farm.session import (
    DEFAULT_MAX_DURATION_S,
    MAX_ALIAS_VALUES,
    MAX_NESTING,
    MAX_SESSION_FILE_BYTES,
    load,
)
from tests.helpers.sessions import RATE, impulse, tone, write_session, write_stem

MEMORY_CAP_BYTES = 3 * 2**29
"""1.5 GiB of address space: the imports fit easily; expanding any of the attacks does not."""

CAPPED_LOAD = textwrap.dedent(
    """
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
    import yaml
    yaml.__with_libyaml__ = yaml.__with_libyaml__ and sys.argv[2] == "libyaml"
    from farm.errors import SessionError
    from farm.engine.plan import compile_plan
    from farm.session import load
    try:
        plan = compile_plan(load(sys.argv[1], max_duration_s=json.loads(sys.argv[3])))
    except SessionError as exc:
        print(json.dumps(exc.problems))
    else:
        grid = plan.chunks()
        print(json.dumps([len(grid), grid[-1]]))
    """
).format(cap=MEMORY_CAP_BYTES)


def capped_load(path, parser="libyaml", max_duration_s=DEFAULT_MAX_DURATION_S):
    """Load and compile ``path`` in a subprocess with :data:`MEMORY_CAP_BYTES` of address space; what it printed."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", CAPPED_LOAD, str(path), parser, json.dumps(max_duration_s)], capture_output=True, text=True, timeout=600, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def problems_of(path, **options):
    with pytest.raises(SessionError) as caught:
        load(path, **options)
    return caught.value.problems


@pytest.fixture
def stem(tmp_path):
    return write_stem(tmp_path, "tone.wav", tone(220.0, 1.0))


def write_text(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


# 1. Duration


def test_a_clip_a_billion_seconds_in_is_refused_without_building_its_timeline(tmp_path, stem):
    path = write_session(tmp_path, {"tracks": [{"name": "a", "clips": [{"file": stem, "start_s": 1.0e9}]}]})
    assert capped_load(path) == [
        "tracks[0].clips[0].start_s: the clip ends at 1e+09 s; a session may last at most 14400 s (4 h), master.tail_s included"
    ]


def test_an_unbounded_billion_second_plan_has_a_lazy_chunk_grid(tmp_path, stem):
    path = write_session(tmp_path, {"tracks": [{"name": "a", "clips": [{"file": stem, "start_s": 1.0e9}]}]})
    frames = (10**9 + 1) * RATE
    assert capped_load(path, max_duration_s=None) == [-(-frames // int(DEFAULT_CHUNK_S * RATE)), [frames - RATE, frames]]


def test_max_duration_counts_the_tail_and_names_the_clip_that_ends_last(tmp_path, stem):
    path = write_session(
        tmp_path,
        {"tracks": [{"name": "a", "file": stem}, {"name": "b", "clips": [{"file": stem, "start_s": 0.5}]}], "master": {"tail_s": 1.0}},
    )
    assert problems_of(path, max_duration_s=2.0) == [
        "tracks[1].clips[0].start_s: the clip ends at 1.5 s; a session may last at most 2 s, master.tail_s included"
    ]
    assert load(path, max_duration_s=2.5).session.master.tail_s == 1.0
    assert load(path, max_duration_s=None).session.tracks[1].clips[0].start_s == 0.5


def test_master_fades_longer_than_the_session_are_refused(tmp_path, stem):
    path = write_session(tmp_path, {"tracks": [{"name": "a", "file": stem}], "master": {"fade_out_s": 1.0e300, "tail_s": 0.5}})
    assert problems_of(path) == ["master.fade_out_s: 1e+300 s is longer than the session (1.5 s, master.tail_s included)"]


def test_chunk_grid_is_a_small_sequence():
    grid = ChunkGrid(25, 10)
    assert isinstance(grid, Sequence) and len(grid) == 3
    assert list(grid) == [(0, 10), (10, 20), (20, 25)]
    assert grid[-1] == (20, 25) and grid[1] == (10, 20)
    with pytest.raises(IndexError):
        grid[3]
    assert list(ChunkGrid(0, 10)) == [(0, 0)]


def test_plan_chunks_cover_the_mix_and_the_timeline(tmp_path, stem):
    plan = compile_plan(load(write_session(tmp_path, {"tracks": [{"name": "a", "file": stem}]})), chunk_s=0.3)
    assert list(plan.chunks()) == [(start, min(start + 14400, plan.render_frames)) for start in range(0, plan.render_frames, 14400)]
    assert plan.chunks(plan.timeline_frames)[-1] == (43200, RATE)


# 2. What a session file may be: size, nesting, bounded YAML aliases


@pytest.mark.parametrize("parser", ["libyaml", "python"])
def test_a_yaml_alias_bomb_is_refused_where_its_aliases_pass_the_limit(tmp_path, parser):
    lines = ["format: mixfarm/1", "a: &a [x,x,x,x,x,x,x,x,x,x]"]
    for level, name in enumerate("bcdefgh"):
        previous = "abcdefgh"[level]
        lines.append(f"{name}: &{name} [{','.join([f'*{previous}'] * 10)}]")
    path = write_text(tmp_path, "session.yaml", "\n".join(lines + ["sample_rate: *h", "tracks: []", ""]))
    assert len(path.read_bytes()) < 600
    assert capped_load(path, parser) == [f"line 6: YAML aliases stand for more than {MAX_ALIAS_VALUES} values in all; write the session out in full"]


def test_yaml_aliases_share_chains_and_clips_as_safe_dump_writes_them(tmp_path, stem):
    chain = [{"type": "eq", "bands": [{"kind": "highpass", "freq_hz": 80.0}]}, {"type": "compressor", "threshold_db": -18.0, "ratio": 3.0}]
    clips = [{"file": stem, "start_s": 0.0}, {"file": stem, "start_s": 2.0}]
    document = {"format": "mixfarm/1", "tracks": [{"name": f"t{index}", "clips": clips, "fx": chain} for index in range(3)]}
    text = yaml.safe_dump(document)
    assert "&id001" in text and "*id001" in text
    loaded = load(write_text(tmp_path, "session.yaml", text))
    assert [len(track.fx) for track in loaded.session.tracks] == [2, 2, 2]
    assert [[clip.start_s for clip in track.clips] for track in loaded.session.tracks] == [[0.0, 2.0]] * 3


def test_an_alias_that_would_nest_past_the_limit_is_refused(tmp_path):
    deep = "[" * (MAX_NESTING - 1) + "]" * (MAX_NESTING - 1)
    path = write_text(tmp_path, "session.yaml", f"format: mixfarm/1\nname: &deep {deep}\ntracks: [[*deep]]\n")
    assert problems_of(path) == [f"line 3: lists and mappings nested more than {MAX_NESTING} levels deep; a session needs far fewer"]


@pytest.mark.parametrize("parser", ["libyaml", "python"])
def test_yaml_nested_100k_deep_is_refused(tmp_path, parser):
    path = write_text(tmp_path, "session.yaml", "format: mixfarm/1\nname: " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert capped_load(path, parser) == [f"line 2: lists and mappings nested more than {MAX_NESTING} levels deep; a session needs far fewer"]


def test_json_nested_100k_deep_is_refused(tmp_path):
    path = write_text(tmp_path, "session.json", '{"format": "mixfarm/1", "name": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert capped_load(path) == [f"arrays and objects nested more than {MAX_NESTING} levels deep; a session needs far fewer"]


@pytest.mark.parametrize("name", ["session.yaml", "session.json"])
def test_nesting_is_allowed_up_to_the_limit(tmp_path, name):
    def nested_session(levels):
        lists = levels - 1
        return '{"format": "mixfarm/1", "tracks": ' + "[" * lists + "]" * lists + "}"

    path = write_text(tmp_path, name, nested_session(MAX_NESTING))
    assert problems_of(path)[0].startswith("tracks[0]: must be a valid dictionary")
    path.write_text(nested_session(MAX_NESTING + 1))
    kind = "arrays and objects" if name.endswith(".json") else "line 1: lists and mappings"
    assert problems_of(path) == [f"{kind} nested more than {MAX_NESTING} levels deep; a session needs far fewer"]


def test_a_session_file_over_the_size_limit_is_refused_unread(tmp_path):
    path = write_text(tmp_path, "session.yaml", "format: mixfarm/1\n" + "#" * MAX_SESSION_FILE_BYTES)
    assert problems_of(path) == ["the file is larger than 16 MiB; a session file may hold at most 16777216 bytes"]


def test_echoed_values_are_cut_and_say_how_long_they_were(tmp_path, stem):
    document = {"format": "mixfarm/1", "sample_rate": "z" * 5_000_000, "tracks": [{"name": "a", "file": stem, "k" * 100: 1}]}
    path = write_text(tmp_path, "session.json", json.dumps(document))
    assert problems_of(path) == [
        f"sample_rate: must be a valid integer, unable to parse string as an integer, got {'z' * 60!r}... (5000000 characters)",
        f"tracks[0].{'k' * 60!r}... (100 characters): unknown field",
    ]


def test_yaml_tags_and_unreadable_numbers_are_refused_by_line(tmp_path):
    path = write_text(tmp_path, "session.yaml", "format: mixfarm/1\ntracks: !!set {a, b}\n")
    assert problems_of(path) == ["line 2: YAML tags on lists and mappings ('tag:yaml.org,2002:set') are not allowed in session files"]
    path.write_text("format: mixfarm/1\nname: 2024-02-30\n")
    assert problems_of(path) == ["line 2: cannot read '2024-02-30' as timestamp (day is out of range for month)"]


def test_at_most_max_problems_are_listed(tmp_path, stem):
    tracks = [{"name": f"t{t}", "file": stem, "sends": [{"bus": f"b{s}"} for s in range(20)]} for t in range(10)]
    found = problems_of(write_session(tmp_path, {"tracks": tracks}))
    assert len(found) == 101 and found[0] == "tracks[0].sends[0].bus: no bus named 'b0' (buses: none)"
    assert found[-1] == "... and 100 more problem(s)"


# 3. Numbers must be finite


def test_infinite_and_nan_numbers_are_refused_with_their_field(tmp_path, stem):
    text = textwrap.dedent(
        f"""
        format: mixfarm/1
        tracks:
          - name: a
            clips: [{{file: {stem}, start_s: .inf}}]
            automation: {{gain_db: [[.nan, 0], [1, -.inf]]}}
            fx: [{{type: compressor, threshold_db: .nan, ratio: 2}}]
        master: {{fade_in_s: .inf}}
        """
    )
    assert problems_of(write_text(tmp_path, "session.yaml", text)) == [
        "tracks[0].fx[0].threshold_db: must be a finite number, got nan",
        "tracks[0].automation.gain_db[0][0]: must be a finite number, got nan",
        "tracks[0].automation.gain_db[1][1]: must be a finite number, got -inf",
        "tracks[0].clips[0].start_s: must be a finite number, got inf",
        "master.fade_in_s: must be a finite number, got inf",
    ]


# 4. Stems and impulse responses


def test_a_stem_whose_header_says_1_hz_is_refused(tmp_path):
    soundfile.write(tmp_path / "one-hz.wav", np.zeros((8, 1)), 1, subtype="FLOAT")
    path = write_session(tmp_path, {"tracks": [{"name": "a", "file": "one-hz.wav"}]})
    assert problems_of(path) == ["tracks[0].file: 'one-hz.wav' has a sample rate of 1 Hz; stems must be 8000 to 384000 Hz"]


def test_the_sample_scan_finds_nan_past_the_first_block(tmp_path):
    audio = tone(220.0, 4.0)
    audio[150_000] = np.inf
    stem = write_stem(tmp_path, "vox.wav", audio)
    path = write_session(tmp_path, {"tracks": [{"name": "vox", "clips": [{"file": stem, "duration_s": 1.0}]}]})
    assert load(path).files[stem].frames == 4 * RATE
    assert problems_of(path, check_samples=True) == [
        "tracks[0].clips[0].file: 'stems/vox.wav' holds a NaN or infinite sample at frame 150000 (3.125 s into the file)"
    ]


def test_the_sample_scan_reads_stems_in_object_storage(tmp_path):
    pytest.importorskip("s3fs")
    from tests.helpers.s3server import moto_s3

    audio = tone(220.0, 2.0)
    audio[RATE + 7] = np.nan
    stem = write_stem(tmp_path, "vox.wav", audio)
    write_session(tmp_path, {"tracks": [{"name": "vox", "file": stem}]})
    with moto_s3("scans") as client:
        for name in ("session.yaml", stem):
            client.upload_file(str(tmp_path / name), "scans", f"song/{name}")
        assert problems_of("s3://scans/song/session.yaml", check_samples=True) == [
            "tracks[0].file: 'stems/vox.wav' holds a NaN or infinite sample at frame 48007 (1.000 s into the file)"
        ]


@pytest.mark.parametrize(("subtype", "channels"), [("FLOAT", 1), ("PCM_16", 2), ("PCM_24", 2)])
def test_a_loudness_target_over_nothing_but_silence_is_refused(tmp_path, stem, subtype, channels):
    sound_late = np.zeros((2 * RATE, channels))
    sound_late[RATE + 100, channels - 1] = 0.5
    late = write_stem(tmp_path, "late.wav", sound_late, subtype=subtype)
    silent = write_stem(tmp_path, "silence.wav", np.zeros((RATE, channels)), subtype=subtype)
    tracks = [
        {"name": "silence", "file": silent},
        {"name": "early", "clips": [{"file": late, "duration_s": 1.0}]},
        {"name": "muted", "file": stem, "mute": True},
    ]
    path = write_session(tmp_path, {"tracks": tracks, "master": {"loudness": {"preset": "spotify"}}})
    assert load(path).sample_rate == RATE
    assert problems_of(path, check_samples=True) == [
        "master.loudness: every track heard in the master plays only digital silence; there is nothing to normalise"
    ]
    tracks[1]["clips"][0]["duration_s"] = 1.1
    assert load(write_session(tmp_path, {"tracks": tracks, "master": {"loudness": {"preset": "spotify"}}}), check_samples=True)


def test_a_loudness_target_with_no_track_heard_is_refused_without_a_scan(tmp_path, stem):
    tracks = [{"name": "a", "file": stem, "output": "bus"}, {"name": "b", "file": stem, "mute": True}]
    path = write_session(tmp_path, {"tracks": tracks, "buses": [{"name": "bus", "mute": True}], "master": {"loudness": {"preset": "spotify"}}})
    assert problems_of(path) == [
        "master.loudness: no track is heard in the master (mute, solo or routing silence them all); there is nothing to normalise"
    ]


def test_impulse_responses_are_bounded_in_rate_channels_and_length(tmp_path, stem):
    (tmp_path / "irs").mkdir()
    soundfile.write(tmp_path / "irs" / "one-hz.wav", np.ones((4, 1)), 1, subtype="FLOAT")
    soundfile.write(tmp_path / "irs" / "surround.wav", impulse(100, channels=3), RATE, subtype="FLOAT")
    soundfile.write(tmp_path / "irs" / "long.wav", np.zeros((31 * 8000, 1)), 8000, subtype="PCM_16")
    fx = [{"type": "convolution", "ir_file": f"irs/{name}.wav"} for name in ("one-hz", "surround", "long")]
    path = write_session(tmp_path, {"tracks": [{"name": "a", "file": stem, "fx": fx}]})
    assert problems_of(path) == [
        "tracks[0].fx[0].ir_file: 'irs/one-hz.wav' has a sample rate of 1 Hz; impulse responses must be 8000 to 384000 Hz",
        "tracks[0].fx[1].ir_file: 'irs/surround.wav' has 3 channels; impulse responses must be mono or stereo",
        "tracks[0].fx[2].ir_file: 'irs/long.wav' lasts 31 s; an impulse response may last at most 30 s",
    ]


def test_the_impulse_responses_of_a_session_are_bounded_in_all(tmp_path):
    rate = 8000
    stem = write_stem(tmp_path, "tone.wav", tone(220.0, 1.0, rate=rate), rate=rate)
    soundfile.write(tmp_path / "room.wav", impulse(29 * rate), rate, subtype="PCM_16")
    fx = [{"type": "convolution", "ir_file": "room.wav"} for _ in range(6)]
    path = write_session(tmp_path, {"sample_rate": rate, "tracks": [{"name": "a", "file": stem, "fx": fx}]})
    assert problems_of(path) == [
        "tracks[0].fx[4].ir_file: with this one the session's impulse responses last 145 s; at most 120 s in all"
    ]


# 5. Output names the render keeps for itself


def test_outputs_may_not_take_the_report_or_hidden_names(tmp_path, stem):
    outputs = [{"path": path} for path in ("report.json", "./Report.JSON", ".mixfarm-render-0/a.wav", "mixes/.a.wav", "mixes", "mixes/b.wav", "/tmp/c.wav")]
    path = write_session(tmp_path, {"tracks": [{"name": "a", "file": stem}], "outputs": outputs})
    assert problems_of(path) == [
        "outputs[0].path: 'report.json' is reserved for the render report",
        "outputs[1].path: './Report.JSON' is reserved for the render report",
        "outputs[2].path: file and folder names must not start with '.' (the render's working files do), got '.mixfarm-render-0/a.wav'",
        "outputs[3].path: file and folder names must not start with '.' (the render's working files do), got 'mixes/.a.wav'",
        "outputs[4].path: 'mixes' is also the folder of another output",
        "outputs[6].path: must stay inside the output folder, got '/tmp/c.wav'",
    ]


# 6. Bounds on everything a session controls


def test_names_and_paths_are_bounded_in_length(tmp_path, stem):
    document = {
        "format": "mixfarm/1",
        "name": "n" * 5_000_000,
        "tracks": [
            {"name": "t" * 257, "file": "f" * 1025, "sends": [{"bus": "b" * 257}], "output": "o" * 257},
            {"name": "", "clips": [{"file": ""}], "fx": [{"type": "compressor", "threshold_db": -20, "ratio": 2, "detector": "d" * 65}]},
        ],
        "outputs": [{"path": "p" * 1025}],
    }
    assert problems_of(write_text(tmp_path, "session.json", json.dumps(document))) == [
        "name: must be at most 256 characters long, got 5000000",
        "tracks[0].name: must be at most 256 characters long, got 257",
        "tracks[0].sends[0].bus: must be at most 256 characters long, got 257",
        "tracks[0].output: must be at most 256 characters long, got 257",
        "tracks[0].file: must be at most 1024 characters long, got 1025",
        "tracks[1].name: must be at least 1 character(s) long, got ''",
        "tracks[1].fx[0].detector: must be at most 64 characters long, got 65",
        "tracks[1].clips[0].file: must be at least 1 character(s) long, got ''",
        "outputs[0].path: must be at most 1024 characters long, got 1025",
    ]


def test_lists_are_bounded_in_length(tmp_path, stem):
    track = {"name": "a", "file": stem}
    document = {
        "format": "mixfarm/1",
        "tracks": [dict(track, name=f"t{index}") for index in range(513)],
        "buses": [{"name": f"b{index}"} for index in range(129)],
        "outputs": [{"path": f"{index}.wav"} for index in range(17)],
    }
    path = write_text(tmp_path, "session.json", json.dumps(document))
    assert problems_of(path) == [
        "tracks: must have at most 512 item(s), got 513",
        "buses: must have at most 128 item(s), got 129",
        "outputs: must have at most 16 item(s), got 17",
    ]
    strip = {
        "name": "a",
        "clips": [{"file": stem}] * 1025,
        "fx": [{"type": "gain"}] * 32 + [{"type": "eq", "bands": [{"kind": "bell", "freq_hz": 1000}] * 33}],
        "sends": [{"bus": "b"}] * 33,
        "automation": {"gain_db": [[0, 0]] * 100_001},
    }
    path.write_text(json.dumps({"format": "mixfarm/1", "tracks": [strip]}))
    assert problems_of(path) == [
        "tracks[0].fx: must have at most 32 item(s), got 33",
        "tracks[0].sends: must have at most 32 item(s), got 33",
        "tracks[0].automation.gain_db: must have at most 100000 item(s), got 100001",
        "tracks[0].clips: must have at most 1024 item(s), got 1025",
    ]
    strip.update(clips=[{"file": stem}], sends=[], automation={}, fx=[{"type": "eq", "bands": [{"kind": "bell", "freq_hz": 1000}] * 33}])
    path.write_text(json.dumps({"format": "mixfarm/1", "tracks": [strip]}))
    assert problems_of(path) == ["tracks[0].fx[0].bands: must have at most 32 item(s), got 33"]


def test_a_lone_surrogate_is_refused_where_it_is(tmp_path, stem):
    document = {"format": "mixfarm/1", "name": "mix \ud800", "tracks": [{"name": "a", "file": stem, "output": "\udfff"}]}
    assert problems_of(write_text(tmp_path, "session.json", json.dumps(document))) == [
        "name: must be valid Unicode text (no lone surrogates), got 'mix \\ud800'",
        "tracks[0].output: must be valid Unicode text (no lone surrogates), got '\\udfff'",
    ]


def test_effect_times_and_levels_are_bounded(tmp_path, stem):
    fx = [
        {"type": "limiter", "lookahead_s": 10},
        {"type": "compressor", "threshold_db": -20, "ratio": 2, "release_s": 1.0e300, "makeup_db": 1.0e6},
        {"type": "gate", "threshold_db": -40, "hold_s": 1.0e300},
    ]
    assert problems_of(write_session(tmp_path, {"tracks": [{"name": "a", "file": stem, "fx": fx}]})) == [
        "tracks[0].fx[0].lookahead_s: must be <= 0.1, got 10",
        "tracks[0].fx[1].release_s: must be <= 60.0, got 1e+300",
        "tracks[0].fx[1].makeup_db: must be <= 144.0, got 1000000.0",
        "tracks[0].fx[2].hold_s: must be <= 60.0, got 1e+300",
    ]


# 7. No absolute server paths


def test_problems_name_files_as_the_session_writes_them(tmp_path, stem):
    (tmp_path / "stems" / "junk.wav").write_bytes(b"RIFF....WAVEjunk")
    (tmp_path / "irs").mkdir()
    (tmp_path / "irs" / "junk.wav").write_bytes(b"not audio")
    fx = [{"type": "convolution", "ir_file": "irs/junk.wav"}, {"type": "convolution", "ir_file": "irs/gone.wav"}]
    tracks = [{"name": "a", "file": "stems/gone.wav"}, {"name": "b", "file": "stems/junk.wav"}, {"name": "c", "file": stem, "fx": fx}]
    found = problems_of(write_session(tmp_path, {"tracks": tracks}))
    assert [problem.split(": ")[:2] for problem in found] == [
        ["tracks[0].file", "stems/gone.wav"],
        ["tracks[1].file", "stems/junk.wav"],
        ["tracks[2].fx[0].ir_file", "irs/junk.wav"],
        ["tracks[2].fx[1].ir_file", "irs/gone.wav"],
    ]
    assert not any(str(tmp_path.resolve()) in problem or str(tmp_path) in problem for problem in found), found
