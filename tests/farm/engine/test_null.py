"""A render chunked any way nulls against the one-pass render (max |difference| below -120 dBFS)."""

import numpy as np
import pytest

from tests.helpers.sessions import NULL_LEVEL, RATE, busy_session, render_master


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
