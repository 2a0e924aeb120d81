"""Importing DAWproject archives: every mapped feature field by field, the loss report, and the refusals."""

import json
import math
import zipfile

import numpy as np
import pytest
import yaml

from farm.errors import ProjectError
from farm.projects import import_project
from farm.projects.dawproject.schema import problems
from tests.helpers.dawproject import project_xml, wav_bytes, write_dawproject
from tests.helpers.sessions import tone

BEAT_S = 0.5
"""One beat at the fixtures' 120 bpm."""


def db(linear):
    return 20 * math.log10(linear)


STRUCTURE = """
<Track id="tr-drums" name="Drums" contentType="tracks">
  <Channel id="ch-drums" role="submix" destination="ch-master"><Volume unit="linear" value="1.0"/></Channel>
  <Track id="tr-kick" name="Kick" contentType="audio">
    <Channel id="ch-kick" role="regular" destination="ch-drums">
      <Devices>
        <NoiseGate id="gate" deviceName="Gate" deviceRole="audioFX">
          <Attack unit="seconds" value="0.002"/><Range unit="decibel" value="60"/><Release unit="seconds" value="0.2"/><Threshold unit="decibel" value="-40"/>
        </NoiseGate>
        <Compressor id="comp" deviceName="Compressor" deviceRole="audioFX">
          <Attack unit="seconds" value="0.01"/><InputGain unit="decibel" value="-2"/><OutputGain unit="decibel" value="3"/>
          <Ratio unit="linear" value="4"/><Release unit="seconds" value="0.15"/><Threshold id="thr-kick" unit="decibel" value="-20"/>
        </Compressor>
      </Devices>
      <Pan unit="normalized" value="0.5" min="0" max="1"/>
      <Volume id="vol-kick" unit="linear" value="0.5" min="0" max="2"/>
    </Channel>
  </Track>
  <Track id="tr-snare" name="Snare" contentType="audio">
    <Channel id="ch-snare" role="regular">
      <Devices>
        <Equalizer id="eq" deviceName="EQ" deviceRole="audioFX">
          <Band type="highPass" order="4"><Freq id="hp-freq" unit="hertz" value="100"/></Band>
          <Band type="bell"><Freq unit="hertz" value="2000"/><Gain id="bell-gain" unit="decibel" value="-3"/><Q unit="linear" value="2"/></Band>
          <Band type="highShelf"><Freq unit="hertz" value="8000"/><Gain unit="decibel" value="2"/><Enabled value="false"/></Band>
          <InputGain unit="decibel" value="0"/><OutputGain unit="decibel" value="1.5"/>
        </Equalizer>
        <Vst3Plugin id="proq" deviceName="Pro-Q 3" deviceRole="audioFX" deviceVendor="FabFilter">
          <Parameters><RealParameter id="proq-gain" name="Band 1 Gain" unit="decibel" value="0"/></Parameters>
        </Vst3Plugin>
        <Compressor id="off" deviceName="Spare" deviceRole="audioFX"><Enabled value="false"/><Ratio unit="linear" value="2"/></Compressor>
      </Devices>
      <Volume unit="decibel" value="-4"/>
    </Channel>
  </Track>
</Track>
<Track id="tr-vox" name="Vox" contentType="audio">
  <Channel id="ch-vox" role="regular" destination="ch-master" solo="false">
    <Devices>
      <Limiter id="lim" deviceName="Limiter" deviceRole="audioFX">
        <Attack unit="seconds" value="0.004"/><Release unit="seconds" value="0.08"/><Threshold unit="decibel" value="-3"/>
      </Limiter>
    </Devices>
    <Mute id="mute-vox" value="false"/>
    <Pan id="pan-vox" unit="normalized" value="0.75"/>
    <Sends>
      <Send id="send-verb" destination="ch-verb" type="post"><Volume id="send-verb-vol" unit="linear" value="0.25"/></Send>
      <Send id="send-echo" destination="ch-echo" type="pre"><Volume unit="decibel" value="-10"/></Send>
      <Send id="send-off" destination="ch-echo" type="post"><Enable value="false"/><Volume unit="decibel" value="0"/></Send>
    </Sends>
    <Volume unit="decibel" value="-3"/>
  </Channel>
</Track>
<Track id="tr-verb" name="Verb" contentType="audio">
  <Channel id="ch-verb" role="effect" destination="ch-master">
    <Devices><BuiltinDevice id="room" deviceName="Reverb" deviceRole="audioFX" deviceVendor="Bitwig"/></Devices>
    <Volume unit="decibel" value="-6"/>
  </Channel>
</Track>
<Track id="tr-echo" name="Echo" contentType="audio"><Channel id="ch-echo" role="effect" destination="ch-verb"/></Track>
<Track id="tr-synth" name="Synth" contentType="notes"><Channel id="ch-synth" role="regular" destination="ch-master"/></Track>
<Track id="tr-master" name="Master" contentType="audio">
  <Channel id="ch-master" role="master">
    <Devices><Limiter id="master-limiter" deviceName="Limiter" deviceRole="audioFX"><Threshold unit="decibel" value="-1"/></Limiter></Devices>
    <Volume unit="decibel" value="-1.5"/>
  </Channel>
</Track>
"""


