"""Hardening that a real service on this machine cannot be driven into, checked on the app in process
(no lifespan: the scheduler stays off): a full disk or quota, an unwritable folder, the cookie over
plain HTTPS, the constant-time token lookup."""

from __future__ import annotations

import asyncio
import errno
import io
import os
import zipfile

import httpx
import numpy as np
import pytest
import soundfile
import yaml

from dashboard import auth
from dashboard.config import Settings, mebibytes
from dashboard.errors import ConfigError
from dashboard.main import create_app
from farm.errors import StorageError

TOKENS = {"tokA": "alpha", "tokB": "beta", "tokC": "gamma"}


@pytest.fixture
def app(tmp_path):
    return create_app(Settings(data_dir=tmp_path / "data", tokens=TOKENS))


def call(app, method: str, path: str, base_url: str = "http://farm", **options) -> httpx.Response:
    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=base_url) as client:
            return await client.request(method, path, **options)

    return asyncio.run(send())


def a_bundle() -> bytes:
    stem = io.BytesIO()
    soundfile.write(stem, np.zeros((4800, 1)), 48000, format="WAV", subtype="PCM_24")
    session = {"format": "mixfarm/1", "tracks": [{"name": "t", "file": "stems/t.wav"}], "outputs": [{"path": "master.wav"}]}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("session.yaml", yaml.safe_dump(session))
        archive.writestr("stems/t.wav", stem.getvalue())
    return buffer.getvalue()


def upload(app) -> httpx.Response:
    return call(app, "POST", "/api/jobs", files={"bundle": ("b.zip", a_bundle())}, headers={"Authorization": "Bearer tokA"})


@pytest.mark.parametrize(
    ("number", "status", "message"),
    [
        (errno.ENOSPC, 507, "uploads folder: out of space (ENOSPC: No space left on device); nothing was stored, try again once space is freed"),
        (errno.EDQUOT, 507, "uploads folder: out of space (EDQUOT: Disk quota exceeded); nothing was stored, try again once space is freed"),
        (errno.EACCES, 503, "uploads folder: cannot be written (EACCES: Permission denied); nothing was stored, try again later"),
        (errno.EROFS, 503, "uploads folder: cannot be written (EROFS: Read-only file system); nothing was stored, try again later"),
    ],
)
def test_an_upload_the_disk_refuses_is_507_or_503_saying_why(app, tmp_path, monkeypatch, number, status, message):
    def refuse(*args, **kwargs):
        raise OSError(number, os.strerror(number), str(tmp_path / "data" / "uploads" / "upload-x"))

    monkeypatch.setattr("dashboard.service.tempfile.mkdtemp", refuse)
    response = upload(app)
    assert response.status_code == status, response.text
    assert response.json() == {"detail": message}
    monkeypatch.undo()
    assert upload(app).status_code == 201


def test_a_full_disk_while_the_bundle_is_stored_is_507(app, monkeypatch):
    def full(files, job_id, staging):
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError:
            raise StorageError(f"storage {files.root}: cannot store the bundle of job {job_id}") from None

    monkeypatch.setattr("farm.queue.jobfiles.JobFiles.keep_bundle", full)
    response = upload(app)
    assert response.status_code == 507, response.text
    assert response.json() == {"detail": "job storage: out of space (ENOSPC: No space left on device); nothing was stored, try again once space is freed"}


def test_the_cookie_is_secure_over_https_and_not_over_http(app):
    secure = call(app, "GET", "/?token=tokA", base_url="https://farm")
    plain = call(app, "GET", "/?token=tokA")
    assert secure.status_code == plain.status_code == 303
    assert "Secure" in secure.headers["set-cookie"] and "Secure" not in plain.headers["set-cookie"]


def test_an_https_page_posting_to_itself_passes_the_origin_check(app):
    response = call(app, "POST", "/session", base_url="https://farm", data={"token": "tokB"}, headers={"Origin": "https://farm"})
    assert response.status_code == 303, response.text
    forged = call(app, "POST", "/session", base_url="https://farm", data={"token": "tokB"}, headers={"Origin": "http://farm"})
    assert forged.status_code == 403, forged.text


def test_a_token_is_compared_with_every_configured_token(monkeypatch):
    compared: list[bytes] = []
    real = auth.hmac.compare_digest

    def counting(known: bytes, presented: bytes) -> bool:
        compared.append(known)
        return real(known, presented)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    assert auth.studio_for_token(TOKENS, "tokA") == "alpha"
    assert auth.studio_for_token(TOKENS, "nope") is None
    assert compared == [token.encode() for token in TOKENS] * 2


@pytest.mark.parametrize(("value", "allowed"), [(-1, "> 0"), (0, "> 0")])
def test_a_size_setting_must_be_positive(value, allowed):
    with pytest.raises(ConfigError, match=f"--max-bundle-mb: must be {allowed}"):
        mebibytes(value, "--max-bundle-mb")


def test_a_quota_of_zero_means_none():
    assert mebibytes(0, "--studio-quota-mb", zero_means_none=True) is None
    assert mebibytes(1.5, "--studio-quota-mb", zero_means_none=True) == int(1.5 * 1024**2)
