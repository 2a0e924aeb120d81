"""Imports that must end in a clear ProjectError, never a traceback, and never write over anyone's files."""

import json
import zipfile

import pytest

from farm.errors import ProjectError
from farm.projects import import_project
from tests.helpers.dawproject import project_xml, wav_bytes, write_dawproject
from tests.helpers.sessions import tone

TRACK = '<Track id="t" name="A" contentType="audio"><Channel id="c" role="regular"/></Track>'
AUDIO = '<Audio channels="1" sampleRate="48000" duration="1"><File path="audio/a.wav"/></Audio>'


def project(tmp_path, lanes="", structure=TRACK, extra="", files=None, name="p.dawproject"):
    files = {"audio/a.wav": wav_bytes(tone(100, 1.0)), **(files or {})}
    return write_dawproject(tmp_path / name, project_xml(structure, lanes, extra=extra), files, check=False)


def clips(inner):
    return f'<Lanes id="l" track="t"><Clips id="cs">{inner}</Clips></Lanes>'


@pytest.mark.parametrize(
    "kind, lanes, structure, extra, message",
    [
        ("reference cycle", clips('<Clip time="0" duration="1" reference="cs"/>'), TRACK, "", r"clips nest in clips more than 32 deep \(or a clip refers to itself\)"),
        ("deep lanes", '<Lanes id="x">' * 70 + "</Lanes>" * 70, TRACK, "", r"lanes nest more than 64 deep"),
        ("deep groups", None, "".join(f'<Track id="g{n}" contentType="tracks"><Channel id="gc{n}" role="submix"/>' for n in range(66)) + "</Track>" * 66, "", r"tracks nest more than 64 groups deep"),
        ("tempo time", "", TRACK, '<TempoAutomation id="ta"><Target parameter="tempo"/><RealPoint time="x" value="120"/></TempoAutomation>', r"the attribute 'time' must be a number, got 'x'"),
        ("tempo nan", "", TRACK, '<TempoAutomation id="ta"><Target parameter="tempo"/><RealPoint time="nan" value="120"/></TempoAutomation>', r"the attribute 'time' must be a finite number"),
        ("fade unit", clips(f'<Clip time="0" duration="1" fadeTimeUnit="bars" fadeInTime="1">{AUDIO}</Clip>'), TRACK, "", r"fadeTimeUnit must be beats or seconds, got 'bars'"),
    ],
)
def test_malformed_projects_are_project_errors(tmp_path, kind, lanes, structure, extra, message):
    path = project(tmp_path, lanes if lanes is not None else "", structure, extra)
    with pytest.raises(ProjectError, match=message):
        import_project(path, tmp_path / "out")


def test_a_gain_lane_without_values_is_read_past(tmp_path):
    lanes = clips(f'<Clip time="0" duration="2"><Lanes id="g">{AUDIO}<Points id="pts"><Target expression="gain"/><RealPoint time="0"/></Points></Lanes></Clip>')
    document = import_project(project(tmp_path, lanes), tmp_path / "out").document
    assert document["tracks"][0]["file"] == "media/a.wav"


def test_an_unknown_text_encoding_is_named(tmp_path):
    path = tmp_path / "enc.dawproject"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.xml", '<?xml version="1.0" encoding="x-foo"?><Project version="1.0"/>')
    with pytest.raises(ProjectError, match=r"enc.dawproject: project.xml: (unreadable text encoding|not well-formed XML)"):
        import_project(path, tmp_path / "out")


@pytest.mark.parametrize("extras", [{"format": "mixfarm-dawproject-extras/1", "strips": [1], "clips": "x"}, "[" * 100_000])
def test_a_damaged_extras_file_is_reported_not_raised(tmp_path, extras):
    data = extras if isinstance(extras, str) else json.dumps(extras)
    imported = import_project(project(tmp_path, clips(f'<Clip time="0" duration="2">{AUDIO}</Clip>'), files={"mixfarm.json": data.encode()}), tmp_path / "out")
    assert imported.document["tracks"][0]["file"] == "media/a.wav"


