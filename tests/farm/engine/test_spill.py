"""SpilledSignal: the mix and master move to the render's work folder, and come back exactly, a few blocks at a time."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from farm.engine.blocks import BLOCK_DTYPE, assemble
from farm.engine.executor import LocalExecutor
from farm.engine.spill import SpilledSignal


def blocks(count: int, frames: int = 1000) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.standard_normal((frames, 2)).astype(BLOCK_DTYPE) for _ in range(count)]


def test_spilled_blocks_read_back_bit_exact_and_the_executors_copies_go(tmp_path):
    executor = LocalExecutor(1)
    signal = SpilledSignal(executor, tmp_path / "mix.f32", kept=2)
    originals = blocks(5)
    expected = np.concatenate(originals)
    watched = weakref.ref(originals[0])
    for index, block in enumerate(originals):
        signal.add(index * 1000, (index + 1) * 1000, executor.put_block(block))
    del block, originals
    signal.spill(3)
    assert signal.spilled == 3
    gc.collect()
    assert watched() is None, "the signal still holds the first block after spilling it"
    signal.spill()
    starts, refs = signal.covering(1500, 4200)
    assert starts == (1000, 2000, 3000, 4000)
    read = assemble(starts, executor.get(refs), 1500, 4200)
    np.testing.assert_array_equal(read, expected[1500:4200].astype(np.float64))


def test_only_kept_blocks_put_back_are_remembered(tmp_path):
    executor = LocalExecutor(1)
    signal = SpilledSignal(executor, tmp_path / "master.f32", kept=2)
    for index, block in enumerate(blocks(6)):
        signal.add(index * 1000, (index + 1) * 1000, executor.put_block(block))
    signal.spill()
    first = signal.covering(0, 1000)[1][0]
    assert signal.covering(0, 1000)[1][0] is first, "a block read again at once was put back twice"
    signal.covering(1000, 3000)
    assert signal.covering(0, 1000)[1][0] is not first, "more than kept=2 blocks stayed put back"


def test_close_deletes_the_file_and_blocks_keep_their_order(tmp_path):
    signal = SpilledSignal(LocalExecutor(1), tmp_path / "mix.f32", kept=2)
    signal.add(0, 1000, LocalExecutor(1).put_block(blocks(1)[0]))
    signal.add(1000, 1000, None)
    assert signal.starts == [0], "an empty block was recorded"
    with pytest.raises(ValueError, match=r"blocks: must be added in order, got \[500, 1500\) after one ending at 1000"):
        signal.add(500, 1500, None)
    signal.spill()
    assert (tmp_path / "mix.f32").stat().st_size == 1000 * 2 * 4
    signal.close()
    assert not (tmp_path / "mix.f32").exists()
