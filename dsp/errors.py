"""The exceptions that :mod:`dsp` raises, in one place."""


class DspError(Exception):
    """Base class of every error raised by :mod:`dsp`."""


class ParameterError(DspError, ValueError):
    """A parameter is out of its allowed range or of the wrong kind.

    The message names the parameter, the rule and the value given, e.g.
    ``"attack_s: must be >= 0, got -0.1"``.
    """


class BlockError(DspError, ValueError):
    """An audio block is malformed: wrong shape, wrong channel count, NaN or inf."""


class AudioFileError(DspError, OSError):
    """An audio file is missing, unreadable, unsupported or empty.

    The message starts with the file's path.
    """
