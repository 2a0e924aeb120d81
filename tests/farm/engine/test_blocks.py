import numpy as np
import pytest

from farm.engine.blocks import BlockSignal, assemble

SPANS = [(0, 10), (10, 25), (25, 40), (52, 60)]


def signal() -> BlockSignal:
    blocks = BlockSignal()
    for start, stop in [(0, 10), (10, 10), (10, 25), (25, 40), (52, 60)]:
        blocks.add(start, stop, (start, stop))
    return blocks


@pytest.mark.parametrize("start, stop", [(0, 5), (5, 12), (10, 25), (24, 26), (40, 52), (41, 53), (-5, 0), (0, 60), (60, 70)])
def test_covering_gives_exactly_the_blocks_that_overlap_the_range(start, stop):
    starts, refs = signal().covering(start, stop)
    expected = [span for span in SPANS if span[0] < stop and span[1] > start]
    assert refs == expected and starts == tuple(span[0] for span in expected)


def test_an_empty_block_is_left_out_and_blocks_out_of_order_are_refused():
    blocks = signal()
    assert len(blocks.refs) == 4
    with pytest.raises(ValueError, match=r"blocks: must be added in order, got \[30, 35\) after one ending at 60"):
        blocks.add(30, 35, "late")


def test_assemble_reads_a_range_across_blocks_as_float64_with_silence_where_none_is():
    first, second = np.full((10, 2), 1.0, dtype=np.float32), np.full((5, 2), 2.0, dtype=np.float32)
    out = assemble((0, 12), (first, second), 8, 20)
    assert out.dtype == np.float64 and out.shape == (12, 2)
    assert np.array_equal(out[:, 0], [1, 1, 0, 0, 2, 2, 2, 2, 2, 0, 0, 0])
