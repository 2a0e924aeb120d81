"""Lossy deliverables of a hot master: decoded by ffmpeg, each under the ceiling at 8x true peak and within 0.5 LU of the target."""

import subprocess

import numpy as np
import pytest

from dsp.loudness import measure
from farm.engine.executor import LocalExecutor
from farm.engine.render import LOSSY_LOUDNESS_TOLERANCE_LU, render
from tests.helpers.sessions import RATE, write_session, write_stem

TARGET_LUFS, CEILING_DBTP = -10.0, -1.0
LOSSY = [("m.mp3", "mp3", 320), ("m.opus", "opus", 160), ("m.m4a", "aac", 256)]
DECODERS_AGREE_DB = 0.01
"""How far ffmpeg's decoders and libsndfile's may read the same file's true peak apart."""


def hot_session(folder):
    """Drums, a square bass and bright chords, mastered loud: the limiter works hard and encoders overshoot."""
    rng = np.random.default_rng(5)
    frames = 8 * RATE
    t = np.arange(frames) / RATE
    drums = (rng.standard_normal(frames) * np.exp(-(t % 0.25) * 20))[:, None] * 0.7
    bass = (np.sign(np.sin(2 * np.pi * 55 * t)) * 0.4)[:, None]
    chords = np.stack([sum(np.sin(2 * np.pi * f * t) for f in (523.3, 659.3, 784.0)), sum(np.sin(2 * np.pi * f * t) for f in (524.0, 660.0, 785.0))], axis=1) * 0.15
    stems = {name: write_stem(folder, f"{name}.wav", audio) for name, audio in dict(drums=drums, bass=bass, chords=chords).items()}
    return write_session(
        folder,
        {
            "tracks": [{"name": name, "file": stem} for name, stem in stems.items()],
            "master": {"loudness": {"target_lufs": TARGET_LUFS, "true_peak_dbtp": CEILING_DBTP}, "tail_s": 0.5},
            "outputs": [{"path": "m.wav"}] + [{"path": path, "format": format, "bitrate_kbps": kbps} for path, format, kbps in LOSSY],
        },
    )


def ffmpeg_decode(path) -> tuple[np.ndarray, int]:
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=sample_rate", "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True)
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "f64le", "-ac", "2", "pipe:1"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype="<f8").reshape(-1, 2), int(probe.stdout.strip())


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lossy")
    report = render(hot_session(folder), folder / "out", chunk_s=3.0, executor=LocalExecutor())
    return folder, report


@pytest.mark.parametrize(("path", "format", "bitrate_kbps"), LOSSY)
def test_each_lossy_file_decodes_under_the_ceiling_and_on_target(rendered, path, format, bitrate_kbps):
    folder, report = rendered
    (facts,) = [item for item in report["deliverables"] if item["path"] == path]
    assert (facts["format"], facts["bitrate_kbps"], facts["measured_from"], facts["bit_depth"]) == (format, bitrate_kbps, "decoded", None)
    assert facts["loudness"]["true_peak_dbtp"] <= CEILING_DBTP
    assert abs(facts["loudness"]["integrated_lufs"] - TARGET_LUFS) <= LOSSY_LOUDNESS_TOLERANCE_LU
    audio, rate = ffmpeg_decode(folder / "out" / path)
    measured = measure(audio, rate, true_peak_oversampling=8)
    assert measured.true_peak_dbtp <= CEILING_DBTP + DECODERS_AGREE_DB, f"{path} decodes to {measured.true_peak_dbtp:.3f} dBTP"
    assert measured.true_peak_dbtp == pytest.approx(facts["loudness"]["true_peak_dbtp"], abs=DECODERS_AGREE_DB)
    assert abs(measured.integrated_lufs - TARGET_LUFS) <= LOSSY_LOUDNESS_TOLERANCE_LU
    assert facts["limiter_ceiling_dbtp"] <= CEILING_DBTP


def test_only_the_files_that_overshoot_get_a_lower_ceiling(rendered):
    """The WAV keeps the full ceiling; an encoder that overshoots gets a master limited lower, for that file alone."""
    _, report = rendered
    ceilings = {item["path"]: item["limiter_ceiling_dbtp"] for item in report["deliverables"]}
    assert ceilings["m.wav"] == CEILING_DBTP and report["limiter_ceiling_dbtp"] == CEILING_DBTP
    lowered = [path for path, ceiling in ceilings.items() if ceiling < CEILING_DBTP]
    assert lowered, f"no encoder overshot a master limited to {CEILING_DBTP} dBTP at {TARGET_LUFS} LUFS: {ceilings}"
    assert "m.wav" not in lowered
    wav = next(item for item in report["deliverables"] if item["path"] == "m.wav")
    assert wav["measured_from"] == "samples" and abs(wav["loudness"]["integrated_lufs"] - TARGET_LUFS) <= 0.05


def test_lossy_files_are_the_same_bytes_however_the_render_is_chunked(rendered, tmp_path):
    folder, _ = rendered
    render(folder / "session.yaml", tmp_path / "again", chunk_s=1.0, executor=LocalExecutor())
    for path, _, _ in LOSSY:
        assert (tmp_path / "again" / path).read_bytes() == (folder / "out" / path).read_bytes(), path
