"""A compressor or gate built with key_input hears the key, not its input, and stays exact across blocks."""

import numpy as np
import pytest

from dsp.automation import Envelope, Lanes
from dsp.compressor import Compressor
from dsp.errors import BlockError
from dsp.gate import Gate

RATE = 48000


def bursts(frames: int, seed: int, channels: int = 1) -> np.ndarray:
    """Noise that switches between loud and quiet every 2400 frames."""
    rng = np.random.default_rng(seed)
    gate = np.repeat(np.arange(frames // 2400 + 1) % 2, 2400)[:frames]
    return rng.standard_normal((frames, channels)) * (0.02 + 0.5 * gate)[:, None]


EFFECTS = [
    lambda keyed: Compressor(RATE, threshold_db=-24, ratio=6, attack_s=0.001, release_s=0.05, detector="rms", sidechain_hpf_hz=80, key_input=keyed),
    lambda keyed: Compressor(RATE, threshold_db=-20, ratio=3, stereo_link=False, key_input=keyed),
    lambda keyed: Gate(RATE, threshold_db=-18, range_db=-50, key_input=keyed),
]


@pytest.mark.parametrize("make", EFFECTS)
def test_a_silent_key_leaves_a_compressor_unchanged_and_a_gate_closed(make):
    audio = bursts(9600, 1, channels=2)
    effect = make(True)
    out, _ = effect.process(audio, effect.init_state(2), key=np.zeros((9600, 1)))
    if isinstance(effect, Compressor):
        np.testing.assert_array_equal(out, audio)
    else:
        np.testing.assert_allclose(out, audio * 10 ** (-50 / 20), rtol=1e-12)


@pytest.mark.parametrize("make", EFFECTS)
def test_keyed_by_its_own_input_it_acts_as_without_a_key(make):
    audio = bursts(24000, 2, channels=2)
    plain, keyed = make(False), make(True)
    alone, _ = plain.process(audio, plain.init_state(2))
    with_key, _ = keyed.process(audio, keyed.init_state(2), key=audio)
    np.testing.assert_array_equal(with_key, alone)


def test_a_mono_key_reaches_both_sides_of_an_unlinked_stereo_detector():
    audio = np.full((4800, 2), 0.1)
    key = bursts(4800, 3)
    effect = Compressor(RATE, threshold_db=-30, ratio=4, stereo_link=False, key_input=True)
    out, _ = effect.process(audio, effect.init_state(2), key=key)
    np.testing.assert_array_equal(out[:, 0], out[:, 1])
    assert np.min(out) < 0.05


@pytest.mark.parametrize("make", EFFECTS)
def test_keyed_blocks_of_any_size_give_the_whole_signal(make):
    audio, key = bursts(20000, 4, channels=2), bursts(20000, 5)
    effect = make(True)
    lanes = Lanes({"threshold_db": Envelope.from_points([[0.0, -30.0], [0.4, -12.0]], "threshold_db")}, 0, 20000, RATE)
    whole, _ = effect.process_automated(audio, effect.init_state(2), lanes, key=key)
    pieces, state, start = [], effect.init_state(2), 0
    for frames in (1, 63, 700, 4097, 15139):
        block_lanes = Lanes(lanes.envelopes, start, frames, RATE)
        out, state = effect.process_automated(audio[start : start + frames], state, block_lanes, key=key[start : start + frames])
        pieces.append(out)
        start += frames
    np.testing.assert_array_equal(np.concatenate(pieces), whole)


def test_a_key_is_required_by_a_keyed_effect_and_refused_by_another():
    audio = np.zeros((100, 1))
    keyed, plain = Compressor(RATE, threshold_db=-20, ratio=2, key_input=True), Compressor(RATE, threshold_db=-20, ratio=2)
    with pytest.raises(BlockError, match="^key: this compressor listens to a sidechain key; pass its frames as key="):
        keyed.process(audio, keyed.init_state(1))
    with pytest.raises(BlockError, match=r"^key: this compressor has no key input \(built without key_input=True\)"):
        plain.process(audio, plain.init_state(1), key=audio)
    with pytest.raises(BlockError, match="^key: covers 99 frames, the block 100"):
        keyed.process(audio, keyed.init_state(1), key=audio[:99])
    with pytest.raises(BlockError, match="^key: must be mono or stereo, got 3 channels"):
        keyed.process(audio, keyed.init_state(1), key=np.zeros((100, 3)))
