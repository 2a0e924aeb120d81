"""Every effect that follows automation: exact in blocks anywhere on the timeline, and a steady lane sounds as the static effect."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.automation import Envelope, Lanes
from dsp.compressor import Compressor
from dsp.convolution import Convolution
from dsp.de_esser import DeEsser
from dsp.delay import Delay
from dsp.eq import EqBand, Equalizer
from dsp.gain import Gain
from dsp.gate import Gate
from dsp.limiter import Limiter
from dsp.multiband import CompressorBand, MultibandCompressor
from dsp.reverb import Reverb
from dsp.saturation import Saturation
from dsp.stereo import Width

RATE = 48000
SIGNAL = np.random.default_rng(12).standard_normal((12000, 2)) * 0.3 * (np.sin(np.arange(12000) / RATE * 40.0) > -0.3)[:, None]

CASES = {
    "gain": (Gain(RATE, gain_db=-3.0), {"gain_db": [[0.0, -12.0], [0.1, 6.0, "hold"], [0.2, 0.0]]}),
    "eq": (Equalizer(RATE, bands=(EqBand("lowpass", 9000.0, slope_db_oct=24), EqBand("bell", 800.0, 4.0))), {"bands.0.freq_hz": [[0.0, 9000.0], [0.25, 2000.0]], "bands.1.q": [[0.0, 0.5], [0.2, 4.0]]}),
    "compressor": (
        Compressor(RATE, threshold_db=-20.0, ratio=4.0, knee_db=3.0, mix=0.8, sidechain_hpf_hz=100.0),
        {
            "sidechain_hpf_hz": [[0.0, 40.0], [0.2, 3000.0]],
            "threshold_db": [[0.0, -10.0], [0.2, -30.0]],
            "makeup_db": [[0.1, 0.0, "hold"], [0.15, 6.0]],
            "ratio": [[0.0, 1.5], [0.2, 10.0]],
            "knee_db": [[0.0, 0.0], [0.2, 12.0]],
            "attack_s": [[0.0, 0.0], [0.1, 0.02]],
            "release_s": [[0.0, 0.3], [0.2, 0.02]],
            "mix": [[0.0, 1.0], [0.25, 0.2]],
        },
    ),
    "multiband_compressor": (
        MultibandCompressor(RATE, crossovers_hz=(300.0, 3000.0), bands=[CompressorBand(-20.0, 3.0)] * 3),
        {
            "bands.0.threshold_db": [[0.0, -10.0], [0.2, -30.0]],
            "bands.2.makeup_db": [[0.0, 0.0], [0.2, 3.0]],
            "bands.1.ratio": [[0.0, 1.0], [0.2, 8.0]],
            "bands.1.attack_s": [[0.0, 0.001], [0.2, 0.05]],
            "crossovers_hz.0": [[0.0, 100.0], [0.2, 1000.0]],
            "crossovers_hz.1": [[0.0, 2000.0], [0.1, 6000.0, "hold"], [0.2, 4000.0]],
            "mix": [[0.0, 1.0], [0.25, 0.3]],
        },
    ),
    "gate": (
        Gate(RATE, threshold_db=-30.0),
        {
            "threshold_db": [[0.0, -50.0], [0.2, -10.0]],
            "range_db": [[0.0, -80.0, "hold"], [0.1, -20.0]],
            "hold_s": [[0.0, 0.0], [0.2, 0.05]],
            "attack_s": [[0.0, 0.0005], [0.2, 0.01]],
            "release_s": [[0.0, 0.01], [0.2, 0.3]],
        },
    ),
    "de_esser": (
        DeEsser(RATE, threshold_db=-30.0, freq_hz=4000.0),
        {
            "threshold_db": [[0.0, -50.0], [0.25, 0.0]],
            "freq_hz": [[0.0, 3000.0], [0.1, 9000.0, "hold"], [0.2, 5000.0]],
            "range_db": [[0.0, -3.0], [0.2, -30.0]],
            "attack_s": [[0.0, 0.0], [0.2, 0.01]],
            "release_s": [[0.0, 0.2], [0.2, 0.01]],
        },
    ),
    "delay": (
        Delay(RATE, time_s=0.01, feedback=0.5, mix=0.3, highcut_hz=8000.0, max_time_s=0.03),
        {
            "mix": [[0.0, 0.0], [0.2, 1.0]],
            "feedback": [[0.0, -0.5], [0.2, 0.9]],
            "highcut_hz": [[0.0, 12000.0], [0.2, 800.0]],
            "time_s": [[0.0, 0.003], [0.1, 0.03, "hold"], [0.2, 0.0125]],
        },
    ),
    "width": (Width(RATE, width=1.0), {"width": [[0.0, 0.0], [0.2, 2.0]]}),
    "saturation": (Saturation(RATE, drive_db=6.0, mix=0.7), {"drive_db": [[0.0, 0.0], [0.2, 24.0]], "mix": [[0.0, 1.0], [0.1, 0.3, "hold"], [0.2, 0.8]]}),
    "reverb": (
        Reverb(RATE, decay_s=1.0, predelay_s=0.01),
        {"decay_s": [[0.0, 0.3], [0.2, 4.0]], "damping_hz": [[0.0, 12000.0], [0.1, 2000.0, "hold"], [0.2, 5000.0]], "width": [[0.0, 0.0], [0.2, 2.0]], "mix": [[0.0, 0.1], [0.2, 1.0]]},
    ),
    "limiter": (Limiter(RATE, ceiling_dbtp=-6.0), {"ceiling_dbtp": [[0.0, -20.0], [0.1, -3.0, "hold"], [0.2, -12.0]], "release_s": [[0.0, 0.005], [0.2, 0.3]]}),
    "convolution": (
        Convolution.from_array(RATE, np.random.default_rng(4).standard_normal((2400, 2)) * np.exp(-np.arange(2400) / 400.0)[:, None] * 0.1, mix=0.5, gain_db=-3.0),
        {"mix": [[0.0, 0.0], [0.2, 1.0]], "gain_db": [[0.0, -20.0], [0.1, 6.0, "hold"], [0.2, 0.0]]},
    ),
}


ROUNDED_BY_BLOCK_SIZE = {"convolution"}
"""Effects whose FFTs are sized by the block, so blocks round differently from the whole (within 1e-12, as the static effect is tested)."""


def automated(effect, envelopes, block_frames, start_frame):
    """``SIGNAL`` through ``effect`` following ``envelopes`` (points by parameter), in blocks, the first at ``start_frame``."""
    lanes = {name: Envelope.from_points(points) for name, points in envelopes.items()}
    state, outputs, start = effect.init_state(SIGNAL.shape[1]), [], 0
    for frames in list(block_frames) + [SIGNAL.shape[0]]:
        stop = min(start + frames, SIGNAL.shape[0])
        out, state = effect.process_automated(SIGNAL[start:stop], state, Lanes(lanes, start_frame + start, stop - start, RATE))
        outputs.append(out)
        start = stop
        if start >= SIGNAL.shape[0]:
            break
    return np.concatenate(outputs)


def test_every_effect_that_follows_automation_is_covered_here():
    from farm.session.effects import EFFECTS

    assert {name for name, cls in EFFECTS.items() if cls.automatable} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=8, deadline=None)
@given(block_frames=st.lists(st.integers(1, 4000), min_size=1, max_size=6), start_frame=st.integers(-300, 300))
def test_automated_effects_are_bit_exact_in_blocks_anywhere_on_the_timeline(name, block_frames, start_frame):
    effect, envelopes = CASES[name]
    in_blocks, whole = automated(effect, envelopes, block_frames, start_frame), automated(effect, envelopes, [], start_frame)
    if name in ROUNDED_BY_BLOCK_SIZE:
        np.testing.assert_allclose(in_blocks, whole, rtol=0, atol=1e-12)
    else:
        np.testing.assert_array_equal(in_blocks, whole)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_steady_lane_sounds_as_the_static_parameter(name):
    effect, envelopes = CASES[name]
    for parameter, points in envelopes.items():
        static = effect.with_parameter(parameter, points[-1][1])
        steady = automated(static, {parameter: [[0.0, points[-1][1]]]}, [1000], 0)
        np.testing.assert_allclose(steady, static.process_whole(SIGNAL), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_automation_changes_the_sound(name):
    effect, envelopes = CASES[name]
    assert np.max(np.abs(automated(effect, envelopes, [], 0) - effect.process_whole(SIGNAL))) > 1e-3
