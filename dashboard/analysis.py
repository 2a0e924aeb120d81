"""What the dashboard draws, and the SVG geometry it draws it with.

* A job's first output, analysed once after success and cached as
  ``analysis.json`` in the job's folder: min/max peaks per pixel column
  (the waveform) and the momentary (400 ms) and short-term (3 s) loudness
  series of BS.1770 / EBU R128 (loudness over time).
* The farm's throughput over the last hour, per minute.
* Chart geometry for both, in SVG user units; the templates only place it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time

import numpy as np

from dsp import io as audio_io
from dsp.loudness import LoudnessMeter, segment_frames
from farm.queue.jobfiles import job_folder
from farm.queue.jobstore import Job
from farm.queue.state import JobState
from farm.storage import Location

log = logging.getLogger("mixfarm.dashboard")

ANALYSIS_FILE = "analysis.json"
ANALYSIS_VERSION = 1
WAVEFORM_COLUMNS = 800
READ_BLOCK_FRAMES = 65536
MOMENTARY_SEGMENTS = 4
SHORT_TERM_SEGMENTS = 30
LOUDNESS_GRID_LU = 6.0
LOUDNESS_FLOOR_LUFS = -72.0
MIN_LOUDNESS_SPAN_LU = 24.0
TIME_STEPS_S = (0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
MAX_TIME_TICKS = 10


def analyse_file(location: Location, columns: int = WAVEFORM_COLUMNS) -> dict:
    """Waveform peaks and loudness series of the audio file at ``location``, read block by block.

    ``peaks_min[c]`` / ``peaks_max[c]`` are the lowest and highest sample over
    all channels in column ``c`` of ``min(columns, frames)`` equal spans.
    ``momentary_lufs[k]`` is the window ending at ``momentary_start_s + k * step_s``,
    likewise ``short_term_lufs``; ``None`` where the window is silent (-inf),
    and both are empty for more than 5 channels (BS.1770 weights 5 at most).
    """
    with location.open() as handle, audio_io.open_audio(handle, name=str(location)) as audio:
        frames, rate, channels = audio.frames, audio.samplerate, audio.channels
        columns = max(1, min(columns, frames))
        low, high = np.full(columns, np.inf), np.full(columns, -np.inf)
        meter = LoudnessMeter(rate, channels) if channels <= 5 else None
        start = 0
        for block in audio.blocks(READ_BLOCK_FRAMES, dtype="float64", always_2d=True):
            column = np.minimum(np.arange(start, start + block.shape[0]) * columns // max(frames, 1), columns - 1)
            firsts = np.concatenate(([0], np.flatnonzero(np.diff(column)) + 1))
            index = column[firsts]
            low[index] = np.minimum(low[index], np.minimum.reduceat(block.min(axis=1), firsts))
            high[index] = np.maximum(high[index], np.maximum.reduceat(block.max(axis=1), firsts))
            if meter is not None:
                meter.process(block)
            start += block.shape[0]
    loudness = meter.report() if meter is not None and start else None
    step_s = segment_frames(rate) / rate
    return {
        "version": ANALYSIS_VERSION,
        "file": location.name,
        "duration_s": frames / rate,
        "sample_rate": rate,
        "channels": channels,
        "peaks_min": _rounded(low if start else np.zeros(0), 4),
        "peaks_max": _rounded(high if start else np.zeros(0), 4),
        "step_s": step_s,
        "momentary_start_s": MOMENTARY_SEGMENTS * step_s,
        "momentary_lufs": _rounded(loudness.momentary_lufs, 2) if loudness else [],
        "short_term_start_s": SHORT_TERM_SEGMENTS * step_s,
        "short_term_lufs": _rounded(loudness.short_term_lufs, 2) if loudness else [],
    }


def _rounded(values: np.ndarray, digits: int) -> list[float | None]:
    return [round(float(value), digits) if math.isfinite(value) else None for value in values]


def job_analysis(data_dir: str | os.PathLike, job: Job, output: Location | None) -> dict | None:
    """The cached analysis of a succeeded ``job``'s first output (``output``), made on first call.

    The cache lies in the job's folder under the local ``data_dir``, wherever the outputs are stored.

    None when the job has not succeeded, or there is no cache and the file is
    gone or unreadable: the page then shows what else there is.
    """
    if job.state is not JobState.SUCCEEDED:
        return None
    cache = job_folder(data_dir, job.id).joinpath(ANALYSIS_FILE).local_path
    try:
        cached = json.loads(cache.read_text())
        if cached.get("version") == ANALYSIS_VERSION:
            return cached
    except (OSError, ValueError, AttributeError):
        pass
    if output is None:
        return None
    try:
        analysis = analyse_file(output)
    except (OSError, RuntimeError, ValueError) as exc:
        log.warning("job %s: cannot analyse %s: %s", job.id, output, exc)
        return None
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(f".{ANALYSIS_FILE}.{os.getpid()}.partial")
        partial.write_text(json.dumps(analysis, allow_nan=False))
        os.replace(partial, cache)
    except OSError as exc:
        log.warning("job %s: cannot cache the analysis: %s", job.id, exc)
    return analysis


def time_ticks(duration_s: float, width: float) -> list[dict]:
    """Time axis ticks (x, label) for ``duration_s`` drawn over ``width`` units: ``1.5 s`` under a minute, ``m:ss`` above."""
    if duration_s <= 0:
        return []
    step_s = next((step for step in TIME_STEPS_S if duration_s / step <= MAX_TIME_TICKS), TIME_STEPS_S[-1])
    count = int(duration_s / step_s + 1e-9)
    return [{"x": round(k * step_s / duration_s * width, 1), "label": time_label(k * step_s, duration_s)} for k in range(count + 1)]


def time_label(seconds: float, duration_s: float) -> str:
    """``1.5 s`` on an axis shorter than a minute, else ``m:ss``."""
    if duration_s < 60:
        return f"{seconds:g} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}:{rest:02d}"


def waveform_chart(analysis: dict, width: float = 800, height: float = 140) -> dict:
    """An outline path of the peaks (max edge left to right, min edge back) and the time ticks."""
    highs, lows = analysis["peaks_max"], analysis["peaks_min"]
    columns = len(highs)
    if not columns:
        return {"width": width, "height": height, "path": "", "ticks": []}
    x_step = width / columns

    def y(value: float | None) -> float:
        return round(height / 2 * (1 - max(-1.0, min(1.0, value or 0.0))), 2)

    top = [f"{round(c * x_step, 2)},{y(highs[c])}" for c in range(columns)]
    bottom = [f"{round(c * x_step, 2)},{y(lows[c])}" for c in reversed(range(columns))]
    return {"width": width, "height": height, "path": "M" + " L".join(top + bottom) + " Z", "ticks": time_ticks(analysis["duration_s"], width)}


def loudness_chart(analysis: dict, target_lufs: float | None, width: float = 800, height: float = 200) -> dict:
    """Paths of the momentary and short-term loudness, the target's y, LU grid lines and time ticks."""
    series = {
        "momentary": (analysis["momentary_lufs"], analysis["momentary_start_s"]),
        "short_term": (analysis["short_term_lufs"], analysis["short_term_start_s"]),
    }
    values = [value for lufs, _ in series.values() for value in lufs if value is not None]
    values += [target_lufs] if target_lufs is not None else []
    top = LOUDNESS_GRID_LU * math.ceil((max(values, default=0.0) + 1) / LOUDNESS_GRID_LU)
    bottom = max(LOUDNESS_FLOOR_LUFS, min(top - MIN_LOUDNESS_SPAN_LU, LOUDNESS_GRID_LU * math.floor((min(values, default=-60.0) - 1) / LOUDNESS_GRID_LU)))
    duration_s = analysis["duration_s"] or 1.0

    def y(lufs: float) -> float:
        return round((top - max(bottom, min(top, lufs))) / (top - bottom) * height, 2)

    def path(lufs: list[float | None], start_s: float) -> str:
        parts, pen_down = [], False
        for k, value in enumerate(lufs):
            if value is None:
                pen_down = False
                continue
            parts.append(f"{'L' if pen_down else 'M'}{round((start_s + k * analysis['step_s']) / duration_s * width, 2)},{y(value)}")
            pen_down = True
        return " ".join(parts)

    grid_step = LOUDNESS_GRID_LU * (2 if top - bottom > 60 else 1)
    return {
        "width": width,
        "height": height,
        "momentary": path(*series["momentary"]),
        "short_term": path(*series["short_term"]),
        "target_y": y(target_lufs) if target_lufs is not None else None,
        "target_lufs": target_lufs,
        "grid": [{"y": y(top - k * grid_step), "label": f"{top - k * grid_step:g}"} for k in range(int((top - bottom) / grid_step + 1e-9) + 1)],
        "ticks": time_ticks(duration_s, width),
    }


