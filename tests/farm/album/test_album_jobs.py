"""An album is one job: ``mixfarm render album.yaml``, and a bundle with album.yaml at its root for the service."""

import json
import subprocess
import sys

from farm.engine.executor import LocalExecutor
from farm.queue.bundle import pack_bundle, unpack_bundle
from farm.queue.driver import InProcessDriver
from farm.queue.jobfiles import JobFiles
from farm.queue.jobstore import JobStore
from farm.queue.scheduler import Scheduler
from farm.queue.state import FINAL_STATES, JobState
from tests.farm.album.test_album import write_album
from tests.farm.queue.test_scheduler import wait_until

FILES = ["01 Midnight Drive.wav", "02 Second Song.wav", "03 Third-Song.wav", "album.wav", "album.cue"]


def test_mixfarm_render_renders_an_album_file(tmp_path):
    path = write_album(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "farm.cli", "render", str(path), "-o", str(tmp_path / "out"), "--executor", "local", "--chunk-s", "3", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [item["path"] for item in report["deliverables"]] == FILES
    assert sorted(item.name for item in (tmp_path / "out").iterdir()) == sorted([*FILES, "report.json"])


def test_an_album_bundle_is_one_job_in_the_farm(tmp_path):
    album = tmp_path / "album"
    album.mkdir()
    write_album(album)
    staging = tmp_path / "staging"
    (staging / "bundle").mkdir(parents=True)
    (tmp_path / "bundle.zip").write_bytes(pack_bundle(album / "album.yaml"))
    assert unpack_bundle(tmp_path / "bundle.zip", staging / "bundle", 1 << 30).name == "album.yaml"
    store = JobStore(tmp_path / "data" / "jobs.sqlite3")
    files = JobFiles(tmp_path / "data")
    job = store.create("night drives", "local", duration_s=21.5)
    files.keep_bundle(job.id, staging)
    scheduler = Scheduler(store, files, InProcessDriver(LocalExecutor), poll_s=0.02)
    scheduler.start()
    try:
        done = wait_until(lambda: (found := store.get(job.id)).state in FINAL_STATES and found, "the album job to end")
    finally:
        scheduler.stop()
        store.close()
    assert done.state is JobState.SUCCEEDED, done.error
    assert [item["name"] for item in done.outputs] == FILES
    assert [song["title"] for song in done.report["songs"]] == ["Midnight Drive", "Second Song", "Third/Song"]
    assert files.output(job.id, "album.cue").size() == done.outputs[-1]["bytes"]


def test_mixfarm_validate_checks_an_album_file(tmp_path):
    path = write_album(tmp_path)
    valid = subprocess.run([sys.executable, "-m", "farm.cli", "validate", str(path)], capture_output=True, text=True, timeout=120)
    assert valid.returncode == 0 and "valid album: 'Night Drives', 3 song(s), 21.00 s of songs" in valid.stdout, valid.stderr
    path.write_text(path.read_text().replace("crossfade_s: 1.5", "crossfade_s: 9.0"))
    invalid = subprocess.run([sys.executable, "-m", "farm.cli", "validate", str(path)], capture_output=True, text=True, timeout=120)
    assert invalid.returncode == 1 and "songs[2].crossfade_s: 9 s is longer than songs[1]" in invalid.stderr