def audio(name, seconds, channels=1):
    return f'<Audio channels="{channels}" sampleRate="48000" duration="{seconds}"><File path="audio/{name}"/></Audio>'


LANES = f"""
<Lanes id="lane-kick" track="tr-kick">
  <Clips id="clips-kick">
    <Clip time="0" duration="8" playStart="0" fadeTimeUnit="beats" fadeInTime="0.25" fadeOutTime="1">{audio("kick.wav", 4)}</Clip>
  </Clips>
  <Points id="auto-vol-kick"><Target parameter="vol-kick"/>
    <RealPoint time="0" value="1.0" interpolation="linear"/><RealPoint time="4" value="0.5" interpolation="linear"/>
  </Points>
  <Points id="auto-thr-kick"><Target parameter="thr-kick"/>
    <RealPoint time="0" value="-20" interpolation="hold"/><RealPoint time="2" value="-26" interpolation="linear"/><RealPoint time="4" value="-20"/>
  </Points>
</Lanes>
<Lanes id="lane-snare" track="tr-snare">
  <Clips id="clips-snare"><Clip time="2" duration="4" playStart="1">{audio("snare.wav", 3)}</Clip></Clips>
  <Points id="auto-hp"><Target parameter="hp-freq"/><RealPoint time="0" value="100"/><RealPoint time="8" value="400"/></Points>
  <Points id="auto-bell"><Target parameter="bell-gain"/><RealPoint time="0" value="-3"/><RealPoint time="8" value="-9"/></Points>
  <Points id="auto-proq"><Target parameter="proq-gain"/><RealPoint time="0" value="0"/></Points>
</Lanes>
<Lanes id="lane-vox" track="tr-vox">
  <Clips id="clips-vox">
    <Clip time="4" duration="8" contentTimeUnit="beats" playStart="2">
      <Clips id="nested">
        <Clip time="0" duration="4" contentTimeUnit="seconds">{audio("vox.wav", 6)}</Clip>
        <Clip time="6" duration="4" contentTimeUnit="seconds" playStart="1" fadeTimeUnit="seconds" fadeOutTime="0.5">{audio("vox.wav", 6)}</Clip>
      </Clips>
    </Clip>
    <Clip time="14" duration="4" contentTimeUnit="beats">
      <Warps id="stretch" contentTimeUnit="seconds">{audio("vox.wav", 6)}<Warp time="0" contentTime="0"/><Warp time="4" contentTime="3"/></Warps>
    </Clip>
    <Clip time="20" duration="2" contentTimeUnit="beats">
      <Lanes id="gained">{audio("vox.wav", 6)}<Points id="clip-gain" unit="decibel"><Target expression="gain"/><RealPoint time="0" value="-6"/></Points></Lanes>
    </Clip>
    <Clip time="24" duration="2" contentTimeUnit="beats">
      <Warps id="steady" contentTimeUnit="seconds">{audio("vox.wav", 6)}<Warp time="0" contentTime="2"/><Warp time="2" contentTime="3"/></Warps>
    </Clip>
  </Clips>
  <Points id="auto-pan"><Target parameter="pan-vox"/><RealPoint time="0" value="0.5"/><RealPoint time="8" value="1.0"/></Points>
  <Points id="auto-mute"><Target parameter="mute-vox"/><BoolPoint time="0" value="false"/><BoolPoint time="16" value="true"/><BoolPoint time="18" value="false"/></Points>
  <Points id="auto-send" unit="decibel"><Target parameter="send-verb-vol"/><RealPoint time="0" value="-12"/><RealPoint time="8" value="-6"/></Points>
</Lanes>
<Lanes id="lane-synth" track="tr-synth">
  <Clips id="clips-synth"><Clip time="0" duration="4"><Notes id="notes"><Note time="0" duration="1" channel="0" key="60" vel="0.8"/></Notes></Clip></Clips>
</Lanes>
"""


