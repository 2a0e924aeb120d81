"""A job's task timeline: each attempt's tasks per node over time, its stages and the task that failed it.

:func:`attempt_timeline` gathers what the API and the job page show of one
attempt (its logged tasks, :mod:`farm.queue.tasklog`; its outcome and
failure, :func:`farm.queue.usage.attempts`); :func:`timeline_chart` lays it
out in SVG user units: one lane per node, a row per task running at once on
it, bars coloured by stage, a band per stage (a loudness pass each) with its
duration, and the failed task marked.
"""

from __future__ import annotations

from farm.engine.taskcache import CACHE_NODE
from farm.queue.history import node_addresses, short_id
from farm.queue.jobstore import Job
from farm.queue.state import JobState
from farm.queue.tasklog import MAX_TASKS_PER_ATTEMPT, attempt_tasks
from farm.queue.usage import attempts

from .analysis import time_ticks
from .service import Service

STAGE_ORDER = ("prepare", "mix", "match", "loudness", "deliver")

WIDTH = 800
STAGE_ROW = 16
LANE_HEAD = 16
TASK_ROW = 7
TASK_GAP = 1
MAX_ROWS_PER_LANE = 64
"""Tasks that would need more rows at once on one node share the last row."""
LABEL_CHAR_UNITS = 6.0
"""About how wide a character of a stage's label is, in SVG units (a label that would pass the right edge ends at its span's end)."""
LABEL_PAD = 3.0
MERGE_UNITS = 1.0
"""Neighbouring bars of one stage in a row, each narrower than this (SVG units: about a pixel), are drawn as one."""


class NoSuchAttempt(LookupError):
    """The job has no attempt of that number."""


def attempt_records(service: Service, job: Job) -> tuple[list[dict], int]:
    """The job's recorded attempts (errors without the server's paths) and how many there are with the one running now."""
    history = [service.public_attempt(job, record) for record in attempts(service.store, job.id)]
    return history, len(history) + (job.state is JobState.RUNNING)


def attempt_timeline(service: Service, job: Job, number: int | None = None, history: list[dict] | None = None) -> dict:
    """Attempt ``number`` (from 1; default the latest) at ``job``: its tasks, stages and outcome, as the API answers them.

    Raises NoSuchAttempt when the job has no such attempt (or none yet).
    """
    if history is None:
        history, count = attempt_records(service, job)
    else:
        count = len(history) + (job.state is JobState.RUNNING)
    number = count if number is None else number
    if not 1 <= number <= count:
        held = f"{count} attempt(s)" if count else "no attempt yet"
        raise NoSuchAttempt(f"attempt: job {job.id!r} has {held}; {number} is not one of them")
    record = history[number - 1] if number <= len(history) else None
    logged = attempt_tasks(service.store, job.id, number)
    failure = (record or {}).get("failure")
    return {
        "job_id": job.id,
        "attempt": number,
        "attempts": count,
        "outcome": record["outcome"] if record else "running",
        "started_at": record["started_at"] if record else job.started_at,
        "ended_at": record["ended_at"] if record else None,
        "error": record["error"] if record else None,
        "failure": failure,
        "sample_rate": logged["sample_rate"],
        "finished": logged["finished"],
        "capped": logged["finished"] > len(logged["tasks"]),
        "max_tasks": MAX_TASKS_PER_ATTEMPT,
        "stages": stage_spans(logged["tasks"], record["started_at"] if record else job.started_at),
        "tasks": logged["tasks"],
    }


def stage_spans(tasks: list[dict], started_at: float | None = None) -> list[dict]:
    """Each stage's span (a loudness pass each): its first start and last end (Unix seconds), seconds and tasks, in stage order.

    The prepare stage also runs from the attempt's start (``started_at``) to its first task: reading the session,
    planning the render, reaching the cluster.
    """
    spans: dict[tuple[str, int | None], dict] = {}
    for task in tasks:
        key = (task["stage"], task["loudness_pass"] if task["stage"] == "loudness" else None)
        end = task["started_at"] + task["seconds"]
        span = spans.setdefault(key, {"stage": key[0], "loudness_pass": key[1], "started_at": task["started_at"], "ended_at": end, "tasks": 0})
        span["started_at"], span["ended_at"] = min(span["started_at"], task["started_at"]), max(span["ended_at"], end)
        span["tasks"] += 1
    first_s = min((task["started_at"] for task in tasks), default=None)
    if started_at is not None and first_s is not None and started_at < first_s:
        span = spans.setdefault(("prepare", None), {"stage": "prepare", "loudness_pass": None, "started_at": started_at, "ended_at": first_s, "tasks": 0})
        span["started_at"] = started_at
    ordered = sorted(spans.values(), key=lambda span: (_stage_rank(span["stage"]), span["loudness_pass"] or 0))
    return [{**span, "seconds": span["ended_at"] - span["started_at"]} for span in ordered]


