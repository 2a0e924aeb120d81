"""``mixfarm init``: a session from a folder of stems, one track per file, one bus per subfolder."""

import json

import numpy as np
import pytest
import soundfile
import yaml

from farm.cli import main
from farm.session import load
from tests.helpers.sessions import render_master, tone


def write(folder, name, audio, rate=48000):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, audio, rate, subtype="FLOAT")


@pytest.fixture
def stems(tmp_path):
    folder = tmp_path / "Song"
    write(folder, "Vox.wav", tone(440, 2.0, 0.2))
    write(folder, "bass10.wav", tone(55, 1.5, 0.3, channels=2))
    write(folder, "bass2.wav", tone(110, 1.0, 0.3, rate=44100), rate=44100)
    write(folder, "drums/kick.wav", tone(60, 1.0, 0.5))
    write(folder, "drums/toms/kick.wav", tone(90, 1.0, 0.4))
    write(folder, "drums.wav", tone(200, 1.0, 0.1))
    write(folder, ".hidden/skip.wav", tone(300, 1.0, 0.1))
    (folder / "notes.txt").write_text("takes 3 and 7")
    (folder / "broken.wav").write_bytes(b"RIFF")
    (folder / "empty").mkdir()
    return folder


def test_a_folder_becomes_tracks_and_buses_that_load_and_render(stems, capsys):
    assert main(["init", str(stems)]) == 0
    out, err = capsys.readouterr()
    document = yaml.safe_load((stems / "session.yaml").read_text())
    assert document["name"] == "Song" and document["sample_rate"] == 48000
    assert [(track["name"], track["file"], track["output"]) for track in document["tracks"]] == [
        ("bass2", "bass2.wav", "master"),
        ("bass10", "bass10.wav", "master"),
        ("drums 2", "drums.wav", "master"),
        ("Vox", "Vox.wav", "master"),
        ("kick", "drums/kick.wav", "drums"),
        ("drums/toms/kick", "drums/toms/kick.wav", "drums/toms"),
    ]
    assert document["buses"] == [{"name": "drums", "output": "master"}, {"name": "drums/toms", "output": "drums"}]
    assert "6 track(s), bus(es): drums, drums/toms; 48000 Hz" in out
    assert "resampled to 48000 Hz as it plays: bass2.wav" in out
    assert "mixfarm init: skipped notes.txt: not an audio file (by its name)" in err
    assert "mixfarm init: skipped broken.wav: unreadable or unsupported audio file" in err
    assert "skip.wav" not in out + err
    master, report = render_master(stems / "session.yaml", stems / "render")
    assert report["duration_s"] == pytest.approx(2.0 + 2.0)
    assert np.max(np.abs(master)) > 0.2


def test_the_report_is_json_on_request(stems, capsys):
    assert main(["init", str(stems), "--json", "--name", "Take 3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tracks"] == 6 and report["sample_rates"] == {"44100": 1, "48000": 5}
    assert report["resampled"] == ["bass2.wav"] and report["longest_s"] == 2.0 and report["shortest_s"] == 1.0
    assert [item["path"] for item in report["skipped"]] == ["broken.wav", "notes.txt"]
    assert load(stems / "session.yaml").session.name == "Take 3"


def test_the_session_may_sit_above_the_stems_with_paths_relative_to_it(stems, capsys):
    assert main(["init", str(stems / "drums"), "-o", str(stems / "drums-only.yaml")]) == 0
    document = yaml.safe_load((stems / "drums-only.yaml").read_text())
    assert [track["file"] for track in document["tracks"]] == ["drums/kick.wav", "drums/toms/kick.wav"]
    assert document["buses"] == [{"name": "toms", "output": "master"}]
    assert load(stems / "drums-only.yaml").session.tracks[1].output == "toms"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["{stems}/nowhere"], "nowhere: not a folder of stems"),
        (["{stems}/empty"], "empty: holds no audio file (.aif, .aifc, .aiff, .caf, .flac, .ogg, .rf64, .w64, .wav, .wave)"),
        (["{stems}/drums", "-o", "{stems}/drums/toms/s.yaml"], "drums: the session file must be in this folder or one above it, so its stems lie inside its folder"),
    ],
)
def test_a_folder_that_cannot_make_a_session_is_refused_with_the_reason(stems, capsys, arguments, message):
    assert main(["init", *[argument.format(stems=stems) for argument in arguments]]) == 2
    assert message in capsys.readouterr().err


def test_an_existing_session_is_kept_unless_forced(stems, capsys):
    (stems / "session.yaml").write_text("keep me")
    assert main(["init", str(stems)]) == 2
    assert "session.yaml: already exists; pass --force to replace it" in capsys.readouterr().err
    assert (stems / "session.yaml").read_text() == "keep me"
    assert main(["init", str(stems), "--force"]) == 0


def test_a_linked_folder_is_not_followed_so_a_loop_cannot_trap_the_walk(stems, capsys):
    (stems / "drums" / "again").symlink_to(stems, target_is_directory=True)
    assert main(["init", str(stems), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tracks"] == 6 and report["buses"] == ["drums", "drums/toms"]
