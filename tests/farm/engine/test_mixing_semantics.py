"""Mixing semantics checked analytically: each render is compared with the value the session format implies."""

import numpy as np
import pytest

from tests.helpers.sessions import (
    RATE,
    impulse,
    render_master,
    tone,
    write_session,
    write_stem,
)

CENTRE = np.cos(np.pi / 4)


def db(value):
    return 10 ** (value / 20)


def test_fader_and_clip_gain_multiply(tmp_path):
    stem = write_stem(tmp_path, "click.wav", impulse(4800, at=100))
    session = write_session(tmp_path, {"tracks": [{"name": "click", "clips": [{"file": stem, "gain_db": -3.0}], "gain_db": -6.0}]})
    out, _ = render_master(session, tmp_path / "out")
    assert out[100] == pytest.approx([db(-9.0) * CENTRE] * 2, rel=1e-6)
    assert np.count_nonzero(out) == 2


@pytest.mark.parametrize("pan", [-1.0, -0.5, 0.0, 0.3, 1.0])
def test_mono_source_follows_the_constant_power_law(tmp_path, pan):
    stem = write_stem(tmp_path, "click.wav", impulse(4800, at=10))
    session = write_session(tmp_path, {"tracks": [{"name": "click", "file": stem, "pan": pan}]})
    out, _ = render_master(session, tmp_path / "out")
    theta = (pan + 1) * np.pi / 4
    assert out[10] == pytest.approx([np.cos(theta), np.sin(theta)], abs=1e-7)


def test_stereo_source_is_balanced(tmp_path):
    stem = write_stem(tmp_path, "pair.wav", impulse(4800, at=10, channels=2))
    session = write_session(tmp_path, {"tracks": [{"name": "pair", "file": stem, "pan": 0.5}]})
    out, _ = render_master(session, tmp_path / "out")
    assert out[10] == pytest.approx([0.5, 1.0], abs=1e-7)


@pytest.mark.parametrize("pre_fader", [False, True])
def test_send_taps_before_or_after_the_fader(tmp_path, pre_fader):
    stem = write_stem(tmp_path, "click.wav", impulse(4800, at=10))
    session = write_session(
        tmp_path,
        {
            "tracks": [
                {
                    "name": "click",
                    "file": stem,
                    "gain_db": -20.0,
                    "pan": -1.0,
                    "output": "dry",
                    "sends": [{"bus": "wet", "level_db": -6.0, "pre_fader": pre_fader}],
                }
            ],
            "buses": [{"name": "dry", "mute": True}, {"name": "wet"}],
        },
    )
    out, _ = render_master(session, tmp_path / "out")
    if pre_fader:
        expected = [db(-6.0), db(-6.0)]
    else:
        expected = [db(-26.0), 0.0]
    assert out[10] == pytest.approx(expected, abs=1e-7)


def test_mute_silences_a_track_and_its_sends(tmp_path):
    a = write_stem(tmp_path, "a.wav", impulse(4800, at=10))
    b = write_stem(tmp_path, "b.wav", impulse(4800, at=20))
    session = write_session(
        tmp_path,
        {
            "tracks": [
                {"name": "a", "file": a, "mute": True, "sends": [{"bus": "fx"}]},
                {"name": "b", "file": b},
            ],
            "buses": [{"name": "fx"}],
        },
    )
    out, _ = render_master(session, tmp_path / "out")
    assert np.all(out[10] == 0) and out[20] == pytest.approx([CENTRE] * 2)


def test_solo_keeps_only_soloed_paths(tmp_path):
    a = write_stem(tmp_path, "a.wav", impulse(4800, at=10))
    b = write_stem(tmp_path, "b.wav", impulse(4800, at=20))
    c = write_stem(tmp_path, "c.wav", impulse(4800, at=30))
    session = write_session(
        tmp_path,
        {
            "tracks": [
                {"name": "a", "file": a, "solo": True, "output": "group"},
                {"name": "b", "file": b, "output": "group"},
                {"name": "c", "file": c},
            ],
            "buses": [{"name": "group", "gain_db": -6.0}],
        },
    )
    out, _ = render_master(session, tmp_path / "out")
    assert out[10] == pytest.approx([db(-6.0) * CENTRE] * 2, rel=1e-6)
    assert np.all(out[20] == 0) and np.all(out[30] == 0)


