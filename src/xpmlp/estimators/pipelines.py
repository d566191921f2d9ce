"""Whole scikit-learn pipelines (any estimator tree) holding xpmlp estimators, saved without pickle.

xpmlp's own model files (:meth:`MLPClassifier.save <xpmlp.estimators.MLPClassifier.save>`) hold one
estimator.  A ``Pipeline``, a ``ColumnTransformer`` or a search around xpmlp estimators is saved
with skops (``pip install skops``, in ``xpmlp[sklearn]``), scikit-learn's ecosystem format without
pickle: a zip of JSON and ``.npy`` arrays from which only known types are rebuilt.

skops rebuilds scikit-learn's and NumPy's types by itself; the others must be trusted by name.
:func:`trusted_types` names every xpmlp type an estimator's state holds (the estimators, their
:class:`~xpmlp.History`, learning-rate schedule and ``backend=`` :class:`~xpmlp.Backend`): the
estimator's ``__getstate__`` reduces its network and optimizer to plain dicts and NumPy arrays, and
its ``__setstate__`` checks them as a model file is checked before anything is built.
:func:`load_pipeline` trusts exactly those (and the ``trusted=`` names you add), never the whole file.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..backends.backend import Backend
from ..history import History
from ..io import ModelFileError
from ..optim.schedules import SCHEDULES
from .mlp import MLPClassifier, MLPRegressor

__all__ = ["trusted_types", "save_pipeline", "load_pipeline"]


def trusted_types() -> list[str]:
    """The names (``module.Class``, as skops reports them) of the xpmlp types a fitted estimator's
    state may hold: what :func:`load_pipeline` trusts, and what to give ``skops.io.load(trusted=...)``."""
    types = [MLPClassifier, MLPRegressor, History, Backend, *SCHEDULES.values()]
    return sorted(f"{t.__module__}.{t.__name__}" for t in types)


def _skops_io() -> Any:
    try:
        import skops.io
    except ImportError as exc:
        raise ModuleNotFoundError("saving and loading pipelines needs skops: pip install 'xpmlp[sklearn]' "
                                  "(or pip install skops)", name="skops") from exc
    return skops.io


def save_pipeline(path: "str | os.PathLike", estimator: Any) -> Path:
    """Write ``estimator`` (a ``Pipeline``, ``ColumnTransformer``, search or any object skops takes,
    holding fitted or unfitted xpmlp estimators) to ``path`` as a skops file (``.skops``), atomically:
    nothing is left at ``path`` if writing fails.  Returns the path.

    The estimators' fitted arrays must be host data (fitted without scikit-learn's Array API dispatch,
    or moved to NumPy); the network is saved from its device and rebuilt by :func:`load_pipeline` on
    each estimator's ``backend`` (default: NumPy).
    """
    sio = _skops_io()
    _check_host(estimator)
    path = Path(path)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        sio.dump(estimator, tmp, compression=zipfile.ZIP_DEFLATED)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _check_host(estimator: Any) -> None:
    """Refuse an xpmlp estimator among ``estimator`` and its parameters whose fitted arrays live on a device."""
    parts = [estimator, *(estimator.get_params(deep=True).values() if hasattr(estimator, "get_params") else ())]
    for part in parts:
        if isinstance(part, (MLPClassifier, MLPRegressor)) and hasattr(part, "coefs_"):
            if not isinstance(part.coefs_[0], np.ndarray):
                raise ValueError(f"{type(part).__name__}'s fitted arrays are {type(part.coefs_[0]).__module__} arrays "
                                 "(fitted under scikit-learn's Array API dispatch); a skops file holds NumPy arrays: "
                                 "refit it on NumPy data, or save it alone with est.save(path)")


def load_pipeline(path: "str | os.PathLike", *, trusted: Iterable[str] = ()) -> Any:
    """Load what :func:`save_pipeline` (or ``skops.io.dump``) wrote, trusting only scikit-learn's and
    NumPy's types (skops' own list), :func:`trusted_types` and the names in ``trusted`` (for your own
    classes or functions in the pipeline).  A file holding any other type is refused
    (:class:`~xpmlp.io.ModelFileError`, a ``ValueError``, naming the types) before anything is built."""
    sio = _skops_io()
    try:
        found = sio.get_untrusted_types(file=path)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:  # not a zip, or a zip without skops' schema
        raise ModelFileError(f"{path}: not a skops file ({exc})") from exc
    others = sorted(set(found) - set(trusted_types()) - set(trusted))
    if others:
        raise ModelFileError(f"{path}: holds types that are not trusted: {', '.join(others)}; if you trust "
                             "this file and those types, pass them as load_pipeline(path, trusted=[...])")
    return sio.load(path, trusted=found)
