"""Where a clip plays, in frames: the one rule that validation, the compiler and the renderer share."""

from __future__ import annotations

import dataclasses

from dsp.io import resampled_frames

from .model import Clip


@dataclasses.dataclass(frozen=True)
class ClipSpan:
    """A clip's place at one sample rate, in frames."""

    start_frame: int
    """Where it starts on the timeline."""
    offset_frames: int
    """Where it starts in its file."""
    frames: int
    """How long it plays."""

    @property
    def end_frame(self) -> int:
        """The timeline frame just after its last."""
        return self.start_frame + self.frames


def clip_span(clip: Clip, file_frames: int, file_rate: int, sample_rate: int) -> ClipSpan:
    """Where ``clip`` plays at ``sample_rate``, its file holding ``file_frames`` frames at ``file_rate`` Hz.

    Times are rounded to the nearest frame. The file's length at another rate
    is the length of its resampled copy (:func:`dsp.io.resampled_frames`).
    Without ``duration_s`` a clip plays to the end of its file; with it, no
    further than that.
    """
    offset = round(clip.offset_s * sample_rate)
    frames = resampled_frames(file_frames, file_rate, sample_rate) - offset
    if clip.duration_s is not None:
        frames = min(frames, round(clip.duration_s * sample_rate))
    return ClipSpan(round(clip.start_s * sample_rate), offset, max(frames, 0))
