"""The validation passes after structure: meaning, files, duration, effects, sample data."""

from __future__ import annotations

from pathlib import Path

from dsp import codecs
from dsp import io as audio_io
from dsp.automation import HOLD
from dsp.effect import Effect
from dsp.errors import DspError
from farm.storage import Location, stems

from . import samplescan
from .clips import clip_span
from .effects import MAX_TOTAL_IMPULSE_RESPONSE_S, build_effect
from .model import (
    FX_AUTOMATION_PREFIX,
    MASTER,
    MAX_STEM_FILES,
    REPORT_NAME,
    STEM_NAME_FIELD,
    Clip,
    Master,
    Match,
    Output,
    Session,
    Strip,
    Track,
    effect_lane,
    stem_path,
    stem_strips,
    tracks_reaching_master,
)
from .problems import echo, format_path


def check_meaning(session: Session) -> list[str]:
    """Names, routing, cycles, automation targets, output paths, and a loudness target with a track to hear."""
    problems: list[str] = []
    strips = [(f"tracks[{i}]", track) for i, track in enumerate(session.tracks)] + [
        (f"buses[{i}]", bus) for i, bus in enumerate(session.buses)
    ]
    seen: dict[str, str] = {}
    for where, strip in strips:
        if strip.name == MASTER:
            problems.append(f"{where}.name: {MASTER!r} is reserved for the master bus")
        elif strip.name in seen:
            problems.append(f"{where}.name: {echo(strip.name)} is already the name of {seen[strip.name]}")
        else:
            seen[strip.name] = where
    buses = {bus.name for bus in session.buses}
    edges: dict[str, set[str]] = {strip.name: set() for _, strip in strips}
    for where, strip in strips:
        if strip.output != MASTER and strip.output not in buses:
            problems.append(f"{where}.output: no bus named {echo(strip.output)} (buses: {_listing(buses)}, or 'master')")
        elif strip.output != MASTER:
            edges[strip.name].add(strip.output)
        for index, send in enumerate(strip.sends):
            if send.bus not in buses:
                problems.append(f"{where}.sends[{index}].bus: no bus named {echo(send.bus)} (buses: {_listing(buses)})")
            else:
                edges[strip.name].add(send.bus)
        problems += _check_effect_ids(f"{where}.fx", strip.fx)
        send_targets = {send.bus for send in strip.sends}
        for key, points in strip.automation.items():
            problems += _check_automation(f"{where}.automation.{format_path([key])}", key, points, send_targets)
    cycle = _find_cycle({name: targets for name, targets in edges.items() if name in buses})
    if cycle:
        problems.append(f"buses: routing forms a cycle: {' -> '.join(cycle)}")
    keys, sidechain_problems = _check_sidechains(strips + [("master", session.master)], set(seen))
    problems += sidechain_problems
    for _, source, keyed in keys:
        if keyed != MASTER:
            edges[source].add(keyed)
    cycle = [] if cycle else _find_cycle(edges)
    if cycle:
        where = next(where for where, source, keyed in keys if (source, keyed) in zip(cycle, cycle[1:]))
        problems.append(f"{where}: routing and sidechains form a cycle: {' -> '.join(cycle)} (each strip feeds or keys the next)")
    problems += _check_effect_ids("master.fx", session.master.fx)
    if session.master.loudness is not None and all(output.stems is not None for output in session.outputs):
        problems.append("master.loudness: the outputs write only stems, which the loudness stage never touches; add a master output or remove the target")
    if session.master.loudness is not None and not tracks_reaching_master(session):
        problems.append("master.loudness: no track is heard in the master (mute, solo or routing silence them all); there is nothing to normalise")
    return problems + _check_outputs(session, set(seen))


def _check_sidechains(strips: list[tuple[str, Strip | Master]], names: set[str]) -> tuple[list[tuple[str, str, str]], list[str]]:
    """Every sidechain, as ``(field path, source, keyed strip)``, and the problems: a key from no track or bus, or from its own strip."""
    keys, problems = [], []
    for where, strip in strips:
        keyed = getattr(strip, "name", MASTER)
        for index, spec in enumerate(strip.fx):
            sidechain = getattr(spec, "sidechain", None)
            if sidechain is None:
                continue
            field = f"{where}.fx[{index}].sidechain.from"
            if sidechain.source not in names:
                problems.append(f"{field}: no track or bus named {echo(sidechain.source)} (strips: {_listing(names)})")
            elif sidechain.source == keyed:
                problems.append(f"{field}: {echo(keyed)} cannot key its own {spec.type}: its key would come from its own output (a cycle)")
            else:
                keys.append((field, sidechain.source, keyed))
    return keys, problems


