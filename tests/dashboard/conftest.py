"""Fixtures for the service tests: a real mixfarm service process on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP
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


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, for a module's browser tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A page in a fresh browser context at a desktop size."""
    context = browser.new_context(viewport=DESKTOP)
    yield context.new_page()
    context.close()
