"""``mixfarm render --cache DIR``: a second render of the same session reuses every task, and says so."""

import subprocess
import sys

from tests.helpers.sessions import tone, write_session, write_stem


def mixfarm(*args, env=None):
    return subprocess.run([sys.executable, "-m", "farm.cli", *args], capture_output=True, text=True, timeout=300, env=env)


def test_a_second_render_through_the_cache_reuses_every_task_and_no_cache_reuses_none(tmp_path):
    stem = write_stem(tmp_path, "a.wav", tone(220.0, 2.0))
    session = str(write_session(tmp_path, {"tracks": [{"name": "a", "file": stem}]}))
    cache = str(tmp_path / "cache")
    first = mixfarm("render", session, "-o", str(tmp_path / "one"), "--executor", "local", "--cache", cache)
    again = mixfarm("render", session, "-o", str(tmp_path / "two"), "--executor", "local", "--cache", cache)
    scratch = mixfarm("render", session, "-o", str(tmp_path / "three"), "--executor", "local", "--cache", cache, "--no-cache")
    assert first.returncode == again.returncode == scratch.returncode == 0, first.stderr + again.stderr + scratch.stderr
    assert "  cache: 0 of " in first.stdout
    reused = next(line for line in again.stdout.splitlines() if line.startswith("  cache: "))
    hits, total = reused.split()[1], reused.split()[3]
    assert hits == total and int(total) > 0, reused
    assert "cache:" not in scratch.stdout
    assert (tmp_path / "one" / "master.wav").read_bytes() == (tmp_path / "two" / "master.wav").read_bytes()


def test_a_cache_in_object_storage_is_refused_for_now(tmp_path):
    stem = write_stem(tmp_path, "a.wav", tone(220.0, 1.0))
    session = str(write_session(tmp_path, {"tracks": [{"name": "a", "file": stem}]}))
    result = mixfarm("render", session, "-o", str(tmp_path / "out"), "--executor", "local", "--cache", "s3://bucket/cache")
    assert result.returncode == 2 and "--cache: s3://bucket/cache: must be a folder on this machine" in result.stderr
