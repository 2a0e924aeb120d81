"""Importing REAPER projects (.rpp): tracks, folders, receives, items, takes, fades, envelopes, and what is reported."""

import math

import numpy as np
import pytest

from farm.errors import ProjectError
from farm.projects import import_project
from tests.helpers.dawproject import wav_bytes
from tests.helpers.sessions import (
    NULL_LEVEL,
    render_master,
    tone,
    write_session,
    write_stem,
)


def db(linear):
    return 20 * math.log10(linear)


PROJECT = """<REAPER_PROJECT 0.1 "7.0/linux-x86_64" 1700000000
  RIPPLE 0
  TEMPO 100 4 4
  SAMPLERATE 48000 0 0
  MASTER_VOLUME 0.5 0 -1 -1 1
  <MASTERFXLIST
    BYPASS 0 0 0
    <VST "VST: ReaLimit (Cockos)" realimit.so 0 "" 1919708532<5653546C726C6D72656C696D69740000> ""
      bHJsbe5e7f4CAAAAAQAAAAAAAAACAAAAAAAAAAIAAAABAAAAAAAAAAIAAAAAAAAA
    >
  >
  <RENDER_CFG
    ZXZhdxgAAQ==
  >
  <TRACK {00000000-0000-0000-0000-000000000001}
    NAME Drums
    VOLPAN 1 0 -1 -1 1
    MUTESOLO 0 0 0
    ISBUS 1 1
    MAINSEND 1 0
  >
  <TRACK {00000000-0000-0000-0000-000000000002}
    NAME Kick
    VOLPAN 0.5 -0.5 -1 -1 1
    MUTESOLO 0 0 0
    ISBUS 0 0
    MAINSEND 1 0
    <VOLENV2
      EGUID {00000000-0000-0000-0000-0000000000E1}
      ACT 1 -1
      VIS 1 1 1
      ARM 0
      DEFSHAPE 0 -1 -1
      PT 0 1 0
      PT 2 0.5 1
      PT 3 1 0
    >
    <ITEM
      POSITION 0.5
      LENGTH 2
      LOOP 0
      FADEIN 0 0.1 0 0 0 0 0
      FADEOUT 0 0.25 0 0 0 0 0
      MUTE 0 0
      VOLPAN 0.5 0 1 -1
      SOFFS 0.25
      NAME kick.wav
      <SOURCE WAVE
        FILE "audio/kick.wav"
      >
    >
  >
  <TRACK {00000000-0000-0000-0000-000000000003}
    NAME Snare
    ISBUS 2 -1
    MAINSEND 1 0
    <FXCHAIN
      SHOW 0
      BYPASS 1 0 0
      <VST "VST3: Pro-Q 3 (FabFilter)" "FabFilter Pro-Q 3.vst3" 0 "" 1234{72C4DB717A4D459AB97E51745D84B39D} ""
        AAAA
      >
      FXID {00000000-0000-0000-0000-0000000000F1}
      BYPASS 0 0 0
      <JS "Guitar/tremolo" ""
        4.000000 -6.000000 - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -
      >
      FXID {00000000-0000-0000-0000-0000000000F2}
    >
    <ITEM
      POSITION 1
      LENGTH 3
      LOOP 1
      SOFFS 0.5
      <SOURCE WAVE
        FILE "audio/snare.wav"
      >
    >
    <ITEM
      POSITION 5
      LENGTH 1
      VOLPAN 1 0 1 -1
      NAME first
      <SOURCE WAVE
        FILE "audio/kick.wav"
      >
      TAKE SEL
      NAME second
      TAKEVOLPAN 0 0.5 -1
      SOFFS 0.1
      <SOURCE WAVE
        FILE "audio/snare.wav"
      >
    >
    <ITEM
      POSITION 7
      LENGTH 1
      PLAYRATE 1.5 1 0 -1 0 0.0025
      <SOURCE WAVE
        FILE "audio/kick.wav"
      >
    >
    <ITEM
      POSITION 9
      LENGTH 1
      MUTE 1 0
      <SOURCE WAVE
        FILE "audio/kick.wav"
      >
    >
    <ITEM
      POSITION 10
      LENGTH 1
      <SOURCE MIDI
        HASDATA 1 960 QN
        E 480 90 3c 60
        E 480 80 3c 00
      >
    >
  >
  <TRACK {00000000-0000-0000-0000-000000000004}
    NAME Vox
    VOLPAN 1 0.25 -1 -1 1
    MUTESOLO 1 0 0
    ISBUS 0 0
    MAINSEND 1 0
    <PANENV2
      ACT 1 -1
      PT 0 0.5 0
      PT 4 -0.5 0
    >
    <MUTEENV
      ACT 1 -1
      PT 0 1 1
      PT 2 0 1
      PT 3 1 1
    >
    <WIDTHENV2
      ACT 0 -1
      PT 0 1 0
    >
    <ITEM
      POSITION 2
      LENGTH 1.5
      FADEIN 1 0.2 0 1 0 0 0
      FADEOUT 3 0.3 0 1 0 0 0
      <SOURCE SECTION
        LENGTH 2
        STARTPOS 1
        OVERLAP 0.01
        <SOURCE WAVE
          FILE "audio/vox.wav"
        >
      >
    >
    <FANCYNEWBLOCK
      SETTING 1
    >
  >
  <TRACK {00000000-0000-0000-0000-000000000005}
    NAME Verb
    VOLPAN 0.5 0 -1 -1 1
    ISBUS 0 0
    MAINSEND 1 0
    AUXRECV 3 0 0.25 0 0 0 0 0 0 -1:U 0 -1 ''
    <AUXVOLENV
      ACT 1 -1
      PT 0 0.25 0
      PT 2 0.5 0
    >
    AUXRECV 1 3 0.5 0 0 0 0 0 0 -1:U 0 -1 ''
    AUXRECV 2 1 1 0.5 0 0 0 0 0 -1:U 0 -1 ''
  >
  <TRACK {00000000-0000-0000-0000-000000000006}
    NAME "Send only"
    MAINSEND 0 0
    <ITEM
      POSITION 0
      LENGTH 1
      <SOURCE WAVE
        FILE "audio/kick.wav"
      >
    >
  >
  <TRACK {00000000-0000-0000-0000-000000000007}
    NAME "Empty"
  >
  <TRACK {00000000-0000-0000-0000-000000000008}
    NAME "Verb 2"
    AUXRECV 5 0 1 0 0 0 0 0 0 -1:U 0 -1 ''
  >
>
"""


