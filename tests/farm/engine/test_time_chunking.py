"""Time-parallel chunking: which strips pre-roll, that their chunks wait for no earlier chunk, and that it all nulls."""

import math

import numpy as np
import pytest
import soundfile
import soxr
import yaml

from dsp.analyze import analyze_file
from dsp.io import resample_margin_frames, resampled_frames
from farm.engine.delivery import delivery_grid, plan_deliverable
from farm.engine.executor import LocalExecutor
from farm.engine.mastering import plan_loudness
from farm.engine.plan import RenderPlan, compile_plan
from farm.engine.preroll import PREROLL_MARGIN, meter_preroll_frames
from farm.engine.render import render
from farm.engine.tasks import deliver_chunk, delivery_read_span
from farm.engine.writer import write_deliverable
from farm.session import Master, Output, load
from tests.helpers.sessions import (
    NULL_LEVEL,
    RATE,
    busy_session,
    tone,
    write_session,
    write_stem,
)

COMPRESSOR = {"type": "compressor", "threshold_db": -20, "ratio": 4, "attack_s": 0.01, "release_s": 0.1}
LONG_ECHO = {"type": "delay", "time_s": 0.5, "feedback": 0.9, "mix": 1.0}


def two_strip_session(folder, seconds=3.0):
    stem = write_stem(folder, "tone.wav", tone(220.0, seconds))
    return write_session(
        folder,
        {
            "tracks": [{"name": "lead", "file": stem, "fx": [COMPRESSOR], "sends": [{"bus": "echo", "level_db": -6}]}],
            "buses": [{"name": "echo", "fx": [LONG_ECHO]}],
        },
    )


def test_compiler_prerolls_a_quickly_settling_strip_and_carries_state_through_a_long_echo(tmp_path):
    plan = compile_plan(load(two_strip_session(tmp_path)), chunk_s=10.0)
    lead, echo, master = plan.strip("lead"), plan.strip("echo"), plan.strip("master")
    assert lead.preroll_frames == math.ceil(PREROLL_MARGIN * lead.effects[0].settle_s * RATE)
    assert echo.effects[0].settle_s * PREROLL_MARGIN > 10.0
    assert echo.preroll_frames is None and not echo.time_parallel
    assert master.preroll_frames == meter_preroll_frames(RATE, 4)


def test_the_preroll_of_an_automated_filter_assumes_its_slowest_setting(tmp_path):
    stem = write_stem(tmp_path, "tone.wav", tone(220.0, 3.0))
    highpass = {"type": "eq", "bands": [{"kind": "highpass", "freq_hz": 400, "slope_db_oct": 48}]}
    static = {"name": "static", "file": stem, "fx": [highpass]}
    swept = {"name": "swept", "file": stem, "fx": [highpass], "automation": {"fx.0.bands.0.freq_hz": [[0, 400], [2, 25]]}}
    plan = compile_plan(load(write_session(tmp_path, {"tracks": [static, swept]})), chunk_s=10.0)
    slowest = plan.strip("swept").effects[0].with_parameter("bands.0.freq_hz", 25.0)
    assert plan.strip("swept").preroll_frames == math.ceil(PREROLL_MARGIN * slowest.settle_s * RATE)
    assert plan.strip("swept").preroll_frames > 10 * plan.strip("static").preroll_frames


def test_chunks_shorter_than_the_preroll_carry_state(tmp_path):
    path = two_strip_session(tmp_path)
    settle_s = PREROLL_MARGIN * compile_plan(load(path)).strip("lead").effects[0].settle_s
    assert compile_plan(load(path), chunk_s=settle_s * 0.9).strip("lead").preroll_frames is None
    assert compile_plan(load(path), chunk_s=settle_s * 1.1).strip("lead").preroll_frames is not None


class RecordingExecutor(LocalExecutor):
    """Runs tasks in this process, each at once, and records each submission's kind and arguments."""

    def __init__(self):
        super().__init__(workers=1)
        self.submitted = []

    def submit(self, task, *args, num_returns=1):
        self.submitted.append((task.__name__, args))
        return super().submit(task, *args, num_returns=num_returns)


