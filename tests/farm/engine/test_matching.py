"""Reference matching in a render: the matched master's long-term spectrum lands on the reference's."""

import numpy as np
import pytest
import scipy.signal
import soundfile
import soxr

from dsp.eq import EqBand, Equalizer
from farm.engine.executor import LocalExecutor
from farm.engine.render import render
from farm.errors import RenderError, SessionError
from tests.helpers.sessions import RATE, write_session, write_stem

SECONDS = 12.0
THIRD_OCTAVES_HZ = 1000.0 * 2.0 ** (np.arange(-12, 12) / 3.0)
"""Third-octave band centres (IEC 61260 base-2) from 63 Hz to 12.5 kHz."""


def pinkish_mix(seconds: float = SECONDS) -> np.ndarray:
    """Pink-ish noise with a partly correlated right channel, plus a beat, so every band and both mid and side have energy."""
    rng = np.random.default_rng(12)
    frames = int(seconds * RATE)
    pink = scipy.signal.lfilter([0.0499, -0.0960, 0.0506, -0.0044], [1.0, -2.4950, 2.0173, -0.5222], rng.standard_normal((frames, 2)), axis=0)
    t = np.arange(frames) / RATE
    beat = (np.sin(2 * np.pi * 55.0 * t) * np.exp(-8.0 * (t % 0.5)))[:, None]
    audio = 0.25 * pink + 0.2 * beat
    audio[:, 1] = 0.6 * audio[:, 1] + 0.4 * audio[:, 0]
    return audio


def shelved(audio: np.ndarray, high_db: float, low_db: float, rate: int = RATE) -> np.ndarray:
    eq = Equalizer(rate, bands=(EqBand("high_shelf", 3000.0, gain_db=high_db, q=0.7), EqBand("low_shelf", 200.0, gain_db=low_db, q=0.7)))
    return eq.process(audio, eq.init_state(2))[0]


def third_octave_db(audio: np.ndarray, rate: int) -> np.ndarray:
    """Long-term level per third-octave band (Welch PSD summed over each band's edges), averaged over both channels, in dB."""
    freqs, psd = scipy.signal.welch(audio, rate, nperseg=16384, axis=0)
    power = psd.mean(axis=1)
    bands = [power[(freqs >= centre * 2 ** (-1 / 6)) & (freqs < centre * 2 ** (1 / 6))].sum() for centre in THIRD_OCTAVES_HZ]
    return 10 * np.log10(bands)


def session(folder, match: dict | None, loudness=None, reference_audio=None, reference_rate=RATE):
    mix = pinkish_mix()
    if reference_audio is not None:
        (folder / "refs").mkdir(exist_ok=True)
        soundfile.write(folder / "refs" / "reference.wav", reference_audio, reference_rate, subtype="FLOAT")
    master = {"match": match} if match else {}
    if loudness:
        master["loudness"] = loudness
    return write_session(folder, {"tracks": [{"name": "mix", "file": write_stem(folder, "mix.wav", mix)}], "master": master})


def read(out, report) -> np.ndarray:
    return soundfile.read(out / report["deliverables"][0]["path"], dtype="float64")[0]


def test_the_matched_master_has_the_references_third_octave_spectrum(tmp_path):
    reference = shelved(pinkish_mix(), high_db=6.0, low_db=-4.0)
    path = session(tmp_path, {"reference": "refs/reference.wav"}, reference_audio=reference)
    report = render(path, tmp_path / "out", chunk_s=3.0, executor=LocalExecutor())
    matched = read(tmp_path / "out", report)
    difference = third_octave_db(matched, RATE) - third_octave_db(reference, RATE)
    difference -= difference.mean()
    assert np.abs(difference).max() <= 1.0, dict(zip(THIRD_OCTAVES_HZ.round(), difference.round(2)))
    before = third_octave_db(pinkish_mix(), RATE) - third_octave_db(reference, RATE)
    assert np.ptp(before) > 9.0, "the reference should differ from the mix by the shelves"
    curve = report["match"]["correction"]
    assert report["match"]["reference"] == "refs/reference.wav"
    assert len(curve["frequencies_hz"]) == len(curve["mid_db"]) == len(curve["side_db"])


def test_matching_with_a_loudness_target_still_lands_it(tmp_path):
    reference = shelved(pinkish_mix(), high_db=6.0, low_db=-4.0)
    path = session(tmp_path, {"reference": "refs/reference.wav"}, loudness={"preset": "spotify"}, reference_audio=reference)
    report = render(path, tmp_path / "out", chunk_s=3.0, executor=LocalExecutor())
    facts = report["deliverables"][0]["loudness"]
    assert abs(facts["integrated_lufs"] + 14.0) <= 0.05 and facts["true_peak_dbtp"] <= -1.0


