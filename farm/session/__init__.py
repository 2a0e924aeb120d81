"""The session: its model (format ``mixfarm/1``), reading, validation and loading.

A session file is YAML or JSON; docs/session-format.md describes every field. Reading it
refuses, before anything big is built, a file over
:data:`MAX_SESSION_FILE_BYTES`, lists and mappings nested more than
:data:`MAX_NESTING` deep and YAML aliases that expand past
:data:`MAX_ALIAS_VALUES` values. Loading then runs these passes and
reports every problem found, not just the first:

1. structure (pydantic): types, required and unknown fields, finite numbers,
   and bounded text and lists (the ``MAX_*`` constants below);
2. meaning: unique names, routing to known buses, an acyclic bus graph,
   automation targets, output paths;
3. files: paths inside the session folder (or an allowed root), stems and
   impulse responses that exist and read at a rate from 8 to 384 kHz, clips
   within their files;
4. the timeline (last clip end plus ``master.tail_s``) within the longest a
   session may last, and the master fades within the timeline;
5. effect parameters: each effect is built at the render sample rate, so its
   own rules (ranges, frequencies below Nyquist) apply;
6. on request, every stem read through (:mod:`farm.session.samplescan`): NaN or
   infinite samples, and a loudness target over nothing but silence.

Each problem reads ``field.path: what is wrong``, e.g.
``tracks[3].fx[1].ratio: must be >= 1, got 0.5``. A value is echoed cut to
:data:`MAX_ECHO_CHARS` characters (see :func:`echo`), local files are named
relative to the session's folder, never by their absolute path on the server
(files in storage keep their URI), and at most :data:`MAX_PROBLEMS` problems
are listed.
"""

from .loading import LoadedSession, load, validate
from .model import (
    DEFAULT_MAX_DURATION_S,
    FORMAT,
    FX_AUTOMATION_PREFIX,
    LOUDNESS_PRESETS,
    MASTER,
    MAX_ALIAS_VALUES,
    MAX_NESTING,
    MAX_SESSION_FILE_BYTES,
    REPORT_NAME,
    Bus,
    Clip,
    LimiterSettings,
    Loudness,
    Master,
    Match,
    Output,
    Send,
    Session,
    Strip,
    Track,
    audibility,
    effect_automation,
    routes,
    stem_path,
    stem_strips,
    tracks_reaching_master,
)
from .reading import read_document

__all__ = [
    "FX_AUTOMATION_PREFIX",
    "DEFAULT_MAX_DURATION_S",
    "FORMAT",
    "LOUDNESS_PRESETS",
    "MASTER",
    "MAX_ALIAS_VALUES",
    "MAX_NESTING",
    "MAX_SESSION_FILE_BYTES",
    "REPORT_NAME",
    "Bus",
    "Clip",
    "LimiterSettings",
    "LoadedSession",
    "Loudness",
    "Master",
    "Match",
    "Output",
    "Send",
    "Session",
    "Strip",
    "Track",
    "audibility",
    "effect_automation",
    "load",
    "read_document",
    "routes",
    "stem_path",
    "stem_strips",
    "tracks_reaching_master",
    "validate",
]
