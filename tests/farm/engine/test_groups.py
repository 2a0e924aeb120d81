"""Track groups: how the compiler splits the tracks among tasks, and that the split changes nothing audible."""

from __future__ import annotations

import numpy as np
import pytest

from farm.engine import groups
from farm.engine.plan import compile_plan
from farm.session import load
from tests.helpers.sessions import (
    NULL_LEVEL,
    busy_session,
    render_master,
    tone,
    write_session,
    write_stem,
)

SATURATION = {"type": "saturation", "drive_db": 6}
ECHO = {"type": "delay", "time_s": 0.5, "feedback": 0.9, "mix": 0.3}


def many_tracks(folder, count: int, fx_for=lambda index: []):
    stem = write_stem(folder, "tone.wav", tone(330.0, 1.0))
    tracks = [{"name": f"t{index}", "file": stem, "fx": fx_for(index)} for index in range(count)]
    return write_session(folder, {"tracks": tracks})


@pytest.mark.parametrize("count, sizes", [(1, [1]), (8, [8]), (9, [5, 4]), (17, [6, 6, 5]), (25, [7, 6, 6, 6])])
def test_alike_tracks_split_into_as_few_groups_as_can_be_of_balanced_sizes(tmp_path, count, sizes):
    plan = compile_plan(load(many_tracks(tmp_path, count)), chunk_s=0.5)
    assert [len(group.tracks) for group in plan.groups] == sizes
    assert [name for group in plan.groups for name in group.tracks] == [f"t{index}" for index in range(count)]
    assert all(group.time_parallel and group.destinations == ("master",) for group in plan.groups)


def test_members_share_their_latency_and_a_track_that_carries_state_renders_alone(tmp_path):
    fx = {1: [SATURATION], 3: [SATURATION], 4: [ECHO], 6: [ECHO]}
    plan = compile_plan(load(many_tracks(tmp_path, 7, lambda index: fx.get(index, []))), chunk_s=0.25)
    members = {group.tracks: (group.latency_out, group.time_parallel) for group in plan.groups}
    saturation_latency = plan.strip("t1").latency_out
    assert saturation_latency > 0
    assert members == {
        ("t0", "t2", "t5"): (0, True),
        ("t1", "t3"): (saturation_latency, True),
        ("t4",): (0, False),
        ("t6",): (0, False),
    }
    master = plan.strip("master")
    delays = {feed.source: feed.delay_samples for feed in master.feeds}
    assert delays == {group.name: saturation_latency - group.latency_out for group in plan.groups}


def test_a_group_is_never_named_like_a_strip(tmp_path):
    stem = write_stem(tmp_path, "tone.wav", tone(330.0, 1.0))
    session = {
        "tracks": [{"name": "track group 1", "file": stem, "output": "track group 2"}, {"name": "b", "file": stem}],
        "buses": [{"name": "track group 2"}],
    }
    path = write_session(tmp_path, session)
    plan = compile_plan(load(path))
    assert [group.name for group in plan.groups] == ["track group 1'"]
    assert not {strip.name for strip in plan.strips} & {group.name for group in plan.groups}
    audio, _ = render_master(path, tmp_path / "out")
    assert np.max(np.abs(audio)) > 0.5


def test_groups_of_one_track_and_of_four_null_against_each_other(tmp_path, monkeypatch):
    path = busy_session(tmp_path)
    plan = compile_plan(load(path), chunk_s=3.0)
    assert ("kick", "hats", "vocal") in [group.tracks for group in plan.groups], "three tracks in one task: sends pre and post fader, automation"
    grouped, report = render_master(path, tmp_path / "grouped", chunk_s=3.0)
    assert report["tasks_by_kind"]["tracks"] == len(plan.groups) * report["chunks"]
    monkeypatch.setattr(groups, "TRACKS_PER_TASK", 1)
    alone, report = render_master(path, tmp_path / "alone", chunk_s=3.0)
    assert report["tasks_by_kind"]["tracks"] == 5 * report["chunks"]
    assert np.max(np.abs(grouped - alone)) < NULL_LEVEL
