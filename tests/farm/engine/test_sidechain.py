"""Sidechains: a compressor or gate keyed by another strip ducks on that strip's hits, on time, at any chunking."""

import numpy as np
import pytest

from farm.engine.plan import compile_plan
from farm.errors import SessionError
from farm.session import load
from tests.helpers.sessions import (
    NULL_LEVEL,
    RATE,
    render_master,
    tone,
    write_session,
    write_stem,
)

SECONDS = 3.0
HITS_S = np.arange(0.25, SECONDS, 0.5)
DUCKER = {"type": "compressor", "threshold_db": -30, "ratio": 8, "attack_s": 0.002, "release_s": 0.06}


def kick(level: float = 0.8) -> np.ndarray:
    """Decaying 60 Hz hits every half second from 0.25 s."""
    audio = np.zeros((int(SECONDS * RATE), 1))
    hit = np.arange(int(0.08 * RATE)) / RATE
    for at_s in HITS_S:
        start = int(at_s * RATE)
        audio[start : start + hit.size, 0] = level * np.sin(2 * np.pi * 60 * hit) * np.exp(-hit / 0.03)
    return audio


def folder(parent, name: str):
    """A new folder ``name`` under ``parent``."""
    path = parent / name
    path.mkdir()
    return path


def level_db(audio: np.ndarray, at_s: float, window_s: float = 0.01) -> float:
    """Peak level in dBFS of the first channel over ``window_s`` from ``at_s``."""
    start = int(at_s * RATE)
    return 20 * np.log10(np.max(np.abs(audio[start : start + int(window_s * RATE), 0])))


def ducking_session(where, kick_fx=(), kick_audio=None, ducker=DUCKER, **sidechain):
    """A muted "ghost" kick keying a compressor on a 110 Hz bass; only the bass is heard."""
    kick_stem = write_stem(where, "kick.wav", kick() if kick_audio is None else kick_audio)
    bass = write_stem(where, "bass.wav", tone(110, SECONDS, 0.3))
    tracks = [
        {"name": "kick", "file": kick_stem, "mute": True, "fx": list(kick_fx)},
        {"name": "bass", "file": bass, "fx": [{**ducker, "sidechain": {"from": "kick", **sidechain}}]},
    ]
    return write_session(where, {"tracks": tracks})


def test_a_bass_ducks_when_the_kick_hits_and_recovers_between_hits(tmp_path):
    ducked, _ = render_master(ducking_session(tmp_path), tmp_path / "out")
    dry_db = 20 * np.log10(0.3 / np.sqrt(2))
    for at_s in HITS_S:
        assert level_db(ducked, at_s + 0.01) < dry_db - 15, f"no gain reduction at the hit at {at_s} s"
        assert level_db(ducked, at_s - 0.02) == pytest.approx(dry_db, abs=0.05), f"gain reduction left before the hit at {at_s} s"


def test_without_a_key_signal_the_output_equals_the_input(tmp_path):
    silent_kick = np.zeros((int(SECONDS * RATE), 1))
    keyed, _ = render_master(ducking_session(tmp_path, kick_audio=silent_kick), tmp_path / "keyed")
    dry_folder = folder(tmp_path, "dry")
    dry = write_session(dry_folder, {"tracks": [{"name": "bass", "file": write_stem(dry_folder, "bass.wav", tone(110, SECONDS, 0.3))}]})
    plain, _ = render_master(dry, tmp_path / "plain")
    assert np.max(np.abs(plain)) > 0.1
    assert np.array_equal(keyed, plain)


def test_a_gate_keyed_by_the_kick_opens_on_its_hits(tmp_path):
    gate = {"type": "gate", "threshold_db": -20, "range_db": -60, "attack_s": 0.0005, "hold_s": 0.05, "release_s": 0.01}
    gated, _ = render_master(ducking_session(tmp_path, ducker=gate), tmp_path / "out")
    dry_db = 20 * np.log10(0.3 / np.sqrt(2))
    assert level_db(gated, HITS_S[2] + 0.02) == pytest.approx(dry_db, abs=0.1)
    assert level_db(gated, HITS_S[2] + 0.3) < dry_db - 55


