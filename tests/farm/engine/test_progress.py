"""What a render tells its progress callback: a fraction that never goes back, and the stage at work."""

import pytest

from farm.engine.executor import LocalExecutor
from farm.engine.render import render
from tests.helpers.sessions import tone, write_session, write_stem


def test_progress_names_each_stage_in_order_and_never_goes_back(tmp_path):
    stem = write_stem(tmp_path, "a.wav", tone(220.0, 3.0))
    session = write_session(
        tmp_path,
        {
            "tracks": [{"name": "a", "file": stem}],
            "master": {"loudness": {"target_lufs": -16.0, "true_peak_dbtp": -1.0}},
            "outputs": [{"path": "master.wav"}, {"path": "master.flac", "format": "flac"}, {"path": "small.wav", "sample_rate": 44100, "bit_depth": 16}],
        },
    )
    calls = []
    report = render(session, tmp_path / "out", chunk_s=1.0, executor=LocalExecutor(), progress=lambda fraction, audio_s, stage: calls.append((fraction, audio_s, stage)))
    fractions = [fraction for fraction, _, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and max(fractions[:-1]) <= 0.99
    stages = list(dict.fromkeys(stage for _, _, stage in calls))
    passes = report["loudness_passes"]
    assert stages[: passes + 2] == ["mixing", *(f"loudness pass {number}" for number in range(1, passes + 1)), "writing 3 files"]
    assert stages[-1] == "finishing"
    assert calls[-1][1] == pytest.approx(report["duration_s"])