def throughput(rows: list[tuple[float, float, str]], now_s: float | None = None, minutes: int = 60) -> dict:
    """Audio seconds rendered and jobs succeeded, failed and cancelled per minute over the last ``minutes``.

    ``rows`` are ``JobStore.finished_since`` rows (finished_at, audio seconds,
    state); audio counts only for succeeded jobs. Index 0 is the oldest minute.
    """
    now_s = time.time() if now_s is None else now_s
    start_s = now_s - minutes * 60
    audio_s = [0.0] * minutes
    counts = {state: [0] * minutes for state in (JobState.SUCCEEDED.value, JobState.FAILED.value, JobState.CANCELLED.value)}
    for finished_at, seconds, state in rows:
        if finished_at < start_s or state not in counts:
            continue
        minute = min(int((finished_at - start_s) // 60), minutes - 1)
        counts[state][minute] += 1
        if state == JobState.SUCCEEDED.value:
            audio_s[minute] += seconds
    return {"minutes": minutes, "audio_s": audio_s, **counts}


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 x 10^k that is at least ``value`` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value * (1 - 1e-12))


def bar_chart(stacks: list[list[float]], titles: list[str], width: float = 800, height: float = 160, whole: bool = False) -> dict:
    """Stacked bars, one per index; ``stacks[s][i]`` is series ``s``'s height at bar ``i``.

    Returns the bars (x, width, and per series y and height), the y grid
    (y, value) and the scale's maximum. With ``whole`` (counts) the grid
    has whole values only.
    """
    count = len(titles)
    totals = [sum(series[i] for series in stacks) for i in range(count)]
    scale = float(nice_ceiling(max(totals, default=0.0)))
    slot = width / max(count, 1)
    bars = []
    for i in range(count):
        base, parts = height, []
        for series in stacks:
            size = series[i] / scale * height
            base -= size
            parts.append({"y": round(base, 2), "height": round(size, 2)})
        bars.append({"x": round(i * slot + slot * 0.1, 2), "width": round(slot * 0.8, 2), "parts": parts, "title": titles[i]})
    grid = [{"y": round(height - fraction * height, 2), "value": scale * fraction} for fraction in (0.0, 0.5, 1.0) if not whole or (scale * fraction).is_integer()]
    return {"width": width, "height": height, "bars": bars, "grid": grid, "max": scale}