def _check_outputs(session: Session, names: set[str]) -> list[str]:
    """Each output names files of its own inside the output folder, clear of the render's own files; a stem output, strips that exist."""
    problems: list[str] = []
    files: list[tuple[str, str, Output]] = []
    stems = 0
    for index, output in enumerate(session.outputs):
        where = f"outputs[{index}]"
        problems += check_encoding(where, output)
        if output.stems is None:
            files.append((f"{where}.path", output.path, output))
            continue
        if STEM_NAME_FIELD not in output.path:
            problems.append(f"{where}.path: a stem output's path must hold {STEM_NAME_FIELD}, where each strip's name goes; got {echo(output.path)}")
            continue
        if isinstance(output.stems, list):
            unknown = [(position, name) for position, name in enumerate(output.stems) if name not in names]
            problems += [f"{where}.stems[{position}]: no track or bus named {echo(name)} (strips: {_listing(names)})" for position, name in unknown]
            if unknown:
                continue
        for name in stem_strips(session, output):
            files.append((f"{where}.path", stem_path(output.path, name), output))
            stems += 1
    if stems > MAX_STEM_FILES:
        return problems + [f"outputs: the stem outputs write {stems} files; at most {MAX_STEM_FILES} in all"]
    return problems + check_output_paths([(where, path, output.path) for where, path, output in files])


def check_output_paths(files: list[tuple[str, str, str]]) -> list[str]:
    """Each file ``(field, path, path as written)`` stays inside the output folder, clear of the render's own files and of every other file."""
    problems: list[str] = []
    written = [Path(path) for _, path, _ in files]
    folders = {parent for path in written for parent in path.parents}
    seen: dict[str, str] = {}
    for (where, path, template), relative in zip(files, written):
        shown = echo(path) if path == template else f"{echo(path)} (from {echo(template)})"
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            problems.append(f"{where}: must stay inside the output folder, got {shown}")
        elif any(part.startswith(".") for part in relative.parts):
            problems.append(f"{where}: file and folder names must not start with '.' (the render's working files do), got {shown}")
        elif relative.as_posix().casefold() == REPORT_NAME:
            problems.append(f"{where}: {shown} is reserved for the render report")
        elif relative in folders:
            problems.append(f"{where}: {shown} is also the folder of another output")
        key = relative.as_posix()
        earlier = seen.get(key.casefold())
        if earlier is None:
            seen[key.casefold()] = key
        elif earlier == key:
            problems.append(f"{where}: {shown} is already written by another output")
        elif relative.as_posix().casefold() != REPORT_NAME:
            problems.append(f"{where}: {shown} is already written by another output as {echo(earlier)} (one file on a disk that ignores case)")
    return problems


def check_encoding(where: str, output: Output) -> list[str]:
    """A lossless output's bit depth, or a lossy one's bitrate and rate; neither given the other's fields."""
    if not output.lossy:
        if output.bitrate_kbps is not None:
            return [f"{where}.bitrate_kbps: only mp3, opus and aac have a bitrate; {output.format} is lossless (set bit_depth instead)"]
        if output.format == "flac" and output.bit_depth == "32f":
            return [f"{where}.bit_depth: flac supports 16 or 24, got '32f'"]
        return []
    problems = [
        f"{where}.{field}: applies to wav, aiff and flac only; {output.format} is lossy (set bitrate_kbps instead)"
        for field in ("bit_depth", "dither")
        if field in output.model_fields_set
    ]
    if output.format == "aac" and not codecs.ffmpeg_installed():
        problems.append(f"{where}.format: aac is encoded by ffmpeg, which is not installed here (on Debian: apt install ffmpeg)")
    checks = [("bitrate_kbps", codecs.check_bitrate, output.bitrate_kbps), ("sample_rate", codecs.check_sample_rate, output.sample_rate)]
    for field, check, value in checks:
        if value is not None:
            try:
                check(output.format, value)
            except DspError as exc:
                problems.append(f"{where}.{exc}")
    return problems


def _check_effect_ids(where: str, chain: list) -> list[str]:
    """Each ``id`` in a chain is unique and not digits alone (``fx.<n>`` names the entry at position n)."""
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, spec in enumerate(chain):
        if spec.id is None:
            continue
        if spec.id.isdigit():
            problems.append(f"{where}[{index}].id: {echo(spec.id)} is digits alone, which automation keys read as a position; add a letter or an underscore")
        elif spec.id in seen:
            problems.append(f"{where}[{index}].id: {echo(spec.id)} is already the id of {where}[{seen[spec.id]}]")
        else:
            seen[spec.id] = index
    return problems


