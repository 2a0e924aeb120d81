"""The cluster page's history charts: the service's samples (:func:`farm.queue.history.history`) as SVG geometry.

Lines per node (CPUs busy, memory in use, tasks finished) and for the farm
(queue depth, jobs running), and bars of the jobs finished, over the last
hour, day or week; a line breaks where samples are missing (the service was
down, or a node did not report).
"""

from __future__ import annotations

from collections.abc import Callable

from .analysis import nice_ceiling

WIDTH = 800
HEIGHT = 120
GAP_SAMPLES = 1.5
"""Samples further apart than this many sample spans are drawn with a break between them."""
TICKS = {"hour": (600, 60, "min"), "day": (4 * 3600, 3600, "h"), "week": (86400, 86400, "d")}
"""Per window: seconds between ticks, seconds per unit of their labels, the unit."""
SERIES_CLASSES = 6
"""Lines take the classes ``line-0`` to ``line-5`` in turn."""


def time_axis(history: dict) -> list[dict]:
    """Ticks (x, label) from the window's start to ``now``, labelled back from now (``−50 min``, ``−20 h``, ``−6 d``)."""
    step_s, unit_s, unit = TICKS[history["window"]]
    span_s = history["to"] - history["from"]
    count = int(span_s // step_s)
    ticks = [{"x": round(WIDTH - k * step_s / span_s * WIDTH, 2), "label": f"−{k * step_s // unit_s:g} {unit}"} for k in range(count, 0, -1)]
    return ticks + [{"x": WIDTH, "label": "now"}]


def line_chart(history: dict, series: list[tuple[str, list[tuple[float, float | None]]]], label: Callable[[float], str] = lambda value: f"{value:g}") -> dict:
    """Paths of ``series`` ((name, [(at, value or None)])) over the window, the y grid (labels by ``label``) and the time ticks."""
    start_s, span_s = history["from"], history["to"] - history["from"]
    gap_s = GAP_SAMPLES * history["resolution_s"]
    top = float(nice_ceiling(max((value for _, points in series for _, value in points if value is not None), default=0.0)))

    def y(value: float) -> float:
        return round(HEIGHT - value / top * HEIGHT, 2)

    lines = []
    for index, (name, points) in enumerate(series):
        parts, previous = [], None
        for at, value in points:
            if value is None:
                previous = None
                continue
            x = round((at - start_s) / span_s * WIDTH, 2)
            parts.append(f"{'L' if previous is not None and at - previous <= gap_s else 'M'}{x},{y(value)}")
            previous = at
        lines.append({"name": name, "path": " ".join(parts), "css": f"line-{index % SERIES_CLASSES}"})
    grid = [{"y": y(top * fraction), "label": label(top * fraction)} for fraction in (0.0, 0.5, 1.0)]
    return {"width": WIDTH, "height": HEIGHT, "lines": lines, "grid": grid, "ticks": time_axis(history)}


def bar_series(history: dict, points: list[tuple[float, float]]) -> dict:
    """Bars of ``points`` ((at, value)), each as wide as a sample's span, with the y grid and the time ticks."""
    start_s, span_s = history["from"], history["to"] - history["from"]
    top = float(nice_ceiling(max((value for _, value in points), default=0.0)))
    slot = max(history["resolution_s"] / span_s * WIDTH, 0.5)
    bars = []
    for at, value in points:
        if value > 0:
            size = round(value / top * HEIGHT, 2)
            bars.append({"x": round((at - start_s) / span_s * WIDTH, 2), "width": round(slot, 2), "y": round(HEIGHT - size, 2), "height": size, "value": value})
    grid = [{"y": round(HEIGHT - fraction * HEIGHT, 2), "label": f"{top * fraction:g}"} for fraction in (0.0, 0.5, 1.0) if (top * fraction).is_integer()]
    return {"width": WIDTH, "height": HEIGHT, "bars": bars, "grid": grid, "ticks": time_axis(history)}


def history_charts(history: dict, size: Callable[[float], str]) -> dict:
    """Every chart of the cluster page's history (memory labelled by ``size``), and the nodes' legend."""
    nodes = history["nodes"]

    def per_node(field: str) -> list[tuple[str, list[tuple[float, float | None]]]]:
        return [(node["short_id"], [(sample["at"], sample[field]) for sample in node["samples"]]) for node in nodes]

    farm = history["samples"]
    return {
        "cpus": line_chart(history, per_node("cpus_busy")),
        "memory": line_chart(history, per_node("memory_used_bytes"), size),
        "tasks": line_chart(history, per_node("tasks_finished")),
        "queue": line_chart(history, [("queued", [(sample["at"], sample["queued"]) for sample in farm]), ("running", [(sample["at"], sample["running"]) for sample in farm])]),
        "finished": bar_series(history, [(sample["at"], sample["finished"]) for sample in farm]),
        "nodes": [{"id": node["id"], "short_id": node["short_id"], "address": node["address"], "css": f"line-{index % SERIES_CLASSES}"} for index, node in enumerate(nodes)],
    }
