"""What the dashboard draws, and the SVG geometry it draws it with.

* A job's first output, analysed once after success and cached as
  ``analysis.json`` in the job's folder: per channel, min/max sample peaks
  and the true peak (4x oversampled) per pixel column (the waveform, with
  the columns over the ceiling marked), the momentary (400 ms) and
  short-term (3 s) loudness series of BS.1770 / EBU R128 (loudness over
  time), and the long-term spectrum (:mod:`dsp.matching`'s, of the mid
  signal); and the same spectrum of the mix bus's copy and of the matching
  reference, when there are such.
* The farm's throughput over the last hour, per minute.
* Chart geometry for both, in SVG user units; the templates only place it.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import os
import time
from collections.abc import Iterable, Iterator

import numpy as np

from dsp import io as audio_io
from dsp import truepeak
from dsp.loudness import LoudnessMeter, segment_frames
from dsp.matching import analyse_blocks, long_term_spectrum
from farm.queue.jobfiles import job_folder
from farm.queue.jobstore import Job
from farm.queue.state import JobState
from farm.storage import Location

log = logging.getLogger("mixfarm.dashboard")

ANALYSIS_FILE = "analysis.json"
ANALYSIS_VERSION = 2
WAVEFORM_COLUMNS = 800
READ_BLOCK_FRAMES = 65536
MOMENTARY_SEGMENTS = 4
SHORT_TERM_SEGMENTS = 30
LOUDNESS_GRID_LU = 6.0
LOUDNESS_FLOOR_LUFS = -72.0
MIN_LOUDNESS_SPAN_LU = 24.0
TRUE_PEAK_OVERSAMPLING = 4
SPECTRUM_FLOOR_DB = -100.0
SPECTRUM_GRID_DB = 12.0
SPECTRUM_SPAN_DB = 72.0
"""The most dB the spectrum chart spans below its top line."""
SPECTRUM_TICKS_HZ = (31.5, 63, 125, 250, 500, 1000, 2000, 4000, 8000, 16000)
TIME_STEPS_S = (0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
MAX_TIME_TICKS = 10


def analyse_file(location: Location, columns: int = WAVEFORM_COLUMNS) -> dict:
    """Waveform peaks, loudness series and long-term spectrum of the audio file at ``location``, read block by block.

    ``peaks_min[ch][c]`` / ``peaks_max[ch][c]`` are the lowest and highest
    sample of channel ``ch`` in column ``c`` of ``min(columns, frames)`` equal
    spans, ``true_peaks[ch][c]`` its largest oversampled magnitude there
    (linear; the interpolator's delay of a few frames is not taken back).
    ``momentary_lufs[k]`` is the window ending at ``momentary_start_s + k * step_s``,
    likewise ``short_term_lufs``; ``None`` where the window is silent (-inf),
    and both are empty for more than 5 channels (BS.1770 weights 5 at most).
    ``spectrum``: :func:`spectrum_of`'s, None for a silent file or one of more than two channels.
    """
    with location.open() as handle, audio_io.open_audio(handle, name=str(location)) as audio:
        frames, rate, channels = audio.frames, audio.samplerate, audio.channels
        columns = max(1, min(columns, frames))
        low, high, over = (np.full((channels, columns), fill) for fill in (np.inf, -np.inf, 0.0))
        meter = LoudnessMeter(rate, channels) if channels <= 5 else None
        start = 0

        def measured() -> Iterator[np.ndarray]:
            """The file's blocks, each measured on its way (peaks per column, loudness)."""
            nonlocal start
            history = np.zeros((truepeak.history_frames(TRUE_PEAK_OVERSAMPLING), channels))
            for block in audio.blocks(READ_BLOCK_FRAMES, dtype="float64", always_2d=True):
                column = np.minimum(np.arange(start, start + block.shape[0]) * columns // max(frames, 1), columns - 1)
                firsts = np.concatenate(([0], np.flatnonzero(np.diff(column)) + 1))
                index = column[firsts]
                peaks, history = truepeak.oversampled_peaks(block, history, TRUE_PEAK_OVERSAMPLING, rate)
                for channel in range(channels):
                    low[channel, index] = np.minimum(low[channel, index], np.minimum.reduceat(block[:, channel], firsts))
                    high[channel, index] = np.maximum(high[channel, index], np.maximum.reduceat(block[:, channel], firsts))
                    over[channel, index] = np.maximum(over[channel, index], np.maximum.reduceat(peaks[:, channel], firsts))
                if meter is not None:
                    meter.process(block)
                start += block.shape[0]
                yield block

        if channels <= 2:
            spectrum = _spectrum((np.repeat(block, 2 // channels, axis=1) for block in measured()), rate)
        else:
            spectrum = None
            collections.deque(measured(), maxlen=0)
    loudness = meter.report() if meter is not None and start else None
    step_s = segment_frames(rate) / rate
    return {
        "version": ANALYSIS_VERSION,
        "file": location.name,
        "duration_s": frames / rate,
        "sample_rate": rate,
        "channels": channels,
        "peaks_min": [_rounded(values if start else np.zeros(0), 4) for values in low],
        "peaks_max": [_rounded(values if start else np.zeros(0), 4) for values in high],
        "true_peaks": [_rounded(values if start else np.zeros(0), 4) for values in over],
        "step_s": step_s,
        "momentary_start_s": MOMENTARY_SEGMENTS * step_s,
        "momentary_lufs": _rounded(loudness.momentary_lufs, 2) if loudness else [],
        "short_term_start_s": SHORT_TERM_SEGMENTS * step_s,
        "short_term_lufs": _rounded(loudness.short_term_lufs, 2) if loudness else [],
        "spectrum": spectrum if start else None,
    }


def spectrum_of(location: Location) -> dict | None:
    """The long-term spectrum of the file at ``location``: ``centres_hz`` and ``mid_db`` per band (12 a
    octave); None for a silent file or one of more than two channels."""
    with location.open() as handle, audio_io.open_audio(handle, name=str(location)) as audio:
        if audio.channels > 2:
            return None
        rate, duplicate = audio.samplerate, 2 // audio.channels
        return _spectrum((np.repeat(block, duplicate, axis=1) for block in audio.blocks(READ_BLOCK_FRAMES, dtype="float64", always_2d=True)), rate)


def _spectrum(stereo_blocks: Iterable[np.ndarray], rate: int) -> dict | None:
    spectrum = long_term_spectrum(analyse_blocks(stereo_blocks, rate), rate)
    if spectrum is None:
        return None
    return {"centres_hz": _rounded(spectrum.centres_hz, 1), "mid_db": _rounded(np.maximum(spectrum.mid_db, SPECTRUM_FLOOR_DB), 2)}


def _rounded(values: np.ndarray, digits: int) -> list[float | None]:
    return [round(float(value), digits) if math.isfinite(value) else None for value in values]


def job_analysis(data_dir: str | os.PathLike, job: Job, output: Location | None, compared: dict[str, Location | None] | None = None) -> dict | None:
    """The cached analysis of a succeeded ``job``'s first output (``output``), made on first call.

    ``compared`` names further files (the mix bus's copy, the matching
    reference) whose long-term spectra go under ``compared_spectra`` (None
    for one that is missing or unreadable). The cache lies in the job's
    folder under the local ``data_dir``, wherever the outputs are stored.

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
    analysis["compared_spectra"] = {name: _spectrum_or_none(job, location) for name, location in (compared or {}).items()}
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(f".{ANALYSIS_FILE}.{os.getpid()}.partial")
        partial.write_text(json.dumps(analysis, allow_nan=False))
        os.replace(partial, cache)
    except OSError as exc:
        log.warning("job %s: cannot cache the analysis: %s", job.id, exc)
    return analysis


def _spectrum_or_none(job: Job, location: Location | None) -> dict | None:
    """:func:`spectrum_of` the file at ``location``; None when there is none, or it cannot be read (logged)."""
    if location is None:
        return None
    try:
        return spectrum_of(location)
    except (OSError, RuntimeError, ValueError) as exc:
        log.warning("job %s: cannot analyse %s: %s", job.id, location, exc)
        return None


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


def waveform_chart(analysis: dict, ceiling_dbtp: float | None, width: float = 800, lane_height: float = 100, gap: float = 14) -> dict:
    """One lane per channel: an outline path of its peaks (max edge left to right, min edge back), the
    ceiling's lines at ±its level, the runs of columns whose true peak goes over it, and the time ticks."""
    columns = len(analysis["peaks_max"][0]) if analysis["peaks_max"] else 0
    names = ["L", "R"] if analysis["channels"] == 2 else [str(index + 1) for index in range(analysis["channels"])]
    ceiling = 10 ** (ceiling_dbtp / 20) if ceiling_dbtp is not None else None
    x_step = width / max(columns, 1)
    lanes = []
    for channel, (highs, lows, true_peaks) in enumerate(zip(analysis["peaks_max"], analysis["peaks_min"], analysis["true_peaks"])):
        top_y = channel * (lane_height + gap)

        def y(value: float | None, top_y: float = top_y) -> float:
            return round(top_y + lane_height / 2 * (1 - max(-1.0, min(1.0, value or 0.0))), 2)

        outline = [f"{round(c * x_step, 2)},{y(highs[c])}" for c in range(columns)] + [f"{round(c * x_step, 2)},{y(lows[c])}" for c in reversed(range(columns))]
        overs = _runs([ceiling is not None and (peak or 0.0) > ceiling for peak in true_peaks])
        lanes.append(
            {
                "name": names[channel],
                "top": top_y,
                "middle": y(0.0),
                "bottom": top_y + lane_height,
                "path": "M" + " L".join(outline) + " Z" if columns else "",
                "ceiling_y": (y(ceiling), y(-ceiling)) if ceiling is not None else None,
                "overs": [{"x": round(first * x_step, 2), "width": round(max(count * x_step, 1.0), 2)} for first, count in overs],
                "over_columns": sum(count for _, count in overs),
            }
        )
    height = len(lanes) * (lane_height + gap) - gap
    return {"width": width, "height": height, "lanes": lanes, "ceiling_dbtp": ceiling_dbtp, "ticks": time_ticks(analysis["duration_s"], width) if columns else []}


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    """(first index, length) of each run of true values in ``flags``."""
    runs: list[tuple[int, int]] = []
    for index, flag in enumerate(flags):
        if not flag:
            continue
        if runs and runs[-1][0] + runs[-1][1] == index:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((index, 1))
    return runs


def spectrum_chart(spectra: dict[str, dict | None], width: float = 800, height: float = 200) -> dict | None:
    """Paths of the long-term spectra ``spectra`` (name -> :func:`spectrum_of`'s, or None, left out) over a
    logarithmic frequency axis from 20 Hz to 20 kHz, dB grid lines and frequency ticks; None with none to draw."""
    drawn = {name: spectrum for name, spectrum in spectra.items() if spectrum}
    if not drawn:
        return None
    values = [value for spectrum in drawn.values() for value in spectrum["mid_db"] if value is not None]
    top = SPECTRUM_GRID_DB * math.ceil(max(values) / SPECTRUM_GRID_DB)
    bottom = max(top - SPECTRUM_SPAN_DB, SPECTRUM_GRID_DB * math.floor(min(values) / SPECTRUM_GRID_DB))
    bottom = min(bottom, top - SPECTRUM_GRID_DB)
    low_hz, high_hz = 20.0, 20000.0

    def x(freq_hz: float) -> float:
        return round(math.log(freq_hz / low_hz) / math.log(high_hz / low_hz) * width, 2)

    def y(level_db: float) -> float:
        return round((top - max(bottom, min(top, level_db))) / (top - bottom) * height, 2)

    lines = []
    for name, spectrum in drawn.items():
        points = [(freq_hz, level_db) for freq_hz, level_db in zip(spectrum["centres_hz"], spectrum["mid_db"]) if level_db is not None and low_hz <= freq_hz <= high_hz]
        lines.append({"name": name, "path": "M" + " L".join(f"{x(freq_hz)},{y(level_db)}" for freq_hz, level_db in points)})
    steps = int((top - bottom) / SPECTRUM_GRID_DB + 1e-9)
    return {
        "width": width,
        "height": height,
        "lines": lines,
        "grid": [{"y": y(top - k * SPECTRUM_GRID_DB), "label": f"{top - k * SPECTRUM_GRID_DB:g}"} for k in range(steps + 1)],
        "ticks": [{"x": x(freq_hz), "label": f"{freq_hz / 1000:g}k" if freq_hz >= 1000 else f"{freq_hz:g}"} for freq_hz in SPECTRUM_TICKS_HZ],
    }


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