@pytest.fixture
def studio(tmp_path):
    files = {
        "audio/kick.wav": wav_bytes(tone(60, 4.0, 0.5)),
        "audio/snare.wav": wav_bytes(tone(200, 3.0, 0.3)),
        "audio/vox.wav": wav_bytes(tone(330, 6.0, 0.2, channels=2)),
    }
    return write_dawproject(tmp_path / "Studio Song.dawproject", project_xml(STRUCTURE, LANES), files, title="Studio Song")


def strips(document):
    return {strip["name"]: strip for strip in document["tracks"] + document.get("buses", [])}


def test_the_fixture_is_valid_against_the_schema(studio):
    with zipfile.ZipFile(studio) as archive:
        assert problems(archive.read("project.xml"), "Project.xsd") == []


def test_tracks_groups_and_returns_become_tracks_and_buses_with_their_routing(studio, tmp_path):
    document = import_project(studio, tmp_path / "out").document
    assert document["name"] == "Studio Song"
    assert document["tempo_bpm"] == 120.0
    assert [track["name"] for track in document["tracks"]] == ["Kick", "Snare", "Vox"]
    assert [bus["name"] for bus in document["buses"]] == ["Drums", "Verb", "Echo"]
    found = strips(document)
    assert found["Kick"]["output"] == "Drums"
    assert found["Snare"]["output"] == "Drums", "a track without a destination plays into its group"
    assert "output" not in found["Vox"] and "output" not in found["Drums"]
    assert found["Echo"]["output"] == "Verb"
    assert found["Kick"]["gain_db"] == pytest.approx(db(0.5))
    assert "pan" not in found["Kick"]
    assert found["Snare"]["gain_db"] == -4.0
    assert found["Vox"]["gain_db"] == -3.0 and found["Vox"]["pan"] == pytest.approx(0.5)
    assert found["Verb"]["gain_db"] == -6.0
    assert found["Vox"]["sends"] == [{"bus": "Verb", "level_db": pytest.approx(db(0.25))}, {"bus": "Echo", "level_db": -10.0, "pre_fader": True}]


def test_clips_are_placed_in_seconds_with_nesting_fades_gain_and_offsets(studio, tmp_path):
    found = strips(import_project(studio, tmp_path / "out").document)
    assert found["Kick"]["clips"] == [{"file": "media/kick.wav", "fade_in_s": 0.25 * BEAT_S, "fade_out_s": 1 * BEAT_S}]
    assert found["Snare"]["clips"] == [{"file": "media/snare.wav", "start_s": 2 * BEAT_S, "offset_s": 1 * BEAT_S, "duration_s": 4 * BEAT_S}]
    assert found["Vox"]["clips"] == [
        {"file": "media/vox.wav", "start_s": 2.0, "offset_s": 1.0, "duration_s": 1.0},
        {"file": "media/vox.wav", "start_s": 4.0, "offset_s": 1.0, "duration_s": 2.0, "fade_out_s": 0.5},
        {"file": "media/vox.wav", "start_s": 7.0, "duration_s": 2.0},
        {"file": "media/vox.wav", "start_s": 10.0, "duration_s": 1.0, "gain_db": -6.0},
        {"file": "media/vox.wav", "start_s": 12.0, "offset_s": 2.0, "duration_s": 1.0},
    ]


def test_built_in_devices_become_effects_with_their_parameters(studio, tmp_path):
    document = import_project(studio, tmp_path / "out").document
    found = strips(document)
    assert found["Kick"]["fx"] == [
        {"type": "gate", "threshold_db": -40.0, "range_db": -60.0, "attack_s": 0.002, "release_s": 0.2},
        {"type": "gain", "gain_db": -2.0},
        {"id": "compressor", "type": "compressor", "threshold_db": -20.0, "ratio": 4.0, "attack_s": 0.01, "release_s": 0.15, "makeup_db": 3.0},
    ]
    assert found["Snare"]["fx"] == [
        {
            "id": "eq",
            "type": "eq",
            "bands": [
                {"kind": "highpass", "freq_hz": 100.0, "slope_db_oct": 24},
                {"kind": "bell", "freq_hz": 2000.0, "gain_db": -3.0, "q": 2.0},
                {"kind": "high_shelf", "freq_hz": 8000.0, "gain_db": 2.0, "enabled": False},
            ],
        },
        {"type": "gain", "gain_db": 1.5},
    ]
    assert found["Vox"]["fx"] == [{"type": "limiter", "ceiling_dbtp": -3.0, "lookahead_s": 0.004, "release_s": 0.08}]
    assert document["master"] == {"fx": [{"type": "limiter", "ceiling_dbtp": -1.0}, {"type": "gain", "gain_db": -1.5}]}