@pytest.fixture
def reaper_project(tmp_path):
    folder = tmp_path / "Song"
    (folder / "audio").mkdir(parents=True)
    (folder / "audio" / "kick.wav").write_bytes(wav_bytes(tone(60, 3.0, 0.5)))
    (folder / "audio" / "snare.wav").write_bytes(wav_bytes(tone(200, 1.0, 0.3)))
    (folder / "audio" / "vox.wav").write_bytes(wav_bytes(tone(330, 4.0, 0.2, channels=2)))
    path = folder / "Song.rpp"
    path.write_text(PROJECT)
    return path


def strips(document):
    return {strip["name"]: strip for strip in document["tracks"] + document.get("buses", [])}


def test_tracks_folders_and_receives_become_tracks_and_buses(reaper_project, tmp_path):
    imported = import_project(reaper_project, tmp_path / "out")
    document = imported.document
    assert imported.report.application == "REAPER 7.0/linux-x86_64"
    assert document["name"] == "Song" and document["tempo_bpm"] == 100.0 and document["sample_rate"] == 48000
    assert [track["name"] for track in document["tracks"]] == ["Kick", "Snare", "Vox", "Send only"]
    assert [bus["name"] for bus in document["buses"]] == ["Drums", "Verb", "Verb 2", "(no main send)"]
    found = strips(document)
    assert found["Kick"]["output"] == "Drums" and found["Snare"]["output"] == "Drums"
    assert "output" not in found["Vox"] and "output" not in found["Drums"]
    assert found["Send only"]["output"] == "(no main send)" and found["(no main send)"]["mute"] is True
    assert found["Kick"]["gain_db"] == pytest.approx(db(0.5)) and found["Kick"]["pan"] == -0.5
    assert found["Vox"]["pan"] == 0.25 and found["Vox"]["mute"] is True
    assert found["Verb"]["gain_db"] == pytest.approx(db(0.5))
    assert found["Vox"]["sends"] == [{"bus": "Verb", "level_db": pytest.approx(db(0.25))}]
    assert found["Kick"]["sends"] == [{"bus": "Verb", "level_db": pytest.approx(db(0.5)), "pre_fader": True}]
    assert found["Snare"]["sends"] == [{"bus": "Verb", "level_db": 0.0, "pre_fader": True}]
    assert found["Send only"]["sends"] == [{"bus": "Verb 2", "level_db": 0.0}]
    assert document["master"] == {"fx": [{"type": "gain", "gain_db": pytest.approx(db(0.5))}]}


