"""The render's progress bar: the stage at work, an ETA from the render's own pace, and the report's final figures."""

import io

import pytest

from farm.cli import progress as progress_module
from farm.cli.progress import ProgressBar


@pytest.fixture
def clock(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: now[0])
    return now


def last_line(stream: io.StringIO) -> str:
    return stream.getvalue().split("\r")[-1]


def test_the_eta_counts_from_the_first_report_not_from_the_start(clock):
    stream = io.StringIO()
    bar = ProgressBar(stream, started=100.0)
    clock[0] = 140.0  # 40 s of loading and cluster start before the render's first stage
    bar(0.0, 0.0, "mixing")
    assert "ETA     ?" in last_line(stream) and "mixing" in last_line(stream)
    clock[0] = 142.0
    bar(0.25, 10.0, "mixing")
    assert "ETA   6 s" in last_line(stream)
    assert "0.2x realtime" in last_line(stream)


def test_a_long_stage_name_is_cut_and_a_shorter_line_erases_the_longer(clock):
    stream = io.StringIO()
    bar = ProgressBar(stream, started=100.0)
    bar(0.5, 1.0, "writing a-very-long-deliverable-name-indeed.wav")
    long_line = last_line(stream)
    assert "  writing a-very-long-deliver…  ETA" in long_line
    bar(0.6, 1.0, "x")
    assert len(last_line(stream)) >= len(long_line)


def test_the_finished_bar_shows_the_reports_figures(clock):
    stream = io.StringIO()
    bar = ProgressBar(stream, started=100.0)
    bar(0.99, 60.0, "finishing")
    bar.finish(12.34, 5.3486)
    assert last_line(stream) == "[########################] 100.0%  done                          in 12.3 s  5.3x realtime\n"
