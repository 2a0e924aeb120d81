"""The layout of a RIFF WAV file's samples, and integer PCM decoded straight from its bytes.

A WAV file (Microsoft RIFF, "WAVE") is a list of chunks, each an id of four
bytes and a little-endian 32-bit size; ``fmt `` gives the sample format and
``data`` holds the interleaved frames. Decoding 16-, 24- or 32-bit PCM from
those bytes here gives, bit for bit, the float32 that libsndfile gives for
the file (its integer read, left-aligned to 32 bits, times 2**-31), at a
fraction of its cost.
"""

from __future__ import annotations

import dataclasses
import os
from typing import BinaryIO

import numba
import numpy as np

PCM_BITS = (16, 24, 32)
"""Integer sample widths that :func:`decode_pcm` reads."""

_WAVE_FORMAT_PCM = 1
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE
_PCM_SUBFORMAT_PREFIX = b"\x01\x00"
"""The first two bytes of KSDATAFORMAT_SUBTYPE_PCM, the GUID an extensible format names PCM with."""


@dataclasses.dataclass(frozen=True)
class WavLayout:
    """Where a WAV file's frames are and how they are stored.

    ``pcm_bits`` is the integer sample width when the format is plain PCM (tag
    1, or extensible with the PCM subformat), else None; ``block_align`` the
    bytes per frame; ``data_bytes`` the size the data chunk declares (0 or
    0xFFFFFFFF when its writer left it open).
    """

    data_offset: int
    data_bytes: int
    file_bytes: int
    channels: int | None
    block_align: int | None
    pcm_bits: int | None


def layout(handle: BinaryIO) -> WavLayout | None:
    """The layout of the RIFF WAV file open in ``handle``, or None when it is not one (RF64, AIFF, FLAC ...).

    Reads only the chunk headers and the ``fmt `` chunk; leaves the position anywhere.
    """
    file_bytes = handle.seek(0, os.SEEK_END)
    handle.seek(0)
    head = handle.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
        return None
    channels = block_align = pcm_bits = None
    while True:
        header = handle.read(8)
        if len(header) < 8:
            return None
        chunk_id, chunk_bytes = header[:4], int.from_bytes(header[4:], "little")
        if chunk_id == b"data":
            return WavLayout(handle.tell(), chunk_bytes, file_bytes, channels, block_align, pcm_bits)
        if chunk_id == b"fmt ":
            fmt = handle.read(min(chunk_bytes, 40))
            handle.seek(chunk_bytes - len(fmt), os.SEEK_CUR)
            if len(fmt) >= 16:
                tag = int.from_bytes(fmt[0:2], "little")
                channels = int.from_bytes(fmt[2:4], "little")
                block_align = int.from_bytes(fmt[12:14], "little")
                bits = int.from_bytes(fmt[14:16], "little")
                pcm = tag == _WAVE_FORMAT_PCM or (tag == _WAVE_FORMAT_EXTENSIBLE and fmt[24:26] == _PCM_SUBFORMAT_PREFIX)
                pcm_bits = bits if pcm else None
            handle.seek(chunk_bytes & 1, os.SEEK_CUR)
        else:
            handle.seek(chunk_bytes + (chunk_bytes & 1), os.SEEK_CUR)


def decodable(wav: WavLayout, channels: int, bits: int) -> bool:
    """Whether :func:`decode_pcm` reads this file as ``channels`` channels of ``bits``-bit PCM, frames packed."""
    return wav.pcm_bits == bits and bits in PCM_BITS and wav.channels == channels and wav.block_align == channels * bits // 8


@numba.njit(cache=True, nogil=True)
def _decode(raw: np.ndarray, channels: int, sample_bytes: int) -> np.ndarray:
    count = raw.shape[0] // sample_bytes
    out = np.empty((count // channels, channels), dtype=np.float32)
    flat = out.reshape(count)
    scale = np.float32(2.0 ** (1 - 8 * sample_bytes))
    for i in range(count):
        at = i * sample_bytes
        if sample_bytes == 2:
            value = np.int32(np.int16(raw[at] | (np.uint16(raw[at + 1]) << 8)))
        elif sample_bytes == 3:
            value = np.int32((np.uint32(raw[at]) << 8) | (np.uint32(raw[at + 1]) << 16) | (np.uint32(raw[at + 2]) << 24)) >> 8
        else:
            value = np.int32(
                np.uint32(raw[at]) | (np.uint32(raw[at + 1]) << 8) | (np.uint32(raw[at + 2]) << 16) | (np.uint32(raw[at + 3]) << 24)
            )
        flat[i] = np.float32(value) * scale
    return out


def decode_pcm(raw: np.ndarray, channels: int, bits: int) -> np.ndarray:
    """Interleaved little-endian ``bits``-bit PCM bytes (uint8) as float32 (frames, channels), full scale at 1.0.

    A sample ``v`` becomes ``float32(v) * 2**(1 - bits)``: exact for 16 and
    24 bits, rounded to float32's 24-bit mantissa for 32.
    """
    return _decode(raw, channels, bits // 8)