def test_time_parallel_chunks_take_no_state_from_an_earlier_chunk(tmp_path):
    path = two_strip_session(tmp_path, seconds=10.0)
    executor = RecordingExecutor()
    report = render(path, tmp_path / "out", chunk_s=3.0, executor=executor)
    assert report["time_chunking"]["preroll_s"]["lead"] is not None
    assert report["time_chunking"]["preroll_s"]["echo"] is None
    (lead,) = compile_plan(load(path), chunk_s=3.0).groups
    assert lead.tracks == ("lead",)
    states = {}
    for kind, args in executor.submitted:
        if kind in ("tracks_chunk", "bus_chunk"):
            states.setdefault(args[1], []).append(args[4])
    assert len(states[lead.name]) == report["chunks"] > 2
    assert all(state is None for state in states[lead.name])
    assert states["echo"][0] is None and all(state is not None for state in states["echo"][1:])
    master_states = [args[4] for kind, args in executor.submitted if kind == "master_chunk"]
    assert len(master_states) > 2 and all(state is None for state in master_states)


def test_a_bus_with_preroll_gets_its_feeds_of_the_previous_chunk(tmp_path):
    stem = write_stem(tmp_path, "tone.wav", tone(220.0, 10.0))
    path = write_session(tmp_path, {"tracks": [{"name": "lead", "file": stem, "output": "glue"}], "buses": [{"name": "glue", "fx": [COMPRESSOR]}]})
    executor = RecordingExecutor()
    report = render(path, tmp_path / "out", chunk_s=3.0, executor=executor)
    feeds_per_chunk = [len(args) - 5 for kind, args in executor.submitted if kind == "bus_chunk" and args[1] == "glue"]
    assert feeds_per_chunk == [1] + [2] * (report["chunks"] - 1)


@pytest.mark.parametrize("chunk_s", [2.71828, 4.5])
def test_prerolled_and_carried_strips_in_one_render_null_against_one_pass(tmp_path, chunk_s):
    path = busy_session(tmp_path)
    one_pass = render(path, tmp_path / "one-pass", chunk_s=1000.0, executor=LocalExecutor())
    report = render(path, tmp_path / "chunked", chunk_s=chunk_s, executor=LocalExecutor())
    prerolls = report["time_chunking"]["preroll_s"]
    assert prerolls["kick"] is not None and prerolls["drums"] is not None, "tracks and a bus pre-roll"
    assert prerolls["echo"] is None, "the feedback delay carries its state"
    assert report["time_chunking"]["loudness_stage_preroll_s"] is not None
    if chunk_s == 4.5:
        assert prerolls["master"] is not None and prerolls["bass"] is not None
    expected, _ = soundfile.read(tmp_path / "one-pass" / one_pass["deliverables"][0]["path"], always_2d=True)
    chunked, _ = soundfile.read(tmp_path / "chunked" / report["deliverables"][0]["path"], always_2d=True)
    assert report["chunks"] > 1 and chunked.shape == expected.shape
    assert np.max(np.abs(chunked - expected)) < NULL_LEVEL


DELIVERABLES = [
    {"path": "hi-res.flac", "format": "flac", "bit_depth": 24, "sample_rate": 96000, "dither": "tpdf"},
    {"path": "cd.wav", "format": "wav", "bit_depth": 16, "sample_rate": 44100, "dither": "shaped"},
    {"path": "tpdf-44k.aiff", "format": "aiff", "bit_depth": 16, "sample_rate": 44100, "dither": "tpdf"},
    {"path": "float.wav", "format": "wav", "bit_depth": "32f", "dither": "none"},
    {"path": "master.wav", "format": "wav", "bit_depth": 24, "sample_rate": None, "dither": "tpdf"},
]


