"""A render chunked any way nulls against the one-pass render (max |difference| below -120 dBFS)."""

import numpy as np
import pytest

from tests.helpers.sessions import (
    NULL_LEVEL,
    RATE,
    busy_session,
    render_master,
    write_session,
    write_stem,
)


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


def mid_side_session(folder):
    """A wide stereo pad and a mono lead; mid, side, left and right EQ bands on a track, a bus and the master."""
    rng = np.random.default_rng(11)
    frames = 4 * RATE
    t = np.arange(frames) / RATE
    pad = np.stack([np.sin(2 * np.pi * 330 * t), np.sin(2 * np.pi * 331.7 * t + 1.0)], axis=1) * 0.3 + rng.standard_normal((frames, 2)) * 0.05
    lead = (np.sin(2 * np.pi * 880 * t) * (np.sin(2 * np.pi * 1.5 * t) > 0))[:, None] * 0.3
    stems = {name: write_stem(folder, f"{name}.wav", audio) for name, audio in (("pad", pad), ("lead", lead))}
    side_eq = {"type": "eq", "bands": [{"kind": "low_shelf", "freq_hz": 200, "gain_db": -12, "mode": "side"}, {"kind": "high_shelf", "freq_hz": 6000, "gain_db": 4, "mode": "side"}]}
    mid_eq = {"type": "eq", "bands": [{"kind": "bell", "freq_hz": 2500, "gain_db": -3, "q": 2, "mode": "mid"}, {"kind": "highpass", "freq_hz": 30, "slope_db_oct": 24, "mode": "left"}]}
    session = {
        "tracks": [
            {"name": "pad", "file": stems["pad"], "output": "wide", "fx": [side_eq]},
            {"name": "lead", "file": stems["lead"], "output": "wide", "pan": -0.3, "fx": [{"type": "eq", "bands": mid_eq["bands"][:1] + side_eq["bands"]}]},
        ],
        "buses": [{"name": "wide", "fx": [mid_eq, {"type": "eq", "bands": [{"kind": "bell", "freq_hz": 900, "gain_db": 5, "mode": "right"}]}]}],
        "master": {"fx": [side_eq], "tail_s": 0.5},
    }
    return write_session(folder, session)


@pytest.mark.parametrize("chunk_s", [0.01, 0.2071, 1.3])
def test_mid_side_eq_chunked_nulls_against_one_pass(tmp_path, chunk_s):
    path = mid_side_session(tmp_path)
    one_pass, _ = render_master(path, tmp_path / "one-pass", chunk_s=1000.0)
    chunked, report = render_master(path, tmp_path / "chunked", chunk_s=chunk_s)
    assert report["chunks"] > 2 and chunked.shape == one_pass.shape
    assert np.max(np.abs(one_pass)) > 0.1
    assert np.max(np.abs(chunked - one_pass)) < NULL_LEVEL
