"""``mixfarm master``: mixes mastered in one command, the session or album written beside the results to render again."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import yaml

from dsp.loudness import measure
from tests.helpers.sessions import RATE


def mixfarm(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "farm.cli", *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def write_mix(path, level: float, seed: int, seconds: float = 6.0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    audio = np.stack([np.sin(2 * np.pi * 110 * t), np.sin(2 * np.pi * 165 * t)], axis=1) * 0.3 + 0.1 * rng.standard_normal((t.size, 2)) * np.exp(-6 * (t % 0.5))[:, None]
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, audio * level, RATE, subtype="PCM_24")
    return path


def test_one_mix_is_mastered_to_the_target_and_its_session_renders_it_again(tmp_path):
    mix = write_mix(tmp_path / "mixes" / "song.wav", 0.5, 1)
    out = tmp_path / "done"
    result = mixfarm("master", str(mix), "--target-lufs", "-12", "--ceiling-dbtp", "-1.5", "-o", str(out), "--executor", "local", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    audio, rate = soundfile.read(out / "song (mastered).wav", dtype="float64")
    measured = measure(audio, rate, true_peak_oversampling=8)
    assert abs(measured.integrated_lufs + 12.0) <= 0.1 and measured.true_peak_dbtp <= -1.5
    session = yaml.safe_load((out / "master.yaml").read_text())
    assert session["tracks"] == [{"name": "mix", "file": "mixes/song.wav"}]
    assert session["master"]["loudness"] == {"target_lufs": -12.0, "true_peak_dbtp": -1.5}
    assert (out / "mixes" / "song.wav").read_bytes() == mix.read_bytes()
    first = (out / "song (mastered).wav").read_bytes()
    again = mixfarm("render", str(out / "master.yaml"), "-o", str(tmp_path / "again"), "--executor", "local")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again" / "song (mastered).wav").read_bytes() == first
    assert report["target"] == {"integrated_lufs": -12.0, "true_peak_dbtp": -1.5}


def test_several_mixes_as_an_album_with_a_reference(tmp_path):
    mixes = [write_mix(tmp_path / f"{name}.wav", level, seed) for name, level, seed in (("one", 0.6, 2), ("two", 0.3, 3))]
    reference = write_mix(tmp_path / "refs" / "finished.wav", 0.8, 4)
    result = mixfarm("master", *map(str, mixes), "--album", "--preset", "apple_music", "--reference", str(reference), "--executor", "local", "--json")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "mastered"
    album = yaml.safe_load((out / "album.yaml").read_text())
    assert [song["file"] for song in album["songs"]] == ["mixes/one.wav", "mixes/two.wav"]
    assert album["master"] == {"loudness": {"preset": "apple_music", "mode": "album"}, "match": {"reference": "refs/finished.wav"}}
    report = json.loads(result.stdout)
    assert [song["title"] for song in report["songs"]] == ["one", "two"]
    assert sorted(item["path"] for item in report["deliverables"]) == ["01 one.wav", "02 two.wav", "album.cue", "album.wav"]
    loudest = measure(soundfile.read(out / "01 one.wav")[0], RATE)
    assert loudest.integrated_lufs == pytest.approx(-16.0, abs=0.1)
    assert report["songs"][0]["match"]["reference"] == "refs/finished.wav"


def test_several_mixes_without_album_are_mastered_each_by_itself(tmp_path):
    mixes = [write_mix(tmp_path / f"{name}.wav", level, seed) for name, level, seed in (("a", 0.6, 5), ("b", 0.2, 6))]
    result = mixfarm("master", *map(str, mixes), "-o", str(tmp_path / "out"), "--executor", "local", "--json")
    assert result.returncode == 0, result.stderr
    reports = json.loads(result.stdout)
    assert [report["session"] for report in reports] == ["a", "b"]
    for name in ("a", "b"):
        measured = measure(soundfile.read(tmp_path / "out" / f"{name} (mastered).wav")[0], RATE)
        assert measured.integrated_lufs == pytest.approx(-14.0, abs=0.1)
        assert (tmp_path / "out" / f"{name}.yaml").is_file()


def test_bad_arguments_are_named(tmp_path):
    mix = write_mix(tmp_path / "song.wav", 0.5, 7)
    missing = mixfarm("master", str(mix), "--reference", str(tmp_path / "nope.wav"), "--executor", "local")
    assert missing.returncode == 2 and f"{tmp_path / 'nope.wav'}: no such file" in missing.stderr
    half = mixfarm("master", str(mix), "--target-lufs", "-10", "--executor", "local")
    assert half.returncode == 2 and "give --preset, or both --target-lufs and --ceiling-dbtp" in half.stderr
