"""README as a new user meets it: its two commands are the ones CI runs and the CLI understands, its
Python blocks run as written (each alone, in a fresh interpreter, nothing injected, printing what
README shows), and every
`xpmlp ...` command it shows parses."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from xpmlp.app.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def readme_commands() -> list[str]:
    section = README.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_ci_runs_readme_test_command_verbatim():
    main_job, test_cmd = readme_commands()
    assert "pytest" in test_cmd
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_cmd in ci, ".ci/run must call README's test command exactly"


def test_every_xpmlp_command_in_the_readme_parses():
    commands = re.findall(r"(?:^|&& |\.venv/bin/|-n 2 \.venv/bin/)xpmlp (.+)$", README, flags=re.M)
    assert len(commands) >= 6
    for line in commands:
        argv = shlex.split(line.split(" && ")[0].rstrip("`"))
        args = build_parser().parse_args(argv)
        assert args.command in ("train", "predict", "evaluate", "export", "selftest", "backends")


def test_main_job_trains_digits_to_high_accuracy(capsys):
    from xpmlp.app.cli import main

    assert main(["train", "--dataset", "digits", "--no-progress", "--backend", "numpy"]) == 0
    out = capsys.readouterr().out
    accuracy = float(re.search(r"test accuracy: ([0-9.]+)", out).group(1))
    assert accuracy >= 0.95, out


def test_main_job_saves_a_model_that_loads_on_another_backend(tmp_path):
    import numpy as np

    from xpmlp import io
    from xpmlp.app.cli import main

    path = tmp_path / "digits.npz"
    assert main(["train", "--no-progress", "--epochs", "3", "--backend", "numpy", "--save", str(path)]) == 0
    ckpt = io.load(path, backend="array_api_strict:device1", dtype="float32")
    assert ckpt.net.sizes == [64, 100, 10] and ckpt.net.backend.name == "array_api_strict"
    assert len(ckpt.history.loss) == 3 and len(ckpt.extra["preprocessing"]["classes"]) == 10
    x = np.zeros((1, 64))
    np.testing.assert_allclose(ckpt.net.backend.to_numpy(ckpt.net.predict(x)).sum(), 1.0, rtol=1e-5)


PYTHON_BLOCKS = re.findall(r"```python\n(.+?)\n```", README, flags=re.S)


def _same_line(shown: str, printed: str, rtol: float = 0.02) -> bool:
    """Whether ``printed`` is the line README shows: the same words, each number within ``rtol``."""
    number = r"(-?\d+(?:\.\d+)?(?:e-?\d+)?)"
    a, b = re.split(number, shown.strip()), re.split(number, printed.strip())
    if len(a) != len(b):
        return False
    for k, (x, y) in enumerate(zip(a, b)):
        if k % 2 == 0 and x != y:
            return False
        if k % 2 == 1 and abs(float(x) - float(y)) > rtol * max(abs(float(x)), 1e-12):
            return False
    return True


@pytest.mark.parametrize("block", range(len(PYTHON_BLOCKS)), ids=lambda k: f"block{k + 1}")
def test_each_python_block_runs_alone_and_prints_what_it_shows(block, tmp_path):
    """Each Python block as a script of its own, in a fresh interpreter: what a reader pasting that
    block alone gets.  Its ``# prints:`` lines must be among what it printed."""
    pytest.importorskip("sklearn")
    code = PYTHON_BLOCKS[block]
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # as from the repository root, writing elsewhere
    script = tmp_path / "block.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", str(script)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = done.stdout.splitlines()
    for shown in re.findall(r"^# prints: (.+)$", code, flags=re.M):
        assert any(_same_line(shown, line) for line in printed), f"README shows {shown!r}; printed:\n{done.stdout}"


def test_the_blocks_show_what_they_print():
    assert len(PYTHON_BLOCKS) >= 4 and sum("# prints:" in b for b in PYTHON_BLOCKS) >= 2
    assert _same_line("loss 2.025 -> 0.03796 at epoch 24", "loss 2.03 -> 0.0380 at epoch 24")
    assert not _same_line("loss 2.025 -> 0.03796", "loss 2.025 -> 0.0420")  # 10% off
    assert not _same_line("stopped: early_stopping", "stopped: max_epochs")


def test_cli_reports_a_bad_backend_in_one_line(capsys):
    from xpmlp.app.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["train", "--no-progress", "--backend", "jax"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "xpmlp: error: unknown backend 'jax'; valid names:" in err and "Traceback" not in err


def test_the_own_data_walkthrough_runs_as_written(tmp_path, monkeypatch, capsys):
    """README's "Your own data" commands, in order, in a fresh directory holding examples/."""
    import shutil

    pytest.importorskip("matplotlib")
    pytest.importorskip("onnx")
    from xpmlp.app.cli import main

    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    section = README.split("## Your own data", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)[0].splitlines()
             if ln.startswith(".venv/bin/xpmlp ")]
    assert len(lines) == 4
    for line in lines:
        assert main(shlex.split(line)[1:] + (["--no-progress"] if " train " in line else [])) == 0, line
    out = capsys.readouterr().out
    assert "accuracy:" in out and "confusion matrix" in out
    for made in ("flowers.npz", "curve.png", "predictions.csv", "flowers.onnx"):
        assert (tmp_path / made).stat().st_size > 0


def test_every_shell_line_uses_the_virtual_environment_it_made():
    """After ``python3 -m venv .venv``, each program comes from .venv/bin (a bare ``python`` or
    ``xpmlp`` would be whatever else the reader's PATH holds)."""
    lines = [line for block in re.findall(r"```bash\n(.+?)\n```", README, flags=re.S) for line in block.splitlines()]
    assert len(lines) >= 10
    for line in lines:
        for command in re.split(r"&&|\|", line):
            command = re.sub(r"^\s*env(\s+-u\s+\S+)*\s+", "", command)  # env -u VAR ... program
            program = shlex.split(command)[0]
            assert program == "python3" or program.startswith(".venv/bin/"), f"{line!r}: {program!r}"
