"""The render's malloc settings: freed chunk-sized blocks are reused instead of faulted in again."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from farm.engine import allocator

# Three 12 MB blocks live at once, freed and allocated again: the pattern of a
# chunk's audio blocks. Prints the minor page faults of ten rounds after a first.
CHUNKS = """
import resource, sys
import numpy as np
if sys.argv[1] == "retain":
    from farm.engine.allocator import retain_freed_memory
    assert retain_freed_memory()
def chunk():
    blocks = [np.ones(1_500_000) for _ in range(3)]
    return sum(float(block[-1]) for block in blocks)
chunk()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    chunk()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the settings are glibc's")


def faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", CHUNKS, mode], capture_output=True, text=True, check=True, timeout=60)
    return int(done.stdout)


@glibc_only
def test_freed_blocks_are_reused_instead_of_faulted_in_again() -> None:
    default, retained = faults("default"), faults("retain")
    pages = 10 * 3 * 12_000_000 // 4096
    assert default > pages // 50, "glibc's defaults no longer return these blocks to the kernel; this test shows nothing"
    assert retained < pages // 1000


@glibc_only
def test_the_settings_are_made_once_per_process() -> None:
    assert allocator.retain_freed_memory() is True
    assert allocator.retain_freed_memory() is True
    assert allocator.retain_freed_memory.cache_info().misses == 1
