"""Debian's Chromium for the browser tests, driven through playwright (``playwright install`` cannot download here)."""

import os

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
"""No sandbox (tests run as root in a container), no network of its own, and media that may play without a click."""
DESKTOP = {"width": 1280, "height": 900}

needs_chromium = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"no Chromium at {CHROMIUM} to drive the dashboard with")
