"""Fixtures for the service tests: a real mixfarm service process on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.service import ServiceProcess


@pytest.fixture
def start_service(tmp_path):
    """Start services (``start_service(env=..., extra_args=...)``); all are stopped after the test."""
    started: list[ServiceProcess] = []

    def start(data_dir: Path | None = None, env: dict | None = None, extra_args: tuple[str, ...] = ()) -> ServiceProcess:
        service = ServiceProcess(data_dir or tmp_path / "data", env, extra_args)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()
