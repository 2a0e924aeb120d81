"""The loudness stage's plan: reference matching, the target, the true-peak limiter, the fades, and one pass over the timeline."""

from __future__ import annotations

import dataclasses

from dsp.io import AudioInfo
from dsp.limiter import Limiter
from dsp.matching import MatchEq, Spectrum, fir_taps
from farm.session import Master

from .preroll import chain_preroll_frames, meter_preroll_frames

MASTER_TRUE_PEAK_OVERSAMPLING = 8
"""The loudness stage and the deliverables are metered at 8x, closer than BS.1770's 4x."""


@dataclasses.dataclass(frozen=True)
class MatchPlan:
    """Reference matching as the session sets it.

    ``reference`` is the reference's location (a local path or a URI) and
    ``written`` its path as the session gives it; ``amount`` and
    ``max_gain_db`` shape the correction (:func:`dsp.matching.correction`).
    ``spectrum`` is the reference's long-term spectrum when it is known
    already (an album analyses its reference once for all its songs); None:
    the render analyses it.
    """

    reference: str
    written: str
    amount: float
    max_gain_db: float
    spectrum: Spectrum | None = None


@dataclasses.dataclass(frozen=True)
class LoudnessPlan:
    """The loudness stage as the session sets it, at the render rate.

    Attributes
    ----------
    sample_rate
        The render rate in Hz.
    target_lufs, ceiling_dbtp
        The integrated loudness to land on and the true-peak ceiling; both
        None when the session sets no target (only the fades apply).
    lookahead_s, release_s
        The true-peak limiter's settings.
    fade_in_frames, fade_out_frames
        The master fades.
    preroll_frames
        Frames each chunk of a pass starts early from silence (the matching
        EQ's, the limiter's and the meter's settle times); None when a pass
        carries its state from chunk to chunk.
    match
        Reference matching; None without it (or with ``amount: 0``).
    fixed_gain_db
        A gain the stage applies as it is, instead of finding the one that
        lands the target (an album's songs after its loudest, which set it);
        None: find it. The ceiling is held either way.
    """

    sample_rate: int
    target_lufs: float | None
    ceiling_dbtp: float | None
    lookahead_s: float
    release_s: float
    fade_in_frames: int
    fade_out_frames: int
    preroll_frames: int | None
    match: MatchPlan | None = None
    fixed_gain_db: float | None = None

    @property
    def normalises(self) -> bool:
        """Whether the stage has a target and its limiter (with a fixed gain, the target is the album's)."""
        return self.target_lufs is not None

    @property
    def lands_target(self) -> bool:
        """Whether the stage corrects its gain until the master lands on the target."""
        return self.normalises and self.fixed_gain_db is None

    def limiter(self, ceiling_margin_db: float = 0.0) -> Limiter | None:
        """The true-peak limiter holding ``ceiling_margin_db`` dB under the ceiling; None without a target."""
        if not self.normalises:
            return None
        return Limiter(self.sample_rate, ceiling_dbtp=self.ceiling_dbtp - ceiling_margin_db, lookahead_s=self.lookahead_s, release_s=self.release_s)

    def master_pass(self, gain_db: float = 0.0, ceiling_margin_db: float = 0.0, match: MatchEq | None = None) -> MasterPass:
        """A pass with ``gain_db`` of gain, the matching EQ ``match`` and the limiter ``ceiling_margin_db`` dB under the ceiling."""
        return MasterPass(gain_db, self.limiter(ceiling_margin_db), self.preroll_frames, self.fade_in_frames, self.fade_out_frames, match)


@dataclasses.dataclass(frozen=True)
class MasterPass:
    """One run of the loudness stage over the timeline: gain, matching EQ, limiter, fades, and how its chunks join."""

    gain_db: float
    limiter: Limiter | None
    preroll_frames: int | None
    fade_in_frames: int
    fade_out_frames: int
    match: MatchEq | None = None

    @property
    def latency_frames(self) -> int:
        """Frames by which the matching EQ and the limiter delay the master (removed when it is written)."""
        return sum(effect.latency_samples for effect in (self.match, self.limiter) if effect is not None)

    def with_gain(self, gain_db: float) -> MasterPass:
        """The same pass with ``gain_db`` of gain."""
        return dataclasses.replace(self, gain_db=gain_db)


def plan_loudness(master: Master, sample_rate: int, chunk_frames: int, reference: AudioInfo | None = None) -> LoudnessPlan:
    """The loudness stage of ``master`` at ``sample_rate`` Hz, its passes in chunks of ``chunk_frames``; ``reference`` is the resolved ``master.match.reference``."""
    target_lufs, ceiling_dbtp = master.loudness.target if master.loudness else (None, None)
    limiter = master.limiter
    plan = LoudnessPlan(
        sample_rate,
        target_lufs,
        ceiling_dbtp,
        limiter.lookahead_s,
        limiter.release_s,
        round(master.fade_in_s * sample_rate),
        round(master.fade_out_s * sample_rate),
        None,
    )
    match = master.match
    if match is not None and match.amount > 0.0:
        plan = dataclasses.replace(plan, match=MatchPlan(reference.path, match.reference, match.amount, match.max_gain_db))
    chain = [plan.limiter()] if plan.normalises else []
    extra_frames = meter_preroll_frames(sample_rate, MASTER_TRUE_PEAK_OVERSAMPLING) + (fir_taps(sample_rate) - 1 if plan.match else 0)
    return dataclasses.replace(plan, preroll_frames=chain_preroll_frames(chain, sample_rate, chunk_frames, extra_frames))
