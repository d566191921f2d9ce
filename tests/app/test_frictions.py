"""What a new user met in their first ten minutes (issue 12's frictions), one test each.

Each test failed on the main branch the issue was filed against and passes now.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import random_problem

import xpmlp
from xpmlp.training import fit


def test_09_estimators_without_scikit_learn_say_how_to_install_it():
    code = (
        "import sys; sys.modules['sklearn'] = None\n"  # as if scikit-learn were not installed
        "import xpmlp\n"
        "try:\n    xpmlp.MLPClassifier\n"
        "except ModuleNotFoundError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install 'xpmlp[sklearn]'" in out


def test_10_a_diverging_fit_warns_nothing_and_raises_clearly():
    X, T = random_problem("squared_error", 40, 3, 2)
    net = xpmlp.MLP([3, 8, 2], "tanh", "identity", "squared_error", backend="numpy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any RuntimeWarning (overflow) fails the test
        with pytest.raises(xpmlp.DivergenceError, match="weights restored"):
            fit(net, X, T * 1e30, epochs=5, optimizer="sgd", learning_rate=1e10, patience=None)
    assert all(np.isfinite(W).all() for W in net.get_weights()[0])


def test_10_history_repr_is_one_short_line():
    X, T = random_problem("cross_entropy", 60, 3, 3)
    hist = fit(xpmlp.MLP([3, 4, 3], backend="numpy"), X, T, epochs=200, validation_fraction=0.2, patience=None)
    assert "\n" not in repr(hist) and len(repr(hist)) < 200


def test_08_train_takes_class_labels_for_softmax_outputs():
    X, T = random_problem("cross_entropy", 30, 4, 3, shift=3.0)
    labels = T.argmax(axis=1)
    a, b = (xpmlp.MLP([4, 6, 3], backend="numpy", dtype="float64", seed=0) for _ in range(2))
    assert xpmlp.train(a, X, labels, epochs=3) == xpmlp.train(b, X, T, epochs=3)  # once: "T must be 2-D"
    with pytest.raises(ValueError, match="integers 0..2 .* xpmlp.one_hot"):
        xpmlp.train(a, X, labels + 5)
    onehot, classes = xpmlp.one_hot(np.array(["b", "a", "c", "a"]))
    assert classes.tolist() == ["a", "b", "c"] and onehot.argmax(axis=1).tolist() == [1, 0, 2, 0]
    onehot, _ = xpmlp.one_hot(["x", "y"], classes=["y", "x"])
    assert onehot.tolist() == [[0.0, 1.0], [1.0, 0.0]]
    with pytest.raises(ValueError, match="not among the classes"):
        xpmlp.one_hot(["z"], classes=["x", "y"])


def test_09_the_package_name_array_api_strict_is_a_backend_name():
    pytest.importorskip("array_api_strict")
    assert xpmlp.resolve("array-api-strict:device1").name == "array_api_strict"


@pytest.mark.filterwarnings("ignore::UserWarning")  # ConvergenceWarning: 5 iterations on purpose
def test_09_io_save_takes_a_fitted_estimator(tmp_path):
    pytest.importorskip("sklearn")
    from xpmlp import io

    X, T = random_problem("cross_entropy", 30, 4, 3, shift=3.0)
    clf = xpmlp.MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, backend="numpy").fit(X, T.argmax(axis=1))
    io.save(tmp_path / "clf.npz", clf)  # once: AttributeError: get_weights
    again = xpmlp.load_estimator(tmp_path / "clf.npz")
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    with pytest.raises(TypeError, match="needs an xpmlp MLP"):
        io.save(tmp_path / "x.npz", object())


def test_07_the_benchmarks_plot_option_needs_matplotlib_before_the_run(monkeypatch, capsys):
    """`--plot` without matplotlib stops at once with the install hint (it used to say so after the run)."""
    from pathlib import Path

    bench = Path(__file__).resolve().parents[2] / "bench"
    monkeypatch.syspath_prepend(str(bench))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    import bench_train

    with pytest.raises(SystemExit) as exc:
        bench_train.parse_args(["--config", "small", "--plot", "out.png"])
    assert exc.value.code == 2 and "--plot needs matplotlib: pip install matplotlib" in capsys.readouterr().err