def test_items_become_clips_with_offsets_loops_takes_sections_and_fades(reaper_project, tmp_path):
    found = strips(import_project(reaper_project, tmp_path / "out").document)
    assert found["Kick"]["clips"] == [
        {"file": "media/kick.wav", "start_s": 0.5, "offset_s": 0.25, "duration_s": 2.0, "gain_db": pytest.approx(db(0.5)), "fade_in_s": 0.1, "fade_out_s": 0.25, "fade_shape": "linear"}
    ]
    assert found["Snare"]["clips"] == [
        {"file": "media/snare.wav", "start_s": 1.0, "offset_s": 0.5, "duration_s": 0.5},
        {"file": "media/snare.wav", "start_s": 1.5, "duration_s": 1.0},
        {"file": "media/snare.wav", "start_s": 2.5, "duration_s": 1.0},
        {"file": "media/snare.wav", "start_s": 3.5, "duration_s": 0.5},
        {"file": "media/snare.wav", "start_s": 5.0, "offset_s": 0.1, "duration_s": 0.9, "gain_db": pytest.approx(db(0.5))},
        {"file": "media/kick.wav", "start_s": 7.0, "duration_s": 1.0},
    ]
    assert found["Vox"]["clips"] == [{"file": "media/vox.wav", "start_s": 2.0, "offset_s": 1.0, "duration_s": 1.5, "fade_in_s": 0.2, "fade_out_s": 0.3}]


def test_envelopes_become_automation(reaper_project, tmp_path):
    found = strips(import_project(reaper_project, tmp_path / "out").document)
    fader = found["Kick"]["automation"]["gain_db"]
    assert fader[0] == [0.0, 0.0] and [2.0, pytest.approx(db(0.5)), "hold"] in fader and fader[-1] == [3.0, 0.0]
    times = np.array([point[0] for point in fader if point[0] <= 2.0])
    levels = np.array([point[1] for point in fader if point[0] <= 2.0])
    dense = np.linspace(0, 2, 1001)
    assert np.max(np.abs(np.interp(dense, times, levels) - 20 * np.log10(1 - 0.25 * dense))) < 0.01
    assert found["Vox"]["automation"]["pan"] == [[0.0, -0.5], [4.0, 0.5]], "a pan envelope's +1 is left"
    assert found["Vox"]["automation"]["mute"] == [[0.0, 0.0, "hold"], [2.0, 1.0, "hold"], [3.0, 0.0]], "a mute envelope's 1 sounds"
    send = found["Vox"]["automation"]["sends.Verb.level_db"]
    assert send[0] == [0.0, pytest.approx(db(0.25))] and send[-1] == [2.0, pytest.approx(db(0.5))]


def test_what_could_not_be_translated_is_reported(reaper_project, tmp_path):
    report = import_project(reaper_project, tmp_path / "out").report
    losses = {(loss.where, loss.what) for loss in report.losses}
    assert losses == {
        ("master", "plug-in 'VST: ReaLimit (Cockos)'"),
        ("track 'Snare'", "JS effect 'Guitar/tremolo'"),
        ("track 'Snare'", "time-stretched item"),
        ("track 'Snare'", "MIDI item"),
        ("track 'Snare'", "pre-FX send to 'Verb'"),
        ("track 'Snare'", "send pan to 'Verb'"),
        ("track 'Vox'", "fade shape 3"),
    }
    notes = {(note.where, note.what) for note in report.notes}
    assert notes == {
        ("track 'Snare'", "plug-in 'VST3: Pro-Q 3 (FabFilter)'"),
        ("track 'Snare'", "item"),
        ("track 'Vox'", "envelope"),
        ("track 'Vox'", "block <FANCYNEWBLOCK>"),
        ("track 'Send only'", "main send off"),
        ("track 'Empty'", "track without audio items"),
    }
    unknown = next(note for note in report.notes if note.what == "block <FANCYNEWBLOCK>")
    assert unknown.element == "TRACK[4]/FANCYNEWBLOCK" and unknown.why == "not a block this importer reads: ignored"


