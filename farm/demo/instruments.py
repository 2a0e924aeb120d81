"""Synthesised instruments for the demo session (:mod:`farm.demo`).

Every instrument renders a list of events into a new float64 array of
``total_frames`` frames: shaped (frames,) for a mono stem, (frames, 2) for a
stereo one. Events past the end are cut off. Noise comes from the ``rng``
passed in, so a seeded generator gives the same audio every time.

The synthesis is plain and vectorised: PolyBLEP oscillators, Butterworth
filters, one-pole smoothed control curves for glides and formant moves, and a
band-pass whose centre moves block by block for the voice and the riser.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import signal

PITCH_CLASSES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
ACCIDENTALS = {"": 0, "#": 1, "b": -1}

FORMANTS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "a": ((800, 80, 0), (1150, 90, -4), (2800, 120, -20), (3500, 130, -36)),
    "e": ((400, 60, 0), (1600, 80, -24), (2700, 120, -30), (3300, 150, -35)),
    "i": ((350, 50, 0), (1700, 100, -20), (2700, 120, -30), (3700, 150, -36)),
    "o": ((450, 70, 0), (800, 80, -9), (2830, 100, -16), (3500, 130, -28)),
    "u": ((325, 50, 0), (700, 60, -12), (2530, 170, -30), (3500, 180, -40)),
}
"""Alto vowel formants: vowel -> ((centre_hz, bandwidth_hz, gain_db), ...) for F1..F4."""

DRIFT_SEMITONES = 0.08
"""How far, typically, the voice's pitch wanders off the note (a slow random drift)."""

BLOCK = 512
"""Frames between coefficient updates of :func:`moving_bandpass`."""

RUNG_OUT = 1e-9
"""Filter state below which :func:`moving_bandpass` counts a filter as silent."""


class Hit(NamedTuple):
    """A drum hit: its time and how hard it is struck (0..1)."""

    time_s: float
    velocity: float


class Note(NamedTuple):
    """A pitched note; ``vowel`` is the sung vowel (voice only)."""

    time_s: float
    duration_s: float
    midi: float
    velocity: float = 1.0
    vowel: str = "a"


class Chord(NamedTuple):
    """Several notes struck together."""

    time_s: float
    duration_s: float
    midis: tuple[int, ...]
    velocity: float = 1.0


def note_number(name: str) -> int:
    """The MIDI number of a note name such as ``"A3"``, ``"C#4"`` or ``"Bb2"`` (C4 is 60)."""
    letter, accidental, octave = name[0], name[1:-1], int(name[-1])
    return 12 * (octave + 1) + PITCH_CLASSES[letter] + ACCIDENTALS[accidental]


def midi_to_hz(midi: float | np.ndarray) -> float | np.ndarray:
    """Frequency in Hz of a (fractional) MIDI note number, A4 = 69 = 440 Hz."""
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def to_frames(time_s: float, sample_rate: int) -> int:
    """Seconds to whole frames."""
    return int(round(time_s * sample_rate))


def normalise_peak(audio: np.ndarray, peak_dbfs: float) -> np.ndarray:
    """``audio`` scaled so its sample peak is ``peak_dbfs``."""
    return audio * (10.0 ** (peak_dbfs / 20.0) / np.max(np.abs(audio)))


def place(track: np.ndarray, sound: np.ndarray, time_s: float, sample_rate: int) -> None:
    """Add ``sound`` into ``track`` from ``time_s`` on, cut at the track's end."""
    start = to_frames(time_s, sample_rate)
    stop = min(track.shape[0], start + sound.shape[0])
    if stop > start:
        track[start:stop] += sound[: stop - start]


def times(duration_s: float, sample_rate: int) -> np.ndarray:
    """Sample times in seconds of a sound ``duration_s`` long."""
    return np.arange(to_frames(duration_s, sample_rate)) / sample_rate


def envelope(duration_s: float, attack_s: float, release_s: float, sample_rate: int) -> np.ndarray:
    """A linear attack, a sustain at 1 for ``duration_s`` and a linear release after it."""
    t = times(duration_s + release_s, sample_rate)
    return np.clip(t / attack_s, 0.0, 1.0) * np.clip((duration_s + release_s - t) / release_s, 0.0, 1.0)


def smooth(curve: np.ndarray, time_s: float, sample_rate: float) -> np.ndarray:
    """A control curve (``sample_rate`` points a second) through a one-pole low-pass.

    ``time_s`` is its time constant; the filter starts settled on the first value.
    """
    pole = math.exp(-1.0 / (time_s * sample_rate))
    smoothed, _ = signal.lfilter([1.0 - pole], [1.0, -pole], curve, zi=[pole * curve[0]])
    return smoothed


