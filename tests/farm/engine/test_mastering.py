"""The loudness stage lands the preset's target and holds its ceiling, measured on the written files."""

import numpy as np
import pytest
import soundfile

from dsp.loudness import measure
from farm.engine.executor import LocalExecutor
from farm.engine.render import render
from farm.session import LOUDNESS_PRESETS
from tests.helpers.sessions import RATE, write_session, write_stem


def dense_mix(folder):
    rng = np.random.default_rng(4)
    frames = 8 * RATE
    t = np.arange(frames) / RATE
    drums = (rng.standard_normal(frames) * np.exp(-(t % 0.25) * 25))[:, None] * 0.6
    bass = (np.sign(np.sin(2 * np.pi * 49 * t)) * 0.5)[:, None]
    chords = np.stack([np.sin(2 * np.pi * f * t) for f in (261.6, 329.6)], axis=1) * 0.3
    return [write_stem(folder, f"{name}.wav", audio) for name, audio in dict(drums=drums, bass=bass, chords=chords).items()]


@pytest.mark.parametrize("preset", ["spotify", "apple_music", "amazon_music", "ebu_r128", "cd"])
def test_preset_lands_target_and_holds_ceiling_in_every_deliverable(tmp_path, preset):
    target_lufs, ceiling_dbtp = LOUDNESS_PRESETS[preset]
    stems = dense_mix(tmp_path)
    session = write_session(
        tmp_path,
        {
            "tracks": [{"name": f"t{i}", "file": stem} for i, stem in enumerate(stems)],
            "master": {"loudness": {"preset": preset}, "tail_s": 0.5, "fade_out_s": 0.5},
            "outputs": [
                {"path": "master.wav", "bit_depth": 24},
                {"path": "cd.wav", "bit_depth": 16, "sample_rate": 44100, "dither": "shaped"},
                {"path": "master.flac", "format": "flac", "bit_depth": 24},
            ],
        },
    )
    report = render(session, tmp_path / "out", chunk_s=3.0, executor=LocalExecutor())
    for item in report["deliverables"]:
        audio, rate = soundfile.read(tmp_path / "out" / item["path"], dtype="float64", always_2d=True)
        measured = measure(audio, rate, true_peak_oversampling=8)
        assert measured.integrated_lufs == pytest.approx(target_lufs, abs=0.1), item["path"]
        assert measured.true_peak_dbtp <= ceiling_dbtp, item["path"]
        assert item["loudness"]["integrated_lufs"] == pytest.approx(measured.integrated_lufs, abs=1e-6)
    assert report["target"] == {"integrated_lufs": target_lufs, "true_peak_dbtp": ceiling_dbtp}
    assert report["output"]["integrated_lufs"] == pytest.approx(target_lufs, abs=0.05)


def test_explicit_fields_override_the_preset(tmp_path):
    stems = dense_mix(tmp_path)
    session = write_session(
        tmp_path,
        {"tracks": [{"name": "drums", "file": stems[0]}], "master": {"loudness": {"preset": "spotify", "target_lufs": -20.0}}},
    )
    report = render(session, tmp_path / "out", chunk_s=3.0, executor=LocalExecutor())
    assert report["target"] == {"integrated_lufs": -20.0, "true_peak_dbtp": -1.0}
    assert report["deliverables"][0]["loudness"]["integrated_lufs"] == pytest.approx(-20.0, abs=0.1)


def test_without_loudness_the_mix_passes_unnormalised(tmp_path):
    stems = dense_mix(tmp_path)
    session = write_session(tmp_path, {"tracks": [{"name": "bass", "file": stems[1]}]})
    report = render(session, tmp_path / "out", chunk_s=3.0, executor=LocalExecutor())
    assert report["gain_db"] == 0.0 and report["limiter_max_gain_reduction_db"] is None
    assert report["output"]["integrated_lufs"] == pytest.approx(report["input"]["integrated_lufs"])


def test_renders_are_reproducible_bit_for_bit_with_dither(tmp_path):
    stems = dense_mix(tmp_path)
    session = write_session(
        tmp_path,
        {"tracks": [{"name": "chords", "file": stems[2]}], "outputs": [{"path": "m.wav", "bit_depth": 16, "dither": "tpdf"}]},
    )
    render(session, tmp_path / "a", chunk_s=3.0, executor=LocalExecutor())
    render(session, tmp_path / "b", chunk_s=1.0, executor=LocalExecutor())
    assert (tmp_path / "a" / "m.wav").read_bytes() == (tmp_path / "b" / "m.wav").read_bytes()