AUTOMATION_RANGES = {"gain_db": (-144.0, 24.0), "pan": (-1.0, 1.0), "width": (0.0, 2.0), "mute": (0.0, 1.0)}
"""The strip parameters automation may move, with the range of their values."""


def _check_automation(where: str, key: str, points: list[list], send_targets: set[str]) -> list[str]:
    parts = key.split(".")
    if key.startswith(FX_AUTOMATION_PREFIX):
        return []  # an effect's parameter: checked with the built effects (check_effects)
    if key in AUTOMATION_RANGES:
        low, high = AUTOMATION_RANGES[key]
    elif len(parts) == 3 and parts[0] == "sends" and parts[2] == "level_db":
        if parts[1] not in send_targets:
            return [f"{where}: this strip has no send to {echo(parts[1])}"]
        low, high = -144.0, 24.0
    else:
        return [f"{where}: unknown automation target; allowed: gain_db, pan, width, mute, sends.<bus>.level_db, fx.<id or position>.<parameter>"]
    problems = _check_points(where, points)
    for index, point in enumerate(points):
        value = point[1]
        if isinstance(value, str) or len(point) > 3:
            continue
        if not low <= value <= high:
            problems.append(f"{where}[{index}]: value must be within [{low:g}, {high:g}], got {value:g}")
        elif key == "mute" and value not in (0.0, 1.0):
            problems.append(f"{where}[{index}]: value must be 0 (sounding) or 1 (muted), got {value:g}")
    return problems


def _check_points(where: str, points: list[list]) -> list[str]:
    """A lane's shape: at least one point, each [time_s, value] or [time_s, value, hold], times from 0 on, never going back."""
    problems = []
    if not points:
        problems.append(f"{where}: must hold at least one [time_s, value] point")
    previous_s = None
    for index, point in enumerate(points):
        time_s, value, *hold = point
        if isinstance(time_s, str) or isinstance(value, str) or hold not in ([], [HOLD]):
            problems.append(f"{where}[{index}]: must be [time_s, value] or [time_s, value, {HOLD}], got {echo(point)}")
            continue
        if time_s < 0:
            problems.append(f"{where}[{index}]: time_s must be >= 0, got {time_s:g}")
        if previous_s is not None and time_s < previous_s:
            problems.append(f"{where}[{index}]: times must not decrease, got {time_s:g} after {previous_s:g}")
        previous_s = time_s
    return problems


def _check_effect_automation(where: str, strip: Strip, effects: list[Effect]) -> list[str]:
    """Each fx.<id or position>.<parameter> lane names an effect that follows that parameter, with values it allows."""
    problems = []
    for key, points in strip.automation.items():
        if not key.startswith(FX_AUTOMATION_PREFIX):
            continue
        lane = f"{where}.automation.{format_path([key])}"
        try:
            index, parameter = effect_lane(key, strip.fx)
        except ValueError as exc:
            problems.append(f"{lane}: {exc}")
            continue
        if index >= len(effects):
            continue
        problem = effects[index].automation_problem(parameter)
        if problem is not None:
            problems.append(f"{lane}: {problem}")
            continue
        shape_problems = _check_points(lane, points)
        problems += shape_problems
        if shape_problems:
            continue
        # Every parameter's allowed values form an interval, so the lowest and highest breakpoints decide.
        values = [point[1] for point in points]
        for point_index in sorted({values.index(min(values)), values.index(max(values))}):
            try:
                effects[index].check_automation(parameter, values[point_index])
            except (DspError, ValueError) as exc:
                problems.append(f"{lane}[{point_index}]: {exc}")
    return problems


