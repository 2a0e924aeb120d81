"""A session rendered again a wall-clock second later makes the same deliverable bytes.

libsndfile stamps the PEAK chunk of float WAV and AIFF files with the second
they are written in; a deliverable must depend only on the session.
"""

import time

import pytest

from farm.engine.executor import LocalExecutor
from farm.engine.render import render
from tests.helpers.sessions import RATE, tone, write_session, write_stem


def after_the_next_second() -> None:
    """Sleep until the wall clock's whole second has changed."""
    now_s = time.time()
    time.sleep(int(now_s) + 1 - now_s + 0.01)


@pytest.mark.parametrize("output", [{"path": "master.wav", "bit_depth": "32f"}, {"path": "master.aiff", "format": "aiff", "bit_depth": "32f"}])
def test_a_float_deliverable_rendered_a_second_later_has_the_same_bytes(tmp_path, output):
    stem = write_stem(tmp_path / "song", "a.wav", tone(180.0, 0.5, 0.4))
    session = write_session(tmp_path / "song", {"tracks": [{"name": "a", "file": stem}], "sample_rate": RATE, "outputs": [{**output, "dither": "none"}]})
    render(session, tmp_path / "one", chunk_s=0.5, executor=LocalExecutor())
    after_the_next_second()
    render(session, tmp_path / "two", chunk_s=0.5, executor=LocalExecutor())
    assert (tmp_path / "one" / output["path"]).read_bytes() == (tmp_path / "two" / output["path"]).read_bytes()
