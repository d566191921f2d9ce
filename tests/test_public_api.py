"""The public API stays: every name ``import xpmlp`` gave in 0.2, and every 0.2 module path, which
now warns (DeprecationWarning) naming its new home and hands over the same objects."""

from __future__ import annotations

import importlib
import warnings

import pytest

import xpmlp
from xpmlp._moved import MOVED

#: ``xpmlp.__all__`` of 0.2.0, and the names it gave lazily.
NAMES_02 = (
    "ACTIVATIONS BACKEND_NAMES LOSSES MLP SGD Backend BackendError DivergenceError Gradients NotDifferentiableError "
    "Optimizer Trace available_backends backward forward get_activation get_loss resolve train use Adam AdamW "
    "Adaptive Callback Checkpoint Constant EarlyStopping ModelCheckpoint EpochLog History InvScaling ModelFileError "
    "Schedule clip_grad_norm fit fit_lbfgs load make_optimizer make_schedule one_hot save selftest io"
).split()


@pytest.mark.parametrize("name", NAMES_02)
def test_every_02_name_is_still_exported(name):
    assert getattr(xpmlp, name) is not None
    assert name in xpmlp.__all__


def test_the_estimators_are_still_reached_from_the_top():
    pytest.importorskip("sklearn")
    from xpmlp.estimators import MLPClassifier

    assert xpmlp.MLPClassifier is MLPClassifier


@pytest.mark.parametrize("old,new", sorted(MOVED.items()))
def test_a_moved_module_path_warns_and_gives_the_new_modules_objects(old, new):
    module = importlib.import_module(new)
    public = [n for n in getattr(module, "__all__", dir(module)) if not n.startswith("_")]
    assert public, f"{new} exports nothing to check"
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
        value = getattr(importlib.import_module(old), public[0])
    assert value is getattr(module, public[0])


def test_from_import_of_a_moved_path_works_and_names_the_new_one():
    with pytest.warns(DeprecationWarning, match="xpmlp.callbacks moved to xpmlp.training.callbacks"):
        from xpmlp.callbacks import Callback
    assert Callback is xpmlp.Callback
    with pytest.warns(DeprecationWarning, match="xpmlp.optimizers moved"):
        assert xpmlp.optimizers.Adam is xpmlp.Adam  # the attribute form of 0.2 too


def test_the_selftest_function_survives_its_module_path():
    with pytest.warns(DeprecationWarning):
        from xpmlp.selftest import discover  # the 0.2 module's names
    assert callable(discover) and callable(xpmlp.selftest) and xpmlp.selftest.__name__ == "selftest"


def test_importing_xpmlp_warns_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.reload(xpmlp)


def test_a_moved_module_path_lists_the_new_modules_names_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # dir() is introspection, not a use of the old path
        names = dir(importlib.import_module("xpmlp.backend"))
    assert "resolve" in names and names == dir(importlib.import_module("xpmlp.backends.backend"))


def test_the_estimators_failing_for_another_reason_than_scikit_learn_say_that_reason():
    """scikit-learn installed but SciPy missing: the import error is SciPy's, not a hint to install scikit-learn."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['scipy'] = None\n"  # as if SciPy, which scikit-learn needs, were not installed
            "import xpmlp\n"
            "try:\n    xpmlp.MLPClassifier\n"
            "except ModuleNotFoundError as e:\n    print(e.name, '|', e)\n")
    pytest.importorskip("sklearn")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    name, _, message = done.stdout.strip().partition(" | ")
    assert name.split(".")[0] == "scipy" and "scipy" in message, done.stdout + done.stderr
    assert "xpmlp[sklearn]" not in message


def test_the_app_layer_names_import_when_used():
    import xpmlp
    from xpmlp.app import tables, workflows

    assert xpmlp.load_model is workflows.load_model and xpmlp.predict_table is workflows.predict_table
    assert xpmlp.read_table is tables.read_table
