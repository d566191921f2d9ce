"""scikit-learn's own MLP test suite, run unchanged on xpmlp's estimators.

The installed ``sklearn/neural_network/tests/test_mlp.py`` is loaded with
``sklearn.neural_network.MLPClassifier``/``MLPRegressor`` swapped for xpmlp's while its
imports run: the "swap the import" test of the drop-in claim.  Its test functions are
collected here as they are, and all pass: the three that read scikit-learn's private
internals (``MLP._loss_grad_lbfgs``, ``MLP._optimizer``) find them as compatibility shims
(``xpmlp.estimators._compat``).
"""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

nn = pytest.importorskip("sklearn.neural_network")

import xpmlp  # noqa: E402

_PATH = pathlib.Path(nn.__file__).parent / "tests" / "test_mlp.py"
if not _PATH.exists():  # pragma: no cover - a scikit-learn installed without its tests
    pytest.skip(f"scikit-learn's MLP tests are not installed ({_PATH})", allow_module_level=True)

def _load_suite():
    original = nn.MLPClassifier, nn.MLPRegressor
    nn.MLPClassifier, nn.MLPRegressor = xpmlp.MLPClassifier, xpmlp.MLPRegressor
    try:
        spec = importlib.util.spec_from_file_location("sklearn_test_mlp_on_xpmlp", _PATH)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        nn.MLPClassifier, nn.MLPRegressor = original
    assert module.MLPClassifier is xpmlp.MLPClassifier
    return module


for _name, _test in vars(_load_suite()).items():
    if _name.startswith("test_") and callable(_test):
        globals()[_name] = _test


@pytest.fixture(params=[42])
def global_random_seed(request):
    """scikit-learn's fixture (from its conftest), with its default seed."""
    return request.param
