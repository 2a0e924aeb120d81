"""``mixfarm render`` in a terminal's words: no notice from Ray the user cannot act on, bit depths named as bits, the exit status and whole files."""

import json
import os
import subprocess
import sys

import soundfile

from tests.helpers.sessions import tone, write_session, write_stem


def test_a_render_on_a_ray_cluster_it_starts_prints_no_token_notice(tmp_path):
    stem = write_stem(tmp_path, "a.wav", tone(220.0, 2.0))
    session = write_session(tmp_path, {"tracks": [{"name": "a", "file": stem}], "outputs": [{"path": "master.wav", "bit_depth": 24}]})
    env = {name: value for name, value in os.environ.items() if name not in ("RAY_ADDRESS", "RAY_AUTH_MODE")}
    result = subprocess.run(
        [sys.executable, "-m", "farm.cli", "render", str(session), "-o", str(tmp_path / "out"), "--executor", "ray"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "executor: ray" in result.stdout
    assert "master.wav  (wav, 24-bit, 48000 Hz)" in result.stdout
    assert "mix-bus.flac  (the mix bus before mastering, for listening)" in result.stdout
    assert "Token authentication" not in result.stderr, result.stderr


def test_a_mistyped_session_path_is_refused_before_any_cluster_starts(tmp_path):
    missing = tmp_path / "sesion.yaml"
    probe = f"import sys; from farm.cli import main; status = main(['render', {str(missing)!r}]); print(status, 'ray' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["1", "False"], result.stdout + result.stderr
    assert f"{missing}: 1 problem" in result.stderr and "no such file" in result.stderr


def test_the_command_exits_with_its_status_and_leaves_its_files_whole(tmp_path):
    stem = write_stem(tmp_path, "a.wav", tone(220.0, 2.0))
    session = write_session(tmp_path, {"tracks": [{"name": "a", "file": stem}], "outputs": [{"path": "master.wav", "bit_depth": 24}]})
    out = tmp_path / "out"
    rendered = subprocess.run(
        [sys.executable, "-m", "farm.cli", "render", str(session), "-o", str(out), "--executor", "local", "--json"], capture_output=True, text=True, timeout=300
    )
    assert rendered.returncode == 0, rendered.stderr
    report = json.loads(rendered.stdout)
    assert json.loads((out / "report.json").read_text())["output"] == report["output"]
    audio, rate = soundfile.read(out / "master.wav")
    assert rate == 48000 and audio.shape[0] >= 2 * 48000
    missing = subprocess.run([sys.executable, "-m", "farm.cli", "render", str(tmp_path / "none.yaml")], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "none.yaml" in missing.stderr
