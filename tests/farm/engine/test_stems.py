"""Stems: each strip's output, written beside the master, summing to the mix bus and identical at any chunking."""

import numpy as np
import pytest
import soundfile

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

SECONDS = 2.5


def stem_mix(folder, outputs, master=None):
    """Drums into a bus, a bass ducked by the kick, a pad with a send to a reverb bus fed by nothing else, automation."""
    rng = np.random.default_rng(8)
    frames = int(SECONDS * RATE)
    kick = np.zeros((frames, 1))
    kick[:: RATE // 2] = 0.9
    snare = rng.standard_normal((frames, 1)) * 0.2 * (np.arange(frames) % (RATE // 2) < 2000)[:, None]
    stems = {
        "kick": write_stem(folder, "kick.wav", kick),
        "snare": write_stem(folder, "snare.wav", snare),
        "bass": write_stem(folder, "bass.wav", tone(55, SECONDS, 0.4)),
        "pad": write_stem(folder, "pad.wav", tone(330, SECONDS, 0.2, channels=2) + rng.standard_normal((frames, 2)) * 0.02),
    }
    tracks = [
        {"name": "kick", "file": stems["kick"], "output": "drums", "fx": [{"type": "eq", "bands": [{"kind": "low_shelf", "freq_hz": 80, "gain_db": 4}]}]},
        {"name": "snare", "file": stems["snare"], "output": "drums", "pan": 0.2, "sends": [{"bus": "verb", "level_db": -8}]},
        {
            "name": "bass",
            "file": stems["bass"],
            "gain_db": -2,
            "fx": [{"type": "compressor", "threshold_db": -30, "ratio": 6, "sidechain": {"from": "kick"}}],
            "automation": {"gain_db": [[0.0, -6.0], [2.0, 0.0]]},
        },
        {"name": "pad", "file": stems["pad"], "width": 1.4, "sends": [{"bus": "verb", "level_db": -3, "pre_fader": True}], "fx": [{"type": "saturation", "drive_db": 6}]},
    ]
    buses = [
        {"name": "drums", "fx": [{"type": "compressor", "threshold_db": -18, "ratio": 3}]},
        {"name": "verb", "gain_db": -4, "fx": [{"type": "reverb", "decay_s": 1.2}]},
    ]
    return write_session(folder, {"tracks": tracks, "buses": buses, "master": master or {"tail_s": 0.5}, "outputs": outputs})


STEMS_32F = {"stems": "all", "path": "stems/{name}.wav", "bit_depth": "32f", "dither": "none"}
MASTER_32F = {"path": "master.wav", "bit_depth": "32f", "dither": "none"}


def read(path):
    audio, rate = soundfile.read(path, dtype="float64", always_2d=True)
    assert rate == RATE
    return audio


@pytest.fixture(scope="module")
def one_pass(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stems")
    path = stem_mix(folder, [MASTER_32F, STEMS_32F])
    master, report = render_master(path, folder / "one-pass", chunk_s=1000.0)
    assert report["chunks"] == 1
    return path, folder, master, report


def test_every_stem_is_written_beside_the_master_and_reported(one_pass):
    _, folder, master, report = one_pass
    written = [(item["path"], item.get("stem")) for item in report["deliverables"]]
    names = ["kick", "snare", "bass", "pad", "drums", "verb"]
    assert written == [("master.wav", None)] + [(f"stems/{name}.wav", name) for name in names]
    for name in names:
        stem = read(folder / "one-pass" / "stems" / f"{name}.wav")
        assert stem.shape == master.shape
        assert np.max(np.abs(stem)) > 0.01, f"the {name} stem is silent"


@pytest.mark.parametrize("chunk_s", [None, 0.0137, 0.31, 1.7])
def test_the_stems_routed_to_master_sum_to_the_master_at_any_chunk_size(one_pass, chunk_s):
    path, folder, master, _ = one_pass
    out = folder / "one-pass"
    if chunk_s is not None:
        master, report = render_master(path, folder / f"chunked-{chunk_s}", chunk_s=chunk_s)
        assert report["chunks"] > 1
        out = folder / f"chunked-{chunk_s}"
    total = sum(read(out / "stems" / f"{name}.wav") for name in ("bass", "pad", "drums", "verb"))
    assert np.max(np.abs(master)) > 0.1
    assert np.max(np.abs(total - master)) < NULL_LEVEL


@pytest.mark.parametrize("chunk_s", [0.0137, 0.31, 1.7])
def test_stems_are_bit_identical_between_chunked_and_one_pass_renders(one_pass, chunk_s):
    path, folder, _, report = one_pass
    chunked = folder / f"identical-{chunk_s}"
    render_master(path, chunked, chunk_s=chunk_s)
    for item in report["deliverables"][1:]:
        assert (chunked / item["path"]).read_bytes() == (folder / "one-pass" / item["path"]).read_bytes(), item["path"]


def test_a_bus_stem_holds_the_returns_of_the_sends_into_it(tmp_path):
    """The reverb bus is fed only by sends: its stem is the reverb of the snare and the pad, at the bus's fader."""
    path = stem_mix(tmp_path, [MASTER_32F, {**STEMS_32F, "stems": ["verb"]}])
    render_master(path, tmp_path / "with")
    document = path.read_text().replace("level_db: -8", "level_db: -144").replace("level_db: -3", "level_db: -144")
    path.write_text(document)
    render_master(path, tmp_path / "without")
    with_sends, without = read(tmp_path / "with" / "stems" / "verb.wav"), read(tmp_path / "without" / "stems" / "verb.wav")
    assert np.max(np.abs(with_sends)) > 0.01
    assert np.max(np.abs(without)) < 1e-6


def test_stems_are_in_the_mix_gain_staging_not_the_loudness_stage(tmp_path):
    path = stem_mix(tmp_path, [{"path": "master.wav"}, {**STEMS_32F, "stems": "tracks"}], master={"loudness": {"preset": "spotify"}, "tail_s": 0.5})
    _, report = render_master(path, tmp_path / "out")
    assert abs(report["gain_db"]) > 1, "the loudness stage moved the master"
    (tmp_path / "plain").mkdir()
    plain_path = stem_mix(tmp_path / "plain", [{**STEMS_32F, "stems": "tracks"}])
    _, plain = render_master(plain_path, tmp_path / "plain-out")
    for name in ("kick", "snare", "bass", "pad"):
        assert read(tmp_path / "out" / "stems" / f"{name}.wav").tobytes() == read(tmp_path / "plain-out" / "stems" / f"{name}.wav").tobytes()
    assert plain["deliverables"][0]["stem"] == "kick"


def test_a_stem_takes_its_output_format_rate_and_dither(tmp_path):
    path = stem_mix(tmp_path, [{"stems": ["pad", "bass"], "path": "{name}-44k.flac", "format": "flac", "bit_depth": 16, "sample_rate": 44100, "dither": "tpdf"}])
    _, report = render_master(path, tmp_path / "out")
    pad, bass = report["deliverables"]
    assert (pad["path"], bass["path"]) == ("pad-44k.flac", "bass-44k.flac")
    info = soundfile.info(tmp_path / "out" / "pad-44k.flac")
    assert (info.samplerate, info.subtype, info.frames) == (44100, "PCM_16", pad["frames"])
    assert pad["loudness"]["integrated_lufs"] is not None


def test_only_the_stem_strips_and_what_feeds_them_carry_their_state(tmp_path):
    path = stem_mix(tmp_path, [MASTER_32F, {**STEMS_32F, "stems": ["drums"]}])
    plan = compile_plan(load(path), chunk_s=0.5)
    carried = {strip.name for strip in plan.strips if not strip.time_parallel}
    assert {"drums", "kick", "snare"} <= carried
    assert "pad" not in carried and "master" not in carried


def problems_of(path):
    with pytest.raises(SessionError) as caught:
        load(path)
    return caught.value.problems


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        ({"stems": "tracks", "path": "stems.wav"}, "outputs[1].path: a stem output's path must hold {name}, where each strip's name goes; got 'stems.wav'"),
        ({"stems": ["pad", "keys"], "path": "{name}.wav"}, "outputs[1].stems[1]: no track or bus named 'keys' (strips: 'bass', 'drums', 'kick', 'pad', 'snare', 'verb')"),
        ({"stems": ["master"], "path": "{name}.wav"}, "outputs[1].stems[0]: no track or bus named 'master' (strips: 'bass', 'drums', 'kick', 'pad', 'snare', 'verb')"),
        ({"stems": "all", "path": "{name}/../../x.wav"}, "outputs[1].path: must stay inside the output folder, got 'kick/../../x.wav' (from '{name}/../../x.wav')"),
    ],
)
def test_a_bad_stem_output_names_its_field(tmp_path, output, problem):
    path = stem_mix(tmp_path, [{"path": "master.wav"}, output])
    assert problem in problems_of(path)


def test_two_stems_writing_one_path_are_refused(tmp_path):
    path = stem_mix(tmp_path, [{"stems": ["pad"], "path": "{name}.wav"}, {"stems": "tracks", "path": "{name}.wav"}])
    assert "outputs[1].path: 'pad.wav' (from '{name}.wav') is already written by another output" in problems_of(path)
    path = stem_mix(tmp_path, [{"path": "bass.wav"}, {"stems": ["bass"], "path": "{name}.wav"}])
    assert "outputs[1].path: 'bass.wav' (from '{name}.wav') is already written by another output" in problems_of(path)


def test_stem_paths_that_differ_only_in_case_are_refused(tmp_path):
    path = stem_mix(tmp_path, [{"path": "Pad.wav"}, {"stems": ["pad"], "path": "{name}.wav"}])
    assert "outputs[1].path: 'pad.wav' (from '{name}.wav') is already written by another output as 'Pad.wav' (one file on a disk that ignores case)" in problems_of(path)


def test_a_loudness_target_needs_a_master_output(tmp_path):
    path = stem_mix(tmp_path, [STEMS_32F], master={"loudness": {"preset": "spotify"}})
    assert "master.loudness: the outputs write only stems, which the loudness stage never touches; add a master output or remove the target" in problems_of(path)
