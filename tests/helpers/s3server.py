"""A real S3-compatible server (moto in server mode) on loopback, with the environment fsspec/s3fs read.

:func:`moto_server` starts one and yields a :class:`MotoS3`: its endpoint,
the ``AWS_*`` environment that reaches it (for a child process, such as a
``mixfarm serve`` under test) and a boto3 client on it. :func:`moto_s3` is
the same server with that environment also set in this process, for code
under test that reads storage here through fsspec/s3fs.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.service import free_port

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@dataclasses.dataclass(frozen=True)
class MotoS3:
    """A running moto S3 server."""

    endpoint: str
    environment: dict[str, str]
    """``CREDENTIALS`` and ``AWS_ENDPOINT_URL``: what boto3 and s3fs need to reach the server."""
    client: Any
    """A boto3 S3 client on the server."""


@contextlib.contextmanager
def moto_server(bucket: str) -> Iterator[MotoS3]:
    """Start moto on a free loopback port with ``bucket`` made; yield it; stop it after.

    This process's environment is left alone: hand ``environment`` to whatever should reach the server.
    """
    boto3 = pytest.importorskip("boto3")
    moto_server_module = pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    port = free_port()
    server = moto_server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
        )
        client.create_bucket(Bucket=bucket)
        yield MotoS3(endpoint, {**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}, client)
    finally:
        server.stop()


@contextlib.contextmanager
def moto_s3(bucket: str):
    """:func:`moto_server` with its environment set in this process (s3fs's instance cache cleared around it); yield its boto3 client."""
    s3fs = pytest.importorskip("s3fs")
    with moto_server(bucket) as server:
        patch = pytest.MonkeyPatch()
        for key, value in server.environment.items():
            patch.setenv(key, value)
        s3fs.S3FileSystem.clear_instance_cache()
        try:
            yield server.client
        finally:
            patch.undo()
            s3fs.S3FileSystem.clear_instance_cache()
