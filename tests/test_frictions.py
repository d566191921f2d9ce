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
