"""A demo session, synthesised on the spot: "Midnight Drive", a short synthwave song.

:func:`write_demo` composes the song, renders each instrument to a stem under
``folder/stems/`` and writes ``folder/session.yaml`` around them: a mix with
buses, sends, automation and a mastering chain, delivered as three files.
Nothing is downloaded and the result is the same, byte for byte, every time.

The song is in A minor at 120 bpm (one bar is 2 s). Its form scales with the
length asked for: an intro (pad swelling in under the arpeggio, hats joining),
a verse (drums, bass, electric piano and the voice on i-VI-III-VII), a chorus
(everything: the voice's hook, a lead counter-melody, claps and shaker, the
bass pumping octaves on VI-VII-III-i) and an outro ringing out on A minor.
A riser leads into the verse and into the chorus.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import yaml

from dsp import io as audio_io

from . import instruments as inst
from .instruments import Chord, Hit, Note, note_number

SAMPLE_RATE = 48000
SHAKER_SAMPLE_RATE = 44100
"""The shaker is recorded at 44.1 kHz, so rendering it exercises the resampler."""

TEMPO_BPM = 120.0
BEAT_S = 60.0 / TEMPO_BPM
BAR_S = 4 * BEAT_S
STEP_S = BEAT_S / 4
MIN_BARS = 4
TAIL_S = 2.0

CHORD_TONES = {"Am": "ACE", "F": "FAC", "C": "CEG", "G": "GBD"}
VERSE_CHORDS = ("Am", "F", "C", "G")
CHORUS_CHORDS = ("F", "G", "C", "Am")
OUTRO_CHORDS = ("F", "G", "Am", "Am")

# Drum and rhythm patterns, one character per 16th step: X accent, x normal, . rest.
DRUMS = {
    "intro": {"hats": "..x...x...x...X."},
    "verse": {"kick": "X...X...X...X...", "snare": "....X.......X...", "hats": "x.X.x.X.x.X.x.X."},
    "fill": {"kick": "X...X...X...X...", "snare": "....X...x.xxxxXX", "hats": "x.X.x.X.x.X....."},
    "chorus": {
        "kick": "X...X...X...X.x.",
        "snare": "....X.......X...",
        "clap": "....X.......X...",
        "hats": "xxXxxxXxxxXxxxXx",
        "shaker": "x.Xxx.Xxx.Xxx.Xx",
    },
    "outro": {"kick": "X...............", "hats": "..x...x...x...x."},
}
VELOCITY = {"x": 0.7, "X": 1.0}
VERSE_VELOCITY = 0.7

# Bass per 8th: r root, o octave, . tie (the note before holds on).
BASS = {"verse": "rrrrrrro", "chorus": "rorororo", "outro": "r......."}
# Electric piano stabs per 8th: x strike, . hold.
KEYS = {"verse": "x..x....", "chorus": "x..x..x.", "outro": "x......."}
# The arpeggio's 16ths: which of the chord's three tones (and 3, the root an octave up) each plays.
ARP_ORDER = (0, 1, 2, 3, 1, 2, 3, 2, 0, 1, 2, 3, 2, 3, 1, 2)

# Melodies over one four-bar cycle: (beat, length in beats, note[, vowel sung]).
VOICE_VERSE = (
    (0.5, 0.5, "E4", "e"), (1.0, 0.5, "E4", "o"), (1.5, 0.5, "D4", "a"), (2.0, 1.5, "C4", "i"), (3.5, 0.5, "A3", "a"),
    (4.0, 1.0, "C4", "o"), (5.0, 0.5, "D4", "a"), (5.5, 2.0, "C4", "u"),
    (8.5, 0.5, "E4", "i"), (9.0, 0.5, "G4", "e"), (9.5, 0.5, "E4", "a"), (10.0, 1.0, "D4", "o"), (11.0, 1.0, "C4", "a"),
    (12.0, 1.5, "D4", "a"), (13.5, 0.5, "B3", "i"), (14.0, 1.5, "G3", "o"),
)
VOICE_CHORUS = (
    (0.0, 1.0, "A4", "a"), (1.0, 0.5, "G4", "o"), (1.5, 0.5, "A4", "a"), (2.0, 1.5, "C5", "i"), (3.5, 0.5, "A4", "e"),
    (4.0, 1.0, "B4", "o"), (5.0, 0.5, "A4", "a"), (5.5, 2.0, "G4", "i"),
    (8.0, 1.0, "E4", "e"), (9.0, 0.5, "G4", "o"), (9.5, 0.5, "C5", "a"), (10.0, 1.5, "B4", "i"), (11.5, 0.5, "G4", "o"),
    (12.0, 3.0, "A4", "a"),
)
LEAD_CHORUS = ((0.0, 3.0, "F5"), (3.0, 1.0, "E5"), (4.0, 4.0, "D5"), (8.0, 2.0, "E5"), (10.0, 2.0, "G5"), (12.0, 3.5, "A5"))


@dataclasses.dataclass(frozen=True)
class Section:
    """A part of the song: ``bars`` bars from ``first_bar``, with a chord per bar."""

    name: str
    first_bar: int
    chords: tuple[str, ...]

    @property
    def bars(self) -> int:
        """Its length in bars."""
        return len(self.chords)

    @property
    def start_s(self) -> float:
        """Where it begins, in seconds."""
        return self.first_bar * BAR_S

    @property
    def end_s(self) -> float:
        """Where it ends, in seconds."""
        return (self.first_bar + self.bars) * BAR_S


def song_form(duration_s: float) -> dict[str, Section]:
    """The intro, verse, chorus and outro fitted to ``duration_s``: 1/8, 1/4, the rest and 1/8 of its bars."""
    total_bars = int(duration_s / BAR_S)
    intro = outro = max(1, round(total_bars / 8))
    verse = max(1, round(total_bars / 4))
    chorus = total_bars - intro - verse - outro
    chords = {
        "intro": repeat(VERSE_CHORDS, intro),
        "verse": repeat(VERSE_CHORDS, verse),
        "chorus": repeat(CHORUS_CHORDS, chorus),
        "outro": repeat(OUTRO_CHORDS, outro * len(OUTRO_CHORDS))[-outro:],
    }
    form, first_bar = {}, 0
    for name, progression in chords.items():
        form[name] = Section(name, first_bar, progression)
        first_bar += len(progression)
    return form


def repeat(progression: tuple[str, ...], length_bars: int) -> tuple[str, ...]:
    """``progression`` played round for ``length_bars`` bars."""
    return tuple(progression[bar % len(progression)] for bar in range(length_bars))


def every_bar(form: dict[str, Section]) -> Iterator[tuple[Section, int, str]]:
    """Every bar of the song: (its section, its index within the section, its chord)."""
    for section in form.values():
        for index, chord in enumerate(section.chords):
            yield section, index, chord


def bar_start_s(section: Section, index: int) -> float:
    """Where bar ``index`` of ``section`` begins."""
    return (section.first_bar + index) * BAR_S


def voicing(chord: str, lowest_midi: int) -> tuple[int, ...]:
    """The chord's tones, each placed in the octave from ``lowest_midi`` up (smooth voice leading)."""
    classes = [inst.PITCH_CLASSES[letter] for letter in CHORD_TONES[chord]]
    return tuple(sorted(lowest_midi + (pitch_class - lowest_midi) % 12 for pitch_class in classes))


