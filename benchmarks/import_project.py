"""How long ``mixfarm import`` takes for a big project: 200 tracks, 2,000 clips (goal: under 2 s).

Writes a project of 200 audio tracks into 8 groups (folders) and 2 effect
returns, each track with a send, ten clips with fades, a volume lane of 20
points and a one-second media file: a DAWproject archive (each track with an
Equalizer and a Compressor too), a REAPER project, and an AAF of the same
tracks and clips (embedded PCM; AAF has no buses, sends or automation here). Then it imports each
``--repeats`` times into fresh folders and prints the median wall time of
the whole import (archive or text parsed, media copied, session written and
validated) and of validating the written session.

    python benchmarks/import_project.py [--tracks 200] [--clips-per-track 10] [--repeats 5] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import soundfile

from farm.projects import import_project
from farm.session import load

RATE = 48000


def project_xml(tracks: int, clips: int) -> str:
    """A project of ``tracks`` audio tracks with ``clips`` clips each, eight group buses and two returns."""
    structure = []
    for group in range(8):
        structure.append(f'<Track id="tg{group}" name="Group {group}" contentType="tracks"><Channel id="g{group}" role="submix" destination="master"><Volume unit="linear" value="0.8"/></Channel></Track>')
    for number in range(2):
        structure.append(f'<Track id="tr{number}" name="Return {number}" contentType="audio"><Channel id="r{number}" role="effect" destination="master"/></Track>')
    lanes = []
    for track in range(tracks):
        structure.append(
            f'<Track id="t{track}" name="Track {track}" contentType="audio"><Channel id="c{track}" role="regular" destination="g{track % 8}"><Devices>'
            f'<Equalizer id="eq{track}" deviceName="EQ" deviceRole="audioFX"><Band type="highPass" order="2"><Freq unit="hertz" value="80"/></Band>'
            f'<Band type="bell"><Freq unit="hertz" value="2500"/><Gain id="bell{track}" unit="decibel" value="-2"/><Q unit="linear" value="1.4"/></Band>'
            f'<Band type="highShelf"><Freq unit="hertz" value="9000"/><Gain unit="decibel" value="1.5"/></Band></Equalizer>'
            f'<Compressor id="comp{track}" deviceName="Comp" deviceRole="audioFX"><Attack unit="seconds" value="0.01"/><Ratio unit="linear" value="3"/>'
            f'<Release unit="seconds" value="0.12"/><Threshold unit="decibel" value="-18"/></Compressor></Devices>'
            f'<Pan unit="normalized" value="{0.3 + 0.4 * (track % 5) / 4}"/><Sends><Send destination="r{track % 2}" type="post"><Volume unit="linear" value="0.3"/></Send></Sends>'
            f'<Volume id="v{track}" unit="linear" value="0.7"/></Channel></Track>'
        )
        clip_elements = "".join(
            f'<Clip time="{clip * 2}" duration="1.5" playStart="0.1" fadeTimeUnit="beats" fadeInTime="0.05" fadeOutTime="0.1">'
            f'<Audio channels="1" sampleRate="{RATE}" duration="1"><File path="audio/t{track}.wav"/></Audio></Clip>'
            for clip in range(clips)
        )
        points = "".join(f'<RealPoint time="{point}" value="{0.5 + 0.02 * point}" interpolation="linear"/>' for point in range(20))
        lanes.append(f'<Lanes id="l{track}" track="t{track}"><Clips id="cl{track}">{clip_elements}</Clips><Points id="p{track}"><Target parameter="v{track}"/>{points}</Points></Lanes>')
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Project version="1.0"><Application name="bench" version="1"/>'
        '<Transport><Tempo unit="bpm" value="120"/></Transport><Structure>'
        + "".join(structure)
        + '<Track id="tm" name="Master" contentType="audio"><Channel id="master" role="master"/></Track></Structure>'
        + '<Arrangement id="a"><Lanes id="root" timeUnit="beats">'
        + "".join(lanes)
        + "</Lanes></Arrangement></Project>"
    )


def rpp_text(tracks: int, clips: int) -> str:
    """The same project as REAPER writes it: folders, receives, items with fades, volume envelopes."""
    if tracks % 8:
        raise SystemExit("--tracks must be a multiple of 8 (eight folders of equal size)")
    per = tracks // 8
    lines = ['<REAPER_PROJECT 0.1 "7.0/linux-x86_64" 1700000000', "  TEMPO 120 4 4"]
    for number in range(2):
        receives = "".join(f"    AUXRECV {2 + (track // per) * (per + 1) + 1 + track % per} 0 0.3 0 0 0 0 0 0 -1:U 0 -1 ''\n" for track in range(tracks) if track % 2 == number)
        lines.append(f"  <TRACK\n    NAME \"Return {number}\"\n{receives}  >")
    for group in range(8):
        lines.append(f"  <TRACK\n    NAME \"Group {group}\"\n    VOLPAN 0.8 0 -1 -1 1\n    ISBUS 1 1\n  >")
        members = range(group * per, (group + 1) * per)
        for position, track in enumerate(members):
            items = "".join(
                f"    <ITEM\n      POSITION {clip}\n      LENGTH 0.75\n      FADEIN 0 0.025 0 0 0 0 0\n      FADEOUT 0 0.05 0 0 0 0 0\n      SOFFS 0.05\n"
                f"      <SOURCE WAVE\n        FILE \"audio/t{track}.wav\"\n      >\n    >\n"
                for clip in range(clips)
            )
            points = "".join(f"      PT {point / 2} {0.5 + 0.02 * point} 0\n" for point in range(20))
            folder = "ISBUS 2 -1" if position == len(members) - 1 else "ISBUS 0 0"
            lines.append(
                f"  <TRACK\n    NAME \"Track {track}\"\n    VOLPAN 0.7 {((track % 5) - 2) / 5} -1 -1 1\n    {folder}\n"
                f"    <VOLENV2\n      ACT 1 -1\n{points}    >\n{items}  >"
            )
    lines.append(">")
    return "\n".join(lines) + "\n"


def write_media(folder: Path, tracks: int) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    media = {}
    for track in range(tracks):
        buffer = io.BytesIO()
        soundfile.write(buffer, rng.standard_normal(RATE) * 0.1, RATE, format="WAV", subtype="PCM_24")
        media[f"audio/t{track}.wav"] = buffer.getvalue()
    return media


def write_projects(root: Path, tracks: int, clips: int) -> dict[str, Path]:
    """The DAWproject archive and the REAPER project folder, by format."""
    media = write_media(root, tracks)
    dawproject = root / "big.dawproject"
    with zipfile.ZipFile(dawproject, "w") as archive:
        archive.writestr("project.xml", project_xml(tracks, clips), compress_type=zipfile.ZIP_DEFLATED)
        for name, data in media.items():
            archive.writestr(name, data)
    reaper = root / "reaper" / "big.rpp"
    (reaper.parent / "audio").mkdir(parents=True)
    for name, data in media.items():
        (reaper.parent / name).write_bytes(data)
    reaper.write_text(rpp_text(tracks, clips))
    return {"dawproject": dawproject, "rpp": reaper, "aaf": write_aaf(root / "aaf" / "big.aaf", reaper.parent, tracks, clips)}


def write_aaf(path: Path, media_folder: Path, tracks: int, clips: int) -> Path:
    """The same tracks as an AAF with embedded PCM essence: one master mob per track, a sequence of clips and fillers per slot."""
    import aaf2

    path.parent.mkdir(parents=True)
    with aaf2.open(str(path), "w") as handle:
        composition = handle.create.CompositionMob("big")
        composition.usage = "Usage_TopLevel"
        handle.content.mobs.append(composition)
        for track in range(tracks):
            master = handle.create.MasterMob(f"t{track}")
            handle.content.mobs.append(master)
            master_slot = master.import_audio_essence(str(media_folder / "audio" / f"t{track}.wav"), RATE)
            slot = composition.create_sound_slot(edit_rate=RATE)
            slot.name = f"Track {track}"
            sequence = handle.create.Sequence(media_kind="sound")
            for clip in range(clips):
                sequence.components.append(master.create_source_clip(slot_id=master_slot.slot_id, start=RATE // 40, length=3 * RATE // 8))
                sequence.components.append(handle.create.Filler("sound", RATE // 8))
            slot.segment = sequence
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=200)
    parser.add_argument("--clips-per-track", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print the top costs of one import (cProfile)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mixfarm-bench-") as folder:
        root = Path(folder)
        projects = write_projects(root, args.tracks, args.clips_per_track)
        print(f"projects: {args.tracks} tracks, {args.tracks * args.clips_per_track} clips, 1 s of 48 kHz audio per track")
        for fmt, project in projects.items():
            walls, validations = [], []
            for run in range(args.repeats):
                started = time.perf_counter()
                imported = import_project(project, root / f"{fmt}-run{run}")
                walls.append(time.perf_counter() - started)
                started = time.perf_counter()
                load(imported.session_path)
                validations.append(time.perf_counter() - started)
            counts = imported.report.counts
            print(f"{fmt}: {counts['tracks']} tracks, {counts['buses']} buses, {counts['clips']} clips, {len(imported.report.losses)} losses")
            print(f"  import wall: median {statistics.median(walls):.3f} s (min {min(walls):.3f}, max {max(walls):.3f}) over {args.repeats} runs; goal < 2 s")
            print(f"  of which validating the written session: median {statistics.median(validations):.3f} s")
            if args.profile:
                profile = cProfile.Profile()
                profile.runcall(import_project, project, root / f"{fmt}-profiled")
                pstats.Stats(profile).sort_stats("cumulative").print_stats(12)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
