"""glibc malloc settings for a process that renders.

A render allocates and frees blocks of the same few sizes for every chunk
(a 10 s stereo float64 block is 7.7 MB). By default glibc serves a block
over its mmap threshold with a fresh mapping, and hands free memory at the
top of its heap back to the kernel once it exceeds its trim threshold, so
every chunk faults its pages in again: about 65,000 minor page faults and
0.5 s of system time for each render of a 17-track minute on two threads.
Raising both thresholds keeps freed blocks in the heap for the next chunk.

This changes the whole process, so it is done where the process exists to
render: ``mixfarm render`` and ``mixfarm demo``, and each Ray worker as it
runs its first task. A program that calls :func:`farm.engine.render.render`
itself keeps its own allocator settings unless it calls
:func:`retain_freed_memory`.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
"""``mallopt`` parameter numbers, from glibc's ``malloc.h``."""

MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
"""Blocks up to this size come from the heap and are reused; glibc's largest allowed value on 64-bit systems."""

TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024
"""Free memory kept at the top of the heap before glibc returns it to the kernel."""


@functools.cache
def retain_freed_memory() -> bool:
    """Set this process's glibc malloc thresholds for rendering (once); return whether they were set.

    Returns False, changing nothing, where the C library is not glibc
    (macOS, Windows, musl), whose allocators keep their own policies.
    """
    if os.name != "posix" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