def phase_of(freq_hz: np.ndarray, sample_rate: int, start_phase: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """An oscillator's phase (cycles, 0..1) following ``freq_hz`` sample by sample, and its step per sample."""
    step = freq_hz / sample_rate
    phase = np.cumsum(step)
    phase += start_phase
    phase -= np.floor(phase)
    return phase, step


def blep_saw(phase: np.ndarray, step: np.ndarray) -> np.ndarray:
    """A sawtooth from -1 to 1 at ``phase``, its jumps smoothed by PolyBLEP so it hardly aliases."""
    wave = 2.0 * phase - 1.0
    wrapped = np.flatnonzero(phase < step)
    t = phase[wrapped] / step[wrapped]
    wave[wrapped] -= 2.0 * t - t * t - 1.0
    wrapping = np.flatnonzero(phase > 1.0 - step)
    t = (phase[wrapping] - 1.0) / step[wrapping]
    wave[wrapping] += -t * t - 2.0 * t - 1.0
    return wave


def saw(freq_hz: np.ndarray, sample_rate: int, start_phase: float = 0.0) -> np.ndarray:
    """A band-limited sawtooth following ``freq_hz``."""
    return blep_saw(*phase_of(freq_hz, sample_rate, start_phase))


def pulse(freq_hz: np.ndarray, sample_rate: int, duty: float = 0.5) -> np.ndarray:
    """A band-limited pulse wave, high for ``duty`` of each cycle: the difference of two saws."""
    phase, step = phase_of(freq_hz, sample_rate)
    shifted = phase + duty
    shifted -= np.floor(shifted)
    return blep_saw(phase, step) - blep_saw(shifted, step)


def noise(frames: int, rng: np.random.Generator, channels: int = 1) -> np.ndarray:
    """White noise, shaped (frames,) or (frames, channels)."""
    return rng.standard_normal(frames if channels == 1 else (frames, channels))


def lowpass(audio: np.ndarray, cutoff_hz: float, sample_rate: int, order: int = 2) -> np.ndarray:
    """A Butterworth low-pass along the first axis."""
    return signal.sosfilt(signal.butter(order, cutoff_hz, "lowpass", fs=sample_rate, output="sos"), audio, axis=0)


def highpass(audio: np.ndarray, cutoff_hz: float, sample_rate: int, order: int = 2) -> np.ndarray:
    """A Butterworth high-pass along the first axis."""
    return signal.sosfilt(signal.butter(order, cutoff_hz, "highpass", fs=sample_rate, output="sos"), audio, axis=0)


def bandpass(audio: np.ndarray, low_hz: float, high_hz: float, sample_rate: int, order: int = 2) -> np.ndarray:
    """A Butterworth band-pass along the first axis."""
    sos = signal.butter(order, (low_hz, high_hz), "bandpass", fs=sample_rate, output="sos")
    return signal.sosfilt(sos, audio, axis=0)


def moving_bandpass(
    audio: np.ndarray, centre_hz: np.ndarray, bandwidth_hz: np.ndarray, sample_rate: int, gain: np.ndarray | float = 1.0
) -> np.ndarray:
    """A resonant band-pass (``gain`` at its peak) whose centre, bandwidth and gain change every :data:`BLOCK` frames.

    ``centre_hz``, ``bandwidth_hz`` and ``gain`` hold one value per block; the
    filter state carries across blocks. Silent input, once the filter has rung
    out, is skipped.
    """
    w0 = 2.0 * np.pi * centre_hz / sample_rate
    alpha = np.sin(w0) * bandwidth_hz / (2.0 * centre_hz)
    b0 = gain * alpha / (1.0 + alpha)
    a1 = -2.0 * np.cos(w0) / (1.0 + alpha)
    a2 = (1.0 - alpha) / (1.0 + alpha)
    out = np.zeros_like(audio)
    state = np.zeros(2)
    for k, start in enumerate(range(0, audio.shape[0], BLOCK)):
        block = audio[start : start + BLOCK]
        if not block.any() and np.max(np.abs(state)) < RUNG_OUT:
            state = np.zeros(2)
            continue
        out[start : start + BLOCK], state = signal.lfilter((b0[k], 0.0, -b0[k]), (1.0, a1[k], a2[k]), block, zi=state)
    return out


def block_times_s(frames: int, sample_rate: int) -> np.ndarray:
    """The start time in seconds of each :data:`BLOCK` of ``frames``."""
    return np.arange(0, frames, BLOCK) / sample_rate


@dataclasses.dataclass(frozen=True)
class Line:
    """Control curves of a monophonic voice over the frames where it sounds, from frame ``start`` on.

    ``pitch`` is the MIDI pitch per frame, held from each note to the next and
    gliding; ``amplitude`` each note's envelope times its velocity (overlaps
    take the louder); ``since_onset_s`` the seconds since the sounding note
    began, for vibrato and plucks; ``onsets`` each note's first frame,
    counted from ``start``.
    """

    start: int
    pitch: np.ndarray
    amplitude: np.ndarray
    since_onset_s: np.ndarray
    onsets: tuple[int, ...]

    def on_track(self, audio: np.ndarray, total_frames: int) -> np.ndarray:
        """``audio`` rendered over the line's frames, placed on a silent track of ``total_frames``."""
        track = np.zeros((total_frames, *audio.shape[1:]))
        track[self.start : self.start + audio.shape[0]] = audio
        return track


def mono_line(notes: Sequence[Note], total_frames: int, sample_rate: int, attack_s: float, release_s: float, glide_s: float) -> Line:
    """The :class:`Line` of a monophonic voice playing ``notes`` (in time order) on a track of ``total_frames``."""
    start = to_frames(notes[0].time_s, sample_rate)
    frames = min(total_frames, max(to_frames(note.time_s + note.duration_s + release_s, sample_rate) for note in notes)) - start
    pitch = np.full(frames, float(notes[0].midi))
    amplitude = np.zeros(frames)
    since_onset_s = np.zeros(frames)
    onsets = [min(to_frames(note.time_s, sample_rate) - start, frames) for note in notes]
    for note, onset, following in zip(notes, onsets, onsets[1:] + [frames]):
        pitch[onset:following] = note.midi
        since_onset_s[onset:following] = np.arange(following - onset) / sample_rate
        shape = note.velocity * envelope(note.duration_s, attack_s, release_s, sample_rate)[: frames - onset]
        np.maximum(amplitude[onset : onset + shape.shape[0]], shape, out=amplitude[onset : onset + shape.shape[0]])
    return Line(start, smooth(pitch, glide_s, sample_rate), amplitude, since_onset_s, tuple(onsets))


def brightness_sweep(audio: np.ndarray, brightness: np.ndarray, dark_hz: float, bright_hz: float, sample_rate: int) -> np.ndarray:
    """A filter envelope: a crossfade from ``audio`` low-passed at ``dark_hz`` (0) to at ``bright_hz`` (1)."""
    dark = lowpass(audio, dark_hz, sample_rate)
    return dark + brightness * (lowpass(audio, bright_hz, sample_rate) - dark)


def kick(hits: Sequence[Hit], total_frames: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Kick drum: a sine swept from 160 Hz down to 48 Hz, with a short noise click on top."""
    t = times(0.6, sample_rate)
    freq_hz = 48.0 + 112.0 * np.exp(-t / 0.035)
    body = np.sin(2.0 * np.pi * np.cumsum(freq_hz) / sample_rate) * np.exp(-t / 0.18)
    click = highpass(noise(t.shape[0], rng), 2500.0, sample_rate) * np.exp(-t / 0.003)
    sound = body + 0.35 * click
    track = np.zeros(total_frames)
    for hit in hits:
        place(track, hit.velocity * sound, hit.time_s, sample_rate)
    return track


def snare(hits: Sequence[Hit], total_frames: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Snare drum: a band-passed noise burst (the wires) over a falling two-partial tone (the shell)."""
    t = times(0.45, sample_rate)
    body_hz = 180.0 + 30.0 * np.exp(-t / 0.02)
    body_phase = 2.0 * np.pi * np.cumsum(body_hz) / sample_rate
    body = np.sin(body_phase) * np.exp(-t / 0.07) + 0.4 * np.sin(1.83 * body_phase) * np.exp(-t / 0.04)
    track = np.zeros(total_frames)
    for hit in hits:
        wires = bandpass(noise(t.shape[0], rng), 1500.0, 9000.0, sample_rate) * np.exp(-t / 0.11)
        place(track, hit.velocity * (0.8 * body + 0.6 * wires), hit.time_s, sample_rate)
    return track


def clap(hits: Sequence[Hit], total_frames: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Hand clap: three quick band-passed noise bursts and a short diffuse tail."""
    t = times(0.4, sample_rate)
    bursts = sum(np.where(t >= start_s, np.exp(-(t - start_s) / 0.006), 0.0) for start_s in (0.0, 0.011, 0.023))
    tail = np.where(t >= 0.03, 0.5 * np.exp(-np.maximum(t - 0.03, 0.0) / 0.09), 0.0)
    track = np.zeros(total_frames)
    for hit in hits:
        sound = bandpass(noise(t.shape[0], rng), 900.0, 5000.0, sample_rate) * (bursts + tail)
        place(track, hit.velocity * sound, hit.time_s, sample_rate)
    return track


def hats(hits: Sequence[Hit], total_frames: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Closed hi-hat: short ticks of high-passed noise."""
    t = times(0.09, sample_rate)
    decay = np.exp(-t / 0.022)
    track = np.zeros(total_frames)
    for hit in hits:
        place(track, hit.velocity * highpass(noise(t.shape[0], rng), 7000.0, sample_rate, order=4) * decay, hit.time_s, sample_rate)
    return track


def shaker(hits: Sequence[Hit], total_frames: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Shaker: band-passed noise that swells for 15 ms and falls away."""
    t = times(0.14, sample_rate)
    shape = np.clip(t / 0.015, 0.0, 1.0) * np.exp(-np.maximum(t - 0.015, 0.0) / 0.035)
    track = np.zeros(total_frames)
    for hit in hits:
        place(track, hit.velocity * bandpass(noise(t.shape[0], rng), 3500.0, 11000.0, sample_rate) * shape, hit.time_s, sample_rate)
    return track


def bass(notes: Sequence[Note], total_frames: int, sample_rate: int) -> np.ndarray:
    """Mono synth bass: a saw plus a square an octave down, through a plucked low-pass."""
    line = mono_line(notes, total_frames, sample_rate, attack_s=0.004, release_s=0.05, glide_s=0.008)
    freq_hz = midi_to_hz(line.pitch)
    tone = 0.7 * saw(freq_hz, sample_rate) + 0.4 * pulse(freq_hz / 2.0, sample_rate)
    pluck = np.exp(-line.since_onset_s / 0.09)
    return line.on_track(line.amplitude * brightness_sweep(tone, pluck, 220.0, 1800.0, sample_rate), total_frames)


def keys(chords: Sequence[Chord], total_frames: int, sample_rate: int, tremolo_hz: float) -> np.ndarray:
    """Stereo electric piano: two-operator FM tines with a decaying bark, through an auto-pan tremolo."""
    mono = np.zeros(total_frames)
    for chord in chords:
        t = times(chord.duration_s + 0.3, sample_rate)[:, None]
        phase = 2.0 * np.pi * midi_to_hz(np.array(chord.midis))[None, :] * t
        index = 0.4 + 1.6 * np.exp(-t / 0.3)
        tines = np.sin(phase + index * np.sin(phase)) + 0.2 * np.sin(7.0 * phase) * np.exp(-t / 0.05)
        shape = envelope(chord.duration_s, 0.003, 0.3, sample_rate) * np.exp(-t[:, 0] / 1.6)
        place(mono, chord.velocity * shape * tines.sum(axis=1), chord.time_s, sample_rate)
    sway = 0.3 * np.sin(2.0 * np.pi * tremolo_hz * np.arange(total_frames) / sample_rate)
    return np.stack([mono * (1.0 + sway), mono * (1.0 - sway)], axis=1)


def pad(chords: Sequence[Chord], total_frames: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Stereo string pad: per voice two detuned saws a side, a slow swell, a dark low-pass.

    ``chords`` follow one another; voice k plays the k-th note of each, gliding
    between them, so the pad never restarts.
    """
    gate = np.zeros(total_frames)
    voices = np.empty((total_frames, len(chords[0].midis)))
    voices[:] = chords[0].midis
    for chord in chords:
        start = to_frames(chord.time_s, sample_rate)
        voices[start:] = chord.midis
        gate[start : to_frames(chord.time_s + chord.duration_s, sample_rate)] = chord.velocity
    sides = np.zeros((total_frames, 2))
    for voice in range(voices.shape[1]):
        freq_hz = midi_to_hz(smooth(voices[:, voice], 0.08, sample_rate))
        for side, detunes_cents in enumerate(((-11.0, 4.0), (9.0, -5.0))):
            for cents in detunes_cents:
                sides[:, side] += saw(freq_hz * 2.0 ** (cents / 1200.0), sample_rate, rng.random())
    return smooth(gate, 0.9, sample_rate)[:, None] * lowpass(sides, 1600.0, sample_rate)


def lead(notes: Sequence[Note], total_frames: int, sample_rate: int) -> np.ndarray:
    """Mono lead: saw and pulse with delayed vibrato, gliding between notes, a soft filter swell."""
    line = mono_line(notes, total_frames, sample_rate, attack_s=0.02, release_s=0.25, glide_s=0.045)
    depth = 0.25 * np.clip((line.since_onset_s - 0.3) / 0.4, 0.0, 1.0)
    vibrato = depth * np.sin(2.0 * np.pi * 5.5 * np.arange(line.pitch.shape[0]) / sample_rate)
    freq_hz = midi_to_hz(line.pitch + vibrato)
    tone = 0.6 * saw(freq_hz, sample_rate) + 0.4 * pulse(freq_hz * 1.003, sample_rate, 0.35)
    swell = 1.0 - np.exp(-line.since_onset_s / 0.25)
    return line.on_track(line.amplitude * brightness_sweep(tone, swell, 1400.0, 4500.0, sample_rate), total_frames)


def arp(notes: Sequence[Note], total_frames: int, sample_rate: int) -> np.ndarray:
    """Mono plucked arpeggio: a narrow pulse with a fast decay and a snappy filter."""
    line = mono_line(notes, total_frames, sample_rate, attack_s=0.002, release_s=0.06, glide_s=0.001)
    tone = pulse(midi_to_hz(line.pitch), sample_rate, 0.3)
    decay = np.exp(-line.since_onset_s / 0.2)
    pluck = np.exp(-line.since_onset_s / 0.05)
    return line.on_track(line.amplitude * decay * brightness_sweep(tone, pluck, 900.0, 6000.0, sample_rate), total_frames)


def glottal_pulse(phase: np.ndarray, open_share: float = 0.6, closing_share: float = 0.15) -> np.ndarray:
    """The derivative of a Rosenberg glottal flow pulse at ``phase`` (cycles, 0..1): a buzzy voice source.

    The flow rises for ``open_share`` of a cycle, falls for ``closing_share`` and
    rests closed; the sudden stop at closure is what makes it buzz.
    """
    opening = phase < open_share
    closing = (phase >= open_share) & (phase < open_share + closing_share)
    slope = np.zeros_like(phase)
    slope[opening] = np.sin(np.pi * phase[opening] / open_share) * np.pi / (2.0 * open_share)
    slope[closing] = -np.sin(0.5 * np.pi * (phase[closing] - open_share) / closing_share) * np.pi / (2.0 * closing_share)
    return slope


def voice(notes: Sequence[Note], total_frames: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A sung line: a glottal source with vibrato, pitch drift and breath, through four formant band-passes.

    Each note's ``vowel`` (a key of :data:`FORMANTS`) sets the formants, which
    glide from one vowel to the next.
    """
    line = mono_line(notes, total_frames, sample_rate, attack_s=0.04, release_s=0.15, glide_s=0.035)
    frames = line.pitch.shape[0]
    depth = 0.3 * np.clip((line.since_onset_s - 0.25) / 0.35, 0.0, 1.0)
    drift = smooth(noise(frames, rng), 0.05, sample_rate)
    drift *= DRIFT_SEMITONES / np.std(drift)
    vibrato = depth * np.sin(2.0 * np.pi * 5.2 * np.arange(frames) / sample_rate) + drift
    phase, _ = phase_of(midi_to_hz(line.pitch + vibrato), sample_rate)
    source = line.amplitude * (glottal_pulse(phase) + 0.3 * highpass(noise(frames, rng), 1500.0, sample_rate))
    sung_note = np.maximum(np.searchsorted(line.onsets, np.arange(0, frames, BLOCK), side="right") - 1, 0)
    targets = np.array([FORMANTS[note.vowel] for note in notes])[sung_note]
    sung = np.zeros(frames)
    for formant in range(targets.shape[1]):
        centre_hz, bandwidth_hz, gain_db = (smooth(targets[:, formant, k], 0.04, sample_rate / BLOCK) for k in range(3))
        sung += moving_bandpass(source, centre_hz, bandwidth_hz, sample_rate, gain=10.0 ** (gain_db / 20.0))
    return line.on_track(sung, total_frames)


def riser(duration_s: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Stereo riser: noise through a band-pass sweeping 300 Hz -> 9 kHz, a rising tone, a crescendo."""
    t = times(duration_s, sample_rate)
    progress = t / duration_s
    centre_hz = 300.0 * 30.0 ** (block_times_s(t.shape[0], sample_rate) / duration_s)
    wash = np.stack([moving_bandpass(noise(t.shape[0], rng), centre_hz, centre_hz / 2.0, sample_rate) for _ in range(2)], axis=1)
    tone = lowpass(0.15 * saw(midi_to_hz(note_number("A3") + 24.0 * progress**2), sample_rate), 3000.0, sample_rate)
    swell = progress**2 * np.clip((duration_s - t) / 0.02, 0.0, 1.0)
    return swell[:, None] * (wash + tone[:, None])