def test_the_imported_session_loads(reaper_project, tmp_path):
    from farm.session import load

    loaded = load(import_project(reaper_project, tmp_path / "out").session_path)
    assert len(loaded.session.tracks) == 4


def test_a_file_that_is_not_an_rpp_is_refused(tmp_path):
    path = tmp_path / "notes.rpp"
    path.write_text("just some notes\n")
    with pytest.raises(ProjectError, match=r"notes.rpp: not a REAPER project: it does not start with <REAPER_PROJECT"):
        import_project(path, tmp_path / "out")


def test_a_broken_rpp_names_the_line(tmp_path):
    path = tmp_path / "broken.rpp"
    path.write_text('<REAPER_PROJECT 0.1 "7.0"\n  <TRACK\n    NAME "unterminated\n  >\n>\n')
    with pytest.raises(ProjectError, match=r"broken.rpp: not a readable REAPER project: line 3: a quote \(\"\) that is never closed"):
        import_project(path, tmp_path / "out")


def test_media_outside_the_project_folder_is_refused(tmp_path):
    (tmp_path / "elsewhere.wav").write_bytes(wav_bytes(tone(100, 1.0)))
    (tmp_path / "song").mkdir()
    path = tmp_path / "song" / "song.rpp"
    path.write_text('<REAPER_PROJECT 0.1 "7.0"\n  <TRACK\n    <ITEM\n      POSITION 0\n      LENGTH 1\n      <SOURCE WAVE\n        FILE "../elsewhere.wav"\n      >\n    >\n  >\n>\n')
    with pytest.raises(ProjectError, match=r"song.rpp: TRACK\[1\]/ITEM\[1\]/SOURCE/FILE: the media file '../elsewhere.wav' lies outside the project's folder"):
        import_project(path, tmp_path / "out")


def test_missing_media_is_named(tmp_path):
    path = tmp_path / "song.rpp"
    path.write_text('<REAPER_PROJECT 0.1 "7.0"\n  <TRACK\n    <ITEM\n      POSITION 0\n      LENGTH 1\n      <SOURCE WAVE\n        FILE "gone.wav"\n      >\n    >\n  >\n>\n')
    with pytest.raises(ProjectError, match=r"the media file 'gone.wav' is missing"):
        import_project(path, tmp_path / "out")


def test_ten_thousand_tracks_are_refused_with_the_limit(tmp_path):
    path = tmp_path / "huge.rpp"
    path.write_text("<REAPER_PROJECT 0.1 \"7.0\"\n" + "  <TRACK\n    NAME t\n  >\n" * 10_000 + ">\n")
    with pytest.raises(ProjectError, match=r"huge.rpp: has 10000 tracks; a session may have at most 512 tracks and 128 buses"):
        import_project(path, tmp_path / "out")


TWIN = """<REAPER_PROJECT 0.1 "7.0/linux-x86_64" 1700000000
  TEMPO 120 4 4
  <TRACK
    NAME Group
    VOLPAN 0.7 0 -1 -1 1
    ISBUS 1 1
  >
  <TRACK
    NAME A
    VOLPAN 0.5 -0.5 -1 -1 1
    ISBUS 2 -1
    <VOLENV2
      ACT 1 -1
      PT 0 1 1
      PT 1.2 0.25 1
      PT 2 1 0
    >
    <MUTEENV
      ACT 1 -1
      PT 0 1 1
      PT 2.4 0 1
    >
    <ITEM
      POSITION 0.25
      LENGTH 2.5
      FADEIN 0 0.5 0 0 0 0 0
      FADEOUT 0 0.4 0 0 0 0 0
      VOLPAN 0.8 0 1 -1
      SOFFS 0.3
      <SOURCE WAVE
        FILE "a.wav"
      >
    >
  >
  <TRACK
    NAME B
    <PANENV2
      ACT 1 -1
      PT 0 1 0
      PT 2.5 -1 0
    >
    <ITEM
      POSITION 0.1
      LENGTH 2.6
      LOOP 1
      FADEOUT 0 0.3 0 0 0 0 0
      <SOURCE WAVE
        FILE "b.wav"
      >
    >
  >
  <TRACK
    NAME Return
    VOLPAN 1 0.5 -1 -1 1
    AUXRECV 1 3 0.35 0 0 0 0 0 0 -1:U 0 -1 ''
  >
>
"""


