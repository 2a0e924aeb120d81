"""Convolution with a measured impulse response (IR), exact across blocks.

Each block is convolved whole with the IR (``y = x * h``, ``frames + M - 1``
samples); its first ``frames`` samples, plus the tail still pending from earlier
blocks, are the output, and the rest is added to the pending tail carried in
the state (overlap-add; see "How chunks stay exact" in docs/architecture.md). A block
is convolved directly when that is cheaper (short blocks, by
``scipy.signal.choose_conv_method``'s estimate) and by FFT overlap-add in
segments otherwise (FFT size about four IR lengths), so a tiny block costs
about ``frames * M`` multiplies rather than an FFT of the whole IR, and a
long block about ``frames * log(M)``. There is no latency. Each call still
touches the whole IR and pending tail, so blocks of at least the IR's length
are what this is made for: 4 minutes of stereo at 48 kHz through a 2 s IR
take about 0.3 s in one block, 1 s in 10 s blocks, 2 s in 16384-frame blocks
and 28 s in 1024-frame blocks (measured on one core). A uniformly partitioned frequency-domain delay line would
make tiny blocks cheap at the price of a much larger state.

Output in blocks equals ``scipy.signal.fftconvolve`` of the whole signal to
within FFT rounding (about 1e-14 for unit-scale signals and IRs; the tests
hold it to 1e-12), not bit for bit: the FFT sizes, and so the rounding,
depend on the block sizes.

A mono IR is applied to every channel; an IR with as many channels as the
signal is applied channel by channel. An IR at another sample rate is
resampled with soxr (very high quality) and scaled by ``ir_rate / sample_rate``
so its frequency response, not just its sample values, is kept. The IR is not
normalised: ``gain_db`` sets the wet level.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import BinaryIO, ClassVar

import numpy as np
import soundfile

from .automation import Lanes
from .effect import Effect, State
from .errors import AudioFileError, BlockError, ParameterError
from .io import open_audio, resample
from .units import db_to_linear
from .validate import check_number

MAX_GAIN_DB = 48.0
MIN_FFT = 1 << 16


def read_ir(source: str | os.PathLike | BinaryIO, name: str | None = None) -> tuple[np.ndarray, float]:
    """Read an impulse response as float64 ``(frames, channels)`` and its rate in Hz.

    ``source`` is a path or an open, seekable binary file (e.g. from object
    storage); ``name`` is what messages call an open file.

    Raises
    ------
    AudioFileError
        If the file is missing, unreadable, empty, cut short while being read
        (fewer bytes or frames than it declares) or holds NaN or infinite
        samples; the message starts with the path (or ``name``).
    """
    if isinstance(source, (str, os.PathLike)):
        name = str(source)
        if not Path(source).is_file():
            raise AudioFileError(f"{name}: impulse response file not found")
    else:
        name = name or str(getattr(source, "name", None) or repr(source))
    try:
        with open_audio(source, name) as handle:
            declared_frames, rate = handle.frames, handle.samplerate
            samples = handle.read(dtype="float64", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(f"{name}: unreadable impulse response ({exc})") from exc
    if samples.shape[0] == 0:
        raise AudioFileError(f"{name}: empty impulse response (0 frames)")
    if samples.shape[0] != declared_frames:
        raise AudioFileError(f"{name}: impulse response cut short: {declared_frames} frames declared, {samples.shape[0]} read")
    if not np.isfinite(samples).all():
        raise AudioFileError(f"{name}: impulse response holds NaN or infinite samples")
    return samples, float(rate)


def _check_ir_array(ir: np.ndarray) -> np.ndarray:
    array = np.asarray(ir)
    if array.ndim == 1:
        array = array[:, np.newaxis]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ParameterError(f"ir: must be a non-empty array shaped (frames,) or (frames, channels), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating) and not np.issubdtype(array.dtype, np.integer):
        raise ParameterError(f"ir: must hold real numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ParameterError("ir: must hold finite samples, got NaN or infinite values")
    return array


def _convolve(block: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Full linear convolution along axis 0; ``kernel`` has one column or one per block column.

    Direct when ``scipy.signal.choose_conv_method`` judges it cheaper, otherwise
    FFT overlap-add in segments of ``nfft - taps + 1`` frames with ``nfft`` about
    four times the IR (at least ``MIN_FFT``), or one FFT for a shorter block.
    """
    import scipy.fft  # scipy's imports cost half a second; only a render with a convolution needs them
    import scipy.signal

    frames, taps = block.shape[0], kernel.shape[0]
    if scipy.signal.choose_conv_method(block[:, 0], kernel[:, 0], mode="full") == "direct":
        columns = kernel.shape[1]
        return np.stack([np.convolve(block[:, ch], kernel[:, ch % columns]) for ch in range(block.shape[1])], axis=1)
    nfft = scipy.fft.next_fast_len(min(frames + taps - 1, max(4 * taps, MIN_FFT)), real=True)
    segment = nfft - taps + 1
    spectrum = scipy.fft.rfft(kernel, nfft, axis=0)
    out = np.zeros((frames + taps - 1, block.shape[1]))
    for start in range(0, frames, segment):
        wet = scipy.fft.irfft(scipy.fft.rfft(block[start : start + segment], nfft, axis=0) * spectrum, nfft, axis=0)
        stop = min(start + nfft, out.shape[0])
        out[start:stop] += wet[: stop - start]
    return out


