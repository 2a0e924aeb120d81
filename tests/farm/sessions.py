"""Helpers that write small sessions and stems for the farm tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import yaml

from farm.executor import LocalExecutor
from farm.render import render

RATE = 48000


def write_stem(folder: Path, name: str, audio: np.ndarray, rate: int = RATE, subtype: str = "FLOAT") -> str:
    """Write ``audio`` (frames, channels) under folder/stems; return the session-relative path."""
    path = folder / "stems" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, audio, rate, subtype=subtype)
    return f"stems/{name}"


def write_session(folder: Path, session: dict, name: str = "session.yaml") -> Path:
    """Write a session dict as YAML, filling in the format and a 32-bit float, undithered output."""
    document = {"format": "mixfarm/1", "name": "test", **session}
    document.setdefault("outputs", [{"path": "master.wav", "bit_depth": "32f", "dither": "none"}])
    document.setdefault("master", {}).setdefault("tail_s", 0.0)
    path = folder / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def render_master(session_path: Path, out: Path, chunk_s: float = 10.0, executor=None) -> tuple[np.ndarray, dict]:
    """Render and read back the first output as float64 (frames, 2)."""
    report = render(session_path, out, chunk_s=chunk_s, executor=executor or LocalExecutor())
    audio, _ = soundfile.read(out / report["deliverables"][0]["path"], dtype="float64", always_2d=True)
    return audio, report


def tone(freq_hz: float, seconds: float, level: float = 0.5, channels: int = 1, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return np.repeat((level * np.sin(2 * np.pi * freq_hz * t))[:, None], channels, axis=1)


def impulse(frames: int, at: int = 0, level: float = 1.0, channels: int = 1) -> np.ndarray:
    audio = np.zeros((frames, channels))
    audio[at] = level
    return audio