def test_automation_of_each_kind_lands_on_its_key_in_seconds(studio, tmp_path):
    found = strips(import_project(studio, tmp_path / "out").document)
    kick = found["Kick"]["automation"]
    assert kick["fx.compressor.threshold_db"] == [[0.0, -20.0, "hold"], [1.0, -26.0], [2.0, -20.0]]
    fader = kick["gain_db"]
    assert fader[0] == [0.0, 0.0] and fader[-1] == [2.0, pytest.approx(db(0.5))]
    times = np.array([point[0] for point in fader])
    levels = np.array([point[1] for point in fader])
    assert np.all(np.diff(times) > 0) and np.max(np.abs(np.diff(levels))) <= 0.5 + 1e-9
    dense_t = np.linspace(0, 2, 2001)
    in_db = np.interp(dense_t, times, levels)
    in_gain = 1.0 - 0.25 * dense_t
    assert np.max(np.abs(in_db - 20 * np.log10(in_gain))) < 0.01, "a linear gain ramp is traced within 0.01 dB"
    snare = found["Snare"]["automation"]
    assert snare == {"fx.eq.bands.0.freq_hz": [[0.0, 100.0], [4.0, 400.0]], "fx.eq.bands.1.gain_db": [[0.0, -3.0], [4.0, -9.0]]}
    vox = found["Vox"]["automation"]
    assert vox["pan"] == [[0.0, 0.0], [4.0, 1.0]]
    assert vox["mute"] == [[0.0, 0.0, "hold"], [8.0, 1.0, "hold"], [9.0, 0.0]]
    assert vox["sends.Verb.level_db"] == [[0.0, -12.0], [4.0, -6.0]]


def test_every_loss_and_note_is_reported_with_its_element(studio, tmp_path):
    imported = import_project(studio, tmp_path / "out")
    report = json.loads((tmp_path / "out" / "import_report.json").read_text())
    assert report == json.loads(json.dumps(imported.report.to_dict()))
    losses = {(loss["where"], loss["what"]): loss for loss in report["losses"]}
    assert losses[("track 'Snare'", "VST3 plug-in 'Pro-Q 3'")]["element"] == "/Project/Structure/Track[1]/Track[2]/Channel/Devices/Vst3Plugin[1]"
    assert ("track 'Synth'", "MIDI track") in losses
    assert ("track 'Vox'", "time-stretched clip") in losses
    assert ("bus 'Verb'", "device 'Reverb'") in losses
    assert ("project", "a lane of a track that was not imported") in losses
    assert any(loss["what"] == "automation of the parameter 'proq-gain'" for loss in report["losses"])
    assert len(report["losses"]) == 6, report["losses"]
    notes = {(note["where"], note["what"]) for note in report["notes"]}
    assert notes == {("track 'Snare'", "device 'Spare'"), ("track 'Vox'", "send")}
    assert report["tracks"] == 3 and report["buses"] == 3 and report["clips"] == 7
    assert sorted(entry["path"] for entry in report["media"]) == ["media/kick.wav", "media/snare.wav", "media/vox.wav"]


def test_the_imported_session_file_loads(studio, tmp_path):
    from farm.session import load

    imported = import_project(studio, tmp_path / "out")
    assert yaml.safe_load(imported.session_path.read_text()) == imported.document
    loaded = load(imported.session_path)
    assert [track.name for track in loaded.session.tracks] == ["Kick", "Snare", "Vox"]


def test_a_tempo_ramp_places_clips_by_its_integral(tmp_path):
    structure = '<Track id="t" name="A" contentType="audio"><Channel id="c" role="regular"/></Track>'
    lanes = f'<Lanes id="l" track="t"><Clips id="cs"><Clip time="8" duration="1">{audio("a.wav", 2)}</Clip></Clips></Lanes>'
    ramp = '<TempoAutomation id="tempo-auto"><Target parameter="tempo"/><RealPoint time="0" value="60" interpolation="linear"/><RealPoint time="4" value="120" interpolation="hold"/></TempoAutomation>'
    path = write_dawproject(tmp_path / "ramp.dawproject", project_xml(structure, lanes, tempo_bpm=60.0, extra=ramp), {"audio/a.wav": wav_bytes(tone(100, 2.0))})
    clip = import_project(path, tmp_path / "out").document["tracks"][0]["clips"][0]
    ramp_s = 60 * 4 * math.log(2) / 60
    assert clip["start_s"] == pytest.approx(ramp_s + 4 * 0.5, abs=1e-9)
    assert clip["duration_s"] == pytest.approx(0.5, abs=1e-9)