def _stage_rank(stage: str) -> int:
    return STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER)


def chunk_label(task: dict, sample_rate: int | None) -> str | None:
    """``12.0–13.0 s`` for a task's (or a failure's) chunk, frames where the rate is unknown; None without a chunk."""
    chunk = task.get("chunk")
    if chunk and chunk.get("start_s") is not None:
        return f"{chunk['start_s']:.1f}–{chunk['stop_s']:.1f} s"
    start, stop = (chunk.get("start_frame"), chunk.get("stop_frame")) if chunk else (task.get("start_frame"), task.get("stop_frame"))
    if start is None or stop is None:
        return None
    if sample_rate:
        return f"{start / sample_rate:.1f}–{stop / sample_rate:.1f} s"
    return f"frames {start}–{stop}"


def task_title(task: dict, sample_rate: int | None) -> str:
    """What a bar's tooltip says: kind, strip, chunk, pass or output, duration and node."""
    parts = [task["kind"]]
    if task.get("strip"):
        parts.append(task["strip"])
    chunk = chunk_label(task, sample_rate)
    if chunk:
        parts.append(f"chunk {chunk}")
    if task.get("loudness_pass"):
        parts.append(f"pass {task['loudness_pass']}")
    if task.get("output"):
        parts.append(task["output"])
    return f"{' · '.join(parts)}: {task['seconds']:.3f} s on {short_id(task['node'])}"


def timeline_chart(service: Service, timeline: dict) -> dict:
    """The SVG geometry of an attempt's timeline (:func:`attempt_timeline`): stage bands, node lanes, bars, the failed task, time ticks."""
    tasks, failure, rate = timeline["tasks"], timeline["failure"], timeline["sample_rate"]
    failed = dict(failure, kind=failure["task"]) if failure and failure.get("started_at") is not None else None
    starts = [task["started_at"] for task in tasks] + ([failed["started_at"]] if failed else []) + [span["started_at"] for span in timeline["stages"]]
    if not starts:
        return {"width": WIDTH, "height": 0, "stages": [], "lanes": [], "ticks": [], "span_s": 0.0}
    ends = [task["started_at"] + task["seconds"] for task in tasks] + ([failed["started_at"] + failed["seconds"]] if failed else [])
    origin_s = min(starts)
    span_s = max(max(ends) - origin_s, 1e-3)

    def x(at_s: float) -> float:
        return round((at_s - origin_s) / span_s * WIDTH, 2)

    def width(seconds: float) -> float:
        return round(max(seconds / span_s * WIDTH, 0.5), 2)

    stage_rows = [stage for stage in STAGE_ORDER if any(span["stage"] == stage for span in timeline["stages"])]
    stages = []
    for span in timeline["stages"]:
        label = span["stage"] + (f" pass {span['loudness_pass']}" if span["loudness_pass"] else "")
        row = stage_rows.index(span["stage"]) if span["stage"] in stage_rows else len(stage_rows)
        text = f"{label} · {span['seconds']:.2f} s"
        left, extent = x(span["started_at"]), width(span["seconds"])
        fits_right = left + LABEL_PAD + len(text) * LABEL_CHAR_UNITS <= WIDTH
        stages.append(
            {
                "stage": span["stage"],
                "label": text,
                "x": left,
                "width": extent,
                "y": row * STAGE_ROW,
                "text_x": round(left + LABEL_PAD if fits_right else min(left + extent, WIDTH) - LABEL_PAD, 2),
                "anchor": "start" if fits_right else "end",
                "title": f"{label}: {span['tasks']} task(s), {span['seconds']:.2f} s",
            }
        )
    by_node: dict[str, list[dict]] = {}
    for task in tasks:
        by_node.setdefault(task["node"], []).append(task)
    if failed:
        by_node.setdefault(failed["node"], [])
    addresses = _addresses(service, list(by_node))
    top = len(stage_rows) * STAGE_ROW + 8
    lanes = []
    for node in sorted(by_node):
        rows_end: list[float] = []
        bars: list[dict] = []
        last_in_row: dict[int, dict] = {}
        for task in sorted(by_node[node], key=lambda task: task["started_at"]):
            row = _row(rows_end, task["started_at"], task["started_at"] + task["seconds"])
            bar = {"stage": task["stage"], "x": x(task["started_at"]), "width": width(task["seconds"]), "row": row, "tasks": 1, "seconds": task["seconds"]}
            previous = last_in_row.get(row)
            if previous is not None and _merges(previous, bar):
                previous["width"] = round(max(previous["width"], bar["x"] + bar["width"] - previous["x"]), 2)
                previous["tasks"] += 1
                previous["seconds"] += task["seconds"]
                previous["title"] = f"{previous['tasks']} {task['stage']} tasks, {previous['seconds']:.3f} s in all, on {short_id(node)}"
                continue
            bar["title"] = task_title(task, rate)
            bars.append(bar)
            last_in_row[row] = bar
        failed_bar = None
        if failed and failed["node"] == node:
            row = _row(rows_end, failed["started_at"], failed["started_at"] + failed["seconds"])
            failed_bar = {"x": x(failed["started_at"]), "width": width(failed["seconds"]), "row": row, "title": "failed: " + task_title(failed, rate)}
        rows = max(len(rows_end), 1)
        body = top + LANE_HEAD
        for bar in bars + ([failed_bar] if failed_bar else []):
            bar["y"] = body + bar.pop("row") * TASK_ROW
            bar["height"] = TASK_ROW - TASK_GAP
        address = addresses.get(node)
        lanes.append(
            {
                "node": node,
                "label": f"reused from the render cache · {len(by_node[node])} task(s)"
                if node == CACHE_NODE
                else f"{short_id(node)}{f' · {address}' if address else ''} · {len(by_node[node])} task(s)",
                "y": top,
                "height": LANE_HEAD + rows * TASK_ROW,
                "bars": bars,
                "failed": failed_bar,
            }
        )
        top = body + rows * TASK_ROW + 6
    ticks = time_ticks(span_s, WIDTH)
    return {"width": WIDTH, "height": top, "stages": stages, "lanes": lanes, "ticks": ticks, "span_s": span_s}