def test_the_key_level_moves_the_key_against_the_threshold(tmp_path):
    quiet, _ = render_master(ducking_session(folder(tmp_path, "a"), level_db=-40.0), tmp_path / "quiet")
    loud, _ = render_master(ducking_session(folder(tmp_path, "b"), level_db=0.0), tmp_path / "loud")
    dry_db = 20 * np.log10(0.3 / np.sqrt(2))
    assert level_db(quiet, HITS_S[1] + 0.01) > dry_db - 1.0, "40 dB down, the 0.8 kick barely reaches -30 dB"
    assert level_db(loud, HITS_S[1] + 0.01) < dry_db - 15


def test_a_key_through_a_lookahead_limiter_is_compensated_and_ducks_at_the_same_samples(tmp_path):
    """A limiter whose ceiling the kick never reaches only delays it; the compensation must take the delay out again."""
    direct, _ = render_master(ducking_session(folder(tmp_path, "a")), tmp_path / "direct")
    limited_path = ducking_session(folder(tmp_path, "b"), kick_fx=[{"type": "limiter", "ceiling_dbtp": 0.0, "lookahead_s": 0.005}])
    plan = compile_plan(load(limited_path))
    latency = plan.strip("kick").latency_out
    assert latency == plan.strip("kick").effects[0].latency_samples > 0
    assert plan.strip("bass").input_latency == latency, "the bass is read late so the key is in time"
    limited, _ = render_master(limited_path, tmp_path / "limited")
    assert np.max(np.abs(limited - direct)) < NULL_LEVEL


def test_a_post_fader_key_follows_the_fader_and_a_pre_fader_key_does_not(tmp_path):
    def render(name, **sidechain):
        where = folder(tmp_path, name)
        path = ducking_session(where, **sidechain)
        path.write_text(path.read_text().replace("mute: true", "mute: false\n  gain_db: -40.0"))
        audio, _ = render_master(path, where / "out")
        return audio

    pre = render("pre", pre_fader=True)
    post = render("post", pre_fader=False)
    dry_db = 20 * np.log10(0.3 / np.sqrt(2))
    assert level_db(pre, HITS_S[1] + 0.01) < dry_db - 15
    assert level_db(post, HITS_S[1] + 0.01) > dry_db - 1.0


def keyed_mix(where, outputs=None):
    """Keys of every kind: a track keying a track through a limiter, a bus keying a track, a track keying a bus and the master."""
    rng = np.random.default_rng(3)
    pad = tone(440, SECONDS, 0.2, channels=2) + rng.standard_normal((int(SECONDS * RATE), 2)) * 0.01
    tracks = [
        {"name": "kick", "file": write_stem(where, "kick.wav", kick()), "fx": [{"type": "limiter", "ceiling_dbtp": -3.0}], "output": "drums"},
        {"name": "bass", "file": write_stem(where, "bass.wav", tone(110, SECONDS, 0.3)), "fx": [{**DUCKER, "sidechain": {"from": "kick"}}]},
        {
            "name": "pad",
            "file": write_stem(where, "pad.wav", pad),
            "fx": [{"type": "gate", "threshold_db": -24, "release_s": 0.02, "sidechain": {"from": "drums", "pre_fader": False}}],
            "sends": [{"bus": "verb", "level_db": -6}],
        },
    ]
    buses = [
        {"name": "drums", "fx": [{"type": "compressor", "threshold_db": -20, "ratio": 3, "detector": "rms", "sidechain": {"from": "bass", "level_db": 6}}]},
        {"name": "verb", "fx": [{"type": "reverb", "decay_s": 0.8}, {"type": "compressor", "threshold_db": -40, "ratio": 4, "sidechain": {"from": "kick"}}]},
    ]
    master = {"fx": [{"type": "compressor", "threshold_db": -18, "ratio": 2, "sidechain": {"from": "drums", "pre_fader": False}}], "tail_s": 0.5}
    return write_session(where, {"tracks": tracks, "buses": buses, "master": master, **({"outputs": outputs} if outputs else {})})


@pytest.mark.parametrize("chunk_s", [0.007, 0.2071, 1.3])
def test_a_mix_full_of_sidechains_chunked_nulls_against_one_pass(tmp_path, chunk_s):
    path = keyed_mix(tmp_path)
    one_pass, _ = render_master(path, tmp_path / "one-pass", chunk_s=1000.0)
    chunked, report = render_master(path, tmp_path / "chunked", chunk_s=chunk_s)
    assert report["chunks"] > 2 and chunked.shape == one_pass.shape
    assert np.max(np.abs(one_pass)) > 0.1
    assert np.max(np.abs(chunked - one_pass)) < NULL_LEVEL