def test_a_looped_clip_is_unrolled_pass_by_pass(tmp_path):
    structure = '<Track id="t" name="Loop" contentType="audio"><Channel id="c" role="regular"/></Track>'
    lanes = f'<Lanes id="l" track="t"><Clips id="cs"><Clip time="0" duration="10" contentTimeUnit="beats" playStart="1" loopStart="0" loopEnd="4">{audio("a.wav", 4)}</Clip></Clips></Lanes>'
    path = write_dawproject(tmp_path / "loop.dawproject", project_xml(structure, lanes), {"audio/a.wav": wav_bytes(tone(100, 4.0))})
    clips = import_project(path, tmp_path / "out").document["tracks"][0]["clips"]
    assert clips == [
        {"file": "media/a.wav", "offset_s": 0.5, "duration_s": 1.5},
        {"file": "media/a.wav", "start_s": 1.5, "duration_s": 2.0},
        {"file": "media/a.wav", "start_s": 3.5, "duration_s": 1.5},
    ]


def minimal(tmp_path, files=None, lanes=None, external=False, name="bad.dawproject"):
    structure = '<Track id="t" name="A" contentType="audio"><Channel id="c" role="regular"/></Track>'
    file = '<File path="../outside.wav" external="true"/>' if external else '<File path="audio/a.wav"/>'
    lanes = lanes or f'<Lanes id="l" track="t"><Clips id="cs"><Clip time="0" duration="2"><Audio channels="1" sampleRate="48000" duration="1">{file}</Audio></Clip></Clips></Lanes>'
    return write_dawproject(tmp_path / name, project_xml(structure, lanes), files if files is not None else {"audio/a.wav": wav_bytes(tone(100, 1.0))})


def test_a_truncated_archive_is_a_clear_error(tmp_path):
    path = minimal(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ProjectError, match=r"bad.dawproject: not a DAWproject file: not a readable zip archive"):
        import_project(path, tmp_path / "out")


def test_xml_that_is_not_a_dawproject_names_its_root(tmp_path):
    path = tmp_path / "other.dawproject"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.xml", "<Session><Track/></Session>")
    with pytest.raises(ProjectError, match=r"other.dawproject: project.xml: not a DAWproject project: its root element is <Session>, not <Project>"):
        import_project(path, tmp_path / "out")


def test_xml_that_is_not_well_formed_names_the_line(tmp_path):
    path = tmp_path / "broken.dawproject"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.xml", '<Project version="1.0">\n<Structure>\n</Project>')
    with pytest.raises(ProjectError, match=r"broken.dawproject: project.xml: not well-formed XML at line 3, column 3"):
        import_project(path, tmp_path / "out")


def test_an_archive_without_project_xml_is_refused(tmp_path):
    path = tmp_path / "empty.dawproject"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ProjectError, match=r"empty.dawproject: not a DAWproject file: it holds no project.xml"):
        import_project(path, tmp_path / "out")


def test_entity_expansion_is_refused(tmp_path):
    path = tmp_path / "laughs.dawproject"
    bomb = '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><Project version="1.0">&b;</Project>'
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.xml", bomb)
    with pytest.raises(ProjectError, match=r"laughs.dawproject: project.xml: refused"):
        import_project(path, tmp_path / "out")


def test_missing_media_names_the_file_and_the_element(tmp_path):
    path = minimal(tmp_path, files={})
    with pytest.raises(ProjectError, match=r"Clip\[1\]/Audio\[1\]/File: the media file 'audio/a.wav' is not in the project archive"):
        import_project(path, tmp_path / "out")


def test_media_outside_the_project_folder_is_refused(tmp_path):
    (tmp_path / "outside.wav").write_bytes(wav_bytes(tone(100, 1.0)))
    (tmp_path / "project").mkdir()
    path = minimal(tmp_path / "project", external=True)
    with pytest.raises(ProjectError, match=r"the media file '../outside.wav' lies outside the project's folder"):
        import_project(path, tmp_path / "out")