@dataclasses.dataclass(frozen=True)
class Convolution(Effect):
    """Overlap-add convolution with an impulse response from a file or an array.

    Parameters
    ----------
    sample_rate : float
        Sample rate in Hz.
    ir_file : str or os.PathLike or None
        Path of the IR audio file (any format libsndfile reads). Give either
        this or ``ir``.
    mix : float
        Wet share of a linear crossfade, 0 (dry) to 1 (wet).
    gain_db : float
        Gain of the wet signal in dB, within +-48.
    ir : numpy.ndarray or None
        The IR as samples, ``(frames,)`` or ``(frames, channels)``; see
        :meth:`from_array`.
    ir_sample_rate : float or None
        Rate of ``ir`` in Hz; default ``sample_rate``. Only with ``ir`` (a file
        states its own rate).

    Two instances are equal when their parameters and applied IRs are.
    """

    ir_file: str | os.PathLike | None = None
    mix: float = 1.0
    gain_db: float = 0.0
    ir: np.ndarray | None = dataclasses.field(default=None, repr=False)
    ir_sample_rate: float | None = None

    type_name: ClassVar[str] = "convolution"
    automatable: ClassVar[tuple[str, ...]] = ("mix", "gain_db")

    @classmethod
    def from_array(
        cls, sample_rate: float, ir: np.ndarray, ir_sample_rate: float | None = None, mix: float = 1.0, gain_db: float = 0.0
    ) -> Convolution:
        """Build the effect from IR samples rather than a file."""
        return cls(sample_rate, mix=mix, gain_db=gain_db, ir=ir, ir_sample_rate=ir_sample_rate)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ir_file is not None:
            samples, rate = read_ir(self.ir_file)
        else:
            samples = _check_ir_array(self.ir)
            rate = self.sample_rate if self.ir_sample_rate is None else self.ir_sample_rate
        if rate != self.sample_rate:
            samples = resample(samples, rate, self.sample_rate, quality="VHQ") * (rate / self.sample_rate)
        kernel = np.ascontiguousarray(samples * db_to_linear(self.gain_db))
        kernel.setflags(write=False)
        object.__setattr__(self, "_kernel", kernel)

    def _validate(self) -> None:
        if (self.ir_file is None) == (self.ir is None):
            raise ParameterError("ir_file: give exactly one of ir_file and ir")
        if self.ir_sample_rate is not None:
            if self.ir is None:
                raise ParameterError("ir_sample_rate: only with ir (an IR file states its own rate)")
            check_number("ir_sample_rate", self.ir_sample_rate, minimum=1000.0, maximum=1_536_000.0)
        check_number("mix", self.mix, minimum=0.0, maximum=1.0)
        check_number("gain_db", self.gain_db, minimum=-MAX_GAIN_DB, maximum=MAX_GAIN_DB)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._fields() == other._fields() and np.array_equal(self._kernel, other._kernel)

    def __hash__(self) -> int:
        return hash(self._fields())

    def _fields(self) -> tuple:
        return (self.sample_rate, self.ir_file, self.mix, self.gain_db, self.ir_sample_rate)

    @property
    def kernel(self) -> np.ndarray:
        """The IR as applied: at ``sample_rate``, times ``gain_db``, (frames, channels), read-only."""
        return self._kernel

    @property
    def tail_s(self) -> float:
        """The IR's length in seconds."""
        return self._kernel.shape[0] / self.sample_rate

    @property
    def settle_s(self) -> float:
        """Earlier input that still reaches the output: the IR's length."""
        return self.tail_s

    def _init_state(self, channels: int) -> State:
        if self._kernel.shape[1] not in (1, channels):
            raise BlockError(f"block: the IR has {self._kernel.shape[1]} channels; a signal of {channels} channel(s) needs a mono IR or one with {channels}")
        return {"pending": np.zeros((self._kernel.shape[0] - 1, channels))}

    def _process(self, block: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        wet, new_state = self._wet(block, state)
        return (1.0 - self.mix) * block + self.mix * wet, new_state

    def _process_automated(self, block: np.ndarray, state: State, lanes: Lanes) -> tuple[np.ndarray, State]:
        """``gain_db`` moves the wet level at the output (the tail already ringing follows it, as a fader would); ``mix`` the blend."""
        wet, new_state = self._wet(block, state)
        mix = lanes.per_frame("mix")[:, None] if "mix" in lanes.envelopes else self.mix
        if "gain_db" in lanes.envelopes:
            wet *= db_to_linear(lanes.per_frame("gain_db") - self.gain_db)[:, None]
        return (1.0 - mix) * block + mix * wet, new_state

    def _wet(self, block: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """The block convolved, the previous blocks' pending tail added; and the new state."""
        frames = block.shape[0]
        total = _convolve(block, self._kernel)
        pending = state["pending"]
        total[: pending.shape[0]] += pending
        return total[:frames], {"pending": total[frames:].copy()}