def _find_cycle(edges: dict[str, set[str]]) -> list[str]:
    """A cycle in the bus graph as a list of names ending where it starts, or []."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def _listing(names: set[str], most: int = 10) -> str:
    shown = ", ".join(echo(name) for name in sorted(names)[:most]) or "none"
    return shown if len(names) <= most else f"{shown}, ... ({len(names)} in all)"


def _clip_fields(session: Session):
    """Each clip with the path of its ``file`` field: ``tracks[t].file`` or ``tracks[t].clips[c].file``."""
    for t, track in enumerate(session.tracks):
        for c, clip in enumerate(track.clip_list):
            yield (f"tracks[{t}].file" if track.file is not None else f"tracks[{t}].clips[{c}].file"), clip


def check_files(session: Session, folder: Location, roots: list[Path]) -> tuple[dict[str, audio_io.AudioInfo], list[str]]:
    """Resolve and read the header of every stem; check its rate and each clip against its file."""
    problems: list[str] = []
    files: dict[str, audio_io.AudioInfo] = {}
    for where, clip in _clip_fields(session):
        if clip.file not in files:
            try:
                facts = stems.info(folder.resolve_inside(clip.file, roots))
            except (ValueError, OSError) as exc:
                problems.append(f"{where}: {exc}")
                continue
            rate_problem = samplescan.rate_problem(facts, clip.file)
            if rate_problem:
                problems.append(f"{where}: {rate_problem}")
                continue
            files[clip.file] = facts
        facts = files[clip.file]
        clip_where = where.rsplit(".", 1)[0]
        if clip.offset_s >= facts.duration_s:
            problems.append(f"{clip_where}.offset_s: {clip.offset_s:g} s is beyond the end of {echo(clip.file)} ({facts.duration_s:g} s)")
        elif clip.duration_s is not None and clip.offset_s + clip.duration_s > facts.duration_s + 0.5 / facts.sample_rate:
            problems.append(
                f"{clip_where}.duration_s: offset_s + duration_s = {clip.offset_s + clip.duration_s:g} s "
                f"runs past the end of {echo(clip.file)} ({facts.duration_s:g} s)"
            )
        elif clip.fade_in_s + clip.fade_out_s > _clip_length_s(clip, facts) + 1e-9:
            problems.append(
                f"{clip_where}: fade_in_s + fade_out_s ({clip.fade_in_s + clip.fade_out_s:g} s) "
                f"is longer than the clip ({_clip_length_s(clip, facts):g} s)"
            )
        if facts.channels > 2:
            problems.append(f"{where}: {echo(clip.file)} has {facts.channels} channels; stems must be mono or stereo")
    return files, problems


MAX_REFERENCE_S = 30 * 60.0
"""The longest a reference for matching may last, in seconds."""


def check_reference(match: Match | None, folder: Location, roots: list[Path]) -> tuple[audio_io.AudioInfo | None, list[str]]:
    """Resolve and read the header of ``master.match.reference`` (a session's or an album's): a mono or stereo file at a usable rate,
    at most :data:`MAX_REFERENCE_S` long."""
    if match is None:
        return None, []
    where = "master.match.reference"
    try:
        facts = stems.info(folder.resolve_inside(match.reference, roots))
    except (ValueError, OSError) as exc:
        return None, [f"{where}: {exc}"]
    problem = samplescan.rate_problem(facts, match.reference, "references")
    if problem:
        return None, [f"{where}: {problem}"]
    if facts.channels > 2:
        return None, [f"{where}: {echo(match.reference)} has {facts.channels} channels; a reference must be mono or stereo"]
    if facts.duration_s > MAX_REFERENCE_S:
        return None, [f"{where}: {echo(match.reference)} lasts {facts.duration_s:g} s; a reference may last at most {MAX_REFERENCE_S:g} s"]
    return facts, []


def _clip_length_s(clip: Clip, facts: audio_io.AudioInfo) -> float:
    """How long a clip plays, in seconds, at its file's own rate."""
    return clip_span(clip, facts.frames, facts.sample_rate, facts.sample_rate).frames / facts.sample_rate


def check_duration(session: Session, files: dict[str, audio_io.AudioInfo], sample_rate: int, max_duration_s: float | None) -> list[str]:
    """The timeline (last clip end plus ``master.tail_s``, as the plan lays it out at ``sample_rate`` Hz)
    against ``max_duration_s`` seconds, and the master fades against the timeline; computed from the clips alone.

    A clip whose file could not be read counts with its ``duration_s``, or as
    ending where it starts.
    """
    ends = []
    for where, clip in _clip_fields(session):
        facts = files.get(clip.file)
        if facts:
            length_s = clip_span(clip, facts.frames, facts.sample_rate, sample_rate).frames / sample_rate
        else:
            length_s = clip.duration_s or 0.0
        field = where.rsplit(".", 1)[0] + ".start_s" if clip.start_s > 0 else where
        ends.append((clip.start_s + length_s, field))
    end_s, where = max(ends, key=lambda end: end[0], default=(0.0, "tracks"))
    length_s = end_s + session.master.tail_s
    if max_duration_s is not None and length_s > max_duration_s:
        return [f"{where}: the clip ends at {end_s:g} s; a session may last at most {_hours(max_duration_s)}, master.tail_s included"]
    problems = []
    for field in ("fade_in_s", "fade_out_s"):
        fade_s = getattr(session.master, field)
        if fade_s > length_s:
            problems.append(f"master.{field}: {fade_s:g} s is longer than the session ({length_s:g} s, master.tail_s included)")
    return problems


