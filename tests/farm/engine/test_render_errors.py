"""A failed render says what failed and leaves nothing that looks finished."""

import numpy as np
import pytest
import soundfile

from farm.engine.executor import LocalExecutor
from farm.engine.render import render
from farm.errors import RenderError, SessionError
from tests.helpers.sessions import RATE, tone, write_session, write_stem


def finished_files(folder):
    return sorted(path.name for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


@pytest.mark.parametrize("bad_value,label", [(np.nan, "NaN"), (np.inf, "inf")])
def test_non_finite_samples_name_the_file_and_time(tmp_path, bad_value, label):
    audio = tone(220.0, 3.0)
    audio[int(2.5 * RATE)] = bad_value
    stem = write_stem(tmp_path, "vox.wav", audio)
    session = write_session(tmp_path, {"tracks": [{"name": "vox", "file": stem}]})
    with pytest.raises(RenderError, match=r"vox\.wav: NaN or infinite sample at frame 120000 \(2\.500 s into the file\)"):
        render(session, tmp_path / "out", chunk_s=1.0, executor=LocalExecutor())
    assert finished_files(tmp_path / "out") == []


def test_invalid_session_writes_nothing(tmp_path):
    session = write_session(tmp_path, {"tracks": [{"name": "a", "file": "stems/none.wav"}]})
    with pytest.raises(SessionError, match=r"none\.wav: no such file"):
        render(session, tmp_path / "out", executor=LocalExecutor())
    assert not (tmp_path / "out").exists()


def test_output_folder_that_cannot_be_made_is_reported(tmp_path):
    stem = write_stem(tmp_path, "a.wav", tone(220.0, 1.0))
    session = write_session(tmp_path, {"tracks": [{"name": "a", "file": stem}]})
    (tmp_path / "occupied").write_text("a file where the folder should go")
    with pytest.raises(RenderError, match=r"occupied/out: output folder is not writable"):
        render(session, tmp_path / "occupied" / "out", executor=LocalExecutor())


def test_a_failed_render_keeps_earlier_results_and_adds_no_partial_files(tmp_path):
    stem = write_stem(tmp_path, "a.wav", tone(220.0, 2.0))
    session = write_session(tmp_path, {"tracks": [{"name": "a", "file": stem}]})
    render(session, tmp_path / "out", chunk_s=1.0, executor=LocalExecutor())
    before = {name: (tmp_path / "out" / name).read_bytes() for name in finished_files(tmp_path / "out")}
    broken = tone(220.0, 2.0)
    broken[RATE + 5] = np.nan
    soundfile.write(tmp_path / stem, broken, RATE, subtype="FLOAT")
    with pytest.raises(RenderError):
        render(session, tmp_path / "out", chunk_s=1.0, executor=LocalExecutor())
    assert {name: (tmp_path / "out" / name).read_bytes() for name in finished_files(tmp_path / "out")} == before
    assert sorted(before) == ["master.wav", "mix-bus.flac", "report.json"]


def test_a_silent_mix_cannot_be_normalised(tmp_path):
    stem = write_stem(tmp_path, "silence.wav", np.zeros((RATE, 1)))
    session = write_session(tmp_path, {"tracks": [{"name": "a", "file": stem}], "master": {"loudness": {"preset": "spotify"}}})
    with pytest.raises(RenderError, match=r"the mix is silent"):
        render(session, tmp_path / "out", executor=LocalExecutor())
    assert finished_files(tmp_path / "out") == []