def test_amount_zero_renders_exactly_as_without_matching(tmp_path):
    reference = shelved(pinkish_mix(), high_db=6.0, low_db=-4.0)
    plain = session(tmp_path, None, loudness={"preset": "spotify"})
    (tmp_path / "zero").mkdir()
    zero = session(tmp_path / "zero", {"reference": "refs/reference.wav", "amount": 0.0}, loudness={"preset": "spotify"}, reference_audio=reference)
    a = render(plain, tmp_path / "a", chunk_s=3.0, executor=LocalExecutor())
    b = render(zero, tmp_path / "b", chunk_s=3.0, executor=LocalExecutor())
    assert (tmp_path / "a" / "master.wav").read_bytes() == (tmp_path / "b" / "master.wav").read_bytes()
    assert a["match"] is None and b["match"] is None


def test_the_correction_is_held_to_max_gain_db_and_scaled_by_amount(tmp_path):
    reference = shelved(pinkish_mix(), high_db=15.0, low_db=-12.0)
    full = render(session(tmp_path, {"reference": "refs/reference.wav"}, reference_audio=reference), tmp_path / "full", chunk_s=3.0, executor=LocalExecutor())
    (tmp_path / "held").mkdir()
    held_path = session(tmp_path / "held", {"reference": "refs/reference.wav", "max_gain_db": 3.0, "amount": 0.5}, reference_audio=reference)
    held = render(held_path, tmp_path / "held" / "out", chunk_s=3.0, executor=LocalExecutor())
    full_curve = np.array(full["match"]["correction"]["mid_db"])
    held_curve = np.array(held["match"]["correction"]["mid_db"])
    assert np.ptp(full_curve) > 20.0
    assert np.abs(held_curve).max() <= 1.5 + 0.01
    np.testing.assert_allclose(held_curve, 0.5 * np.clip(full_curve, -3.0, 3.0), atol=0.011)
    spread = third_octave_db(read(tmp_path / "held" / "out", held), RATE) - third_octave_db(pinkish_mix(), RATE)
    assert np.ptp(spread) <= 3.0 + 0.5


def test_a_reference_at_another_rate_is_resampled_not_refused(tmp_path):
    reference = soxr.resample(shelved(pinkish_mix(), high_db=6.0, low_db=-4.0), RATE, 44100, quality="VHQ")
    path = session(tmp_path, {"reference": "refs/reference.wav"}, reference_audio=reference, reference_rate=44100)
    report = render(path, tmp_path / "out", chunk_s=3.0, executor=LocalExecutor())
    measured_at_render_rate = soxr.resample(reference, 44100, RATE, quality="VHQ")  # the same band edges for both, in FFT bins
    difference = third_octave_db(read(tmp_path / "out", report), RATE) - third_octave_db(measured_at_render_rate, RATE)
    difference -= difference.mean()
    assert np.abs(difference).max() <= 1.0


def test_a_chunked_render_nulls_against_one_pass(tmp_path):
    reference = shelved(pinkish_mix(), high_db=6.0, low_db=-4.0)
    path = session(tmp_path, {"reference": "refs/reference.wav"}, loudness={"preset": "spotify"}, reference_audio=reference)
    chunked = render(path, tmp_path / "chunked", chunk_s=2.0, executor=LocalExecutor())
    whole = render(path, tmp_path / "whole", chunk_s=60.0, executor=LocalExecutor())
    assert chunked["match"]["correction"] == whole["match"]["correction"]
    difference = np.abs(read(tmp_path / "chunked", chunked) - read(tmp_path / "whole", whole)).max()
    assert difference < 10 ** (-120 / 20), difference


def test_a_missing_reference_is_named_before_rendering(tmp_path):
    path = session(tmp_path, {"reference": "refs/nowhere.wav"})
    with pytest.raises(SessionError) as caught:
        render(path, tmp_path / "out", executor=LocalExecutor())
    (problem,) = caught.value.problems
    assert problem.startswith("master.match.reference: ") and "refs/nowhere.wav" in problem and "no such file" in problem


def test_a_silent_reference_fails_the_render_naming_it(tmp_path):
    path = session(tmp_path, {"reference": "refs/reference.wav"}, reference_audio=np.zeros((RATE * 5, 2)))
    with pytest.raises(RenderError, match=r"master\.match\.reference: refs/reference\.wav is silent"):
        render(path, tmp_path / "out", executor=LocalExecutor())
    assert not (tmp_path / "out" / "master.wav").exists()
