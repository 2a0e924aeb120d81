"""The copy of the mix bus a render keeps beside its deliverables: named in the report, exact, and no deliverable."""

import numpy as np
import soundfile

from dsp.loudness import LoudnessMeter
from farm.engine.executor import LocalExecutor
from farm.engine.mixcopy import mix_copy_name
from farm.engine.render import render
from tests.helpers.sessions import busy_session, tone, write_session, write_stem

MASTERED = {"tail_s": 0.0, "loudness": {"preset": "spotify"}}


def test_the_mix_copy_is_the_same_file_however_the_render_was_chunked_and_the_deliverables_stay_as_they_were(tmp_path):
    session = busy_session(tmp_path)
    reports = {chunk_s: render(session, tmp_path / f"out-{chunk_s}", chunk_s=chunk_s, executor=LocalExecutor()) for chunk_s in (0.7, 2.5)}
    copies = {chunk_s: (tmp_path / f"out-{chunk_s}" / report["mix"]["path"]).read_bytes() for chunk_s, report in reports.items()}
    assert copies[0.7] == copies[2.5]
    report = reports[0.7]
    assert report["mix"]["path"] == "mix-bus.flac"
    assert [item["path"] for item in report["deliverables"]] == ["master.wav"]
    assert sorted(path.name for path in (tmp_path / "out-0.7").iterdir()) == ["master.wav", "mix-bus.flac", "report.json"]
    assert report["mix"]["bytes"] == len(copies[0.7])


def test_the_mix_copy_measures_as_the_report_says_the_mix_does(tmp_path):
    stem = write_stem(tmp_path, "tone.wav", tone(330.0, 3.0, level=0.1, channels=2))
    session = write_session(tmp_path, {"tracks": [{"name": "tone", "file": stem}], "master": MASTERED})
    report = render(session, tmp_path / "out", executor=LocalExecutor())
    audio, rate = soundfile.read(tmp_path / "out" / report["mix"]["path"], dtype="float64", always_2d=True)
    assert (rate, audio.shape[0], report["mix"]["bit_depth"], report["mix"]["clipped_samples"]) == (48000, 3 * 48000, 24, 0)
    meter = LoudnessMeter(rate, 2)
    meter.process(audio)
    assert abs(meter.report().integrated_lufs - report["input"]["integrated_lufs"]) < 0.01
    assert report["output"]["integrated_lufs"] - report["input"]["integrated_lufs"] > 3


def test_a_mix_bus_over_full_scale_is_clipped_in_the_copy_and_counted(tmp_path):
    stem = write_stem(tmp_path, "loud.wav", tone(100.0, 1.0, level=1.0, channels=2))
    session = write_session(tmp_path, {"tracks": [{"name": "a", "file": stem, "gain_db": 6.0}]})
    report = render(session, tmp_path / "out", executor=LocalExecutor())
    audio, _ = soundfile.read(tmp_path / "out" / report["mix"]["path"], dtype="float64", always_2d=True)
    assert report["mix"]["clipped_samples"] > 0
    assert np.abs(audio).max() <= 1.0


def test_the_copy_takes_another_name_when_a_deliverable_has_its_own():
    assert mix_copy_name(["master.wav"]) == "mix-bus.flac"
    assert mix_copy_name(["mix-bus.flac", "mix-bus-2.flac"]) == "mix-bus-3.flac"
