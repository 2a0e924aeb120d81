"""Scratch signals: pieces read back as one signal, and a write that cannot reach its work folder fails clearly."""

import numpy as np
import pytest

from farm.engine.scratch import ScratchSignal
from farm.errors import RenderError


def test_pieces_read_back_across_their_joins_with_silence_where_none_was_written(tmp_path):
    store = ScratchSignal(tmp_path / "mix")
    signal = np.random.default_rng(0).standard_normal((1000, 2))
    store.write(0, signal[:400])
    store.write(400, signal[400:])
    assert np.array_equal(store.read(100, 900), signal[100:900])
    assert np.array_equal(store.read(900, 1200)[:100], signal[900:]) and not store.read(900, 1200)[100:].any()
    assert store.frames() == 1000


def test_a_write_whose_work_folder_is_gone_names_it_and_creates_nothing(tmp_path):
    workdir = tmp_path / "render-work"
    with pytest.raises(RenderError, match=r"render-work: the render's work folder is not on this node"):
        ScratchSignal(workdir / "mix").write(0, np.zeros((10, 2)))
    assert not workdir.exists()


def test_a_store_keeps_the_sample_type_it_was_made_with(tmp_path):
    store = ScratchSignal(tmp_path / "pcm", dtype=np.int32)
    store.write(0, np.array([[1, -2], [3, -4]], dtype=np.int32) << 8)
    assert store.read(0, 3).dtype == np.int32 and store.read(0, 3)[1, 1] == -4 << 8
