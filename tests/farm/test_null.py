"""A render chunked any way nulls against the one-pass render (max |difference| below -120 dBFS)."""

import numpy as np
import pytest

from sessions import RATE, render_master, tone, write_session, write_stem

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
            {"name": "kick", "file": stems["kick"], "output": "drums", "fx": [{"type": "gate", "threshold_db": -30}]},
            {"name": "hats", "file": stems["hats"], "output": "drums", "pan": 0.4, "fx": [{"type": "eq", "bands": [{"kind": "highpass", "freq_hz": 5000, "slope_db_oct": 24}]}]},
            {"name": "bass", "file": stems["bass"], "fx": [{"type": "saturation", "drive_db": 9}, {"type": "compressor", "threshold_db": -18, "ratio": 4, "detector": "rms"}]},
            {
                "name": "pad",
                "clips": [{"file": stems["pad"], "start_s": 0.3, "offset_s": 0.2, "duration_s": 4.0, "fade_in_s": 1.0, "fade_out_s": 1.5}],
                "fx": [{"type": "width", "width": 1.6}, {"type": "limiter", "ceiling_dbtp": -12}],
                "automation": {"gain_db": [[0, -30], [3, 0]]},
            },
            {
                "name": "vocal",
                "file": stems["vocal"],
                "fx": [{"type": "compressor", "threshold_db": -20, "ratio": 3, "sidechain_hpf_hz": 150}],
                "sends": [{"bus": "verb", "level_db": -8}, {"bus": "echo", "level_db": -10, "pre_fader": True}],
                "automation": {"pan": [[0, -0.8], [6, 0.8]], "sends.verb.level_db": [[0, -20], [4, -6]]},
            },
        ],
        "buses": [
            {"name": "drums", "fx": [{"type": "compressor", "threshold_db": -15, "ratio": 3, "attack_s": 0.003}], "sends": [{"bus": "verb", "level_db": -14}]},
            {"name": "verb", "fx": [{"type": "reverb", "decay_s": 1.8, "predelay_s": 0.02, "mix": 1.0}]},
            {"name": "echo", "fx": [{"type": "delay", "time_note": "1/8.", "feedback": 0.5, "ping_pong": True, "highcut_hz": 6000, "mix": 1.0}, {"type": "convolution", "ir_file": stems["ir"], "mix": 0.5}], "output": "verb"},
        ],
        "master": {
            "fx": [{"type": "eq", "bands": [{"kind": "low_shelf", "freq_hz": 100, "gain_db": 2}]}, {"type": "compressor", "threshold_db": -10, "ratio": 2}],
            "loudness": {"preset": "spotify"},
            "fade_out_s": 1.0,
            "tail_s": 2.5,
        },
    }
    return write_session(folder, session)


@pytest.fixture(scope="module")
def busy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("busy")
    path = busy_session(folder)
    one_pass, report = render_master(path, folder / "one-pass", chunk_s=1000.0)
    assert report["chunks"] == 1
    return path, folder, one_pass


@pytest.mark.parametrize("chunk_s", [0.05, 0.3333, 1.0, 2.71828])
def test_chunked_render_nulls_against_one_pass(busy, chunk_s):
    path, folder, one_pass = busy
    chunked, report = render_master(path, folder / f"chunked-{chunk_s}", chunk_s=chunk_s)
    assert report["chunks"] > 1
    assert chunked.shape == one_pass.shape
    assert np.max(np.abs(chunked - one_pass)) < NULL_LEVEL


def test_joins_fall_inside_a_clip_fade_and_a_reverb_tail(busy):
    path, folder, one_pass = busy
    chunked, report = render_master(path, folder / "joins", chunk_s=0.9)
    joins_s = [k * 0.9 for k in range(1, report["chunks"])]
    assert any(0.3 < join < 1.3 for join in joins_s), "a join inside the pad's fade-in"
    assert any(6.0 < join < 8.5 for join in joins_s), "a join inside the reverb tail"
    assert np.max(np.abs(one_pass[int(6.0 * RATE) :])) > 1e-4, "the tail is not silent"
    assert np.max(np.abs(chunked - one_pass)) < NULL_LEVEL


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    import yaml

    from farm.demo import write_demo

    folder = tmp_path_factory.mktemp("demo")
    path = write_demo(folder, duration_s=12.0)
    document = yaml.safe_load(path.read_text())
    document["outputs"] = [{"path": "master.wav", "bit_depth": "32f", "dither": "none"}]
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    one_pass, _ = render_master(path, folder / "one-pass", chunk_s=1000.0)
    return path, folder, one_pass


@pytest.mark.parametrize("chunk_s", [0.77, 3.0])
def test_demo_session_chunked_nulls_against_one_pass(demo, chunk_s):
    path, folder, one_pass = demo
    chunked, report = render_master(path, folder / f"chunked-{chunk_s}", chunk_s=chunk_s)
    assert report["chunks"] > 1 and chunked.shape == one_pass.shape
    assert np.max(np.abs(chunked - one_pass)) < NULL_LEVEL
