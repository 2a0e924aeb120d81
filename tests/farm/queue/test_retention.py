"""Retention: finished jobs lose their files past their studio's age, and keep their record."""

from __future__ import annotations

import os
import time

import pytest

from farm.errors import StorageError
from farm.queue.jobfiles import JobFiles
from farm.queue.jobstore import JobStore
from farm.queue.retention import collect
from farm.queue.state import JobState
from farm.queue.studios import StudioPolicies, StudioPolicy

DAY_S = 86400.0


def stored_job(store: JobStore, files: JobFiles, tmp_path, studio: str, finished_days_ago: float | None, name: str = "song") -> str:
    staging = tmp_path / f"staging-{name}"
    (staging / "bundle").mkdir(parents=True)
    (staging / "bundle" / "session.yaml").write_text("tracks: []\n")
    job = store.create(name, studio, bundle_bytes=1000)
    files.keep_bundle(job.id, staging)
    files.out(job.id).joinpath("master.wav").write_bytes(b"RIFF")
    files.out(job.id).joinpath(".mixfarm-render-0123").joinpath("block.npy").write_bytes(b"left by a render that died")
    if finished_days_ago is not None:
        store.transition(job.id, JobState.RUNNING)
        store.transition(job.id, JobState.SUCCEEDED, report={"duration_s": 1.0}, finished_at=time.time() - finished_days_ago * DAY_S)
    return job.id


@pytest.fixture
def setting(tmp_path):
    policies = StudioPolicies(StudioPolicy(retention_s=30 * DAY_S), {"keeper": StudioPolicy(retention_s=None), "brief": StudioPolicy(retention_s=1 * DAY_S)})
    store = JobStore(tmp_path / "data" / "jobs.sqlite3", policies=policies)
    yield store, JobFiles(tmp_path / "data"), policies
    store.close()


def test_a_job_past_its_age_loses_its_files_and_keeps_its_record(setting, tmp_path):
    store, files, policies = setting
    old = stored_job(store, files, tmp_path, "abbey", 31, "old")
    young = stored_job(store, files, tmp_path, "abbey", 29, "young")
    brief = stored_job(store, files, tmp_path, "brief", 2, "brief")
    kept = stored_job(store, files, tmp_path, "keeper", 400, "kept")
    queued = stored_job(store, files, tmp_path, "brief", None, "queued")

    done = collect(store, files, policies)
    assert sorted(done.purged) == sorted([old, brief]) and done.bundle_bytes == 2000 and not done.errors
    for job_id in (old, brief):
        job = store.get(job_id)
        assert not files.bundle(job_id).local_path.exists() and not files.out(job_id).local_path.exists()
        assert job.state is JobState.SUCCEEDED and job.report == {"duration_s": 1.0}
        assert job.purged_at is not None and job.bundle_bytes == 0
    for job_id in (young, kept, queued):
        assert files.output(job_id, "master.wav").is_file() and store.get(job_id).purged_at is None
    assert store.studio_bundle_bytes("brief") == 1000
    assert collect(store, files, policies).purged == []


def test_a_dry_run_removes_nothing(setting, tmp_path):
    store, files, policies = setting
    old = stored_job(store, files, tmp_path, "abbey", 31)
    assert collect(store, files, policies, dry_run=True).purged == [old]
    assert files.output(old, "master.wav").is_file() and store.get(old).purged_at is None


def test_files_that_cannot_be_removed_leave_the_job_as_it_was(setting, tmp_path):
    store, files, policies = setting
    old = stored_job(store, files, tmp_path, "abbey", 31)

    class Unremovable(JobFiles):
        def purge(self, job_id):
            raise StorageError(f"storage {self.root}: cannot delete the files of job {job_id} (PermissionError: read-only)")

    done = collect(store, Unremovable(files.root), policies)
    assert done.purged == [] and "read-only" in done.errors[old]
    job = store.get(old)
    assert job.purged_at is None and job.bundle_bytes == 1000
    assert files.output(old, "master.wav").is_file()


def test_stale_upload_folders_are_removed(setting, tmp_path):
    store, files, policies = setting
    uploads = tmp_path / "data" / "uploads"
    stale, fresh = uploads / "upload-stale", uploads / "upload-fresh"
    stale.mkdir(parents=True)
    fresh.mkdir()
    (stale / "half.zip").write_bytes(b"PK")
    os.utime(stale, (time.time() - 2 * DAY_S,) * 2)
    assert collect(store, files, policies, uploads=uploads).uploads_removed == 1
    assert not stale.exists() and fresh.exists()


def test_retention_removes_a_job_from_object_storage(tmp_path):
    pytest.importorskip("s3fs")
    from tests.helpers.s3server import moto_s3

    with moto_s3("farm") as client:
        files = JobFiles("s3://farm/mixfarm")
        policies = StudioPolicies(StudioPolicy(retention_s=DAY_S))
        store = JobStore(tmp_path / "jobs.sqlite3", policies=policies)
        old = stored_job(store, files, tmp_path, "abbey", 2, "old")
        young = stored_job(store, files, tmp_path, "abbey", 0.5, "young")
        assert files.output(old, "master.wav").is_file()
        assert collect(store, files, policies).purged == [old]
        keys = [item["Key"] for item in client.list_objects_v2(Bucket="farm").get("Contents", [])]
        assert keys and not any(f"jobs/{old}/" in key for key in keys)
        assert any(f"jobs/{young}/out/master.wav" in key for key in keys)
        store.close()
