"""Helpers that write small sessions and stems for the farm tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import yaml

from farm.engine.executor import LocalExecutor
from farm.engine.plan import DEFAULT_CHUNK_S
from farm.engine.render import render

RATE = 48000
THREE_CHUNKS_S = 2.5 * DEFAULT_CHUNK_S
"""A session this long renders in three chunks of the default length, the last one half a chunk."""


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


NULL_LEVEL = 10 ** (-120 / 20)


def busy_session(folder):
    """Drums, bass, a pad and a vocal-ish line through every kind of effect, buses, sends, automation."""
    rng = np.random.default_rng(0)
    seconds = 6.0
    frames = int(seconds * RATE)
    t = np.arange(frames) / RATE
    beat = (t % 0.5) < 0.08
    kick = (np.sin(2 * np.pi * 55 * t * (1 + np.exp(-(t % 0.5) * 40))) * np.exp(-(t % 0.5) * 12))[:, None] * 0.8
    hats = (rng.standard_normal(frames) * beat * np.exp(-(t % 0.25) * 60))[:, None] * 0.3
    bass = tone(55.0, seconds, 0.4) * (1 + 0.3 * np.sin(2 * np.pi * 0.5 * t))[:, None]
    pad = np.stack([np.sin(2 * np.pi * 220 * t + 0.3), np.sin(2 * np.pi * 221.5 * t)], axis=1) * 0.2
    vocal = (np.sign(np.sin(2 * np.pi * 180 * t)) * 0.2 * (np.sin(2 * np.pi * 0.7 * t) > 0))[:, None]
    ir = (rng.standard_normal(RATE // 4) * np.exp(-np.arange(RATE // 4) / 2000))[:, None] * 0.1
    stems = {name: write_stem(folder, f"{name}.wav", audio) for name, audio in dict(kick=kick, hats=hats, bass=bass, pad=pad, vocal=vocal, ir=ir).items()}
    session = {
        "tempo_bpm": 120,
        "tracks": [
            {
                "name": "kick",
                "file": stems["kick"],
                "output": "drums",
                "fx": [{"type": "gate", "threshold_db": -30}, {"type": "eq", "bands": [{"kind": "bell", "freq_hz": 60, "gain_db": 3}]}],
                "automation": {"fx.1.bands.0.gain_db": [[0, 0], [3, 6], [5, -3, "hold"]]},
            },
            {
                "name": "hats",
                "file": stems["hats"],
                "output": "drums",
                "pan": 0.4,
                "fx": [{"type": "eq", "bands": [{"kind": "highpass", "freq_hz": 5000, "slope_db_oct": 24}]}],
                "automation": {"mute": [[0, 0, "hold"], [2.5, 1, "hold"], [3.2, 0]], "fx.0.bands.0.freq_hz": [[0, 5000], [3, 2500], [5, 6000, "hold"]]},
            },
            {
                "name": "bass",
                "file": stems["bass"],
                "fx": [{"type": "saturation", "drive_db": 9}, {"type": "compressor", "threshold_db": -18, "ratio": 4, "detector": "rms"}],
                "automation": {"fx.0.drive_db": [[0, 3], [4, 18]]},
            },
            {
                "name": "pad",
                "clips": [{"file": stems["pad"], "start_s": 0.3, "offset_s": 0.2, "duration_s": 4.0, "fade_in_s": 1.0, "fade_out_s": 1.5}],
                "fx": [
                    {"type": "width", "width": 1.6},
                    {
                        "type": "multiband_compressor",
                        "crossovers_hz": [300, 3000],
                        "bands": [{"threshold_db": -30, "ratio": 3, "attack_s": 0.005, "release_s": 0.05}, {"threshold_db": -20, "ratio": 2, "bypass": True}, {"threshold_db": -35, "ratio": 4, "release_s": 0.05}],
                        "id": "bands",
                    },
                    {"type": "limiter", "ceiling_dbtp": -12},
                ],
                "automation": {
                    "gain_db": [[0, -30], [3, 0, "hold"], [4.2, -4]],
                    "width": [[0, 1], [4, 1.8]],
                    "fx.bands.bands.2.threshold_db": [[0, -35], [1.5, -45], [3.5, -30, "hold"]],
                    "fx.bands.crossovers_hz.0": [[0, 300], [3, 500]],
                    "fx.2.ceiling_dbtp": [[0, -12], [2, -6, "hold"], [4, -14]],
                },
            },
            {
                "name": "vocal",
                "file": stems["vocal"],
                "fx": [{"type": "compressor", "threshold_db": -20, "ratio": 3, "sidechain_hpf_hz": 150}, {"type": "de_esser", "threshold_db": -30, "freq_hz": 4000}],
                "sends": [{"bus": "verb", "level_db": -8}, {"bus": "echo", "level_db": -10, "pre_fader": True}],
                "automation": {
                    "pan": [[0, -0.8], [6, 0.8]],
                    "sends.verb.level_db": [[0, -20], [4, -6]],
                    "fx.0.threshold_db": [[0, -20], [2.2, -32, "hold"], [4.5, -24]],
                    "fx.0.sidechain_hpf_hz": [[0, 150], [3, 600]],
                    "fx.1.freq_hz": [[0, 4000], [5, 7000]],
                    "fx.1.range_db": [[0, -12], [2, -30, "hold"]],
                },
            },
        ],
        "buses": [
            {"name": "drums", "fx": [{"type": "compressor", "threshold_db": -15, "ratio": 3, "attack_s": 0.003}], "sends": [{"bus": "verb", "level_db": -14}]},
            {
                "name": "verb",
                "fx": [{"type": "reverb", "decay_s": 1.8, "predelay_s": 0.02, "mix": 1.0}],
                "automation": {"fx.0.decay_s": [[0, 0.8], [3, 2.5]], "fx.0.damping_hz": [[0, 8000], [2, 3000, "hold"]]},
            },
            {
                "name": "echo",
                "fx": [
                    {"type": "delay", "id": "slap", "time_note": "1/8.", "feedback": 0.5, "ping_pong": True, "highcut_hz": 6000, "mix": 1.0},
                    {"type": "convolution", "ir_file": stems["ir"], "mix": 0.5},
                ],
                "output": "verb",
                "automation": {"fx.slap.mix": [[0, 1.0], [1.7, 0.4, "hold"], [3.0, 1.0]], "fx.slap.time_s": [[0, 0.375], [2.5, 0.2], [4, 0.3, "hold"]], "fx.slap.highcut_hz": [[0, 6000], [4, 1500]], "fx.1.gain_db": [[0, 0], [3, -6]]},
            },
        ],
        "master": {
            "fx": [{"type": "eq", "bands": [{"kind": "low_shelf", "freq_hz": 100, "gain_db": 2}]}, {"type": "compressor", "threshold_db": -10, "ratio": 2}],
            "loudness": {"preset": "spotify"},
            "fade_out_s": 1.0,
            "tail_s": 2.5,
        },
    }
    return write_session(folder, session)
