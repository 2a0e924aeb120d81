"""``mixfarm render --cache DIR|URI``: a second render of the same session reuses every task, and says so."""

import os
import subprocess
import sys

from tests.helpers.s3server import moto_server
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


def test_a_cache_in_object_storage_is_reused_and_one_that_cannot_be_reached_is_named(tmp_path):
    stem = write_stem(tmp_path, "a.wav", tone(220.0, 1.0))
    session = str(write_session(tmp_path, {"tracks": [{"name": "a", "file": stem}]}))
    with moto_server("renders") as s3:
        env = {**os.environ, **s3.environment}
        runs = [mixfarm("render", session, "-o", str(tmp_path / out), "--executor", "local", "--cache", "s3://renders/cache", env=env) for out in ("one", "two")]
        missing = mixfarm("render", session, "-o", str(tmp_path / "three"), "--executor", "local", "--cache", "s3://no-such-bucket/cache", env=env)
        stored = s3.client.list_objects_v2(Bucket="renders", Prefix="cache/")["KeyCount"]
    assert all(run.returncode == 0 for run in runs + [missing]), [run.stderr for run in runs + [missing]]
    reused = next(line for line in runs[1].stdout.splitlines() if line.startswith("  cache: "))
    assert reused.split()[1] == reused.split()[3] != "0", reused
    assert stored > 0
    assert "  cache: not used: s3://no-such-bucket/cache: cannot be read" in missing.stdout
    assert (tmp_path / "three" / "master.wav").read_bytes() == (tmp_path / "one" / "master.wav").read_bytes()