def test_soloing_a_bus_keeps_what_feeds_it(tmp_path):
    a = write_stem(tmp_path, "a.wav", impulse(4800, at=10))
    b = write_stem(tmp_path, "b.wav", impulse(4800, at=20))
    session = write_session(
        tmp_path,
        {"tracks": [{"name": "a", "file": a, "output": "group"}, {"name": "b", "file": b}], "buses": [{"name": "group", "solo": True}]},
    )
    out, _ = render_master(session, tmp_path / "out")
    assert out[10] == pytest.approx([CENTRE] * 2) and np.all(out[20] == 0)


def test_buses_chain_their_gains_and_pans(tmp_path):
    stem = write_stem(tmp_path, "pair.wav", impulse(4800, at=10, channels=2))
    session = write_session(
        tmp_path,
        {
            "tracks": [{"name": "pair", "file": stem, "output": "inner"}],
            "buses": [{"name": "inner", "gain_db": -6.0, "output": "outer"}, {"name": "outer", "pan": -1.0, "polarity_invert": True}],
        },
    )
    out, _ = render_master(session, tmp_path / "out")
    assert out[10] == pytest.approx([-db(-6.0), 0.0], abs=1e-7)


def test_gain_automation_ramps_linearly_in_db(tmp_path):
    stem = write_stem(tmp_path, "dc.wav", np.full((2 * RATE, 1), 0.5))
    session = write_session(
        tmp_path, {"tracks": [{"name": "dc", "file": stem, "automation": {"gain_db": [[0.5, -40.0], [1.5, 0.0]]}}]}
    )
    out, _ = render_master(session, tmp_path / "out", chunk_s=0.3)
    left = out[:, 0] / (0.5 * CENTRE)
    assert left[RATE // 4] == pytest.approx(db(-40.0))
    assert left[RATE] == pytest.approx(db(-20.0))
    assert left[RATE + RATE // 4] == pytest.approx(db(-10.0))
    assert left[int(1.75 * RATE)] == pytest.approx(1.0)


def test_pan_and_send_level_automation(tmp_path):
    stem = write_stem(tmp_path, "dc.wav", np.full((2 * RATE, 1), 0.5))
    session = write_session(
        tmp_path,
        {
            "tracks": [
                {
                    "name": "dc",
                    "file": stem,
                    "output": "dry",
                    "sends": [{"bus": "wet", "level_db": 0.0}],
                    "automation": {"pan": [[0.0, -1.0], [2.0, 1.0]], "sends.wet.level_db": [[0.0, -12.0], [1.0, -12.0], [1.0, 0.0]]},
                }
            ],
            "buses": [{"name": "dry", "mute": True}, {"name": "wet"}],
        },
    )
    out, _ = render_master(session, tmp_path / "out")
    for frame, level_db in [(RATE // 2, -12.0), (RATE + RATE // 2, 0.0)]:
        pan = -1.0 + 2.0 * frame / (2 * RATE)
        theta = (pan + 1) * np.pi / 4
        assert out[frame] == pytest.approx(0.5 * db(level_db) * np.array([np.cos(theta), np.sin(theta)]), rel=1e-6)


def test_a_hold_step_in_the_fader_lands_on_its_sample(tmp_path):
    stem = write_stem(tmp_path, "dc.wav", np.full((2 * RATE, 1), 0.5))
    automation = {"gain_db": [[0.0, -6.0, "hold"], [0.75, 0.0, "hold"], [1.5, -20.0]]}
    session = write_session(tmp_path, {"tracks": [{"name": "dc", "file": stem, "automation": automation}]})
    out, _ = render_master(session, tmp_path / "out", chunk_s=0.37)
    left = out[:, 0] / (0.5 * CENTRE)
    step = int(0.75 * RATE)
    assert left[step - 1] == pytest.approx(db(-6.0)) and left[step] == pytest.approx(1.0)
    assert left[int(1.5 * RATE) - 1] == pytest.approx(1.0) and left[int(1.5 * RATE)] == pytest.approx(db(-20.0))


def test_mute_automation_silences_the_strip_and_its_sends_within_one_control_period(tmp_path):
    stem = write_stem(tmp_path, "dc.wav", np.full((2 * RATE, 1), 0.5))
    automation = {"mute": [[0.0, 0.0, "hold"], [0.5, 1.0, "hold"], [1.25, 0.0]]}
    tracks = [{"name": "dc", "file": stem, "sends": [{"bus": "verb", "pre_fader": True}], "automation": automation}]
    session = write_session(tmp_path, {"tracks": tracks, "buses": [{"name": "verb"}]})
    out, _ = render_master(session, tmp_path / "out", chunk_s=0.29)
    sounding = 0.5 * CENTRE + 0.5  # the output panned centre, the mono pre-fader send at unity on both sides
    period = 64
    assert out[int(0.5 * RATE) - period - 1, 0] == pytest.approx(sounding)
    assert np.all(out[int(0.5 * RATE) : int(1.25 * RATE) - period] == 0.0)
    assert out[int(1.25 * RATE) + period, 0] == pytest.approx(sounding)
    assert np.max(np.abs(np.diff(out[:, 0]))) <= sounding / period * 1.0001, "each switch is a ramp, never a click"


def test_width_automation_narrows_the_side_signal(tmp_path):
    stem = write_stem(tmp_path, "wide.wav", np.tile([[0.5, -0.5]], (2 * RATE, 1)))
    session = write_session(tmp_path, {"tracks": [{"name": "wide", "file": stem, "automation": {"width": [[0.0, 1.0], [1.0, 0.0]]}}]})
    out, _ = render_master(session, tmp_path / "out", chunk_s=0.41)
    for frame in (0, RATE // 4, RATE // 2, RATE):
        width = max(0.0, 1.0 - frame / RATE)
        assert out[frame] == pytest.approx([0.5 * width, -0.5 * width], abs=1e-12)


def test_delay_mix_automation_steps_from_dry_to_wet_on_its_sample(tmp_path):
    noise = np.random.default_rng(3).standard_normal((2 * RATE, 1)) * 0.1
    stem = write_stem(tmp_path, "noise.wav", noise)
    delay = {"type": "delay", "id": "slap", "time_s": 0.01, "feedback": 0.0, "mix": 0.5}
    automation = {"fx.slap.mix": [[0.0, 0.0, "hold"], [1.0, 1.0, "hold"]]}
    session = write_session(tmp_path, {"tracks": [{"name": "n", "file": stem, "fx": [delay], "automation": automation}]})
    out, _ = render_master(session, tmp_path / "out", chunk_s=0.33)
    dry, wet = noise[:, 0] * CENTRE, np.concatenate([np.zeros(480), noise[:-480, 0]]) * CENTRE
    np.testing.assert_allclose(out[:RATE, 0], dry[:RATE], rtol=0, atol=1e-7)
    np.testing.assert_allclose(out[RATE:, 0], wet[RATE:], rtol=0, atol=1e-7)


def test_compressor_threshold_automation_starts_compressing_where_it_drops(tmp_path):
    stem = write_stem(tmp_path, "tone.wav", tone(220.0, 2.0, level=0.5))
    compressor = {"type": "compressor", "threshold_db": 0.0, "ratio": 4.0, "attack_s": 0.005, "release_s": 0.05}
    automation = {"fx.0.threshold_db": [[0.0, 0.0, "hold"], [1.0, -30.0, "hold"]]}
    session = write_session(tmp_path, {"tracks": [{"name": "t", "file": stem, "fx": [compressor], "automation": automation}]})
    out, _ = render_master(session, tmp_path / "out", chunk_s=0.41)
    source = tone(220.0, 2.0, level=0.5)[:, 0] * CENTRE
    np.testing.assert_allclose(out[:RATE, 0], source[:RATE], rtol=0, atol=1e-7)
    late = slice(int(1.5 * RATE), 2 * RATE)
    reduction_db = 20 * np.log10(np.max(np.abs(source[late])) / np.max(np.abs(out[late, 0])))
    assert reduction_db == pytest.approx((20 * np.log10(0.5) + 30.0) * (1 - 1 / 4), abs=0.2)


def test_clip_offset_duration_and_fades(tmp_path):
    ramp = (np.arange(RATE, dtype=np.float64) / RATE)[:, None]
    stem = write_stem(tmp_path, "ramp.wav", ramp)
    clip = {"file": stem, "start_s": 0.5, "offset_s": 0.25, "duration_s": 0.5, "fade_in_s": 0.1, "fade_out_s": 0.2, "fade_shape": "linear"}
    session = write_session(tmp_path, {"tracks": [{"name": "ramp", "clips": [clip]}]})
    out, report = render_master(session, tmp_path / "out", chunk_s=0.17)
    left = out[:, 0] / CENTRE
    start, offset, length = RATE // 2, RATE // 4, RATE // 2
    assert report["duration_s"] == pytest.approx(1.0)
    assert np.all(left[:start] == 0)
    assert left[start + 2400] == pytest.approx(ramp[offset + 2400, 0] * 2400 / 4800, rel=1e-6)
    assert left[start + 10000] == pytest.approx(ramp[offset + 10000, 0], rel=1e-6)
    assert left[start + length - 4800] == pytest.approx(ramp[offset + length - 4800, 0] * 4800 / 9600, rel=1e-6)
    assert np.all(left[start + length :] == 0)


def test_two_clips_of_one_track_sum_on_the_timeline(tmp_path):
    stem = write_stem(tmp_path, "click.wav", impulse(4800, at=0))
    clips = [{"file": stem, "start_s": 0.0}, {"file": stem, "start_s": 0.05, "gain_db": -6.0}]
    session = write_session(tmp_path, {"tracks": [{"name": "clicks", "clips": clips}]})
    out, _ = render_master(session, tmp_path / "out")
    assert out[0, 0] == pytest.approx(CENTRE) and out[2400, 0] == pytest.approx(db(-6.0) * CENTRE, rel=1e-6)


def test_stem_at_another_rate_is_resampled(tmp_path):
    first = write_stem(tmp_path, "silence.wav", np.zeros((RATE // 2, 1)))
    stem = write_stem(tmp_path, "tone.wav", tone(1000.0, 1.0, level=0.5, rate=44100), rate=44100)
    session = write_session(tmp_path, {"tracks": [{"name": "first", "file": first}, {"name": "tone", "file": stem, "pan": -1.0}]})
    out, report = render_master(session, tmp_path / "out", chunk_s=0.25)
    assert report["sample_rate"] == RATE and out.shape[0] == RATE
    middle = out[4800:-4800, 0]
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(middle.size)))
    assert np.argmax(spectrum) * RATE / middle.size == pytest.approx(1000.0, abs=3.0)
    assert np.max(np.abs(middle)) == pytest.approx(0.5, abs=1e-3)


def test_session_sample_rate_overrides_the_first_stem(tmp_path):
    stem = write_stem(tmp_path, "click.wav", impulse(4800, at=0))
    session = write_session(tmp_path, {"sample_rate": 96000, "tracks": [{"name": "click", "file": stem}]})
    out, report = render_master(session, tmp_path / "out")
    assert report["sample_rate"] == 96000 and out.shape[0] == 9600


def test_latency_of_a_lookahead_effect_is_compensated(tmp_path):
    a = write_stem(tmp_path, "a.wav", impulse(9600, at=1000, level=0.25))
    b = write_stem(tmp_path, "b.wav", impulse(9600, at=1000, level=0.25))
    session = write_session(
        tmp_path,
        {
            "tracks": [
                {"name": "limited", "file": a, "pan": -1.0, "fx": [{"type": "limiter", "ceiling_dbtp": 0.0, "lookahead_s": 0.005}]},
                {"name": "plain", "file": b, "pan": 1.0},
            ]
        },
    )
    out, report = render_master(session, tmp_path / "out", chunk_s=0.07)
    assert report["latency_compensation_samples"] > 0
    assert np.argmax(np.abs(out[:, 0])) == 1000 and np.argmax(np.abs(out[:, 1])) == 1000
    assert out[1000, 1] == pytest.approx(0.25)