def test_an_element_flood_is_refused_before_it_is_built(tmp_path):
    path = tmp_path / "flood.dawproject"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project.xml", '<Project version="1.0">' + "<a/>" * 1_000_001 + "</Project>")
    with pytest.raises(ProjectError, match=r"flood.dawproject: project.xml: holds more than 1000000 elements"):
        import_project(path, tmp_path / "out")


def test_a_loop_that_would_make_too_many_clips_is_refused(tmp_path):
    lanes = clips(f'<Clip time="0" duration="100000" contentTimeUnit="seconds" loopStart="0" loopEnd="0.01">{AUDIO}</Clip>' * 2)
    with pytest.raises(ProjectError, match=r"has more than 1024 clips once flattened"):
        import_project(project(tmp_path, lanes), tmp_path / "out")


def rpp(folder, files: list[str]) -> str:
    items = "".join(f'    <ITEM\n      POSITION {n}\n      LENGTH 0.5\n      <SOURCE WAVE\n        FILE "{name}"\n      >\n    >\n' for n, name in enumerate(files))
    return f'<REAPER_PROJECT 0.1 "7.0"\n  <TRACK\n    NAME A\n{items}  >\n>\n'


def test_media_on_disk_are_never_written_over(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    (tmp_path / "x" / "k.wav").write_bytes(wav_bytes(tone(100, 1.0)))
    (tmp_path / "y" / "k.wav").write_bytes(wav_bytes(tone(900, 1.0)))
    before = (tmp_path / "x" / "k.wav").read_bytes()
    (tmp_path / "song.rpp").write_text(rpp(tmp_path, ["x/k.wav", "y/k.wav"]))
    first = import_project(tmp_path / "song.rpp", tmp_path / "out")
    assert [clip["file"] for clip in first.document["tracks"][0]["clips"]] == ["media/k.wav", "media/k 2.wav"]
    (tmp_path / "song.rpp").write_text(rpp(tmp_path, ["y/k.wav"]))
    second = import_project(tmp_path / "song.rpp", tmp_path / "out", force=True)
    assert second.document["tracks"][0]["clips"][0]["file"] == "media/k 3.wav"
    assert (tmp_path / "x" / "k.wav").read_bytes() == before


def test_a_project_imported_where_it_stands_uses_its_media_in_place(tmp_path):
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "a.wav").write_bytes(wav_bytes(tone(100, 1.0)))
    (tmp_path / "song.rpp").write_text(rpp(tmp_path, ["media/a.wav"]))
    imported = import_project(tmp_path / "song.rpp", tmp_path)
    assert imported.document["tracks"][0]["clips"][0]["file"] == "media/a.wav"
    assert sorted(path.name for path in (tmp_path / "media").iterdir()) == ["a.wav"]


def test_a_windows_path_is_read_with_backslashes_as_separators(tmp_path):
    (tmp_path / "Audio").mkdir()
    (tmp_path / "Audio" / "kick.wav").write_bytes(wav_bytes(tone(100, 1.0)))
    (tmp_path / "song.rpp").write_text(rpp(tmp_path, ["Audio\\kick.wav"]))
    assert import_project(tmp_path / "song.rpp", tmp_path / "out").document["tracks"][0]["clips"][0]["file"] == "media/kick.wav"


def test_a_session_that_does_not_validate_leaves_no_session_file(tmp_path):
    from farm.errors import SessionError

    device = '<Devices><Compressor id="c1" deviceName="C" deviceRole="audioFX"><Attack unit="seconds" value="500"/><Ratio unit="linear" value="2"/><Threshold unit="decibel" value="-10"/></Compressor></Devices>'
    structure = f'<Track id="t" name="A" contentType="audio"><Channel id="c" role="regular">{device}</Channel></Track>'
    path = project(tmp_path, clips(f'<Clip time="0" duration="1">{AUDIO}</Clip>'), structure)
    with pytest.raises(SessionError, match=r"attack_s"):
        import_project(path, tmp_path / "out")
    assert not (tmp_path / "out" / "session.yaml").exists() and (tmp_path / "out" / "import_report.json").exists()
