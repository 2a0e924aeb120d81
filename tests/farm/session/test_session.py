"""Session loading: every rule of the format, with errors that name the field and what is allowed."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from farm.errors import SessionError
from farm.session import LOUDNESS_PRESETS, Session, load
from tests.helpers.sessions import (
    RATE,
    impulse,
    render_master,
    write_session,
    write_stem,
)


@pytest.fixture
def stem(tmp_path):
    return write_stem(tmp_path, "kick.wav", impulse(RATE, at=0))


def problems_of(path):
    with pytest.raises(SessionError) as caught:
        load(path)
    return caught.value.problems


def test_a_valid_session_loads_with_its_rate_and_files(tmp_path, stem):
    loaded = load(write_session(tmp_path, {"tracks": [{"name": "kick", "file": stem}]}))
    assert loaded.sample_rate == RATE
    assert loaded.files[stem].frames == RATE
    assert loaded.session.tracks[0].clip_list[0].start_s == 0.0


def test_json_sessions_load_too(tmp_path, stem):
    (tmp_path / "session.json").write_text(json.dumps({"format": "mixfarm/1", "tracks": [{"name": "kick", "file": stem}]}))
    assert load(tmp_path / "session.json").session.name == "untitled"


def test_unknown_field_names_its_path(tmp_path, stem):
    path = write_session(tmp_path, {"tracks": [{"name": "kick", "file": stem, "fx": [{"type": "compressor", "treshold_db": -20, "ratio": 2}]}]})
    assert "tracks[0].fx[0].treshold_db: unknown field" in problems_of(path)


def test_unknown_effect_lists_the_known_ones(tmp_path, stem):
    path = write_session(tmp_path, {"tracks": [{"name": "kick", "file": stem, "fx": [{"type": "chorus"}]}]})
    (problem,) = problems_of(path)
    assert problem.startswith("tracks[0].fx[0].type: unknown effect 'chorus'; known effects: 'gain', 'eq', 'compressor'")


def test_effect_parameter_rule_is_stated(tmp_path, stem):
    path = write_session(tmp_path, {"tracks": [{"name": "kick", "file": stem, "fx": [{"type": "gain"}, {"type": "compressor", "threshold_db": -20, "ratio": 0.5}]}]})
    assert problems_of(path) == ["tracks[0].fx[1].ratio: must be >= 1, got 0.5"]


def test_a_left_or_right_eq_band_needs_a_stereo_strip(tmp_path, stem):
    stereo = write_stem(tmp_path, "pad.wav", np.zeros((RATE, 2)))
    right_band = {"type": "eq", "bands": [{"kind": "bell", "freq_hz": 1000, "gain_db": 3}, {"kind": "bell", "freq_hz": 2000, "gain_db": 3, "mode": "right"}]}
    tracks = [{"name": "kick", "file": stem, "fx": [right_band]}, {"name": "pad", "file": stereo, "fx": [right_band]}]
    path = write_session(tmp_path, {"tracks": tracks, "buses": [{"name": "glue", "fx": [right_band]}]})
    assert problems_of(path) == ["tracks[0].fx[0].bands[1].mode: right filters one channel of a stereo signal; this signal is mono"]


def test_several_problems_are_reported_at_once(tmp_path, stem):
    path = write_session(
        tmp_path,
        {
            "tracks": [
                {"name": "kick", "file": stem, "output": "drums", "sends": [{"bus": "verb"}]},
                {"name": "kick", "file": stem, "fx": [{"type": "eq", "bands": [{"kind": "bell", "freq_hz": 30000}]}]},
            ]
        },
    )
    found = problems_of(path)
    assert "tracks[0].output: no bus named 'drums' (buses: none, or 'master')" in found
    assert "tracks[0].sends[0].bus: no bus named 'verb' (buses: none)" in found
    assert "tracks[1].name: 'kick' is already the name of tracks[0]" in found
    assert any(problem.startswith("tracks[1].fx[0].bands[0].freq_hz: must be such that 0 <") for problem in found)


def test_bus_cycle_names_the_buses_involved(tmp_path, stem):
    path = write_session(
        tmp_path,
        {
            "tracks": [{"name": "kick", "file": stem, "output": "a"}],
            "buses": [{"name": "a", "output": "b"}, {"name": "b", "sends": [{"bus": "a"}]}],
        },
    )
    assert "buses: routing forms a cycle: a -> b -> a" in problems_of(path)


def test_missing_stem_is_named(tmp_path):
    path = write_session(tmp_path, {"tracks": [{"name": "kick", "file": "stems/gone.wav"}]})
    (problem,) = problems_of(path)
    assert problem.startswith("tracks[0].file: ") and problem.endswith("stems/gone.wav: no such file")


def test_unreadable_and_truncated_stems_are_named(tmp_path, stem):
    (tmp_path / "stems" / "junk.wav").write_bytes(b"RIFF....WAVEjunk")
    raw = (tmp_path / stem).read_bytes()
    (tmp_path / "stems" / "cut.wav").write_bytes(raw[: len(raw) // 3])
    path = write_session(tmp_path, {"tracks": [{"name": "junk", "file": "stems/junk.wav"}, {"name": "cut", "file": "stems/cut.wav"}]})
    junk, cut = problems_of(path)
    assert "junk.wav: unreadable or unsupported audio file" in junk
    assert cut.startswith("tracks[1].file: ") and "cut.wav: truncated WAV" in cut


def test_clip_beyond_the_end_of_its_file(tmp_path, stem):
    path = write_session(
        tmp_path,
        {"tracks": [{"name": "a", "clips": [{"file": stem, "offset_s": 2.0}]}, {"name": "b", "clips": [{"file": stem, "offset_s": 0.5, "duration_s": 1.0}]}]},
    )
    assert problems_of(path) == [
        "tracks[0].clips[0].offset_s: 2 s is beyond the end of 'stems/kick.wav' (1 s)",
        "tracks[1].clips[0].duration_s: offset_s + duration_s = 1.5 s runs past the end of 'stems/kick.wav' (1 s)",
    ]


def test_empty_session_is_rejected(tmp_path):
    path = write_session(tmp_path, {"tracks": []})
    assert problems_of(path) == ["tracks: must have at least 1 item(s), got 0"]


def test_paths_outside_the_session_folder_are_refused(tmp_path, stem):
    outside = tmp_path.parent / "outside.wav"
    soundfile.write(outside, np.zeros((10, 1)), RATE)
    (tmp_path / "stems" / "link.wav").symlink_to(outside)
    path = write_session(
        tmp_path,
        {"tracks": [{"name": "a", "file": "../outside.wav"}, {"name": "b", "file": str(outside)}, {"name": "c", "file": "stems/link.wav"}]},
    )
    assert problems_of(path) == [
        "tracks[0].file: must stay inside the session folder, got '../outside.wav'",
        f"tracks[1].file: absolute paths must lie in an allowed root, got '{outside}'",
        "tracks[2].file: must stay inside the session folder, got 'stems/link.wav'",
    ]
    assert load(path, allowed_roots=(tmp_path.parent,)).files["../outside.wav"].frames == 10


def test_automation_targets_and_points_are_checked(tmp_path, stem):
    path = write_session(
        tmp_path,
        {"tracks": [{"name": "a", "file": stem, "automation": {"volume": [[0, 0]], "pan": [[1, 0], [0.5, 2]], "sends.fx.level_db": [[0, 0]]}}]},
    )
    assert problems_of(path) == [
        "tracks[0].automation.volume: unknown automation target; allowed: gain_db, pan, width, mute, sends.<bus>.level_db, fx.<id or position>.<parameter>",
        "tracks[0].automation.pan[1]: times must not decrease, got 0.5 after 1",
        "tracks[0].automation.pan[1]: value must be within [-1, 1], got 2",
        "tracks[0].automation.sends.fx.level_db: this strip has no send to 'fx'",
    ]


def test_mute_width_and_hold_points_are_checked(tmp_path, stem):
    automation = {
        "mute": [[0, 0, "hold"], [1, 0.5, "hold"], [2, 1]],
        "width": [[0, 1], [1, 2.5]],
        "gain_db": [[0, -6, "hold"], [1, 0, "step"], ["hold", 0]],
    }
    path = write_session(tmp_path, {"tracks": [{"name": "a", "file": stem, "automation": automation}]})
    assert problems_of(path) == [
        "tracks[0].automation.mute[1]: value must be 0 (sounding) or 1 (muted), got 0.5",
        "tracks[0].automation.width[1]: value must be within [0, 2], got 2.5",
        "tracks[0].automation.gain_db[1]: must be [time_s, value] or [time_s, value, hold], got [1.0, 0.0, 'step']",
        "tracks[0].automation.gain_db[2]: must be [time_s, value] or [time_s, value, hold], got ['hold', 0.0]",
    ]


def test_effect_automation_keys_name_an_effect_that_follows_the_parameter_with_allowed_values(tmp_path, stem):
    fx = [
        {"type": "compressor", "id": "glue", "threshold_db": -20, "ratio": 2},
        {"type": "delay", "time_s": 0.2, "mix": 0.3},
        {"type": "multiband_compressor", "crossovers_hz": [200], "bands": [{"threshold_db": -20, "ratio": 2}, {"threshold_db": -20, "ratio": 2}]},
        {"type": "eq", "id": "eq", "bands": [{"kind": "highpass", "freq_hz": 80}, {"kind": "bell", "freq_hz": 2000, "gain_db": 3}]},
    ]
    automation = {
        "fx.glue.threshold_db": [[0, -20], [1, -30, "hold"]],
        "fx.glue.sidechain_hpf_hz": [[0, 100]],
        "fx.1.mix": [[0, 0.5], [1, 1.5]],
        "fx.2.bands.1.threshold_db": [[0, -30]],
        "fx.2.bands.2.threshold_db": [[0, -30]],
        "fx.3.mix": [[0, 0.5]],
        "fx.verb.mix": [[0, 0.5]],
        "fx.glue": [[0, 1]],
        "fx.1.mix.extra": [[0, 0.5]],
        "fx.glue.makeup_db": [[1, 0], [0, 3]],
        "fx.eq.bands.0.freq_hz": [[0, 100], [1, 30000]],
        "fx.eq.bands.0.gain_db": [[0, 3]],
        "fx.eq.bands.1.q": [[0, 2], [1, 0.5, "hold"]],
        "fx.eq.bands.0.slope_db_oct": [[0, 24]],
        "fx.1.time_s": [[0, 0.1], [1, 25]],
        "fx.2.crossovers_hz.1": [[0, 500]],
        "fx.2.crossovers_hz.0": [[0, 100], [1, 30000]],
    }
    path = write_session(tmp_path, {"tracks": [{"name": "a", "file": stem, "fx": fx, "automation": automation}]})
    assert problems_of(path) == [
        "tracks[0].automation.fx.glue.sidechain_hpf_hz: this compressor has no side-chain filter to move; give sidechain_hpf_hz a value to automate it",
        "tracks[0].automation.fx.1.mix[1]: mix: must be <= 1, got 1.5",
        "tracks[0].automation.fx.2.bands.2.threshold_db: no band 2; this multiband_compressor has 2 (0 to 1)",
        "tracks[0].automation.fx.3.mix: eq does not follow automation of 'mix'; it follows: bands.*.gain_db, bands.*.freq_hz, bands.*.q",
        "tracks[0].automation.fx.verb.mix: no effect with the id 'verb' on this strip (ids: eq, glue)",
        "tracks[0].automation.fx.glue: an effect's automation key is fx.<id or position>.<parameter>",
        "tracks[0].automation.fx.1.mix.extra: delay does not follow automation of 'mix.extra'; it follows: time_s, feedback, mix, highcut_hz",
        "tracks[0].automation.fx.glue.makeup_db[1]: times must not decrease, got 0 after 1",
        "tracks[0].automation.fx.eq.bands.0.freq_hz[1]: bands[0].freq_hz: must be such that 0 < bands[0].freq_hz < 24000 (Nyquist at sample_rate 48000), got 30000",
        "tracks[0].automation.fx.eq.bands.0.gain_db[0]: bands[0].gain_db: applies to bell and shelves only, got 3 for highpass",
        "tracks[0].automation.fx.eq.bands.0.slope_db_oct: eq does not follow automation of 'bands.0.slope_db_oct'; "
        "it follows: bands.*.gain_db, bands.*.freq_hz, bands.*.q",
        "tracks[0].automation.fx.1.time_s[1]: time_s: must be <= 20, got 25",
        "tracks[0].automation.fx.2.crossovers_hz.1: no crossover 1; this multiband_compressor has 1 (0 to 0)",
        "tracks[0].automation.fx.2.crossovers_hz.0[1]: crossovers_hz[0]: must be such that 0 < crossovers_hz[0] < 24000 (Nyquist at sample_rate 48000), got 30000",
    ]


def test_note_valued_delay_needs_a_tempo(tmp_path, stem):
    path = write_session(tmp_path, {"tracks": [{"name": "a", "file": stem, "fx": [{"type": "delay", "time_note": "1/8."}]}]})
    assert problems_of(path) == ["tracks[0].fx[0].time_note: '1/8.' needs the session's tempo_bpm"]


def test_reserved_name_and_fades_longer_than_the_clip(tmp_path, stem):
    path = write_session(tmp_path, {"tracks": [{"name": "master", "clips": [{"file": stem, "fade_in_s": 0.7, "fade_out_s": 0.5}]}]})
    assert problems_of(path) == [
        "tracks[0].name: 'master' is reserved for the master bus",
        "tracks[0].clips[0]: fade_in_s + fade_out_s (1.2 s) is longer than the clip (1 s)",
    ]


def test_track_needs_exactly_one_source(tmp_path, stem):
    path = write_session(tmp_path, {"tracks": [{"name": "a"}, {"name": "b", "file": stem, "clips": [{"file": stem}]}]})
    assert problems_of(path) == ["tracks[0]: give exactly one of file or clips", "tracks[1]: give exactly one of file or clips"]


def test_loudness_presets_match_the_format_table():
    assert LOUDNESS_PRESETS == {
        "spotify": (-14.0, -1.0), "apple_music": (-16.0, -1.0), "youtube": (-14.0, -1.0), "amazon_music": (-14.0, -2.0),
        "deezer": (-15.0, -1.0), "ebu_r128": (-23.0, -1.0), "atsc_a85": (-24.0, -2.0), "aes_streaming": (-18.0, -1.0), "cd": (-9.0, -0.3),
    }  # fmt: skip


def test_unknown_preset_and_bad_format_version(tmp_path, stem):
    path = write_session(tmp_path, {"tracks": [{"name": "a", "file": stem}], "master": {"loudness": {"preset": "tidal"}}})
    assert problems_of(path)[0].startswith("master.loudness.preset: must be one of 'spotify', 'apple_music'")
    path.write_text(path.read_text().replace("mixfarm/1", "mixfarm/2"))
    assert problems_of(path)[0] == "format: must be one of 'mixfarm/1', got 'mixfarm/2'"


def test_invalid_yaml_is_reported_with_its_position(tmp_path):
    (tmp_path / "session.yaml").write_text("format: mixfarm/1\ntracks: [\n")
    (problem,) = problems_of(tmp_path / "session.yaml")
    assert problem.startswith("not valid YAML") and "line" in problem


def test_validate_command_prints_every_problem_and_exits_1(tmp_path, stem):
    path = write_session(tmp_path, {"tracks": [{"name": "a", "file": stem, "gain_db": 40, "pan": 2}]})
    result = subprocess.run([sys.executable, "-m", "farm.cli", "validate", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "tracks[0].gain_db: must be <= 24.0, got 40" in result.stderr
    assert "tracks[0].pan: must be <= 1.0, got 2" in result.stderr


def test_schema_command_prints_the_json_schema():
    result = subprocess.run([sys.executable, "-m", "farm.cli", "schema"], capture_output=True, text=True, timeout=120)
    schema = json.loads(result.stdout)
    assert schema["properties"]["format"]["const"] == "mixfarm/1" or "mixfarm/1" in json.dumps(schema["properties"]["format"])
    assert set(schema["required"]) == {"format", "tracks"} and schema["additionalProperties"] is False
    assert "CompressorSpec" in schema["$defs"] and "threshold_db" in schema["$defs"]["CompressorSpec"]["required"]
    assert Session.model_json_schema() == schema


def test_an_error_names_the_session_file_as_the_caller_wrote_it(tmp_path, monkeypatch):
    write_session(tmp_path, {"tracks": [{"name": "a", "file": "stems/missing.wav"}]})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SessionError) as raised:
        load("session.yaml")
    assert raised.value.source == "session.yaml" and str(raised.value).startswith("session.yaml: 1 problem")


def test_effect_ids_are_unique_within_a_strip_and_not_digits_alone(tmp_path, stem):
    compressor = {"type": "compressor", "threshold_db": -20, "ratio": 2}
    tracks = [
        {"name": "kick", "file": stem, "fx": [{"type": "gain", "id": "trim"}, {**compressor, "id": "trim"}, {**compressor, "id": "2"}]},
        {"name": "snare", "file": stem, "fx": [{"type": "gain", "id": "trim"}, {**compressor, "id": "glue_2"}]},
    ]
    path = write_session(tmp_path, {"tracks": tracks, "master": {"fx": [{**compressor, "id": "bus"}, {"type": "gain", "id": "bus"}]}})
    assert problems_of(path) == [
        "tracks[0].fx[1].id: 'trim' is already the id of tracks[0].fx[0]",
        "tracks[0].fx[2].id: '2' is digits alone, which automation keys read as a position; add a letter or an underscore",
        "master.fx[1].id: 'bus' is already the id of master.fx[0]",
    ]


def test_an_effect_id_of_other_characters_names_the_rule(tmp_path, stem):
    path = write_session(tmp_path, {"tracks": [{"name": "kick", "file": stem, "fx": [{"type": "gain", "id": "Vox EQ"}]}]})
    assert problems_of(path) == ["tracks[0].fx[0].id: string should match pattern '^[a-z0-9_]+$', got 'Vox EQ'"]


def test_an_effect_with_an_id_renders_as_without(tmp_path, stem):
    with_id = write_session(tmp_path, {"tracks": [{"name": "kick", "file": stem, "fx": [{"type": "gain", "gain_db": -6, "id": "trim"}]}]}, name="a.yaml")
    without = write_session(tmp_path, {"tracks": [{"name": "kick", "file": stem, "fx": [{"type": "gain", "gain_db": -6}]}]}, name="b.yaml")
    np.testing.assert_array_equal(render_master(with_id, tmp_path / "a")[0], render_master(without, tmp_path / "b")[0])
