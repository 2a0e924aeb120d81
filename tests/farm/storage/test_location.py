"""Location: one type for local paths and URIs (``memory://`` stands for object storage here)."""

import os
import pickle
import uuid
from pathlib import Path

import pytest

from farm.storage import Location


@pytest.fixture
def memory():
    """A fresh folder in fsspec's in-memory filesystem, removed after the test."""
    folder = Location.of(f"memory://location-tests/{uuid.uuid4().hex}")
    yield folder
    folder.remove()


@pytest.fixture(params=["local", "memory"])
def folder(request, tmp_path):
    return Location.of(tmp_path / "store") if request.param == "local" else request.getfixturevalue("memory")


def test_a_local_path_is_made_absolute_and_a_file_uri_counts_as_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    relative = Location.of("song/session.yaml")
    assert relative.is_local and not relative.is_remote
    assert str(relative) == str(tmp_path / "song" / "session.yaml")
    assert relative.local_path == tmp_path / "song" / "session.yaml"
    assert Location.of(f"file://{tmp_path}/song/session.yaml") == relative == Location.of(Path("song/session.yaml"))
    assert Location.of(relative) is relative


def test_a_uri_is_kept_as_written_without_a_trailing_slash():
    location = Location.of("s3://bucket/songs/../song/")
    assert location.is_remote and not location.is_local
    assert str(location) == "s3://bucket/songs/../song"
    with pytest.raises(ValueError, match=r"^s3://bucket/songs/\.\./song: not a local path$"):
        _ = location.local_path


@pytest.mark.parametrize("root", ["/srv/farm", "s3://bucket/farm", "memory://farm"])
def test_joinpath_parent_and_name_are_path_algebra(root):
    location = Location.of(root).joinpath("jobs", "a1", "out/cd/master.flac")
    assert str(location) == f"{root}/jobs/a1/out/cd/master.flac"
    assert location.name == "master.flac"
    assert str(location.parent) == f"{root}/jobs/a1/out/cd"
    assert location.parent.parent.joinpath("master.wav") == Location.of(f"{root}/jobs/a1/out/master.wav")
    assert location.is_remote == ("://" in root)


def test_write_read_size_is_file_and_remove_round_trip(folder):
    song = folder.joinpath("song")
    file = song.joinpath("stems", "bass.wav")
    assert not file.is_file()
    with pytest.raises(FileNotFoundError):
        file.size()
    file.write_bytes(b"RIFF1234")
    assert file.is_file() and file.size() == 8
    assert file.read_text() == "RIFF1234"
    assert list(file.read_chunks(3)) == [b"RIF", b"F12", b"34"]
    with file.open() as handle:
        handle.seek(4)
        assert handle.read(2) == b"12"
    assert not song.joinpath("stems").is_file()
    with pytest.raises(FileNotFoundError):
        song.joinpath("stems").size()
    file.write_bytes(b"x")
    assert file.size() == 1
    song.remove()
    assert not file.is_file()
    song.remove()
    file.remove()


def test_a_local_write_creates_the_folders_it_needs(tmp_path):
    Location.of(tmp_path / "a" / "b" / "c.txt").write_bytes(b"abc")
    assert (tmp_path / "a" / "b" / "c.txt").read_bytes() == b"abc"


def test_removing_a_single_file_leaves_its_neighbours(folder):
    first, second = folder.joinpath("first.txt"), folder.joinpath("second.txt")
    first.write_bytes(b"1")
    second.write_bytes(b"2")
    first.remove()
    assert not first.is_file() and second.read_text() == "2"


def test_files_and_folders_upload_under_their_relative_names(folder, tmp_path):
    local = tmp_path / "bundle"
    (local / "stems").mkdir(parents=True)
    (local / "session.yaml").write_text("name: song")
    (local / "stems" / "a.wav").write_bytes(b"RIFF")
    target = folder.joinpath("jobs", "a1", "bundle")
    target.upload_folder_from(local)
    assert target.joinpath("session.yaml").read_text() == "name: song"
    assert target.joinpath("stems", "a.wav").size() == 4
    single = folder.joinpath("out", "cd", "master.flac")
    single.upload_from(local / "stems" / "a.wav")
    assert single.read_text() == "RIFF"


def test_a_local_folder_resolves_paths_to_their_real_path_inside_it_or_an_allowed_root(tmp_path):
    song, library = tmp_path / "song", tmp_path / "library"
    (song / "stems").mkdir(parents=True)
    library.mkdir()
    folder = Location.of(song)
    assert folder.resolve_inside("stems/../stems/a.wav") == Location.of(song / "stems" / "a.wav")
    assert folder.resolve_inside(str(library / "b.wav"), [library.resolve()]) == Location.of(library / "b.wav")
    with pytest.raises(ValueError, match=r"^must stay inside the session folder, got '\.\./x\.wav'$"):
        folder.resolve_inside("../x.wav")
    with pytest.raises(ValueError, match=r"^absolute paths must lie in an allowed root, got '.*/library/b\.wav'$"):
        folder.resolve_inside(str(library / "b.wav"))
    with pytest.raises(ValueError, match=r"^absolute paths must lie in an allowed root, got '/etc/passwd'$"):
        folder.resolve_inside("/etc/passwd", [library.resolve()])


def test_a_symlink_pointing_out_of_the_folder_is_refused(tmp_path):
    song, outside = tmp_path / "song", tmp_path / "outside"
    song.mkdir()
    outside.mkdir()
    (outside / "secret.wav").write_bytes(b"RIFF")
    os.symlink(outside / "secret.wav", song / "link.wav")
    os.symlink(outside, song / "linked")
    for written in ("link.wav", "linked/secret.wav"):
        with pytest.raises(ValueError, match=rf"^must stay inside the session folder, got '{written}'$"):
            Location.of(song).resolve_inside(written)
    assert Location.of(song).resolve_inside("link.wav", [outside.resolve()]) == Location.of(outside / "secret.wav")


def test_a_uri_folder_keeps_normalised_paths_inside_it():
    folder = Location.of("s3://bucket/songs/song")
    assert folder.resolve_inside("stems/./x/../a.wav") == Location.of("s3://bucket/songs/song/stems/a.wav")
    assert folder.resolve_inside("a.wav", [Path("/anything")]) == Location.of("s3://bucket/songs/song/a.wav")
    for escape in ("../x.wav", "stems/../../x.wav", "../song-other/x.wav", ".."):
        with pytest.raises(ValueError, match=rf"^must stay inside the session folder, got {escape!r}$"):
            folder.resolve_inside(escape)
    for elsewhere in ("/bucket/x.wav", "s3://bucket/songs/song/a.wav", "memory://x.wav"):
        with pytest.raises(ValueError, match=rf"^must be relative to the session folder, got {elsewhere!r}$"):
            folder.resolve_inside(elsewhere)


@pytest.mark.parametrize("value", ["/srv/farm/jobs/a1", "s3://bucket/farm/jobs/a1", "memory://farm/x.wav"])
def test_a_location_pickles_and_hashes_by_its_address(value):
    location = Location.of(value)
    copy = pickle.loads(pickle.dumps(location))
    assert copy == location and hash(copy) == hash(location) and str(copy) == value
    assert copy.is_remote == location.is_remote