def _hours(seconds: float) -> str:
    whole_hours = seconds >= 3600 and seconds % 3600 == 0
    return f"{seconds:g} s ({seconds / 3600:g} h)" if whole_hours else f"{seconds:g} s"


def check_effects(
    session: Session, sample_rate: int, folder: Location, roots: list[Path], files: dict[str, audio_io.AudioInfo]
) -> tuple[dict[str, tuple[Effect, ...]], list[str]]:
    """Build every effect at the render rate so its own parameter rules apply; returns each strip's chain
    (by strip name, ``"master"`` for the master) and the problems found.

    Each effect must also start on its strip's channels (a track's, from its
    stems in ``files``, stays as it is until its pan; buses and the master are
    stereo): a left-only EQ band on a mono track is a problem.

    Convolutions past :data:`~farm.session.effects.MAX_TOTAL_IMPULSE_RESPONSE_S` of
    impulse responses in all are not read.
    """
    problems: list[str] = []
    chains = [(f"tracks[{i}].fx", track.name, track.fx, _track_channels(track, files)) for i, track in enumerate(session.tracks)]
    chains += [(f"buses[{i}].fx", bus.name, bus.fx, 2) for i, bus in enumerate(session.buses)]
    chains.append(("master.fx", MASTER, session.master.fx, 2))
    built: dict[str, tuple[Effect, ...]] = {}
    impulse_responses_s = 0.0
    strips = {track.name: (f"tracks[{i}]", track) for i, track in enumerate(session.tracks)}
    strips.update({bus.name: (f"buses[{i}]", bus) for i, bus in enumerate(session.buses)})
    for where, name, chain, channels in chains:
        effects: list[Effect] = []
        for index, spec in enumerate(chain):
            if spec.type == "convolution" and impulse_responses_s > MAX_TOTAL_IMPULSE_RESPONSE_S:
                continue
            try:
                effect = build_effect(spec, sample_rate, tempo_bpm=session.tempo_bpm, folder=folder, roots=roots)
                if channels is not None:
                    effect.init_state(channels)
            except (DspError, ValueError) as exc:
                problems.append(f"{where}[{index}].{exc}")
                continue
            effects.append(effect)
            if spec.type == "convolution":
                impulse_responses_s += effect.kernel.shape[0] / sample_rate
                if impulse_responses_s > MAX_TOTAL_IMPULSE_RESPONSE_S:
                    problems.append(
                        f"{where}[{index}].ir_file: with this one the session's impulse responses last {impulse_responses_s:g} s; "
                        f"at most {MAX_TOTAL_IMPULSE_RESPONSE_S:g} s in all"
                    )
        built[name] = tuple(effects)
        if name in strips and len(effects) == len(chain):
            problems += _check_effect_automation(*strips[name], effects)
    return built, problems


def _track_channels(track: Track, files: dict[str, audio_io.AudioInfo]) -> int | None:
    """The channels of a track's chain (its widest stem), or None when a stem could not be read."""
    if any(clip.file not in files for clip in track.clip_list):
        return None
    return max(files[clip.file].channels for clip in track.clip_list)


def check_sample_data(session: Session, files: dict[str, audio_io.AudioInfo], folder: Location, roots: list[Path]) -> list[str]:
    """Read every stem through (see :mod:`farm.session.samplescan`): NaN or infinite samples, and a loudness target
    when every track heard in the master plays only digital silence."""
    problems: list[str] = []
    scans: dict[str, samplescan.SampleScan | None] = {}
    for where, clip in _clip_fields(session):
        if clip.file in scans or clip.file not in files:
            continue
        scans[clip.file] = None
        try:
            found = scans[clip.file] = samplescan.scan(folder.resolve_inside(clip.file, roots))
        except OSError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if found.bad_frame is not None:
            problems.append(
                f"{where}: {echo(clip.file)} holds a NaN or infinite sample at frame {found.bad_frame} "
                f"({found.bad_frame / found.sample_rate:.3f} s into the file)"
            )
    if session.master.loudness is not None and _plays_only_silence(session, scans):
        problems.append("master.loudness: every track heard in the master plays only digital silence; there is nothing to normalise")
    return problems


def _plays_only_silence(session: Session, scans: dict[str, samplescan.SampleScan | None]) -> bool:
    """True when some track is heard in the master and every clip of every such track is certainly digital silence."""
    heard = tracks_reaching_master(session)
    for track in session.tracks:
        for clip in track.clip_list if track.name in heard else ():
            found = scans.get(clip.file)
            if found is None:
                return False
            span = clip_span(clip, found.frames, found.sample_rate, found.sample_rate)
            if not found.is_silent(span.offset_frames, span.offset_frames + span.frames):
                return False
    return bool(heard)