def test_keyed_tasks_wait_for_their_keys(tmp_path):
    plan = compile_plan(load(keyed_mix(tmp_path)))
    position = {name: index for index, name in enumerate(plan.order)}

    def task(strip: str) -> str:
        return next((group.name for group in plan.groups if strip in group.tracks), strip)

    for strip in plan.strips:
        for key in strip.keys:
            assert position[task(key.source)] < position[task(strip.name)], f"{strip.name} is keyed by {key.source}"
    assert plan.strip("kick").taps == (True,) and plan.strip("drums").taps == (False,)


def problems_of(path):
    with pytest.raises(SessionError) as caught:
        load(path)
    return caught.value.problems


def test_a_sidechain_from_no_strip_is_named_with_the_strips_there_are(tmp_path):
    path = ducking_session(tmp_path)
    path.write_text(path.read_text().replace("from: kick", "from: kik"))
    assert "tracks[1].fx[0].sidechain.from: no track or bus named 'kik' (strips: 'bass', 'kick')" in problems_of(path)


def test_a_sidechain_cycle_names_every_strip_on_it(tmp_path):
    stems = {name: write_stem(tmp_path, f"{name}.wav", kick()) for name in ("kick", "bass")}
    session = {
        "tracks": [
            {"name": "kick", "file": stems["kick"], "output": "drums"},
            {"name": "bass", "file": stems["bass"], "output": "low", "fx": [{**DUCKER, "sidechain": {"from": "drums"}}]},
        ],
        "buses": [{"name": "low"}, {"name": "drums", "fx": [{**DUCKER, "sidechain": {"from": "low"}}]}],
    }
    problems = problems_of(write_session(tmp_path, session))
    assert any(
        problem.endswith("routing and sidechains form a cycle: bass -> low -> drums -> bass (each strip feeds or keys the next)") for problem in problems
    ), problems


def test_a_strip_cannot_key_itself(tmp_path):
    path = write_session(tmp_path, {"tracks": [{"name": "bass", "file": write_stem(tmp_path, "b.wav", kick()), "fx": [{**DUCKER, "sidechain": {"from": "bass"}}]}]})
    assert any(problem.startswith("tracks[0].fx[0].sidechain.from: 'bass' cannot key its own compressor") for problem in problems_of(path))


def test_only_a_compressor_or_gate_takes_a_sidechain_and_its_level_is_bounded(tmp_path):
    path = ducking_session(tmp_path, level_db=30.0)
    problems = problems_of(path)
    assert "tracks[1].fx[0].sidechain.level_db: must be <= 24.0, got 30.0" in problems
    path.write_text(path.read_text().replace("type: compressor\n", "type: saturation\n    drive_db: 6\n").replace("    threshold_db: -30\n    ratio: 8\n    attack_s: 0.002\n    release_s: 0.06\n", ""))
    assert problems_of(path) == ["tracks[1].fx[0].sidechain: unknown field; only compressor and gate take a sidechain"]


@pytest.mark.parametrize("late_by", ["a late key", "its own look-ahead"])
def test_a_tracks_own_automation_stays_on_the_timeline_behind_latency(tmp_path, late_by):
    """A tone read late to meet a key delayed by the kick's limiter, or behind its own limiter: its mute still falls at 0.5 s."""
    limiter = {"type": "limiter", "ceiling_dbtp": 0.0, "lookahead_s": 0.01}
    tone_fx = [{**DUCKER, "threshold_db": 0.0, "sidechain": {"from": "kick"}}] if late_by == "a late key" else [limiter]
    tracks = [
        {"name": "kick", "file": write_stem(tmp_path, "kick.wav", kick()), "mute": True, "fx": [limiter]},
        {"name": "tone", "file": write_stem(tmp_path, "tone.wav", tone(440, SECONDS, 0.3)), "fx": tone_fx, "automation": {"mute": [[0.0, 0, "hold"], [0.5, 1, "hold"]]}},
    ]
    path = write_session(tmp_path, {"tracks": tracks})
    assert compile_plan(load(path)).strip("tone").latency_out == round(0.01 * RATE) + 10
    out, _ = render_master(path, tmp_path / "out")
    step = int(0.5 * RATE)
    assert np.max(np.abs(out[step - 100 : step])) > 0.1, "still sounding just before the step"
    assert np.max(np.abs(out[step + 64 :])) == 0.0, "silent one control period after it"
