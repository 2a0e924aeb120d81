"""A job's bundle and outputs, in a local folder and in a real S3-compatible server (moto) on loopback."""

import pytest

from farm.errors import StorageError
from farm.queue.jobfiles import JobFiles
from tests.helpers.s3server import moto_s3

pytest.importorskip("s3fs")

BUCKET = "jobfiles"


@pytest.fixture(scope="module")
def s3():
    with moto_s3(BUCKET) as client:
        yield client


@pytest.fixture(params=["local", "file-uri", "s3"])
def files(request, tmp_path):
    if request.param == "s3":
        request.getfixturevalue("s3")
        return JobFiles(f"s3://{BUCKET}/{tmp_path.name}/")
    return JobFiles(tmp_path / "root" if request.param == "local" else f"file://{tmp_path}/root")


def staged_bundle(tmp_path):
    staging = tmp_path / "staging"
    (staging / "bundle" / "stems").mkdir(parents=True)
    (staging / "bundle" / "session.json").write_text("{}")
    (staging / "bundle" / "stems" / "a.wav").write_bytes(b"RIFF")
    return staging


def test_a_kept_bundle_is_found_and_its_outputs_are_cleared_alone(files, tmp_path):
    files.check()
    files.keep_bundle("job1", staged_bundle(tmp_path))
    assert files.session_file("job1") == files.bundle("job1").joinpath("session.json")
    assert files.bundle("job1").joinpath("stems", "a.wav").is_file()
    assert files.session_file("job2") is None
    for name in ("master.wav", "cd/master.flac"):
        files.output("job1", name).write_bytes(b"out")
    assert files.output("job1", "cd/master.flac").size() == 3
    files.clear_out("job1")
    assert not files.output("job1", "master.wav").is_file() and not files.output("job1", "cd/master.flac").is_file()
    assert files.session_file("job1") is not None
    files.remove("job1")
    assert files.session_file("job1") is None


def test_a_missing_bucket_is_refused_naming_the_uri(s3):
    with pytest.raises(StorageError, match=r"^storage s3://no-such-bucket/farm: cannot be written \(FileNotFoundError"):
        JobFiles("s3://no-such-bucket/farm").check()
    assert "no-such-bucket" not in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]
