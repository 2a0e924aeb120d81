"""Exporting sessions as DAWproject archives: valid against the schema, and back to the same session; an imported project renders as its hand-written twin."""

import zipfile

import numpy as np
import pytest

from farm.cli import main
from farm.errors import ProjectError
from farm.projects import import_project
from farm.projects.dawproject.exporter import export_dawproject
from farm.projects.dawproject.schema import problems
from farm.session import load
from tests.helpers.dawproject import project_xml, wav_bytes, write_dawproject
from tests.helpers.sessions import (
    NULL_LEVEL,
    busy_session,
    render_master,
    tone,
    write_session,
    write_stem,
)


def without_folders(value):
    """A dumped session with each audio path cut to its file name (an import puts media in its own folder)."""
    if isinstance(value, dict):
        return {key: item.rsplit("/", 1)[-1] if key in ("file", "ir_file") and isinstance(item, str) else without_folders(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_folders(item) for item in value]
    return value


def test_an_exported_session_is_valid_against_the_schemas(tmp_path):
    loaded = load(busy_session(tmp_path))
    target = export_dawproject(loaded, tmp_path / "busy.dawproject")
    with zipfile.ZipFile(target) as archive:
        assert problems(archive.read("project.xml"), "Project.xsd") == []
        assert problems(archive.read("metadata.xml"), "MetaData.xsd") == []
        names = archive.namelist()
    assert {"audio/kick.wav", "audio/pad.wav", "audio/ir.wav", "mixfarm.json"} <= set(names)


def test_session_to_dawproject_to_session_is_identical(tmp_path):
    original = load(busy_session(tmp_path)).session
    export_dawproject(load(tmp_path / "session.yaml"), tmp_path / "busy.dawproject")
    imported = import_project(tmp_path / "busy.dawproject", tmp_path / "back")
    assert imported.report.losses == [] and imported.report.notes == []
    back = load(imported.session_path).session
    assert without_folders(back.model_dump()) == without_folders(original.model_dump())


def test_a_clip_gain_and_nondefault_fades_survive_the_round_trip(tmp_path):
    stem = write_stem(tmp_path, "a.wav", tone(100, 2.0))
    session = {
        "sample_rate": 48000,
        "tracks": [
            {"name": "a", "clips": [{"file": stem, "start_s": 0.1, "offset_s": 0.25, "duration_s": 1.2, "gain_db": -4.5, "fade_in_s": 0.3, "fade_shape": "linear"}], "width": 0.5},
            {"name": "b", "file": stem, "polarity_invert": True, "mute": True, "solo": True},
        ],
        "outputs": [{"path": "mix.flac", "format": "flac", "bit_depth": 16}],
    }
    original = load(write_session(tmp_path, session)).session
    export_dawproject(load(tmp_path / "session.yaml"), tmp_path / "s.dawproject")
    back = load(import_project(tmp_path / "s.dawproject", tmp_path / "back").session_path).session
    assert without_folders(back.model_dump()) == without_folders(original.model_dump())


def test_the_export_command_writes_and_refuses_to_overwrite(tmp_path, capsys):
    busy_session(tmp_path)
    target = tmp_path / "out.dawproject"
    assert main(["export", str(tmp_path / "session.yaml"), "--to", "dawproject", "-o", str(target)]) == 0
    assert "5 track(s), 3 bus(es), written as dawproject" in capsys.readouterr().out
    assert main(["export", str(tmp_path / "session.yaml"), "-o", str(target)]) == 2
    assert "out.dawproject: already exists; pass --force to replace it" in capsys.readouterr().err


def test_a_project_that_fails_the_schema_is_named(tmp_path):
    from farm.projects.dawproject.schema import check

    with pytest.raises(ProjectError, match=r"x.dawproject: project.xml: not valid against Project.xsd"):
        check(b'<Project version="1.0"><Structure/></Project>', "Project.xsd", "x.dawproject: project.xml")


TWIN_STRUCTURE = """
<Track id="t-a" name="A" contentType="audio">
  <Channel id="c-a" role="regular" destination="c-grp">
    <Mute id="mute-a" value="false"/><Pan unit="normalized" value="0.25"/>
    <Sends><Send destination="c-ret" type="pre"><Volume unit="decibel" value="-9"/></Send></Sends>
    <Volume id="vol-a" unit="decibel" value="-3"/>
  </Channel>
</Track>
<Track id="t-b" name="B" contentType="audio">
  <Channel id="c-b" role="regular" destination="c-master"><Pan id="pan-b" unit="normalized" value="0.5"/><Volume unit="linear" value="0.5"/></Channel>
</Track>
<Track id="t-grp" name="Group" contentType="tracks"><Channel id="c-grp" role="submix" destination="c-master"><Volume unit="decibel" value="-2"/></Channel></Track>
<Track id="t-ret" name="Return" contentType="audio"><Channel id="c-ret" role="effect" destination="c-master"><Pan unit="normalized" value="1.0"/></Channel></Track>
<Track id="t-m" name="Master" contentType="audio"><Channel id="c-master" role="master"/></Track>
"""

TWIN_LANES = """
<Lanes id="l-a" track="t-a">
  <Clips id="cl-a">
    <Clip time="0.5" duration="3" playStart="0.5" fadeTimeUnit="beats" fadeInTime="1" fadeOutTime="0.5">
      <Audio channels="1" sampleRate="48000" duration="3"><File path="audio/a.wav"/></Audio>
    </Clip>
  </Clips>
  <Points id="p-vol" unit="decibel"><Target parameter="vol-a"/><RealPoint time="0" value="-3"/><RealPoint time="2" value="-12" interpolation="hold"/><RealPoint time="3" value="0"/></Points>
  <Points id="p-mute"><Target parameter="mute-a"/><BoolPoint time="0" value="false"/><BoolPoint time="4.5" value="true"/></Points>
</Lanes>
<Lanes id="l-b" track="t-b" timeUnit="seconds">
  <Clips id="cl-b">
    <Clip time="0.2" duration="2.4" contentTimeUnit="seconds" playStart="0.1" fadeTimeUnit="seconds" fadeOutTime="0.7">
      <Audio channels="2" sampleRate="48000" duration="3"><File path="audio/b.wav"/></Audio>
    </Clip>
  </Clips>
  <Points id="p-pan"><Target parameter="pan-b"/><RealPoint time="0" value="0"/><RealPoint time="2.5" value="1"/></Points>
</Lanes>
"""


def test_an_fx_free_project_renders_as_its_hand_written_session(tmp_path):
    a = tone(220, 3.0, 0.4) * np.linspace(1.0, 0.5, 3 * 48000)[:, None]
    b = np.concatenate([tone(330, 3.0, 0.3), tone(331, 3.0, 0.3)], axis=1)
    project = write_dawproject(tmp_path / "twin.dawproject", project_xml(TWIN_STRUCTURE, TWIN_LANES), {"audio/a.wav": wav_bytes(a), "audio/b.wav": wav_bytes(b)})
    imported = import_project(project, tmp_path / "imported")
    assert imported.report.losses == []
    document = imported.document
    document["outputs"] = [{"path": "master.wav", "bit_depth": "32f", "dither": "none"}]
    document.setdefault("master", {})["tail_s"] = 0.0
    write_session(tmp_path / "imported", document)
    write_stem(tmp_path / "hand", "a.wav", a)
    write_stem(tmp_path / "hand", "b.wav", b)
    beat = 0.5
    hand = {
        "sample_rate": 48000,
        "tempo_bpm": 120.0,
        "tracks": [
            {
                "name": "A",
                "clips": [{"file": "stems/a.wav", "start_s": 0.5 * beat, "offset_s": 0.5 * beat, "duration_s": 3 * beat, "fade_in_s": 1 * beat, "fade_out_s": 0.5 * beat}],
                "gain_db": -3.0,
                "pan": -0.5,
                "sends": [{"bus": "Return", "level_db": -9.0, "pre_fader": True}],
                "output": "Group",
                "automation": {"gain_db": [[0.0, -3.0], [1.0, -12.0, "hold"], [1.5, 0.0]], "mute": [[0.0, 0.0, "hold"], [2.25, 1.0]]},
            },
            {
                "name": "B",
                "clips": [{"file": "stems/b.wav", "start_s": 0.2, "offset_s": 0.1, "duration_s": 2.4, "fade_out_s": 0.7}],
                "gain_db": float(20 * np.log10(0.5)),
                "automation": {"pan": [[0.0, -1.0], [2.5, 1.0]]},
            },
        ],
        "buses": [{"name": "Group", "gain_db": -2.0}, {"name": "Return", "pan": 1.0}],
    }
    write_session(tmp_path / "hand", hand)
    imported_audio, _ = render_master(tmp_path / "imported" / "session.yaml", tmp_path / "render-imported")
    hand_audio, _ = render_master(tmp_path / "hand" / "session.yaml", tmp_path / "render-hand")
    assert imported_audio.shape == hand_audio.shape
    assert np.max(np.abs(hand_audio)) > 0.1
    assert np.max(np.abs(imported_audio - hand_audio)) < NULL_LEVEL


def test_odd_times_and_names_differing_in_case_come_back_exactly(tmp_path):
    stem = write_stem(tmp_path, "a.wav", tone(100, 2.0))
    session = {
        "sample_rate": 44100,
        "tracks": [
            {"name": "Vox", "clips": [{"file": stem, "start_s": 12345 / 44100, "offset_s": 0.1 + 0.2, "duration_s": 1 / 3, "fade_in_s": 0.1, "fade_out_s": 1 / 7}]},
            {"name": "vox", "file": stem, "width": 0.3},
            {"name": " Master ", "file": stem},
        ],
    }
    original = load(write_session(tmp_path, session)).session
    export_dawproject(load(tmp_path / "session.yaml"), tmp_path / "s.dawproject")
    imported = import_project(tmp_path / "s.dawproject", tmp_path / "back")
    assert imported.report.notes == []
    back = load(imported.session_path).session
    assert without_folders(back.model_dump()) == without_folders(original.model_dump())


def test_a_name_with_a_control_character_is_refused_naming_it(tmp_path):
    stem = write_stem(tmp_path, "a.wav", tone(100, 1.0))
    write_session(tmp_path, {"tracks": [{"name": "bad\x07bell", "file": stem}]})
    with pytest.raises(ProjectError, match=r"x.dawproject: the name 'bad\\x07bell' holds a control character"):
        export_dawproject(load(tmp_path / "session.yaml"), tmp_path / "x.dawproject")