def test_an_fx_free_rpp_renders_as_its_hand_written_session(tmp_path):
    a = tone(220, 3.0, 0.4) * np.linspace(1.0, 0.5, 3 * 48000)[:, None]
    b = np.concatenate([tone(330, 1.0, 0.3), tone(331, 1.0, 0.3)], axis=1)
    project = tmp_path / "twin"
    project.mkdir()
    (project / "a.wav").write_bytes(wav_bytes(a))
    (project / "b.wav").write_bytes(wav_bytes(b))
    (project / "twin.rpp").write_text(TWIN)
    imported = import_project(project / "twin.rpp", tmp_path / "imported")
    assert imported.report.losses == []
    document = imported.document
    document["outputs"] = [{"path": "master.wav", "bit_depth": "32f", "dither": "none"}]
    document.setdefault("master", {})["tail_s"] = 0.0
    write_session(tmp_path / "imported", document)
    hand = tmp_path / "hand"
    write_stem(hand, "a.wav", a)
    write_stem(hand, "b.wav", b)
    session = {
        "sample_rate": 48000,
        "tempo_bpm": 120.0,
        "tracks": [
            {
                "name": "A",
                "clips": [{"file": "stems/a.wav", "start_s": 0.25, "offset_s": 0.3, "duration_s": 2.5, "gain_db": db(0.8), "fade_in_s": 0.5, "fade_out_s": 0.4, "fade_shape": "linear"}],
                "gain_db": db(0.5),
                "pan": -0.5,
                "output": "Group",
                "sends": [{"bus": "Return", "level_db": db(0.35), "pre_fader": True}],
                "automation": {"gain_db": [[0.0, 0.0, "hold"], [1.2, db(0.25), "hold"], [2.0, 0.0]], "mute": [[0.0, 0.0, "hold"], [2.4, 1.0]]},
            },
            {
                "name": "B",
                "clips": [
                    {"file": "stems/b.wav", "start_s": 0.1, "duration_s": 1.0},
                    {"file": "stems/b.wav", "start_s": 1.1, "duration_s": 1.0},
                    {"file": "stems/b.wav", "start_s": 2.1, "duration_s": 0.6, "fade_out_s": 0.3, "fade_shape": "linear"},
                ],
                "automation": {"pan": [[0.0, -1.0], [2.5, 1.0]]},
            },
        ],
        "buses": [{"name": "Group", "gain_db": db(0.7)}, {"name": "Return", "pan": 0.5}],
    }
    write_session(hand, session)
    imported_audio, _ = render_master(tmp_path / "imported" / "session.yaml", tmp_path / "render-imported")
    hand_audio, _ = render_master(hand / "session.yaml", tmp_path / "render-hand")
    assert imported_audio.shape == hand_audio.shape
    assert np.max(np.abs(hand_audio)) > 0.1
    assert np.max(np.abs(imported_audio - hand_audio)) < NULL_LEVEL


def test_only_the_active_take_plays_with_its_own_offset(tmp_path):
    (tmp_path / "a.wav").write_bytes(wav_bytes(tone(100, 2.0)))
    (tmp_path / "b.wav").write_bytes(wav_bytes(tone(200, 2.0)))
    text = (
        '<REAPER_PROJECT 0.1 "7.0"\n  <TRACK\n    <ITEM\n      POSITION 0\n      LENGTH 1\n      SOFFS 0.1\n'
        '      <SOURCE WAVE\n        FILE "a.wav"\n      >\n      TAKE\n      SOFFS 0.25\n      <SOURCE WAVE\n        FILE "b.wav"\n      >\n'
        "    >\n    <ITEM\n      POSITION 2\n      LENGTH 1\n      SOFFS 0.1\n"
        '      <SOURCE WAVE\n        FILE "a.wav"\n      >\n      TAKE SEL\n      SOFFS 0.25\n      <SOURCE WAVE\n        FILE "b.wav"\n      >\n    >\n  >\n>\n'
    )
    (tmp_path / "takes.rpp").write_text(text)
    clips = import_project(tmp_path / "takes.rpp", tmp_path / "out").document["tracks"][0]["clips"]
    assert clips == [
        {"file": "media/a.wav", "start_s": 0.0, "offset_s": 0.1, "duration_s": 1.0},
        {"file": "media/b.wav", "start_s": 2.0, "offset_s": 0.25, "duration_s": 1.0},
    ]
