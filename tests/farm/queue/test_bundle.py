"""Session bundles: unpacking refuses anything unsafe; packing takes what a session names."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml

from farm.errors import BundleError, SessionError
from farm.queue.bundle import pack_bundle, unpack_bundle
from farm.session import load

RATE = 48000
LIMIT = 10 * 1024**2


def wav_bytes(seconds: float = 0.5, channels: int = 1) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    audio = np.repeat((0.25 * np.sin(2 * np.pi * 330 * t))[:, None], channels, axis=1)
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, RATE, format="WAV", subtype="PCM_24")
    return buffer.getvalue()


SESSION = {
    "format": "mixfarm/1",
    "name": "bundle-test",
    "tracks": [{"name": "tone", "file": "stems/tone.wav"}],
    "master": {"tail_s": 0.0},
    "outputs": [{"path": "master.wav", "bit_depth": 24}],
}


def make_zip(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for info, content in entries:
            archive.writestr(info, content)
    return buffer.getvalue()


def good_entries() -> list[tuple[str, bytes]]:
    return [("session.yaml", yaml.safe_dump(SESSION).encode()), ("stems/tone.wav", wav_bytes())]


def symlink(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def tree(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


@pytest.fixture
def place(tmp_path):
    """A sandbox: ``target`` to unpack into, deep enough that '..' entries can aim at ``tmp_path``."""
    target = tmp_path / "data" / "uploads" / "one" / "bundle"
    target.parent.mkdir(parents=True)
    return tmp_path, target


def test_a_good_bundle_unpacks_and_its_session_loads(place):
    _, target = place
    session = unpack_bundle(io.BytesIO(make_zip(good_entries())), target, LIMIT)
    assert session == target / "session.yaml"
    assert (target / "stems" / "tone.wav").read_bytes() == wav_bytes()
    assert load(session).session.name == "bundle-test"


def test_a_bundle_unpacks_from_a_file_path_too(place, tmp_path):
    _, target = place
    archive = tmp_path / "bundle.zip"
    archive.write_bytes(make_zip([("session.json", json.dumps(SESSION).encode()), ("stems/tone.wav", wav_bytes())]))
    assert unpack_bundle(archive, target, LIMIT) == target / "session.json"


@pytest.mark.parametrize("name", ["../evil.txt", "../../../evil.txt", "stems/../../evil.txt", "..\\..\\..\\evil.txt", "a/../../../../evil.txt"])
def test_zip_slip_entries_are_refused_before_anything_is_written(place, name):
    root, target = place
    before = tree(root)
    with pytest.raises(BundleError, match="climbs out of the bundle"):
        unpack_bundle(io.BytesIO(make_zip([*good_entries(), (name, b"pwned")])), target, LIMIT)
    assert tree(root) == before
    assert not list(root.parent.glob("evil.txt")) and not (root / "evil.txt").exists()


@pytest.mark.parametrize("name", ["ABS", "/etc/mixfarm-evil.txt", "\\windows\\evil.txt", "C:/evil.txt"])
def test_absolute_entries_are_refused(place, name):
    root, target = place
    canary = root / "canary-absolute.txt"
    name = str(canary) if name == "ABS" else name
    with pytest.raises(BundleError, match="absolute path"):
        unpack_bundle(io.BytesIO(make_zip([*good_entries(), (name, b"pwned")])), target, LIMIT)
    assert not canary.exists() and not target.exists()


@pytest.mark.parametrize("name", ["link.wav", "stems/tone.wav"])
def test_symbolic_link_entries_are_refused(place, name):
    root, target = place
    entries = [entry for entry in good_entries() if entry[0] != name]
    with pytest.raises(BundleError, match="symbolic link"):
        unpack_bundle(io.BytesIO(make_zip([*entries, (symlink(name, str(root / "secret")), str(root / "secret").encode())])), target, LIMIT)
    assert not target.exists()


def test_a_bundle_that_unpacks_past_the_limit_is_refused(place):
    _, target = place
    big = bytes(2 * 1024**2)  # compresses to almost nothing: a zip bomb in miniature
    compressed = io.BytesIO()
    with zipfile.ZipFile(compressed, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in good_entries():
            archive.writestr(name, content)
        archive.writestr("stems/padding.bin", big)
    assert len(compressed.getvalue()) < 1024**2
    with pytest.raises(BundleError, match=f"limit of {1024**2} bytes"):
        unpack_bundle(io.BytesIO(compressed.getvalue()), target, 1024**2)
    assert not target.exists()


def test_a_bundle_just_under_the_limit_is_accepted(place):
    _, target = place
    entries = good_entries()
    size = sum(len(content) for _, content in entries)
    assert unpack_bundle(io.BytesIO(make_zip(entries)), target, size) == target / "session.yaml"


def test_too_many_entries_are_refused(place):
    _, target = place
    entries = [*good_entries(), *((f"junk/{index}.txt", b"") for index in range(10_001))]
    with pytest.raises(BundleError, match="entries"):
        unpack_bundle(io.BytesIO(make_zip(entries)), target, LIMIT)


@pytest.mark.parametrize(
    "entries",
    [[("stems/tone.wav", wav_bytes())], [("song/session.yaml", b"format: mixfarm/1"), ("song/stems/tone.wav", wav_bytes())], [("session.yml.txt", b"x")]],
    ids=["none", "in-a-subfolder", "similar-name"],
)
def test_a_bundle_without_a_session_at_its_root_is_refused(place, entries):
    _, target = place
    with pytest.raises(BundleError, match="no session file or project at its root"):
        unpack_bundle(io.BytesIO(make_zip(entries)), target, LIMIT)
    assert not target.exists()


def test_a_session_name_that_is_a_folder_is_not_a_session_file(place):
    _, target = place
    with pytest.raises(BundleError, match="no session file"):
        unpack_bundle(io.BytesIO(make_zip([("session.yaml/", b""), ("stems/tone.wav", wav_bytes())])), target, LIMIT)


def test_a_corrupted_entry_raises_bundle_error(place):
    _, target = place
    archive = bytearray(make_zip([*good_entries(), ("stems/data.bin", b"A" * 4000)]))
    archive[archive.find(b"A" * 100) + 50] = ord("B")  # the stored bytes no longer match their CRC-32
    with pytest.raises(BundleError):
        unpack_bundle(io.BytesIO(bytes(archive)), target, LIMIT)


@pytest.mark.parametrize("content", [b"", b"definitely not a zip", b"PK\x03\x04 truncated"])
def test_something_that_is_not_a_zip_is_refused(place, content):
    _, target = place
    with pytest.raises(BundleError, match="not a zip archive"):
        unpack_bundle(io.BytesIO(content), target, LIMIT)


def write_session_folder(folder: Path, session: dict, name: str = "session.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(session) if name.endswith(".json") else yaml.safe_dump(session))
    return path


def names_in(bundle: bytes) -> set[str]:
    return set(zipfile.ZipFile(io.BytesIO(bundle)).namelist())


def test_pack_of_a_session_file_takes_the_stems_and_impulse_responses_it_names(tmp_path):
    folder = tmp_path / "song"
    (folder / "stems").mkdir(parents=True)
    (folder / "irs").mkdir()
    for name in ("kick.wav", "bass.wav", "unused.wav"):
        (folder / "stems" / name).write_bytes(wav_bytes())
    for name in ("room.wav", "hall.wav", "plate.wav", "unused.wav"):
        (folder / "irs" / name).write_bytes(wav_bytes(0.1))
    (folder / "notes.txt").write_text("not part of the session")
    session = {
        **SESSION,
        "tracks": [
            {"name": "kick", "file": "stems/kick.wav", "fx": [{"type": "convolution", "ir_file": "irs/room.wav", "mix": 0.2}]},
            {"name": "bass", "clips": [{"file": "stems/bass.wav"}, {"file": "stems/kick.wav", "start_s": 1.0}], "output": "verb"},
        ],
        "buses": [{"name": "verb", "fx": [{"type": "convolution", "ir_file": "irs/hall.wav"}]}],
        "master": {"tail_s": 0.0, "fx": [{"type": "convolution", "ir_file": "irs/plate.wav", "mix": 0.1}]},
    }
    path = write_session_folder(folder, session, "my song.yaml")
    bundle = pack_bundle(path)
    assert names_in(bundle) == {"session.yaml", "stems/kick.wav", "stems/bass.wav", "irs/room.wav", "irs/hall.wav", "irs/plate.wav"}
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        assert archive.read("session.yaml") == path.read_bytes()
        assert archive.read("stems/bass.wav") == (folder / "stems" / "bass.wav").read_bytes()
    unpacked = unpack_bundle(io.BytesIO(bundle), tmp_path / "server" / "bundle", LIMIT)
    assert load(unpacked).session.name == "bundle-test"


def test_pack_of_a_json_session_file_keeps_it_json(tmp_path):
    folder = tmp_path / "song"
    (folder / "stems").mkdir(parents=True)
    (folder / "stems" / "tone.wav").write_bytes(wav_bytes())
    bundle = pack_bundle(write_session_folder(folder, SESSION, "mix.json"))
    assert names_in(bundle) == {"session.json", "stems/tone.wav"}
    assert unpack_bundle(io.BytesIO(bundle), tmp_path / "out", LIMIT).name == "session.json"


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_pack_of_a_session_naming_a_path_with_dots_gives_a_bundle_the_server_accepts(tmp_path):
    folder = tmp_path / "song"
    (folder / "stems").mkdir(parents=True)
    (folder / "stems" / "tone.wav").write_bytes(wav_bytes())
    session = {**SESSION, "tracks": [{"name": "a", "file": "./stems/tone.wav"}, {"name": "b", "file": "stems/../stems/tone.wav"}]}
    bundle = pack_bundle(write_session_folder(folder, session))
    assert not any(".." in name.split("/") for name in names_in(bundle))
    unpacked = unpack_bundle(io.BytesIO(bundle), tmp_path / "server" / "bundle", LIMIT)
    assert len(load(unpacked).session.tracks) == 2


def test_pack_stores_a_file_named_two_ways_once(tmp_path):
    folder = tmp_path / "song"
    (folder / "stems").mkdir(parents=True)
    (folder / "stems" / "tone.wav").write_bytes(wav_bytes())
    session = {**SESSION, "tracks": [{"name": "a", "file": "stems/tone.wav"}, {"name": "b", "file": "stems/../stems/tone.wav"}]}
    names = zipfile.ZipFile(io.BytesIO(pack_bundle(write_session_folder(folder, session)))).namelist()
    assert sorted(names) == ["session.yaml", "stems/tone.wav"], names


def test_pack_of_an_invalid_session_file_raises_its_problems(tmp_path):
    folder = tmp_path / "song"
    session = {**SESSION, "tracks": [{"name": "tone", "file": "stems/missing.wav", "fx": [{"type": "fuzz"}]}]}
    with pytest.raises(SessionError) as caught:
        pack_bundle(write_session_folder(folder, session))
    assert any(problem.startswith("tracks[0].fx[0].type: unknown effect 'fuzz'") for problem in caught.value.problems)


def test_pack_of_a_folder_takes_everything_under_it(tmp_path):
    folder = tmp_path / "song"
    (folder / "stems" / "deep").mkdir(parents=True)
    (folder / "stems" / "deep" / "tone.wav").write_bytes(wav_bytes())
    (folder / "readme.txt").write_text("hello")
    write_session_folder(folder, {**SESSION, "tracks": [{"name": "tone", "file": "stems/deep/tone.wav"}]})
    bundle = pack_bundle(folder)
    assert names_in(bundle) == {"session.yaml", "stems/deep/tone.wav", "readme.txt"}
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        assert archive.read("readme.txt") == b"hello"
    assert load(unpack_bundle(io.BytesIO(bundle), tmp_path / "server", LIMIT)).session.tracks[0].file == "stems/deep/tone.wav"


def test_pack_of_a_folder_without_a_session_is_refused(tmp_path):
    folder = tmp_path / "song"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "session.yaml").write_text(yaml.safe_dump(SESSION))
    with pytest.raises(BundleError, match="no session file at the folder's root"):
        pack_bundle(folder)


RPP = '<REAPER_PROJECT 0.1 "7.0"\n  <TRACK\n    NAME Keys\n    <ITEM\n      POSITION 0.25\n      LENGTH 0.5\n      <SOURCE WAVE\n        FILE "takes/keys.wav"\n      >\n    >\n  >\n>\n'


def test_pack_of_a_project_imports_it_and_sends_the_session_with_its_report(tmp_path):
    (tmp_path / "takes").mkdir()
    (tmp_path / "takes" / "keys.wav").write_bytes(wav_bytes())
    (tmp_path / "song.rpp").write_text(RPP)
    bundle = pack_bundle(tmp_path / "song.rpp")
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        assert sorted(archive.namelist()) == ["import_report.json", "media/keys.wav", "session.yaml"]
        assert json.loads(archive.read("import_report.json"))["project"] == "song.rpp"
    session = unpack_bundle(io.BytesIO(bundle), tmp_path / "unpacked", LIMIT)
    assert load(session).session.tracks[0].clips[0].start_s == 0.25


def test_a_bundle_holding_a_project_is_imported_as_it_is_unpacked(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("song.rpp", RPP)
        archive.writestr("takes/keys.wav", wav_bytes())
    session = unpack_bundle(io.BytesIO(buffer.getvalue()), tmp_path / "unpacked", LIMIT)
    assert session == tmp_path / "unpacked" / "session.yaml"
    assert (tmp_path / "unpacked" / "import_report.json").is_file() and (tmp_path / "unpacked" / "song.rpp").is_file()


def test_a_bundle_with_two_projects_is_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.rpp", RPP)
        archive.writestr("b.rpp", RPP)
    with pytest.raises(BundleError, match=r"bundle: 2 projects at its root \(a.rpp, b.rpp\); send one"):
        unpack_bundle(io.BytesIO(buffer.getvalue()), tmp_path / "unpacked", LIMIT)


def test_a_project_that_does_not_import_is_a_bundle_error_naming_it(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("song.rpp", RPP)
    with pytest.raises(BundleError, match=r"bundle: song.rpp: TRACK\[1\]/ITEM\[1\]/SOURCE/FILE: the media file 'takes/keys.wav' is missing"):
        unpack_bundle(io.BytesIO(buffer.getvalue()), tmp_path / "unpacked", LIMIT)