def _merges(previous: dict, bar: dict) -> bool:
    """Whether ``bar`` joins the ``previous`` bar of its row: the same stage, both narrower than :data:`MERGE_UNITS`
    and less than that apart (so a long render draws a bar per pixel or so, not one per task)."""
    gap = bar["x"] - (previous["x"] + previous["width"])
    return previous["stage"] == bar["stage"] and previous["width"] < MERGE_UNITS and bar["width"] < MERGE_UNITS and gap < MERGE_UNITS


def _row(rows_end: list[float], start_s: float, end_s: float) -> int:
    """The first row free at ``start_s`` (a new one if none is, up to :data:`MAX_ROWS_PER_LANE`), now taken until ``end_s``."""
    for row, busy_until in enumerate(rows_end):
        if busy_until <= start_s:
            rows_end[row] = end_s
            return row
    if len(rows_end) < MAX_ROWS_PER_LANE:
        rows_end.append(end_s)
        return len(rows_end) - 1
    rows_end[-1] = max(rows_end[-1], end_s)
    return len(rows_end) - 1


def _addresses(service: Service, node_ids: list[str]) -> dict[str, str]:
    """The address of each of ``node_ids``: as the cluster reports it now, else as the history last sampled it."""
    known = {node["id"]: node["address"] for node in service.scheduler.cluster().get("nodes", []) if node.get("address")}
    missing = [node_id for node_id in node_ids if node_id not in known]
    return {**node_addresses(service.store, missing), **known} if missing else known


PAGE_ATTEMPTS = 5
"""The most attempts the job page draws, the latest first."""


def job_timelines(service: Service, job: Job) -> dict:
    """The latest :data:`PAGE_ATTEMPTS` attempts' timelines, newest first, each with its chart and its failed task's chunk; and how many attempts there are."""
    history, count = attempt_records(service, job)
    shown = []
    for number in range(count, max(count - PAGE_ATTEMPTS, 0), -1):
        timeline = attempt_timeline(service, job, number, history)
        failure = timeline["failure"]
        timeline["chart"] = timeline_chart(service, timeline)
        timeline["failure_chunk"] = chunk_label(failure, timeline["sample_rate"]) if failure else None
        shown.append(timeline)
    return {"count": count, "attempts": shown}
