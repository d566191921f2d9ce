"""README's two commands are the ones CI runs and the CLI understands."""

from __future__ import annotations

import re
from pathlib import Path

from xpmlp.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_ci_runs_readme_test_command_verbatim():
    main_job, test_cmd = readme_commands()
    assert "pytest" in test_cmd
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_cmd in ci, ".ci/run must call README's test command exactly"


def test_main_job_command_parses():
    main_job, _ = readme_commands()
    argv = main_job.split("xpmlp ", 1)[1].split()
    args = build_parser().parse_args(argv)
    assert args.command == "train" and args.dataset == "digits"


def test_main_job_trains_digits_to_high_accuracy(capsys):
    from xpmlp.cli import main

    assert main(["train", "--dataset", "digits", "--no-progress", "--backend", "numpy"]) == 0
    out = capsys.readouterr().out
    accuracy = float(re.search(r"test accuracy: ([0-9.]+)", out).group(1))
    assert accuracy >= 0.95, out


def test_main_job_saves_a_model_that_loads_on_another_backend(tmp_path, capsys):
    import numpy as np

    from xpmlp import io
    from xpmlp.cli import main

    path = tmp_path / "digits.npz"
    assert main(["train", "--no-progress", "--epochs", "3", "--backend", "numpy", "--save", str(path)]) == 0
    ckpt = io.load(path, backend="array_api_strict:device1", dtype="float32")
    assert ckpt.net.sizes == [64, 100, 10] and ckpt.net.backend.name == "array_api_strict"
    assert len(ckpt.history.loss) == 3 and len(ckpt.extra["preprocessing"]["classes"]) == 10
    x = np.zeros((1, 64))
    np.testing.assert_allclose(ckpt.net.backend.to_numpy(ckpt.net.predict(x)).sum(), 1.0, rtol=1e-5)


def test_readme_python_examples_run(tmp_path, monkeypatch):
    """The README's Python blocks run as written, one after the other, on the digits data."""
    import numpy as np
    import pytest

    pytest.importorskip("torch", reason="the README's load example puts the model on torch")
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    namespace = {"X": X[:1200], "T": np.eye(10)[y[:1200]], "y": y[:1200], "X_test": X[1200:]}
    monkeypatch.chdir(tmp_path)  # the examples write model.npz
    blocks = re.findall(r"```python\n(.+?)\n```", (ROOT / "README.md").read_text(), flags=re.S)
    assert len(blocks) >= 2
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["probabilities"].shape == (597, 10)
    assert namespace["ckpt"].net.backend.name == "torch" and namespace["ckpt"].net.backend.dtype_name == "float64"
    assert (tmp_path / "model.npz").exists()


def test_cli_reports_a_bad_backend_in_one_line(capsys):
    import pytest

    from xpmlp.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["train", "--no-progress", "--backend", "jax"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "xpmlp: error: unknown backend 'jax'; valid names:" in err and "Traceback" not in err
