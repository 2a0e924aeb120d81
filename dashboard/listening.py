"""What the job page plays: the A/B choices (master, mix bus, stems) and the gains that match their loudness."""

from __future__ import annotations

import math

BROWSER_FORMATS = frozenset({"wav", "flac", "mp3", "opus", "aac"})
"""The deliverable formats a browser's audio element plays (AIFF it does not)."""
MAX_AB_STEMS = 8
"""The most stems among the A/B choices: every choice streams and decodes at once while it plays."""


def matching_gain_db(report: dict) -> float | None:
    """The gain that brings the mix to the master's integrated loudness (dB: master LUFS minus mix LUFS); None when either is silent."""
    mix_lufs = (report.get("input") or {}).get("integrated_lufs")
    master_lufs = (report.get("output") or {}).get("integrated_lufs")
    if not all(isinstance(value, (int, float)) and math.isfinite(value) for value in (mix_lufs, master_lufs)):
        return None
    return round(master_lufs - mix_lufs, 2)


def gain_method(gain_db: float) -> str:
    """How the page applies ``gain_db`` (as static/player.js does): the element's volume can only lower."""
    return "a Web Audio gain" if gain_db > 0 else "the audio element's volume"


def ab_choices(report: dict | None, urls: dict[str, str], mix_url: str | None) -> list[dict]:
    """The A/B choices of a succeeded render: the first master deliverable a browser plays, the mix bus (at the
    master's loudness) when the render kept a copy of it, and the first file of each of the first :data:`MAX_AB_STEMS`
    stems a browser plays (the others have their players in the deliverables table).

    Each has ``key``, ``label``, ``url``, ``gain_db`` (what it plays with) and ``note`` (how, in words).
    Fewer than two choices make no A/B: then the list is empty.
    """
    if not report:
        return []
    playable = [item for item in report.get("deliverables", []) if item.get("format") in BROWSER_FORMATS and urls.get(item.get("path"))]
    masters = [item for item in playable if "stem" not in item]
    choices = []
    if masters:
        choices.append({"key": "master", "label": f"Master ({masters[0]['path']})", "url": urls[masters[0]["path"]], "gain_db": 0.0, "note": "The master plays as delivered."})
    if mix_url:
        gain_db = matching_gain_db(report)
        if gain_db is None:
            note = "The mix plays as rendered: it or the master is silent, so there is no loudness to match."
        else:
            note = f"The mix plays {gain_db:+.1f} dB through {gain_method(gain_db)}, at the master's loudness ({report['output']['integrated_lufs']:.1f} LUFS)."
        choices.append({"key": "mix", "label": "Mix", "url": mix_url, "gain_db": gain_db or 0.0, "note": note})
    stems = {item["stem"]: item for item in reversed(playable) if "stem" in item}
    for item in list(reversed(stems.values()))[:MAX_AB_STEMS]:
        choices.append({"key": f"stem:{item['stem']}", "label": f"Stem {item['stem']}", "url": urls[item["path"]], "gain_db": 0.0, "note": f"The {item['stem']} stem plays as delivered."})
    return choices if len(choices) > 1 else []
