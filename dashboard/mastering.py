"""The job page's mastering charts, drawn from the render report: the reference-matching curve and an album's sequence."""

from __future__ import annotations

import math

MATCH_LOW_HZ, MATCH_HIGH_HZ = 20.0, 20000.0
FREQUENCY_TICKS_HZ = (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)
MIN_MATCH_SPAN_DB = 3.0


def _frequency_label(hz: float) -> str:
    return f"{hz / 1000:g}k" if hz >= 1000 else f"{hz:g}"


def match_chart(curves: dict[str, dict], width: float = 800, height: float = 160) -> dict:
    """Paths of matching correction curves on a log-frequency axis, with dB grid lines and frequency ticks.

    ``curves`` maps a label to a report's ``match.correction`` (``frequencies_hz``, ``mid_db``, ``side_db``);
    each gives a mid path and a side path.
    """
    values = [abs(value) for curve in curves.values() for key in ("mid_db", "side_db") for value in curve[key]]
    span = max(MIN_MATCH_SPAN_DB, math.ceil(max(values, default=0.0)))
    step = 1.0 if span <= 6 else 3.0 if span <= 12 else 6.0
    span = step * math.ceil(span / step)
    octaves = math.log2(MATCH_HIGH_HZ / MATCH_LOW_HZ)

    def x(hz: float) -> float:
        return round(math.log2(max(MATCH_LOW_HZ, min(MATCH_HIGH_HZ, hz)) / MATCH_LOW_HZ) / octaves * width, 2)

    def y(db: float) -> float:
        return round((span - max(-span, min(span, db))) / (2 * span) * height, 2)

    def path(frequencies: list[float], gains: list[float]) -> str:
        return " ".join(f"{'L' if k else 'M'}{x(hz)},{y(db)}" for k, (hz, db) in enumerate(zip(frequencies, gains)))

    lines = [
        {"label": label, "mid": path(curve["frequencies_hz"], curve["mid_db"]), "side": path(curve["frequencies_hz"], curve["side_db"])}
        for label, curve in curves.items()
    ]
    grid = [{"y": y(db), "label": f"{db:+g}" if db else "0"} for db in [span - k * step for k in range(int(2 * span / step) + 1)]]
    ticks = [{"x": x(hz), "label": _frequency_label(hz)} for hz in FREQUENCY_TICKS_HZ]
    return {"width": width, "height": height, "lines": lines, "grid": grid, "ticks": ticks, "zero_y": y(0.0)}


def sequence_chart(songs: list[dict], duration_s: float, width: float = 800, lane_height: float = 28) -> dict:
    """An album's songs as bars on its timeline, alternating between two lanes so crossfades show as overlaps; with time ticks."""
    duration_s = duration_s or 1.0
    bars = [
        {
            "x": round(song["start_s"] / duration_s * width, 2),
            "y": (position % 2) * lane_height,
            "width": max(round(song["duration_s"] / duration_s * width, 2), 1.0),
            "height": lane_height - 4,
            "label": f"{song['index']}. {song['title']}",
            "title": f"{song['index']}. {song['title']}: {song['start_s']:.2f} s, {song['duration_s']:.1f} s",
        }
        for position, song in enumerate(songs)
    ]
    step_s = _nice_step(duration_s / 6)
    ticks = [{"x": round(k * step_s / duration_s * width, 1), "label": f"{int(k * step_s // 60)}:{int(k * step_s % 60):02d}"} for k in range(int(duration_s // step_s) + 1)]
    return {"width": width, "height": 2 * lane_height, "bars": bars, "ticks": ticks}


def _nice_step(seconds: float) -> float:
    return next((step for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800) if step >= seconds), 3600)


def match_curves(report: dict) -> dict[str, dict]:
    """The report's matching curves by label: a session's one, or each album song's."""
    if report.get("match"):
        return {"master": report["match"]["correction"]}
    return {f"{song['index']}. {song['title']}": song["match"]["correction"] for song in report.get("songs", []) if song.get("match")}
