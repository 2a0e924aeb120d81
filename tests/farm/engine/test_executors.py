"""The two executors: the same compiled plan renders byte-identical deliverables on each, and each keeps the Executor contract.

One local Ray cluster, started for the module, serves all of it.
"""

import numpy as np
import pytest

from farm.engine.executor import LocalExecutor, RayExecutor
from farm.engine.plan import compile_plan
from farm.engine.render import render_plan
from farm.errors import RenderError
from farm.session import load
from tests.helpers.sessions import RATE, tone, write_session, write_stem

CHUNK_S = 1.0


@pytest.fixture(scope="module")
def ray_executor():
    import ray

    # A cluster of its own: without an address ray.init joins one that another process on this machine started.
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    yield RayExecutor()
    ray.shutdown()


@pytest.fixture(params=["local", "ray"])
def executor(request):
    """Each executor in turn; the Ray one on the module's cluster."""
    return LocalExecutor() if request.param == "local" else request.getfixturevalue("ray_executor")


def session(folder):
    """3.5 s with a 44.1 kHz stem, a group bus with an effect and a send to a reverb bus, a loudness target and three deliverables."""
    noise = np.random.default_rng(5).standard_normal((3 * RATE, 2)) * 0.05
    stems = [
        write_stem(folder, "bass.wav", tone(55.0, 3.0, 0.4)),
        write_stem(folder, "hiss.wav", noise),
        write_stem(folder, "keys.wav", tone(440.0, 2.5, 0.3, channels=2, rate=44100), rate=44100),
    ]
    return write_session(
        folder,
        {
            "tracks": [
                {"name": "bass", "file": stems[0], "output": "group", "fx": [{"type": "saturation"}]},
                {"name": "hiss", "file": stems[1], "output": "group", "pan": -0.4},
                {"name": "keys", "clips": [{"file": stems[2], "start_s": 0.5}], "sends": [{"bus": "verb", "level_db": -9}]},
            ],
            "buses": [
                {"name": "group", "fx": [{"type": "compressor", "threshold_db": -18, "ratio": 3}], "sends": [{"bus": "verb", "level_db": -12}]},
                {"name": "verb", "fx": [{"type": "reverb", "decay_s": 0.8, "mix": 1.0}]},
            ],
            "master": {"loudness": {"preset": "spotify"}, "tail_s": 0.5},
            "outputs": [
                {"path": "master.wav", "bit_depth": 24, "dither": "tpdf"},
                {"path": "cd/master.wav", "bit_depth": 16, "sample_rate": 44100},
                {"path": "master.flac", "format": "flac", "bit_depth": 24},
            ],
        },
    )


def test_both_executors_render_byte_identical_deliverables(tmp_path, ray_executor):
    loaded = load(session(tmp_path))
    plan = compile_plan(loaded, CHUNK_S)
    local = render_plan(loaded, plan, tmp_path / "local", executor=LocalExecutor())
    on_ray = render_plan(loaded, plan, tmp_path / "ray", executor=ray_executor)

    assert local["chunks"] == on_ray["chunks"] == 4
    assert (local["executor"], on_ray["executor"]) == ("local", "ray")
    paths = [item["path"] for item in local["deliverables"]]
    assert paths == [item["path"] for item in on_ray["deliverables"]] == ["master.wav", "cd/master.wav", "master.flac"]
    for path in paths:
        assert (tmp_path / "ray" / path).read_bytes() == (tmp_path / "local" / path).read_bytes(), f"{path} differs between the executors"
    assert local["deliverables"] == on_ray["deliverables"]
    assert local["tasks_by_kind"] == on_ray["tasks_by_kind"]


def quotient_and_remainder(dividend: int, divisor: int) -> tuple[int, int]:
    return divmod(dividend, divisor)


def add(a: int, b: int) -> int:
    return a + b


def refuse(value: int) -> int:
    raise ValueError(f"cannot take {value}")


def test_submit_with_several_returns_gives_one_reference_per_result(executor):
    refs = executor.submit(quotient_and_remainder, 17, 5, num_returns=2)
    assert isinstance(refs, list) and len(refs) == 2
    assert executor.get(refs) == [3, 2]
    assert executor.get(refs[1]) == 2
    assert executor.get(executor.submit(quotient_and_remainder, 17, 5)) == (3, 2)


def test_references_passed_to_a_later_submit_are_resolved(executor):
    quotient, remainder = executor.submit(quotient_and_remainder, 17, 5, num_returns=2)
    total = executor.submit(add, quotient, remainder)
    assert executor.get(executor.submit(add, total, executor.put(100))) == 105


@pytest.mark.parametrize(
    "executor",
    ["local", "ray"],
    indirect=True,
)
def test_a_task_that_raises_surfaces_as_a_render_error_naming_the_task(executor):
    with pytest.raises(RenderError, match=r"refuse.*cannot take 7") as raised:
        executor.get(executor.submit(refuse, 7))
    assert raised.value.transient is False
