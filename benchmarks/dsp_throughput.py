"""Realtime factor of each mixfarm effect and of the loudness meter, beside peers.

Each effect processes the same stereo 48 kHz signal (default 4 minutes) on one
core, next to its pedalboard counterpart; the full loudness meter (integrated,
loudness range and true peak) runs next to pyloudnorm's integrated loudness
alone. Prints the median realtime factor (audio seconds per wall second) of
several runs and the ratio mixfarm / peer. Then the effects that follow
automation run with their parameters moving (a ramp over the whole signal,
one value per frame) beside the same effects static, and the cost is the
automated time over the static time.

    python benchmarks/dsp_throughput.py [--minutes 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402

RATE = 48000


def test_signal(minutes: float) -> np.ndarray:
    """Music-like stereo material: pink-ish noise, a bass line and decaying hits."""
    frames = int(minutes * 60 * RATE)
    rng = np.random.default_rng(0)
    t = np.arange(frames) / RATE
    noise = rng.standard_normal((frames, 2))
    noise = np.cumsum(noise, axis=0) * 0.02
    noise -= np.convolve(noise[:, 0], np.ones(64) / 64, "same")[:, None]
    bass = 0.3 * np.sin(2 * np.pi * 55 * t * (1 + 0.5 * (np.floor(t * 2) % 2)))
    hits = np.exp(-((t * 2) % 1) * 30) * np.sin(2 * np.pi * 180 * t)
    signal = 0.2 * noise + (bass + 0.5 * hits)[:, None]
    return (signal / np.max(np.abs(signal)) * 0.7).astype(np.float64)


def median_seconds(run, repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _slope(kind: str, cutoff_hz: float) -> list:
    """pedalboard's first-order filters, four in a row: 24 dB/octave, the slope of mixfarm's Linkwitz-Riley crossovers."""
    import pedalboard

    return [getattr(pedalboard, f"{kind}Filter")(cutoff_hz) for _ in range(4)]


def effect_pairs(signal: np.ndarray):
    """(name, mixfarm callable, pedalboard callable) for every effect."""
    import pedalboard

    from dsp.compressor import Compressor
    from dsp.convolution import Convolution
    from dsp.de_esser import DeEsser
    from dsp.delay import Delay
    from dsp.eq import EqBand, Equalizer
    from dsp.gate import Gate
    from dsp.limiter import Limiter
    from dsp.multiband import CompressorBand, MultibandCompressor
    from dsp.reverb import Reverb
    from dsp.saturation import Saturation

    planar = np.ascontiguousarray(signal.T.astype(np.float32))
    ir = np.random.default_rng(1).standard_normal((RATE * 2, 2)) * np.exp(-np.arange(RATE * 2) / (0.3 * RATE))[:, None]
    pairs = [
        (
            "eq (highpass 24 dB/oct, bell, high shelf)",
            Equalizer(RATE, bands=(EqBand("highpass", 40.0, slope_db_oct=24), EqBand("bell", 2500.0, -3.0, 2.0), EqBand("high_shelf", 8000.0, 2.0))),
            pedalboard.Pedalboard([pedalboard.HighpassFilter(40.0), pedalboard.HighpassFilter(40.0), pedalboard.PeakFilter(2500.0, -3.0, 2.0), pedalboard.HighShelfFilter(8000.0, 2.0)]),
        ),
        ("compressor", Compressor(RATE, threshold_db=-20.0, ratio=4.0), pedalboard.Compressor(threshold_db=-20.0, ratio=4.0, attack_ms=10.0, release_ms=100.0)),
        (
            "multiband compressor (3 bands)",
            MultibandCompressor(RATE, crossovers_hz=(120.0, 2500.0), bands=[CompressorBand(-20.0, 4.0)] * 3),
            pedalboard.Mix(
                [
                    pedalboard.Pedalboard(_slope("Lowpass", 120.0) + [pedalboard.Compressor(threshold_db=-20.0, ratio=4.0)]),
                    pedalboard.Pedalboard(_slope("Highpass", 120.0) + _slope("Lowpass", 2500.0) + [pedalboard.Compressor(threshold_db=-20.0, ratio=4.0)]),
                    pedalboard.Pedalboard(_slope("Highpass", 2500.0) + [pedalboard.Compressor(threshold_db=-20.0, ratio=4.0)]),
                ]
            ),
        ),
        ("gate", Gate(RATE, threshold_db=-40.0), pedalboard.NoiseGate(threshold_db=-40.0, attack_ms=1.0, release_ms=100.0)),
        (
            "de-esser (split at 6 kHz)",
            DeEsser(RATE, threshold_db=-30.0),
            pedalboard.Mix(
                [
                    pedalboard.Pedalboard(_slope("Lowpass", 6000.0)),
                    pedalboard.Pedalboard(_slope("Highpass", 6000.0) + [pedalboard.Compressor(threshold_db=-30.0, ratio=20.0, attack_ms=1.0, release_ms=50.0)]),
                ]
            ),
        ),
        ("limiter (true peak)", Limiter(RATE, ceiling_dbtp=-1.0), pedalboard.Limiter(threshold_db=-1.0, release_ms=50.0)),
        ("saturation (4x oversampled)", Saturation(RATE, drive_db=6.0), pedalboard.Distortion(drive_db=6.0)),
        ("delay", Delay(RATE, time_s=0.375, feedback=0.4, mix=0.3), pedalboard.Delay(delay_seconds=0.375, feedback=0.4, mix=0.3)),
        ("reverb", Reverb(RATE, decay_s=2.0, mix=0.3), pedalboard.Reverb(room_size=0.8, wet_level=0.3, dry_level=0.7)),
        ("convolution (2 s IR)", Convolution.from_array(RATE, ir), pedalboard.Convolution(ir.astype(np.float32), sample_rate=RATE)),
    ]
    for name, ours, peer in pairs:
        yield name, (lambda effect=ours: effect.process_whole(signal)), (lambda board=peer: board(planar, RATE))


def automation_pairs(signal: np.ndarray):
    """(name, automated callable, static callable): effects following per-frame envelopes beside their static selves."""
    from dsp.automation import Envelope, Lanes
    from dsp.compressor import Compressor
    from dsp.de_esser import DeEsser
    from dsp.delay import Delay
    from dsp.eq import EqBand, Equalizer
    from dsp.limiter import Limiter
    from dsp.multiband import CompressorBand, MultibandCompressor
    from dsp.reverb import Reverb
    from dsp.saturation import Saturation

    frames = signal.shape[0]
    seconds = frames / RATE

    def ramp(low: float, high: float) -> Envelope:
        return Envelope.from_points([[0.0, low], [seconds, high]])

    pairs = [
        ("compressor, threshold_db", Compressor(RATE, threshold_db=-20.0, ratio=4.0), {"threshold_db": ramp(-30.0, -10.0)}),
        ("delay, mix", Delay(RATE, time_s=0.375, feedback=0.4, mix=0.3), {"mix": ramp(0.1, 0.9)}),
        (
            "multiband compressor, 3 bands' threshold_db",
            MultibandCompressor(RATE, crossovers_hz=(120.0, 2500.0), bands=[CompressorBand(-20.0, 4.0)] * 3),
            {f"bands.{index}.threshold_db": ramp(-30.0, -10.0) for index in range(3)},
        ),
        (
            "eq, a bell's gain_db and freq_hz",
            Equalizer(RATE, bands=(EqBand("highpass", 40.0, slope_db_oct=24), EqBand("bell", 2500.0, -3.0, 2.0), EqBand("high_shelf", 8000.0, 2.0))),
            {"bands.1.gain_db": ramp(-12.0, 12.0), "bands.1.freq_hz": ramp(500.0, 5000.0)},
        ),
        ("de-esser, freq_hz", DeEsser(RATE, threshold_db=-30.0), {"freq_hz": ramp(4000.0, 9000.0)}),
        ("saturation, drive_db", Saturation(RATE, drive_db=6.0), {"drive_db": ramp(0.0, 18.0)}),
        ("limiter, ceiling_dbtp", Limiter(RATE, ceiling_dbtp=-1.0), {"ceiling_dbtp": ramp(-6.0, -1.0)}),
        ("reverb, decay_s and mix", Reverb(RATE, decay_s=2.0, mix=0.3), {"decay_s": ramp(0.5, 4.0), "mix": ramp(0.1, 0.5)}),
        ("delay, time_s (a line with room, gliding)", Delay(RATE, time_s=0.375, feedback=0.4, mix=0.3).for_automation({"time_s": (0.25, 0.5)}), {"time_s": ramp(0.25, 0.5)}),
    ]
    for name, effect, envelopes in pairs:
        lanes = Lanes(envelopes, 0, frames, RATE)
        automated = lambda effect=effect, lanes=lanes: effect.process_automated(signal, effect.init_state(signal.shape[1]), lanes)  # noqa: E731
        yield name, automated, (lambda effect=effect: effect.process_whole(signal))


def meter_pair(signal: np.ndarray):
    import pyloudnorm

    from dsp.loudness import measure

    peer = pyloudnorm.Meter(RATE)
    return (lambda: measure(signal, RATE)), (lambda: peer.integrated_loudness(signal))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="length of the test signal (default 4)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement; the median is kept")
    args = parser.parse_args(argv)
    signal = test_signal(args.minutes)
    audio_s = signal.shape[0] / RATE
    print(f"{args.minutes:g} min of stereo {RATE} Hz, one core, median of {args.repeats} runs; realtime factor = audio s / wall s")
    print(f"{'work':44s} {'mixfarm':>10s} {'peer':>10s} {'ratio':>7s}")
    rows = list(effect_pairs(signal))
    rows.append(("loudness: full meter vs pyloudnorm integrated", *meter_pair(signal)))
    for name, ours, peer in rows:
        ours_rtf = audio_s / median_seconds(ours, args.repeats)
        peer_rtf = audio_s / median_seconds(peer, args.repeats)
        print(f"{name:44s} {ours_rtf:9.0f}x {peer_rtf:9.0f}x {ours_rtf / peer_rtf:6.2f}x", flush=True)
    print()
    print(f"{'automated (per-frame envelope) vs static':44s} {'automated':>10s} {'static':>10s} {'cost':>7s}")
    for name, automated, static in automation_pairs(signal):
        automated_s, static_s = median_seconds(automated, args.repeats), median_seconds(static, args.repeats)
        print(f"{name:44s} {audio_s / automated_s:9.0f}x {audio_s / static_s:9.0f}x {automated_s / static_s:6.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
