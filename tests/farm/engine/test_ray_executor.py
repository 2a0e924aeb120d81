"""The Ray executor renders exactly what the in-process one does."""

import numpy as np
import pytest
import soundfile

from farm.engine.executor import LocalExecutor, RayExecutor
from farm.engine.render import render
from tests.helpers.sessions import RATE, tone, write_session, write_stem


@pytest.fixture(scope="module")
def ray_executor():
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    yield RayExecutor()
    ray.shutdown()


def test_ray_and_in_process_renders_are_identical(tmp_path, ray_executor):
    rng = np.random.default_rng(8)
    stems = [
        write_stem(tmp_path, "a.wav", tone(110.0, 4.0, 0.4)),
        write_stem(tmp_path, "b.wav", rng.standard_normal((4 * RATE, 2)) * 0.05),
        write_stem(tmp_path, "c.wav", tone(440.0, 3.0, 0.3, rate=44100), rate=44100),
    ]
    session = write_session(
        tmp_path,
        {
            "tracks": [
                {"name": "a", "file": stems[0], "fx": [{"type": "compressor", "threshold_db": -20, "ratio": 4}], "sends": [{"bus": "verb", "level_db": -10}]},
                {"name": "b", "file": stems[1], "pan": 0.3},
                {"name": "c", "file": stems[2], "fx": [{"type": "saturation"}]},
            ],
            "buses": [{"name": "verb", "fx": [{"type": "reverb", "decay_s": 1.0, "mix": 1.0}]}],
            "master": {"loudness": {"preset": "apple_music"}, "tail_s": 1.0},
            "outputs": [{"path": "m.wav", "bit_depth": 24}, {"path": "m.flac", "format": "flac", "bit_depth": 16, "sample_rate": 44100}],
        },
    )
    on_ray = render(session, tmp_path / "ray", chunk_s=1.5, executor=ray_executor)
    in_process = render(session, tmp_path / "local", chunk_s=1.5, executor=LocalExecutor())
    for item in on_ray["deliverables"]:
        ray_audio, _ = soundfile.read(tmp_path / "ray" / item["path"], dtype="int32")
        local_audio, _ = soundfile.read(tmp_path / "local" / item["path"], dtype="int32")
        np.testing.assert_array_equal(ray_audio, local_audio)
    assert on_ray["executor"] == "ray" and sum(on_ray["nodes"].values()) == on_ray["tasks"]
    assert on_ray["tasks_by_kind"] == in_process["tasks_by_kind"]


def test_a_failing_task_on_ray_raises_a_clear_error(tmp_path, ray_executor):
    stem = write_stem(tmp_path, "a.wav", tone(110.0, 2.0))
    session = write_session(tmp_path, {"tracks": [{"name": "a", "file": stem}]})
    audio = np.ones((2 * RATE, 1)) * 0.1
    audio[RATE + 7] = np.nan
    soundfile.write(tmp_path / stem, audio, RATE, subtype="FLOAT")
    from farm.errors import RenderError

    with pytest.raises(RenderError, match=r"a\.wav: NaN or infinite sample at frame 48007 \(1\.000 s into the file\)"):
        render(session, tmp_path / "out", chunk_s=0.5, executor=ray_executor)
    assert not (tmp_path / "out" / "m.wav").exists() and not (tmp_path / "out" / "report.json").exists()


def test_sidechains_and_stems_on_ray_match_the_in_process_render(tmp_path, ray_executor):
    from tests.farm.engine.test_sidechain import keyed_mix

    session = keyed_mix(tmp_path, outputs=[{"path": "master.wav", "bit_depth": "32f"}, {"stems": "all", "path": "stems/{name}.wav", "bit_depth": 24}])
    on_ray = render(session, tmp_path / "ray", chunk_s=0.7, executor=ray_executor)
    in_process = render(session, tmp_path / "local", chunk_s=0.7, executor=LocalExecutor())
    paths = [item["path"] for item in on_ray["deliverables"]]
    assert paths == ["master.wav"] + [f"stems/{name}.wav" for name in ("kick", "bass", "pad", "drums", "verb")]
    for path in paths:
        assert (tmp_path / "ray" / path).read_bytes() == (tmp_path / "local" / path).read_bytes(), path
    assert on_ray["tasks_by_kind"] == in_process["tasks_by_kind"]