def test_an_archive_path_that_climbs_out_is_refused(tmp_path):
    lanes = '<Lanes id="l" track="t"><Clips id="cs"><Clip time="0" duration="2"><Audio channels="1" sampleRate="48000" duration="1"><File path="../../etc/passwd"/></Audio></Clip></Clips></Lanes>'
    path = minimal(tmp_path, lanes=lanes)
    with pytest.raises(ProjectError, match=r"the media path '../../etc/passwd' leaves the project archive"):
        import_project(path, tmp_path / "out")
    assert not (tmp_path / "etc").exists()


def test_external_media_beside_the_project_is_copied_in(tmp_path):
    lanes = '<Lanes id="l" track="t"><Clips id="cs"><Clip time="0" duration="2"><Audio channels="1" sampleRate="48000" duration="1"><File path="takes/a.wav" external="true"/></Audio></Clip></Clips></Lanes>'
    (tmp_path / "takes").mkdir()
    (tmp_path / "takes" / "a.wav").write_bytes(wav_bytes(tone(100, 1.0)))
    path = minimal(tmp_path, lanes=lanes, files={})
    imported = import_project(path, tmp_path / "out")
    assert imported.document["tracks"][0]["file"] == "media/a.wav"
    assert imported.report.media == [{"path": "media/a.wav", "from": "takes/a.wav", "embedded": False}]


def test_ten_thousand_tracks_are_refused_with_the_limit(tmp_path):
    structure = "".join(f'<Track id="t{n}" name="T{n}" contentType="audio"><Channel id="c{n}" role="regular"/></Track>' for n in range(10_000))
    path = write_dawproject(tmp_path / "huge.dawproject", project_xml(structure), {}, check=False)
    with pytest.raises(ProjectError, match=r"more than 640 tracks; a session may have at most 512 tracks and 128 buses"):
        import_project(path, tmp_path / "out")


def test_an_existing_session_is_not_replaced_without_force(studio, tmp_path):
    import_project(studio, tmp_path / "out")
    with pytest.raises(ProjectError, match=r"session.yaml: already exists; pass --force"):
        import_project(studio, tmp_path / "out")
    import_project(studio, tmp_path / "out", force=True)


def test_a_project_of_an_unknown_kind_lists_the_kinds_read(tmp_path):
    path = tmp_path / "song.ptx"
    path.write_bytes(b"x")
    with pytest.raises(ProjectError, match=r"song.ptx: not a project mixfarm imports; it reads .aaf, .dawproject, .rpp files"):
        import_project(path, tmp_path / "out")


def test_a_negative_fade_in_starts_the_clip_earlier_as_a_crossfade(tmp_path):
    structure = '<Track id="t" name="A" contentType="audio"><Channel id="c" role="regular"/></Track>'
    lanes = f'<Lanes id="l" track="t" timeUnit="seconds"><Clips id="cs"><Clip time="0.5" duration="1" contentTimeUnit="seconds" playStart="0.3" fadeTimeUnit="seconds" fadeInTime="-0.2">{audio("a.wav", 2)}</Clip></Clips></Lanes>'
    path = write_dawproject(tmp_path / "x.dawproject", project_xml(structure, lanes), {"audio/a.wav": wav_bytes(tone(100, 2.0))})
    clip = import_project(path, tmp_path / "out").document["tracks"][0]["clips"][0]
    assert clip == {"file": "media/a.wav", "start_s": 0.3, "offset_s": 0.1, "duration_s": 1.2, "fade_in_s": 0.2}


def test_a_gate_range_automation_is_attenuation_like_its_static_value(tmp_path):
    gate = '<NoiseGate id="g" deviceName="Gate" deviceRole="audioFX"><Range id="range" unit="decibel" value="40"/><Threshold unit="decibel" value="-50"/></NoiseGate>'
    structure = f'<Track id="t" name="A" contentType="audio"><Channel id="c" role="regular"><Devices>{gate}</Devices></Channel></Track>'
    lanes = f'<Lanes id="l" track="t"><Clips id="cs"><Clip time="0" duration="2">{audio("a.wav", 1)}</Clip></Clips><Points id="p"><Target parameter="range"/><RealPoint time="0" value="40"/><RealPoint time="2" value="20"/></Points></Lanes>'
    path = write_dawproject(tmp_path / "g.dawproject", project_xml(structure, lanes), {"audio/a.wav": wav_bytes(tone(100, 1.0))})
    track = import_project(path, tmp_path / "out").document["tracks"][0]
    assert track["fx"][0]["range_db"] == -40.0
    assert track["automation"]["fx.gate.range_db"] == [[0.0, -40.0], [1.0, -20.0]]