def root(chord: str, lowest_midi: int) -> int:
    """The chord's root in the octave from ``lowest_midi`` up."""
    return lowest_midi + (inst.PITCH_CLASSES[chord[0]] - lowest_midi) % 12


def dynamics(section: Section) -> float:
    """How hard the bass and keys play: softer in the verse, so the chorus lifts."""
    return VERSE_VELOCITY if section.name == "verse" else 1.0


def drum_pattern(section: Section, index: int) -> dict[str, str]:
    """The drum patterns of a bar: hats join halfway through the intro, the verse ends in a fill, the outro's drums stop halfway."""
    if section.name == "intro" and index < section.bars // 2:
        return {}
    if section.name == "verse" and index == section.bars - 1:
        return DRUMS["fill"]
    if section.name == "outro" and index >= max(1, section.bars // 2):
        return {}
    return DRUMS[section.name]


def drum_hits(form: dict[str, Section], rng: np.random.Generator) -> dict[str, list[Hit]]:
    """Every drum's hits, with a little human variation in how hard each is struck."""
    hits: dict[str, list[Hit]] = {name: [] for name in ("kick", "snare", "clap", "hats", "shaker")}
    for section, index, _ in every_bar(form):
        for drum, pattern in drum_pattern(section, index).items():
            spread = 0.1 if drum in ("hats", "shaker") else 0.04
            for step, symbol in enumerate(pattern):
                if symbol in VELOCITY:
                    velocity = float(np.clip(VELOCITY[symbol] * (1.0 + spread * rng.standard_normal()), 0.2, 1.0))
                    hits[drum].append(Hit(bar_start_s(section, index) + step * STEP_S, velocity))
    return hits


def eighths(pattern: str, start_s: float, gate: float) -> Iterator[tuple[int, float, float, str]]:
    """(8th, time_s, duration_s, symbol) of each struck 8th of ``pattern``; a note lasts ``gate`` of its span."""
    struck = [step for step, symbol in enumerate(pattern) if symbol != "."] + [len(pattern)]
    for step, following in zip(struck, struck[1:]):
        yield step, start_s + step * 2 * STEP_S, (following - step) * 2 * STEP_S * gate, pattern[step]


def bass_notes(form: dict[str, Section]) -> list[Note]:
    """The bass: driving 8ths on the chord roots, octaves in the chorus, one long note a bar in the outro."""
    notes = []
    for section, index, chord in every_bar(form):
        for eighth, time_s, duration_s, symbol in eighths(BASS.get(section.name, ""), bar_start_s(section, index), gate=0.8):
            midi = root(chord, note_number("E1")) + (12 if symbol == "o" else 0)
            accent = 1.0 if eighth % 2 == 0 else 0.85
            notes.append(Note(time_s, duration_s, midi, accent * dynamics(section)))
    return notes


def keys_chords(form: dict[str, Section]) -> list[Chord]:
    """The electric piano: syncopated stabs in the verse, busier in the chorus, whole bars in the outro."""
    chords = []
    for section, index, chord in every_bar(form):
        for _, time_s, duration_s, _ in eighths(KEYS.get(section.name, ""), bar_start_s(section, index), gate=0.9):
            chords.append(Chord(time_s, duration_s, voicing(chord, note_number("F3")), dynamics(section)))
    return chords


def pad_chords(form: dict[str, Section]) -> list[Chord]:
    """The pad: one sustained chord a bar, all song long."""
    return [Chord(bar_start_s(section, index), BAR_S, voicing(chord, note_number("C4"))) for section, index, chord in every_bar(form)]


def arp_notes(form: dict[str, Section]) -> list[Note]:
    """The arpeggio: 16ths over the chord tones and the octave above, accented on the beat."""
    notes = []
    for section, index, chord in every_bar(form):
        tones = voicing(chord, note_number("E4"))
        tones += (tones[0] + 12,)
        for step, tone in enumerate(ARP_ORDER):
            velocity = 1.0 if step % 4 == 0 else 0.7
            notes.append(Note(bar_start_s(section, index) + step * STEP_S, 0.8 * STEP_S, tones[tone], velocity))
    return notes


def melody(section: Section, phrase: tuple) -> list[Note]:
    """``phrase`` (a four-bar cycle) played over and over through ``section``, cut at its end.

    Its entries are (beat, length in beats, note name) and, for the voice, the vowel sung.
    """
    notes = []
    for cycle in range(0, section.bars, 4):
        for beat, length, name, *vowel in phrase:
            time_s = bar_start_s(section, cycle) + beat * BEAT_S
            if time_s < section.end_s:
                notes.append(Note(time_s, min(length * BEAT_S, section.end_s - time_s), note_number(name), 1.0, *vowel))
    return notes


def riser_length_s(form: dict[str, Section]) -> float:
    """The riser lasts two bars, or the whole verse if that is shorter."""
    return min(2 * BAR_S, form["verse"].end_s - form["verse"].start_s)


def render_stems(form: dict[str, Section], duration_s: float) -> dict[str, tuple[np.ndarray, int]]:
    """Every stem of the song: name -> (audio, sample rate), each at its own peak level."""
    frames = inst.to_frames(duration_s, SAMPLE_RATE)
    shaker_frames = inst.to_frames(duration_s, SHAKER_SAMPLE_RATE)
    seeded = ("humanise", "kick", "snare", "clap", "hats", "shaker", "pad", "voice", "riser")
    rng = {name: np.random.default_rng(seed) for seed, name in enumerate(seeded)}
    hits = drum_hits(form, rng["humanise"])
    voice_line = melody(form["verse"], VOICE_VERSE) + melody(form["chorus"], VOICE_CHORUS)
    stems = {
        "kick": (inst.kick(hits["kick"], frames, SAMPLE_RATE, rng["kick"]), SAMPLE_RATE, -1.0),
        "snare": (inst.snare(hits["snare"], frames, SAMPLE_RATE, rng["snare"]), SAMPLE_RATE, -3.0),
        "clap": (inst.clap(hits["clap"], frames, SAMPLE_RATE, rng["clap"]), SAMPLE_RATE, -4.0),
        "hats": (inst.hats(hits["hats"], frames, SAMPLE_RATE, rng["hats"]), SAMPLE_RATE, -6.0),
        "shaker": (inst.shaker(hits["shaker"], shaker_frames, SHAKER_SAMPLE_RATE, rng["shaker"]), SHAKER_SAMPLE_RATE, -6.0),
        "bass": (inst.bass(bass_notes(form), frames, SAMPLE_RATE), SAMPLE_RATE, -2.0),
        "keys": (inst.keys(keys_chords(form), frames, SAMPLE_RATE, tremolo_hz=2.0 / BEAT_S), SAMPLE_RATE, -3.0),
        "pad": (inst.pad(pad_chords(form), frames, SAMPLE_RATE, rng["pad"]), SAMPLE_RATE, -4.0),
        "arp": (inst.arp(arp_notes(form), frames, SAMPLE_RATE), SAMPLE_RATE, -5.0),
        "lead": (inst.lead(melody(form["chorus"], LEAD_CHORUS), frames, SAMPLE_RATE), SAMPLE_RATE, -3.0),
        "vocal": (inst.voice(voice_line, frames, SAMPLE_RATE, rng["voice"]), SAMPLE_RATE, -2.0),
        "riser": (inst.riser(riser_length_s(form), SAMPLE_RATE, rng["riser"]), SAMPLE_RATE, -3.0),
    }
    return {name: (inst.normalise_peak(audio, peak_dbfs), rate) for name, (audio, rate, peak_dbfs) in stems.items()}


def eq(*bands: dict) -> dict:
    """An ``eq`` effect with ``bands``."""
    return {"type": "eq", "bands": list(bands)}


def band(kind: str, freq_hz: float, **params: float) -> dict:
    """One EQ band."""
    return {"kind": kind, "freq_hz": freq_hz, **params}


def compressor(threshold_db: float, ratio: float, **params: float | str) -> dict:
    """A ``compressor`` effect."""
    return {"type": "compressor", "threshold_db": threshold_db, "ratio": ratio, **params}


def send(bus: str, level_db: float, pre_fader: bool = False) -> dict:
    """A send into ``bus`` (post-fader unless ``pre_fader``)."""
    return {"bus": bus, "level_db": level_db, **({"pre_fader": True} if pre_fader else {})}


def track(name: str, gain_db: float, output: str = "master", **fields: object) -> dict:
    """A track playing ``stems/<name>.wav``, unless ``clips`` are given."""
    source = {} if "clips" in fields else {"file": f"stems/{name}.wav"}
    return {"name": name, **source, "gain_db": gain_db, **fields, "output": output}


def drum_tracks() -> list[dict]:
    """The kit, into the drum bus: each drum cleaned up by its EQ; the snare gated, snare and clap in the room."""
    return [
        track(
            "kick", -7.0, "drums",
            fx=[eq(band("highpass", 30.0, slope_db_oct=24), band("bell", 60.0, gain_db=2.0, q=1.0), band("bell", 350.0, gain_db=-3.0, q=1.4))],
        ),
        track(
            "snare", -5.0, "drums",
            fx=[
                {"type": "gate", "threshold_db": -40.0, "range_db": -24.0, "attack_s": 0.0005, "hold_s": 0.06, "release_s": 0.1},
                eq(band("highpass", 100.0), band("bell", 200.0, gain_db=2.0, q=1.2), band("high_shelf", 8000.0, gain_db=2.0)),
            ],
            sends=[send("reverb", -14.0)],
        ),
        track("clap", -7.0, "drums", pan=0.1, fx=[eq(band("highpass", 250.0))], sends=[send("reverb", -9.0)]),
        track("hats", -10.0, "drums", pan=0.3, fx=[eq(band("highpass", 500.0, slope_db_oct=24), band("high_shelf", 10000.0, gain_db=1.5))]),
        track("shaker", -15.0, "drums", pan=-0.4, fx=[eq(band("highpass", 800.0))]),
    ]


def music_tracks(form: dict[str, Section], duration_s: float) -> list[dict]:
    """Bass, keys, pad, arp, lead, vocal and riser, with their inserts, sends and automation.

    The rides: the pad swells in over the intro and steps back under the
    verse's vocal; the arp sweeps across the stereo field; the vocal comes up
    2 dB for the chorus and throws more into the delay there. The lead's
    reverb send is pre-fader, so its level already allows for the fader's.
    """
    verse_s, chorus_s, outro_s = form["verse"].start_s, form["chorus"].start_s, form["outro"].start_s
    pad_db, vocal_db = -18.0, -10.0
    settle_s = (chorus_s - verse_s) / 4
    riser_s = riser_length_s(form)
    return [
        track(
            "bass", -5.0,
            fx=[
                eq(band("highpass", 30.0, slope_db_oct=24), band("bell", 250.0, gain_db=-2.0, q=1.0)),
                {"type": "saturation", "drive_db": 6.0, "mix": 0.6},
                compressor(-10.0, 3.0, attack_s=0.01, release_s=0.1, knee_db=6.0),
            ],
        ),
        track(
            "keys", -15.0, width=1.2,
            fx=[eq(band("highpass", 150.0), band("bell", 350.0, gain_db=-2.5, q=1.0), band("high_shelf", 6000.0, gain_db=1.0))],
            sends=[send("reverb", -12.0), send("delay", -20.0)],
        ),
        track(
            "pad", pad_db,
            fx=[eq(band("highpass", 200.0), band("bell", 500.0, gain_db=-2.0, q=0.8)), {"type": "width", "width": 1.5}],
            automation={
                "gain_db": [
                    [0.0, -40.0], [verse_s, pad_db], [verse_s + settle_s, pad_db - 6.0], [chorus_s - settle_s, pad_db - 6.0], [chorus_s, pad_db],
                ],
            },
        ),
        track(
            "arp", -18.0,
            fx=[eq(band("highpass", 300.0))],
            sends=[send("delay", -14.0)],
            automation={"pan": [[k * 2 * BAR_S, -0.6 if k % 2 == 0 else 0.6] for k in range(int(duration_s // (2 * BAR_S)) + 1)]},
        ),
        track(
            "lead", -21.0, pan=0.15,
            fx=[eq(band("highpass", 250.0), band("bell", 2500.0, gain_db=1.5, q=1.0))],
            sends=[send("reverb", -32.0, pre_fader=True), send("delay", -12.0)],
        ),
        track(
            "vocal", vocal_db,
            fx=[
                eq(
                    band("highpass", 120.0, slope_db_oct=24), band("bell", 300.0, gain_db=-2.0, q=1.0), band("bell", 3000.0, gain_db=2.5, q=1.0),
                ),
                compressor(-18.0, 3.0, attack_s=0.005, release_s=0.08, knee_db=6.0, makeup_db=3.0, detector="rms"),
            ],
            sends=[send("reverb", -10.0), send("delay", -24.0)],
            automation={
                "gain_db": [[chorus_s - BEAT_S, vocal_db - 2.0], [chorus_s, vocal_db]],
                "sends.delay.level_db": [[chorus_s - BEAT_S, -24.0], [chorus_s, -14.0], [outro_s, -14.0], [outro_s + BEAT_S, -24.0]],
            },
        ),
        track(
            "riser", -20.0, width=1.3,
            clips=[
                {"file": "stems/riser.wav", "start_s": verse_s - riser_s / 2, "offset_s": riser_s / 2, "duration_s": riser_s / 2,
                 "gain_db": -3.0, "fade_in_s": 0.25, "fade_shape": "exponential"},
                {"file": "stems/riser.wav", "start_s": chorus_s - riser_s, "fade_in_s": 0.5, "fade_out_s": 0.02, "fade_shape": "linear"},
            ],
            fx=[eq(band("highpass", 200.0))],
            sends=[send("reverb", -8.0)],
        ),
    ]


def buses() -> list[dict]:
    """The drum bus (parallel glue compression), a plate-like reverb and a dotted-8th ping-pong delay feeding it."""
    return [
        {
            "name": "drums",
            "fx": [compressor(-20.0, 3.0, attack_s=0.015, release_s=0.12, knee_db=6.0, makeup_db=2.0, sidechain_hpf_hz=90.0, mix=0.8)],
        },
        {
            "name": "reverb",
            "fx": [
                eq(band("highpass", 250.0), band("lowpass", 9000.0)),
                {"type": "reverb", "decay_s": 2.6, "predelay_s": 0.03, "size": 0.75, "damping_hz": 5000.0, "width": 1.3, "mix": 1.0},
            ],
        },
        {
            "name": "delay",
            "fx": [
                {"type": "delay", "time_note": "1/8.", "feedback": 0.35, "mix": 1.0, "ping_pong": True, "highcut_hz": 4500.0},
                eq(band("highpass", 300.0)),
            ],
            "sends": [send("reverb", -10.0)],
        },
    ]


def session_document(form: dict[str, Section], duration_s: float) -> dict:
    """The session (format ``mixfarm/1``) that mixes and masters the stems of :func:`render_stems`."""
    return {
        "format": "mixfarm/1",
        "name": "Midnight Drive",
        "sample_rate": SAMPLE_RATE,
        "tempo_bpm": TEMPO_BPM,
        "tracks": drum_tracks() + music_tracks(form, duration_s),
        "buses": buses(),
        "master": {
            "fx": [
                eq(band("low_shelf", 90.0, gain_db=1.0), band("high_shelf", 11000.0, gain_db=1.5)),
                compressor(-20.0, 1.5, attack_s=0.03, release_s=0.3, knee_db=6.0, detector="rms"),
            ],
            "loudness": {"preset": "spotify"},
            "fade_out_s": min(4.0, form["outro"].bars * BAR_S + TAIL_S),
            "tail_s": TAIL_S,
        },
        "outputs": [
            {"path": "master.wav", "format": "wav", "bit_depth": 24},
            {"path": "master_16bit_44k.wav", "format": "wav", "bit_depth": 16, "sample_rate": 44100, "dither": "tpdf"},
            {"path": "master.flac", "format": "flac", "bit_depth": 24},
        ],
    }


def write_demo(folder: str | os.PathLike, duration_s: float = 64.0) -> Path:
    """Synthesise the demo song into ``folder``: stems under ``stems/`` and ``session.yaml``; return the session's path.

    ``duration_s`` (at least 8 s, four bars) is the length of the stems; the
    song's sections scale with it.
    """
    if not duration_s >= MIN_BARS * BAR_S:
        raise ValueError(f"duration_s: must be >= {MIN_BARS * BAR_S:g} s (four bars), got {duration_s!r}")
    folder = Path(folder)
    (folder / "stems").mkdir(parents=True, exist_ok=True)
    form = song_form(duration_s)
    for name, (audio, rate) in render_stems(form, duration_s).items():
        audio_io.write(folder / "stems" / f"{name}.wav", audio.reshape(audio.shape[0], -1), rate, format="wav", bit_depth=24)
    path = folder / "session.yaml"
    text = yaml.safe_dump(session_document(form, duration_s), sort_keys=False, default_flow_style=None, width=140)
    path.write_text(f"# Midnight Drive: a {duration_s:g} s demo written by farm.demo.write_demo.\n{text}", encoding="utf-8")
    return path
