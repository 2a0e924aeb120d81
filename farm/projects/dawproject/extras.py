"""``mixfarm.json``: what a session holds that DAWproject has no place for, kept beside ``project.xml`` in an export.

It holds the render rate, the master's loudness stage, limiter, fades and
tail, the outputs, each strip's width (and its automation) and polarity,
and each clip's times and fade shape, exact to the last digit. An import applies it over what ``project.xml``
says, matching strips by name and clips by their order; anything that no
longer matches (a DAW renamed a track, cut a clip) is reported and left out.
"""

from __future__ import annotations

import json

from farm.session import Session

EXTRAS_NAME = "mixfarm.json"
EXTRAS_FORMAT = "mixfarm-dawproject-extras/1"
MAX_EXTRAS_BYTES = 16 * 1024 * 1024
MASTER_FIELDS = ("loudness", "limiter", "fade_in_s", "fade_out_s", "tail_s")
CLIP_FIELDS = ("start_s", "offset_s", "duration_s", "fade_in_s", "fade_out_s", "fade_shape")
TIMING_TOLERANCE_S = 1e-6
"""How near an imported clip time must be to the one kept in the extras for the kept one, exact to the last digit, to
replace it: the arithmetic of DAWproject's clip windows can move a time by a few parts in 10^16, a DAW's edit moves it
further."""


def extras_of(session: Session) -> dict:
    """The fields of ``session`` that an export's ``project.xml`` does not carry."""
    dumped = session.model_dump(mode="json", by_alias=True, exclude_none=True)
    strips = {}
    for strip in dumped["tracks"] + dumped["buses"]:
        entry = {field: strip[field] for field in ("width", "polarity_invert") if field in strip}
        if "width" in strip.get("automation", {}):
            entry["automation"] = {"width": strip["automation"]["width"]}
        strips[strip["name"]] = entry
    clips = {track.name: [clip.model_dump(include=set(CLIP_FIELDS), exclude_none=True) for clip in track.clip_list] for track in session.tracks}
    return {
        "format": EXTRAS_FORMAT,
        "sample_rate": session.sample_rate,
        "master": {field: dumped["master"][field] for field in MASTER_FIELDS if field in dumped["master"]},
        "outputs": dumped["outputs"],
        "strips": strips,
        "clips": clips,
    }


def apply_extras(document: dict, data: bytes, report, where: str) -> None:
    """Apply the extras file ``data`` to the imported session ``document``, reporting what no longer matches."""
    try:
        extras = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        report.loss("project", where, EXTRAS_NAME, f"not JSON ({exc}); left out")
        return
    if not isinstance(extras, dict) or extras.get("format") != EXTRAS_FORMAT:
        report.loss("project", where, EXTRAS_NAME, f"not a {EXTRAS_FORMAT} file; left out")
        return
    if "sample_rate" in extras:
        document["sample_rate"] = extras["sample_rate"]
    master = extras.get("master")
    if isinstance(master, dict) and master:
        document.setdefault("master", {}).update({field: master[field] for field in MASTER_FIELDS if field in master})
    if isinstance(extras.get("outputs"), list):
        document["outputs"] = extras["outputs"]
    strips = {strip["name"]: strip for strip in document["tracks"] + document.get("buses", [])}
    kept_strips = extras.get("strips")
    for name, entry in (kept_strips if isinstance(kept_strips, dict) else {}).items():
        strip = strips.get(name)
        if strip is None or not isinstance(entry, dict):
            report.note("project", where, f"settings of the strip {name!r}", "no imported strip has that name: left out")
            continue
        for field in ("width", "polarity_invert"):
            if field in entry:
                strip[field] = entry[field]
        if isinstance(entry.get("automation"), dict) and "width" in entry["automation"]:
            strip.setdefault("automation", {})["width"] = entry["automation"]["width"]
    kept_clips = extras.get("clips")
    for name, kept in (kept_clips if isinstance(kept_clips, dict) else {}).items():
        strip = strips.get(name)
        clips = strip.get("clips") if strip is not None else None
        if not isinstance(kept, list) or clips is None or len(clips) != len(kept) or not all(isinstance(entry, dict) for entry in kept):
            report.note("project", where, f"clip settings of {name!r}", "the clips no longer match the export's: left out")
            continue
        for clip, entry in zip(clips, kept):
            _exact_clip(clip, entry)


def _exact_clip(clip: dict, kept: dict) -> None:
    """Give an imported clip the kept fade shape, and the kept times where the imported ones lie within a microsecond."""
    shape = kept.get("fade_shape")
    if isinstance(shape, str) and shape != "equal_power":
        clip["fade_shape"] = shape
    for field in CLIP_FIELDS[:-1]:
        value = kept.get(field)
        imported = clip.get(field, 0.0)
        if isinstance(value, (int, float)) and isinstance(imported, (int, float)) and abs(value - imported) < TIMING_TOLERANCE_S:
            if value or field in clip:
                clip[field] = value
