import hashlib

import pytest

from farm.demo import write_demo
from farm.engine.executor import LocalExecutor
from farm.engine.plan import compile_plan
from farm.engine.render import render
from farm.session import load


def digests(folder):
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return write_demo(tmp_path_factory.mktemp("demo"))


def test_the_demo_is_the_same_bytes_every_time(demo, tmp_path):
    again = write_demo(tmp_path)
    assert again == tmp_path / "session.yaml"
    first, second = digests(demo.parent), digests(tmp_path)
    assert "session.yaml" in first and len(first) >= 11
    assert first == second


def test_the_demo_session_loads_with_everything_a_mix_has(demo):
    loaded = load(demo)
    session = loaded.session
    names = [track.name for track in session.tracks]
    assert len(names) >= 10 and len(set(names)) == len(names)
    assert compile_plan(loaded).timeline_frames / loaded.sample_rate >= 60.0
    bus_effects = {spec.type for bus in session.buses for spec in bus.fx}
    assert {"reverb", "delay"} <= bus_effects
    strips = list(session.tracks) + list(session.buses)
    assert any(strip.sends for strip in strips)
    assert any(send.pre_fader for strip in strips for send in strip.sends)
    assert {key for strip in strips for key in strip.automation} >= {"gain_db", "pan", "sends.delay.level_db"}
    assert any(track.clips and len(track.clips) > 1 for track in session.tracks)
    assert session.master.fx and session.master.loudness.target == (-14.0, -1.0)
    assert 44100 in {info.sample_rate for info in loaded.files.values()}
    assert {info.channels for info in loaded.files.values()} == {1, 2}


def test_the_demo_is_rejected_shorter_than_four_bars(tmp_path):
    with pytest.raises(ValueError, match="duration_s"):
        write_demo(tmp_path, duration_s=6.0)


def test_a_short_demo_renders_to_the_streaming_target(tmp_path):
    session = write_demo(tmp_path / "demo", duration_s=12.0)
    out = tmp_path / "out"
    report = render(session, out, chunk_s=4.0, executor=LocalExecutor())
    assert (out / "report.json").is_file()
    deliverables = {item["path"]: item for item in report["deliverables"]}
    assert set(deliverables) == {"master.wav", "master_16bit_44k.wav", "master.flac"}
    assert all((out / path).is_file() for path in deliverables)
    assert deliverables["master_16bit_44k.wav"]["sample_rate"] == 44100
    loudness = deliverables["master.wav"]["loudness"]
    assert loudness["integrated_lufs"] == pytest.approx(-14.0, abs=0.1)
    assert loudness["true_peak_dbtp"] <= -1.0
