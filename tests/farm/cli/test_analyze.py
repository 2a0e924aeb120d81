import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from dsp.generators import sine_tone

KEYS = {"integrated_lufs", "loudness_range_lu", "true_peak_dbtp", "sample_peak_dbfs", "momentary_max_lufs", "short_term_max_lufs", "duration_s", "sample_rate", "channels"}


def mixfarm(*args):
    return subprocess.run([sys.executable, "-m", "farm.cli", *args], capture_output=True, text=True, timeout=120)


def test_analyze_json_reports_the_ebu_reference_tone(tmp_path):
    soundfile.write(tmp_path / "tone.flac", sine_tone(1000.0, 20.0, 44100, -23.0), 44100, subtype="PCM_24")
    result = mixfarm("analyze", str(tmp_path / "tone.flac"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert KEYS <= set(report)
    assert report["integrated_lufs"] == pytest.approx(-23.0, abs=0.1)
    assert report["short_term_max_lufs"] == pytest.approx(-23.0, abs=0.1)
    assert report["true_peak_dbtp"] == pytest.approx(-23.0, abs=0.1)
    assert report["sample_rate"] == 44100 and report["channels"] == 2 and report["duration_s"] == pytest.approx(20.0)


def test_analyze_json_writes_silence_as_null(tmp_path):
    soundfile.write(tmp_path / "silence.wav", np.zeros((48000, 2)), 48000)
    result = mixfarm("analyze", str(tmp_path / "silence.wav"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["integrated_lufs"] is None and report["true_peak_dbtp"] is None and report["sample_peak_dbfs"] is None


def test_tone_then_analyze_prints_a_readable_report(tmp_path):
    made = mixfarm("tone", str(tmp_path / "t.wav"), "--level-dbfs", "-33", "--duration-s", "5")
    assert made.returncode == 0, made.stderr
    result = mixfarm("analyze", str(tmp_path / "t.wav"))
    assert result.returncode == 0, result.stderr
    assert "integrated loudness    -33.0 LUFS" in result.stdout


def test_analyze_names_a_missing_file(tmp_path):
    result = mixfarm("analyze", str(tmp_path / "gone.wav"))
    assert result.returncode == 2
    assert "gone.wav: no such file" in result.stderr


def test_analyze_names_an_unreadable_file(tmp_path):
    (tmp_path / "text.wav").write_text("not audio")
    result = mixfarm("analyze", str(tmp_path / "text.wav"))
    assert result.returncode == 2
    assert "text.wav: unreadable or unsupported audio file" in result.stderr
