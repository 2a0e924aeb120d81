"""The executors: the same compiled plan renders byte-identical deliverables on each, each keeps the Executor contract, and the choice between them.

One local Ray cluster, started for the module, serves all of it.
"""

import gc
import socket
import threading
import weakref

import numpy as np
import pytest

from farm.engine.executor import (
    ExecutorChoice,
    LocalExecutor,
    RayExecutor,
    choose_executor,
    running_cluster_address,
)
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


@pytest.fixture(params=["local", "threads", "ray"])
def executor(request):
    """Each executor in turn: in this process with one worker (each task at once) and with four threads; Ray on the module's cluster."""
    if request.param == "ray":
        yield request.getfixturevalue("ray_executor")
        return
    local = LocalExecutor(1 if request.param == "local" else 4)
    yield local
    local.shutdown()


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
    local = render_plan(loaded, plan, tmp_path / "local", executor=LocalExecutor(1))
    on_ray = render_plan(loaded, plan, tmp_path / "ray", executor=ray_executor)
    threads = render_plan(loaded, plan, tmp_path / "threads", executor=LocalExecutor(3))

    assert local["chunks"] == on_ray["chunks"] == 4
    assert (local["executor"], on_ray["executor"]) == ("local", "ray")
    paths = [item["path"] for item in local["deliverables"]]
    assert paths == [item["path"] for item in on_ray["deliverables"]] == ["master.wav", "cd/master.wav", "master.flac"]
    for path in paths:
        assert (tmp_path / "ray" / path).read_bytes() == (tmp_path / "local" / path).read_bytes(), f"{path} differs between the executors"
        assert (tmp_path / "threads" / path).read_bytes() == (tmp_path / "local" / path).read_bytes(), f"{path} differs on threads"
    assert local["deliverables"] == on_ray["deliverables"] == threads["deliverables"]
    assert local["tasks_by_kind"] == on_ray["tasks_by_kind"] == threads["tasks_by_kind"]


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


def test_a_task_that_raises_surfaces_as_a_render_error_naming_the_task(executor):
    with pytest.raises(RenderError, match=r"refuse.*cannot take 7") as raised:
        executor.get(executor.submit(refuse, 7))
    assert raised.value.transient is False


def wait_for(event: threading.Event) -> str:
    assert event.wait(10), "the gate was never opened"
    return "opened"


def record(log: list, value: int) -> int:
    log.append(value)
    return value


def test_threads_start_a_task_only_when_its_inputs_are_ready_and_run_others_meanwhile():
    executor = LocalExecutor(2)
    gate = threading.Event()
    log: list[int] = []
    blocked = executor.submit(wait_for, gate)
    after = executor.submit(record, log, executor.submit(lambda _: 1, blocked))
    independent = executor.submit(record, log, 2)
    assert executor.get(independent) == 2
    assert log == [2] and not after.future.done()
    gate.set()
    assert executor.get(after) == 1 and log == [2, 1]
    executor.shutdown()


def test_on_threads_a_failed_input_fails_the_tasks_that_take_it_with_its_error():
    executor = LocalExecutor(2)
    failed = executor.submit(refuse, 3)
    dependent = executor.submit(add, failed, 1)
    with pytest.raises(RenderError, match=r"refuse.*cannot take 3"):
        executor.get(dependent)
    executor.shutdown()


def test_a_cancelled_task_that_has_not_started_never_runs():
    executor = LocalExecutor(2)
    gate = threading.Event()
    log: list[int] = []
    blocked = executor.submit(wait_for, gate)
    waiting = executor.submit(record, log, executor.submit(lambda _: 5, blocked))
    executor.cancel([waiting])
    gate.set()
    executor.wait([blocked], 1)
    executor.shutdown()
    assert log == [] and waiting.future.cancelled()


def big_block(frames: int) -> np.ndarray:
    return np.ones((frames, 2))


def scaled(block: np.ndarray, factor: float) -> np.ndarray:
    return block * factor


def test_threads_let_go_of_a_finished_chain_once_its_references_are_dropped():
    """A finished future keeps the callbacks it called: they must not keep the next task's inputs alive."""
    executor = LocalExecutor(2)
    gate = threading.Event()
    opened = executor.submit(wait_for, gate)
    first = executor.submit(lambda block, _: block, executor.submit(big_block, 1000), opened)
    second = executor.submit(scaled, first, 2.0)
    keep = executor.submit(lambda block: block.shape, second)
    gate.set()
    assert executor.get(keep) == (1000, 2)
    watched = weakref.ref(executor.get(first))
    del first, second
    gc.collect()
    assert watched() is None, "a finished task's result is still held after its references were dropped"
    executor.shutdown()


def test_a_local_executor_needs_a_positive_number_of_workers():
    with pytest.raises(ValueError, match="workers: must be a positive integer, got 0"):
        LocalExecutor(0)


@pytest.fixture
def no_cluster_here(tmp_path, monkeypatch):
    """No RAY_ADDRESS and Ray's temporary folder somewhere empty: as on a machine where no cluster runs."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    (tmp_path / "ray").mkdir()
    return tmp_path / "ray" / "ray_current_cluster"


def test_auto_renders_in_this_process_when_no_cluster_runs(no_cluster_here):
    choice = choose_executor("auto")
    assert (choice.kind, choice.address) == ("local", None)
    assert "no Ray cluster is running here" in choice.reason


def test_auto_uses_the_address_given_or_ray_address(no_cluster_here, monkeypatch):
    assert choose_executor("auto", "10.0.0.5:6379") == ExecutorChoice("ray", "10.0.0.5:6379", "a cluster address was given: Ray at 10.0.0.5:6379")
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    assert choose_executor("auto").address == "ray://head:10001"
    assert choose_executor("local").kind == "local"


def test_auto_joins_the_cluster_ray_start_left_running_here_and_not_one_that_stopped(no_cluster_here):
    with socket.create_server(("127.0.0.1", 0)) as server:
        address = f"127.0.0.1:{server.getsockname()[1]}"
        no_cluster_here.write_text(address + "\n")
        assert running_cluster_address() == address
        choice = choose_executor("auto")
        assert (choice.kind, choice.address) == ("ray", address)
        assert choice.reason == f"joined the Ray cluster running on this machine at {address}"
    assert running_cluster_address() is None
    assert choose_executor("auto").kind == "local"


def test_an_unknown_executor_kind_is_refused():
    with pytest.raises(ValueError, match="executor: must be one of auto, ray, local; got 'dask'"):
        choose_executor("dask")
