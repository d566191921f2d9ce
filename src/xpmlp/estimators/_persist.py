"""Persistence of the estimators: pickle (and joblib), and xpmlp model files without pickle.

The network and the optimizer state live on the backend's device; pickling stores
them as host arrays through :func:`xpmlp.io.to_state` and rebuilds them on the
``backend`` parameter's device when unpickled (without one: where the fitted arrays
live, the host or, under scikit-learn's Array API dispatch, their library and device).
:meth:`PersistMixin.save` writes an xpmlp model file (``.npz`` + JSON) with the
hyperparameters, the fitted attributes, the optimizer state and the history, so that
:meth:`PersistMixin.load` gives back an estimator that predicts and continues training
(``partial_fit``, ``warm_start``) as the saved one would; its fitted arrays are host data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import io as _io
from ._dispatch import HOST, home_of

__all__ = ["PersistMixin"]

#: Fitted scalars saved in a model file, restored by load.
_SCALARS = ("n_iter_", "t_", "n_outputs_", "n_layers_", "out_activation_", "n_features_in_")


class PersistMixin:
    """``__getstate__``/``__setstate__``, ``save`` and ``load`` for the estimators."""

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_pulled", None)  # recomputed from coefs_
        net = state.pop("net_", None)
        if net is not None:
            state["_net_state"] = _io.to_state(net, optimizer=state.pop("optimizer_", None))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        saved = state.pop("_net_state", None)
        super().__setstate__(state)
        if saved is not None:
            home = home_of(self.coefs_[0])
            backend = home.backend_spec if self.backend is None else self.backend
            ck = _io.from_state(*saved, backend=backend, source=f"pickled {type(self).__name__}")
            self.net_ = ck.net
            if ck.optimizer is not None:
                self.optimizer_ = ck.optimizer
            self._pull(home)

    def save(self, path: Any) -> Any:
        """Write the fitted estimator (hyperparameters, weights, optimizer state, history) to ``path``
        as an xpmlp model file (``.npz`` + JSON, no pickle), atomically.  Returns the path."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        params = {k: _jsonable(v) for k, v in self.get_params(deep=False).items()}
        extra = {
            "attrs": {k: _jsonable(getattr(self, k)) for k in _SCALARS},
            "loss": None if getattr(self, "loss_", None) is None else float(self.loss_),
            "stochastic": hasattr(self, "loss_curve_"),
            "early_stopping": getattr(self, "validation_scores_", None) is not None,
            "rng": self._rng.bit_generator.state if hasattr(self, "_rng") else None,
            "feature_names_in": (None if not hasattr(self, "feature_names_in_")
                                 else [str(f) for f in self.feature_names_in_]),
            **self._extra_state(),
        }
        return _io.save(path, self.net_, optimizer=getattr(self, "optimizer_", None),
                        schedule=getattr(self, "schedule_", None), history=self.history_, hyperparameters=params,
                        extra=extra, extra_arrays=self._extra_arrays(), kind=type(self).__name__)

    @classmethod
    def load(cls, path: Any, *, backend: Any = None, dtype: str | None = None) -> Any:
        """Load an estimator saved by :meth:`save` onto ``backend`` (default: the saved ``backend``
        parameter) and ``dtype`` (default: the saved one).  Raises :class:`xpmlp.io.ModelFileError`."""
        meta, arrays = _io.read_state(path)
        kind = meta.get("kind") if isinstance(meta, dict) else None
        if kind != cls.__name__:
            raise _io.ModelFileError(f"{path}: holds a {kind!r}, not a {cls.__name__}")
        try:
            est = cls(**_hyperparameters(meta, backend, dtype))
            est._validate_params()
            extra = dict(meta.get("extra") or {})
            est._restore_extra(extra, {k[2:]: a for k, a in arrays.items() if k.startswith("x.")})
            attrs = dict(extra["attrs"])
        except (TypeError, ValueError, KeyError) as exc:
            raise _io.ModelFileError(f"{path}: estimator record is not valid: {exc!r}") from exc
        ck = _io.from_state(meta, arrays, backend=est.backend, dtype=dtype, source=str(path))
        problem = _fitted_problem(est, attrs, ck.net) or ("no training history" if ck.history is None else None)
        if problem:
            raise _io.ModelFileError(f"{path}: estimator record does not match its network: {problem}")
        est.net_, est.history_ = ck.net, ck.history
        for name, value in (("optimizer_", ck.optimizer), ("schedule_", ck.schedule)):
            if value is not None:
                setattr(est, name, value)
        est._restore_fitted(attrs, extra)
        return est

    def _restore_fitted(self, attrs: dict[str, Any], extra: dict[str, Any]) -> None:
        for name, value in attrs.items():
            setattr(self, name, value)
        if extra.get("rng") is not None:
            self._rng = np.random.default_rng()
            self._rng.bit_generator.state = extra["rng"]
        if extra.get("feature_names_in") is not None:
            self.feature_names_in_ = np.asarray(extra["feature_names_in"], dtype=object)
        self._pull(HOST)
        if extra.get("stochastic"):
            early = self.early_stopping
            self.early_stopping = bool(extra.get("early_stopping"))  # the curves as they were fitted
            self._set_curves()
            self.early_stopping = early
        else:
            self.loss_ = None if extra.get("loss") is None else np.float64(extra["loss"])

    # subclass hooks
    def _outputs_for_labels(self) -> int | None:
        """The output units the restored labels need (a classifier's); None: any."""
        return None

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _restore_extra(self, extra: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        pass


def _fitted_problem(est: Any, attrs: dict[str, Any], net: Any) -> str | None:
    """What is wrong with a file's fitted attributes ``attrs`` (exactly :data:`_SCALARS`, consistent
    with the rebuilt ``net``), or None."""
    if set(attrs) != set(_SCALARS):
        return f"fitted attributes {sorted(attrs)}, expected {sorted(_SCALARS)}"
    counts = {k: attrs[k] for k in _SCALARS if k != "out_activation_"}
    if any(type(v) is not int or v < 0 for v in counts.values()):
        return f"fitted counts {counts} are not all whole numbers >= 0"
    labels = est._outputs_for_labels()
    if labels is not None and labels != net.sizes[-1]:
        return f"its labels need {labels} outputs, the network has {net.sizes[-1]}"
    want = {"n_features_in_": net.sizes[0], "n_outputs_": net.sizes[-1], "n_layers_": len(net.sizes),
            "out_activation_": est._output_layer()[0]}
    wrong = {k: attrs[k] for k, v in want.items() if attrs[k] != v}
    return f"{wrong} (the network has {want})" if wrong else None


def _hyperparameters(meta: dict[str, Any], backend: Any, dtype: str | None) -> dict[str, Any]:
    hyper = dict(meta.get("hyperparameters") or {})
    for name in ("hidden_layer_sizes", "front"):  # tuples, which JSON writes as lists
        if isinstance(hyper.get(name), list):
            hyper[name] = tuple(hyper[name])
    if hyper.get("n_iter_no_change") is None and "n_iter_no_change" in hyper:
        hyper["n_iter_no_change"] = np.inf  # JSON has no infinity
    for name, value in hyper.items():
        if isinstance(value, dict) and set(value) == {"pairs"}:  # a dict with keys JSON cannot hold (labels)
            hyper[name] = {k: w for k, w in value["pairs"]}
    if backend is not None:
        hyper["backend"] = backend
    if dtype is not None:
        hyper["dtype"] = dtype
    return hyper


def _jsonable(v: Any) -> Any:
    """A value as JSON: tuples become lists; a dict a list of its pairs; a Backend its name; infinity and a
    RandomState None."""
    if isinstance(v, tuple):
        return list(v)
    if isinstance(v, (np.integer, np.floating, np.bool_)):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    if v is None or isinstance(v, (str, int, float, bool, list)):
        return v
    if isinstance(v, dict):  # e.g. class_weight {label: weight}: the labels kept as they are, not as strings
        return {"pairs": [[_jsonable(k), _jsonable(w)] for k, w in v.items()]}
    if hasattr(v, "name") and hasattr(v, "xp"):  # a Backend: its library (default device)
        return v.name
    return None  # e.g. a RandomState: not reproducible across processes anyway
