"""A real mixfarm service process on loopback (with a real local Ray cluster), session bundles to send it, and waiting for a job."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import soundfile
import yaml

STARTUP_TIMEOUT_S = 90.0

MASTERED = {"master": {"tail_s": 0.0, "loudness": {"preset": "spotify"}}}
"""Session fields for a render normalised to -14 LUFS / -1 dBTP."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServiceProcess:
    """``mixfarm serve`` in a process group of its own; ``url`` is its base URL."""

    def __init__(self, data_dir: Path, env: dict | None = None, extra_args: tuple[str, ...] = ()) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"serve-{self.port}.log"
        environment = {**os.environ, "RAY_AUTH_MODE": "disabled", **(env or {})}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "farm.cli", "serve", "--port", str(self.port), "--data", str(data_dir), *extra_args],
            stdout=open(self.log_path, "w"),
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mixfarm serve exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"mixfarm serve did not answer within {STARTUP_TIMEOUT_S} s:\n{self.log_path.read_text()}")

    def kill(self) -> None:
        """SIGKILL the whole process group (the server and the Ray cluster it started)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(30)

    def stop(self) -> None:
        """Stop gracefully, then make sure nothing of the group is left."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


def session_bundle(seconds: float = 2.0, name: str = "tiny", freq_hz: float = 220.0, extra: dict | None = None) -> bytes:
    """A zip with a one-track session and its stem, rendered to one 24-bit WAV."""
    rate = 48000
    t = np.arange(int(seconds * rate)) / rate
    stem = io.BytesIO()
    soundfile.write(stem, (0.3 * np.sin(2 * np.pi * freq_hz * t))[:, None], rate, format="WAV", subtype="PCM_24")
    session = {
        "format": "mixfarm/1",
        "name": name,
        "tracks": [{"name": "tone", "file": "stems/tone.wav"}],
        "master": {"tail_s": 0.0},
        "outputs": [{"path": "master.wav", "bit_depth": 24}],
        **(extra or {}),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("session.yaml", yaml.safe_dump(session))
        archive.writestr("stems/tone.wav", stem.getvalue())
    return buffer.getvalue()


def long_bundle(
    length_s: float,
    *,
    name: str = "long",
    tracks: int = 2,
    fx: list | None = None,
    master: dict | None = None,
    outputs: list | None = None,
) -> bytes:
    """A session ``length_s`` long built from one 2 s stem placed at both ends, so the upload stays small."""
    rate = 48000
    t = np.arange(2 * rate) / rate
    stem = io.BytesIO()
    soundfile.write(stem, (0.3 * np.sin(2 * np.pi * 150 * t))[:, None], rate, format="WAV", subtype="PCM_24")
    clips = [{"file": "stems/tone.wav", "start_s": 0.0}, {"file": "stems/tone.wav", "start_s": length_s - 2.0}]
    session = {
        "format": "mixfarm/1",
        "name": name,
        "tracks": [{"name": f"t{index}", "clips": clips, "fx": fx or [{"type": "reverb", "decay_s": 1.5, "mix": 0.3}]} for index in range(tracks)],
        "master": master or {"tail_s": 0.0},
        "outputs": outputs or [{"path": "master.wav", "bit_depth": 24}],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("session.yaml", yaml.safe_dump(session))
        archive.writestr("stems/tone.wav", stem.getvalue())
    return buffer.getvalue()


def wait_for_state(client: httpx.Client, job_id: str, states: set[str], timeout_s: float = 120.0) -> dict:
    """Poll a job until it reaches one of ``states``; returns it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not reach {states} within {timeout_s} s: {job}")