@pytest.mark.parametrize("output", DELIVERABLES, ids=[item["path"] for item in DELIVERABLES])
def test_a_deliverable_written_in_chunks_is_identical_to_one_written_whole(tmp_path, output):
    rng = np.random.default_rng(5)
    frames = int(7.3 * RATE)
    master = np.clip(rng.standard_normal((frames, 2)) * 0.2 * np.sin(np.arange(frames) / RATE * 3.0)[:, None], -0.99, 0.99)
    files = {}
    for label, chunk_s in (("whole", 1000.0), ("chunked", 0.77)):
        chunk_frames = int(chunk_s * RATE)
        deliverable = plan_deliverable(0, Output(**output), "test", RATE, frames, chunk_frames)
        loudness = plan_loudness(Master(), RATE, chunk_frames)
        plan = RenderPlan("test", RATE, frames, frames, chunk_frames, (), (), (), 0, loudness, (deliverable,))
        master_blocks = [(start, master[start : start + chunk_frames]) for start in range(0, frames, chunk_frames)]
        grid = deliverable.grid_frames
        chunks = []
        for start in range(0, frames, grid):
            stop = min(start + grid, frames)
            lo, hi = delivery_read_span(plan, deliverable, start, stop)
            covering = [(first, block) for first, block in master_blocks if first < hi and first + block.shape[0] > lo]
            chunks.append(deliver_chunk(plan, 0, -0.5, start, stop, tuple(first for first, _ in covering), *[block for _, block in covering]))
        assert (len(chunks) > 5) == (label == "chunked")
        target = tmp_path / label / deliverable.path
        files[label] = write_deliverable(deliverable, target, [(samples, partial) for samples, partial, _ in chunks], -0.5), target
    (whole, whole_path), (chunked, chunked_path) = files["whole"], files["chunked"]
    expected, rate = soundfile.read(whole_path, always_2d=True)
    written, _ = soundfile.read(chunked_path, always_2d=True)
    assert rate == (output.get("sample_rate") or RATE) and written.shape == expected.shape
    assert np.array_equal(written, expected)
    for key in ("integrated_lufs", "true_peak_dbtp", "loudness_range_lu", "sample_peak_dbfs"):
        assert chunked["loudness"][key] == pytest.approx(whole["loudness"][key], abs=1e-9), key
    assert whole["loudness"]["integrated_lufs"] == pytest.approx(analyze_file(whole_path, 8).integrated_lufs, abs=1e-9)


def test_a_rendered_session_s_deliverables_null_against_one_pass(tmp_path):
    path = busy_session(tmp_path)
    document = yaml.safe_load(path.read_text())
    document["outputs"] = [item for item in DELIVERABLES if item["bit_depth"] != 16]
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    one_pass = render(path, tmp_path / "one-pass", chunk_s=1000.0, executor=LocalExecutor())
    chunked = render(path, tmp_path / "chunked", chunk_s=0.77, executor=LocalExecutor())
    for whole, parts in zip(one_pass["deliverables"], chunked["deliverables"]):
        expected, _ = soundfile.read(tmp_path / "one-pass" / whole["path"], always_2d=True)
        written, _ = soundfile.read(tmp_path / "chunked" / parts["path"], always_2d=True)
        assert written.shape == expected.shape and np.max(np.abs(written - expected)) < NULL_LEVEL, whole["path"]
        assert parts["loudness"]["integrated_lufs"] == pytest.approx(whole["loudness"]["integrated_lufs"], abs=1e-6)


@pytest.mark.parametrize("rates", [(48000, 44100), (44100, 48000), (48000, 96000), (96000, 44100), (48000, 8000), (22050, 48000)])
def test_chunks_resampled_with_their_margins_match_the_whole_resampled(rates):
    rate, out_rate = rates
    rng = np.random.default_rng(3)
    signal = rng.standard_normal((rate * 4 + 321, 2)) * 0.25
    whole = soxr.resample(signal, rate, out_rate, quality="VHQ")
    grid, margin = delivery_grid(rate, out_rate, rate), resample_margin_frames(rate, out_rate)
    pieces = []
    for start in range(0, signal.shape[0], grid):
        stop = min(start + grid, signal.shape[0])
        lo, hi = max(start - margin, 0), min(stop + margin, signal.shape[0])
        block = soxr.resample(signal[lo:hi], rate, out_rate, quality="VHQ")
        first = (start - lo) * out_rate // rate
        pieces.append(block[first:] if stop == signal.shape[0] else block[first : first + (stop - start) * out_rate // rate])
    joined = np.concatenate(pieces)
    assert joined.shape == whole.shape and joined.shape[0] == resampled_frames(signal.shape[0], rate, out_rate)
    assert np.max(np.abs(joined - whole)) < 1e-12
