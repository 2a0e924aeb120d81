"""``mixfarm.json``: what a session holds that DAWproject has no place for, kept beside ``project.xml`` in an export.

It holds the render rate, the master's loudness stage, limiter, fades and
tail, the outputs, each strip's width (and its automation) and polarity,
and each clip's fade shape. An import applies it over what ``project.xml``
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


def extras_of(session: Session) -> dict:
    """The fields of ``session`` that an export's ``project.xml`` does not carry."""
    dumped = session.model_dump(mode="json", by_alias=True, exclude_none=True)
    strips = {}
    for strip in dumped["tracks"] + dumped["buses"]:
        entry = {field: strip[field] for field in ("width", "polarity_invert") if field in strip}
        if "width" in strip.get("automation", {}):
            entry["automation"] = {"width": strip["automation"]["width"]}
        strips[strip["name"]] = entry
    clips = {track.name: [clip.fade_shape for clip in track.clip_list] for track in session.tracks}
    return {
        "format": EXTRAS_FORMAT,
        "sample_rate": session.sample_rate,
        "master": {field: dumped["master"][field] for field in MASTER_FIELDS if field in dumped["master"]},
        "outputs": dumped["outputs"],
        "strips": strips,
        "fade_shapes": clips,
    }


def apply_extras(document: dict, data: bytes, report, where: str) -> None:
    """Apply the extras file ``data`` to the imported session ``document``, reporting what no longer matches."""
    try:
        extras = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
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
    for name, entry in (extras.get("strips") or {}).items():
        strip = strips.get(name)
        if strip is None or not isinstance(entry, dict):
            report.note("project", where, f"settings of the strip {name!r}", "no imported strip has that name: left out")
            continue
        for field in ("width", "polarity_invert"):
            if field in entry:
                strip[field] = entry[field]
        if isinstance(entry.get("automation"), dict) and "width" in entry["automation"]:
            strip.setdefault("automation", {})["width"] = entry["automation"]["width"]
    for name, shapes in (extras.get("fade_shapes") or {}).items():
        strip = strips.get(name)
        clips = strip.get("clips") if strip is not None else None
        if not isinstance(shapes, list) or clips is None or len(clips) != len(shapes):
            report.note("project", where, f"fade shapes of {name!r}", "the clips no longer match the export's: left out")
            continue
        for clip, shape in zip(clips, shapes):
            if shape != "equal_power":
                clip["fade_shape"] = shape
