"""``mixfarm import``: a project in as a session folder, its losses on stderr, ``--strict`` and ``--json``."""

import json
import zipfile

from farm.cli import main
from tests.helpers.dawproject import project_xml, wav_bytes, write_dawproject
from tests.helpers.sessions import tone

STRUCTURE = """
<Track id="t" name="Keys" contentType="audio">
  <Channel id="c" role="regular"><Devices><Vst3Plugin id="p" deviceName="Pro-Q 3" deviceRole="audioFX"/></Devices></Channel>
</Track>
"""
LANES = '<Lanes id="l" track="t"><Clips id="cs"><Clip time="0" duration="2"><Audio channels="1" sampleRate="48000" duration="1"><File path="audio/keys.wav"/></Audio></Clip></Clips></Lanes>'


def project(tmp_path):
    return write_dawproject(tmp_path / "Song.dawproject", project_xml(STRUCTURE, LANES), {"audio/keys.wav": wav_bytes(tone(220, 1.0))})


def test_import_writes_the_folder_and_lists_losses_on_stderr(tmp_path, capsys):
    path = project(tmp_path)
    assert main(["import", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{tmp_path / 'Song' / 'session.yaml'}: 1 track(s), 0 bus(es), 1 clip(s), 1 media file(s); 1 loss(es), 0 note(s)")
    assert "mixfarm import: lost: track 'Keys': VST3 plug-in 'Pro-Q 3' (/Project/Structure/Track[1]/Channel/Devices/Vst3Plugin[1])" in err
    assert (tmp_path / "Song" / "media" / "keys.wav").is_file()
    assert json.loads((tmp_path / "Song" / "import_report.json").read_text())["losses"][0]["what"] == "VST3 plug-in 'Pro-Q 3'"


def test_strict_makes_a_loss_an_error(tmp_path, capsys):
    path = project(tmp_path)
    assert main(["import", str(path), "-o", str(tmp_path / "out"), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "Song.dawproject: 1 thing(s) could not be translated (--strict)" in err
    assert (tmp_path / "out" / "import_report.json").is_file(), "the report is written for the user to read"


def test_json_prints_the_report(tmp_path, capsys):
    path = project(tmp_path)
    assert main(["import", str(path), "-o", str(tmp_path / "out"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["session"] == str(tmp_path / "out" / "session.yaml")
    assert report["format"] == "dawproject" and report["application"] == "mixfarm tests 1"
    assert [loss["what"] for loss in report["losses"]] == ["VST3 plug-in 'Pro-Q 3'"]


def test_a_broken_project_is_one_line_without_a_traceback(tmp_path, capsys):
    path = tmp_path / "broken.dawproject"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.xml", "<Project><Structure></Project>")
    assert main(["import", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == "mixfarm import: broken.dawproject: project.xml: not well-formed XML at line 1, column 23\n"
