"""The compiler's plans, checked directly: the mix, the loudness stage and every deliverable, before any audio is rendered.

Plans travel to Ray workers with cloudpickle (the session's effect entries are pydantic models made at import time)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import soundfile
from ray import cloudpickle

from dsp import io as audio_io
from farm.engine.delivery import delivery_meter_frames
from farm.engine.mastering import MASTER_TRUE_PEAK_OVERSAMPLING
from farm.engine.plan import MIX_TRUE_PEAK_OVERSAMPLING, compile_plan
from farm.engine.preroll import meter_preroll_frames
from farm.session import load
from tests.helpers.sessions import RATE, tone, write_session, write_stem

LIMITER = {"type": "limiter", "ceiling_dbtp": -1.0, "lookahead_s": 0.005, "release_s": 0.05}
ECHO = {"type": "delay", "time_s": 0.5, "feedback": 0.9, "mix": 0.3}
OUTPUTS = [
    {"path": "master.wav", "format": "wav", "bit_depth": 24, "dither": "tpdf"},
    {"path": "cd.wav", "format": "wav", "bit_depth": 16, "sample_rate": 44100, "dither": "shaped"},
    {"path": "hi-res.flac", "format": "flac", "bit_depth": 24, "sample_rate": 96000},
    {"path": "float.aiff", "format": "aiff", "bit_depth": "32f", "dither": "none"},
]


@pytest.fixture
def session(tmp_path):
    """Two tracks (one a 44.1 kHz stem placed with an offset), a bus with a look-ahead limiter, a feedback echo, a loudness target."""
    lead = write_stem(tmp_path, "lead.wav", tone(220.0, 4.0, channels=2))
    bass = write_stem(tmp_path, "bass.wav", tone(55.0, 4.0, rate=44100), rate=44100)
    return write_session(
        tmp_path,
        {
            "tracks": [
                {"name": "lead", "file": lead, "output": "glue", "sends": [{"bus": "echo", "level_db": -6}]},
                {"name": "bass", "clips": [{"file": bass, "start_s": 1.25, "offset_s": 0.5}]},
            ],
            "buses": [{"name": "glue", "fx": [LIMITER]}, {"name": "echo", "output": "glue", "fx": [ECHO]}],
            "master": {"tail_s": 0.75, "fade_in_s": 0.1, "fade_out_s": 0.5, "loudness": {"preset": "spotify"}},
            "outputs": OUTPUTS,
        },
    )


def test_the_timeline_ends_at_the_last_clip_plus_the_tail_by_the_resampled_stem_s_length(session):
    loaded = load(session)
    plan = compile_plan(loaded, chunk_s=1.0)
    bass_frames = audio_io.resampled_frames(soundfile.info(session.parent / "stems" / "bass.wav").frames, 44100, RATE)
    bass_end = round(1.25 * RATE) + bass_frames - round(0.5 * RATE)
    assert bass_end > 4 * RATE, "the bass is the last clip to end"
    assert plan.content_frames == loaded.content_frames == bass_end
    assert plan.timeline_frames == loaded.timeline_frames == bass_end + round(0.75 * RATE)
    (span,) = plan.strip("bass").spans
    assert (span.start_frame, span.offset_frames, span.end_frame) == (round(1.25 * RATE), round(0.5 * RATE), bass_end)


def test_the_resampled_copy_is_as_long_as_the_clip_rule_expects():
    audio = np.random.default_rng(1).standard_normal((44100 * 3 + 17, 2)) * 0.1
    assert audio_io.resample(audio, 44100, RATE).shape[0] == audio_io.resampled_frames(audio.shape[0], 44100, RATE)


def test_tasks_follow_their_feeds_and_feeds_are_delayed_to_arrive_together(session):
    plan = compile_plan(load(session), chunk_s=1.0)
    glue, echo, master = plan.strip("glue"), plan.strip("echo"), plan.strip("master")
    (tracks,) = plan.groups
    assert plan.order == (tracks.name, "echo", "glue", "master")
    assert tracks.tracks == ("lead", "bass") and tracks.destinations == ("echo", "glue", "master")
    assert {feed.source: feed.delay_samples for feed in glue.feeds} == {tracks.name: 0, "echo": 0}
    limiter_latency = glue.effects[0].latency_samples
    assert limiter_latency > 0 and glue.latency_out == limiter_latency
    assert {feed.source: feed.delay_samples for feed in master.feeds} == {tracks.name: limiter_latency, "glue": 0}
    assert plan.mix_latency == master.latency_out == limiter_latency
    assert echo.preroll_frames is None, "a feedback echo longer than a chunk carries its state"
    assert plan.strip("lead").preroll_frames == 0, "a track without effects needs no pre-roll"
    assert master.preroll_frames == limiter_latency + meter_preroll_frames(RATE, MIX_TRUE_PEAK_OVERSAMPLING)


def test_the_chunk_grid_covers_the_mix_and_the_timeline(session):
    plan = compile_plan(load(session), chunk_s=0.7)
    chunks = plan.chunks()
    assert len(chunks) == math.ceil(plan.render_frames / plan.chunk_frames)
    assert chunks[0] == (0, plan.chunk_frames) and chunks[-1][1] == plan.render_frames
    assert all(stop == next_start for (_, stop), (next_start, _) in zip(chunks, chunks[1:]))
    assert plan.chunks(plan.timeline_frames)[-1][1] == plan.timeline_frames


def test_the_loudness_stage_plan_holds_the_preset_the_fades_and_its_preroll(session):
    plan = compile_plan(load(session), chunk_s=1.0)
    loudness = plan.loudness
    assert (loudness.target_lufs, loudness.ceiling_dbtp) == (-14.0, -1.0)
    assert (loudness.fade_in_frames, loudness.fade_out_frames) == (round(0.1 * RATE), round(0.5 * RATE))
    limiter = loudness.limiter(ceiling_margin_db=0.25)
    assert limiter.ceiling_dbtp == pytest.approx(-1.25) and (limiter.lookahead_s, limiter.release_s) == (0.005, 0.05)
    settle_frames = math.ceil(limiter.settle_s * RATE)
    assert loudness.preroll_frames == settle_frames + meter_preroll_frames(RATE, MASTER_TRUE_PEAK_OVERSAMPLING)
    first = loudness.master_pass(gain_db=3.0)
    assert first.gain_db == 3.0 and first.latency_frames == first.limiter.latency_samples > 0
    assert compile_plan(load(session), chunk_s=0.01).loudness.preroll_frames is None, "chunks shorter than the settle time carry state"


def test_a_session_without_a_target_plans_only_the_fades(tmp_path):
    stem = write_stem(tmp_path, "tone.wav", tone(440.0, 2.0))
    loudness = compile_plan(load(write_session(tmp_path, {"tracks": [{"name": "a", "file": stem}], "master": {"fade_out_s": 1.0}}))).loudness
    assert not loudness.normalises and loudness.limiter() is None
    assert loudness.master_pass().latency_frames == 0 and loudness.fade_out_frames == RATE


def test_each_deliverable_is_planned_with_its_rate_grid_length_and_quantiser(session):
    plan = compile_plan(load(session), chunk_s=1.0)
    master, cd, hi_res, floating = plan.deliverables
    assert [item.index for item in plan.deliverables] == [0, 1, 2, 3]
    assert [item.sample_rate for item in plan.deliverables] == [RATE, 44100, 96000, RATE]
    for item in plan.deliverables:
        period = RATE // math.gcd(RATE, item.sample_rate)
        assert item.grid_frames % period == 0 and abs(item.grid_frames - plan.chunk_frames) <= period
        assert item.frames == audio_io.resampled_frames(plan.timeline_frames, RATE, item.sample_rate)
        assert item.meter_frames == delivery_meter_frames(RATE, item.sample_rate) and item.meter_frames % period == 0
    assert master.margin_frames == 0 < cd.margin_frames and hi_res.margin_frames > 0
    assert cd.shaped and not master.shaped
    assert (master.quantiser.bit_depth, master.quantiser.dither, master.subtype) == (24, "tpdf", "PCM_24")
    assert floating.quantiser is None and floating.dither == "none" and floating.subtype == "FLOAT"
    assert hi_res.subtype == "PCM_24"
    assert len({item.quantiser.seed for item in (master, cd, hi_res)}) == 3, "each output draws its own dither"
    assert compile_plan(load(session), chunk_s=1.0).deliverables == plan.deliverables, "the same session plans the same seeds"


def test_plans_are_frozen_and_travel_to_workers_unchanged(session):
    plan = compile_plan(load(session), chunk_s=1.0)
    assert cloudpickle.loads(cloudpickle.dumps(plan)) == plan
    for part in (plan, plan.strips[0], plan.loudness, plan.deliverables[0]):
        with pytest.raises(dataclasses.FrozenInstanceError):
            part.sample_rate = 1  # type: ignore[misc]


@pytest.mark.parametrize("chunk_s", [0, -1.0, math.inf, math.nan])
def test_a_chunk_length_that_is_not_a_positive_number_of_seconds_is_refused(session, chunk_s):
    with pytest.raises(ValueError, match=r"chunk_s: must be > 0 seconds"):
        compile_plan(load(session), chunk_s)
