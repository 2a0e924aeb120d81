"""The loudness that streaming platforms and broadcast standards publish, and whether a deliverable meets it.

Each :class:`Platform` names its source. Streaming services turn every track
to their reference loudness as it plays, so a master away from it is not
refused, only turned up or down; for them :data:`STREAMING_TOLERANCE_LU`
is this project's own reading of "on target" (the service turns the file by
at most that much). Broadcast standards publish their tolerance.
"""

from __future__ import annotations

import dataclasses
import math

from farm.engine.render import LOSSY_LOUDNESS_TOLERANCE_LU, LOUDNESS_TOLERANCE_LU

STREAMING_TOLERANCE_LU = 1.0
"""How far a file may sit from a streaming service's reference loudness and still pass (LU)."""


@dataclasses.dataclass(frozen=True)
class Platform:
    """A published loudness target: integrated ``target_lufs`` within ``tolerance_lu``, true peaks at most ``max_true_peak_dbtp``."""

    key: str
    label: str
    target_lufs: float
    tolerance_lu: float
    max_true_peak_dbtp: float
    source: str


PLATFORMS: tuple[Platform, ...] = (
    Platform("spotify", "Spotify", -14.0, STREAMING_TOLERANCE_LU, -1.0, "Spotify for Artists, 'Loudness normalization': tracks are adjusted to -14 LUFS; keep below -1 dB TP"),
    Platform("apple_music", "Apple Music", -16.0, STREAMING_TOLERANCE_LU, -1.0, "Apple, 'Apple Digital Masters': Sound Check plays at -16 LUFS; true peaks at most -1 dBTP"),
    Platform("youtube", "YouTube", -14.0, STREAMING_TOLERANCE_LU, -1.0, "YouTube publishes no figure; -14 LUFS is the level its 'content loudness' readout is measured from"),
    Platform("amazon_music", "Amazon Music", -14.0, STREAMING_TOLERANCE_LU, -2.0, "Amazon Music for Artists, loudness guidance: -14 LUFS integrated, -2 dBTP"),
    Platform("tidal", "Tidal", -14.0, STREAMING_TOLERANCE_LU, -1.0, "Tidal's normalisation reference, -14 LUFS (ITU-R BS.1770-4), as Tidal stated it to MeterPlugs in 2016"),
    Platform("deezer", "Deezer", -15.0, STREAMING_TOLERANCE_LU, -1.0, "Deezer's normalisation level, -15 LUFS"),
    Platform("ebu_r128", "EBU R128 broadcast", -23.0, 0.5, -1.0, "EBU R 128 (2020): -23.0 LUFS within ±0.5 LU, maximum true peak -1 dBTP"),
    Platform("atsc_a85", "ATSC A/85", -24.0, 2.0, -2.0, "ATSC A/85:2013: -24 LKFS within ±2 dB, true peaks at most -2 dBTP"),
)
"""Every platform a deliverable is checked against, in the order the page lists them."""


def check(loudness: dict, target_lufs: float, tolerance_lu: float, max_true_peak_dbtp: float) -> dict:
    """Whether ``loudness`` (a deliverable's: ``integrated_lufs``, ``true_peak_dbtp``) meets a target.

    Returns ``passed``, ``offset_lu`` (integrated minus target: how much the
    file sits above it, None when it is silent) and ``reasons`` (what failed,
    in words; empty when it passed).
    """
    integrated = loudness.get("integrated_lufs")
    true_peak = loudness.get("true_peak_dbtp")
    reasons = []
    offset_lu = None
    if integrated is None or not math.isfinite(integrated):
        reasons.append("silent")
    else:
        offset_lu = integrated - target_lufs
        if abs(offset_lu) > tolerance_lu:
            reasons.append(f"{integrated:.1f} LUFS is {abs(offset_lu):.1f} LU {'above' if offset_lu > 0 else 'below'} {target_lufs:g} LUFS (±{tolerance_lu:g} LU)")
    if true_peak is not None and true_peak > max_true_peak_dbtp:
        reasons.append(f"true peak {true_peak:.2f} dBTP is over {max_true_peak_dbtp:g} dBTP")
    return {"passed": not reasons, "offset_lu": offset_lu, "reasons": reasons}


def badges(deliverable: dict, target: dict | None) -> list[dict]:
    """Pass/fail badges of a deliverable: against the render's ``target`` (when it had one and the file is
    no stem; within the render's tolerance), then against every platform of :data:`PLATFORMS`. Each has
    ``label``, ``key``, ``title`` (the target in words, and the source or what failed), ``passed``, ``offset_lu``
    and ``offset_text`` (it in words: ``+1.2 LU``, never ``-0.0``)."""
    loudness = deliverable.get("loudness") or {}
    checks = []
    if _levels(target) and "stem" not in deliverable:
        tolerance_lu = LOSSY_LOUDNESS_TOLERANCE_LU if deliverable.get("measured_from") == "decoded" else LOUDNESS_TOLERANCE_LU
        result = check(loudness, target["integrated_lufs"], tolerance_lu, target["true_peak_dbtp"])
        checks.append({"label": "Target", "key": "target", "what": f"{target['integrated_lufs']:g} LUFS, ≤ {target['true_peak_dbtp']:g} dBTP", **result})
    for platform in PLATFORMS:
        result = check(loudness, platform.target_lufs, platform.tolerance_lu, platform.max_true_peak_dbtp)
        what = f"{platform.target_lufs:g} LUFS ±{platform.tolerance_lu:g} LU, ≤ {platform.max_true_peak_dbtp:g} dBTP"
        checks.append({"label": platform.label, "key": platform.key, "what": what, "source": platform.source, **result})
    for item in checks:
        item["title"] = "; ".join([item["what"], *(item["reasons"] or [item.get("source", "within the target")])])
        item["offset_text"] = None if item["offset_lu"] is None else f"{round(item['offset_lu'], 1) + 0.0:+.1f} LU"
    return checks


def columns(target: dict | None) -> list[dict]:
    """The badge table's columns (``key``, ``label``, ``title``): the render's target when it had one, then every platform."""
    rendered = [{"key": "target", "label": "Target", "title": f"this render's target: {target['integrated_lufs']:g} LUFS, ≤ {target['true_peak_dbtp']:g} dBTP"}] if _levels(target) else []
    return rendered + [
        {"key": item.key, "label": item.label, "title": f"{item.target_lufs:g} LUFS ±{item.tolerance_lu:g} LU, ≤ {item.max_true_peak_dbtp:g} dBTP; {item.source}"} for item in PLATFORMS
    ]


def _levels(target: dict | None) -> bool:
    """True when ``target`` gives both an integrated loudness and a true-peak ceiling (an album's may give neither)."""
    return bool(target) and all(isinstance(target.get(key), (int, float)) for key in ("integrated_lufs", "true_peak_dbtp"))
