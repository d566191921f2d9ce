"""scikit-learn estimators: :class:`MLPClassifier` and :class:`MLPRegressor`.

Needs the optional extra: ``pip install 'xpmlp[sklearn]'``.

They take the parameters of scikit-learn's ``MLPClassifier``/``MLPRegressor``
(``hidden_layer_sizes``, ``activation``, ``solver``, ``alpha``, ...) plus
``backend=`` (``"numpy"``, ``"torch:cuda"``, ``"cupy"``, ``"array_api_strict"``;
default: CuPy when a CUDA device is usable, else NumPy), ``dtype=``
(``"float32"``, the default, or ``"float64"``) and ``max_grad_norm=``.
Training runs on the backend through :func:`xpmlp.training.fit`; data moves
there once per ``fit``, and every fitted attribute (``coefs_``,
``intercepts_``, ``loss_curve_``, ``classes_``, ...) is host NumPy / Python data.

Differences from scikit-learn, on purpose:

* ``alpha`` is the L2 penalty ``(alpha/2) sum ||W||^2`` added to the *mean*
  per-sample loss, whatever the batch size (scikit-learn divides it by the batch size).
* The regression loss is ``0.5 * sum_j (y_j - p_j)^2`` per sample, averaged over
  samples, with its exact gradient; for several outputs scikit-learn reports
  the mean over outputs but descends the sum (its issue #8349).
* Adam is Kingma & Ba's algorithm 1 (epsilon outside the bias correction).
* ``solver`` is ``"adam"``, ``"sgd"`` or ``"adamw"`` (Adam with decoupled weight
  decay ``alpha``, no L2 term); L-BFGS is not provided.
* Initial weights and biases are drawn on the host as scikit-learn's are (Glorot-uniform,
  ``U(-r, r)``, ``r = sqrt(6 / (fan_in + fan_out))``, ``sqrt(2 / ...)`` for logistic), from our
  own seeded generator, so every backend starts from the same numbers.
* ``verbose=True`` shows a tqdm progress bar; epoch records go to the
  ``xpmlp.training`` logger.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d

from . import io as _io
from .network import MLP
from .optimizers import SGD, Adam, Optimizer
from .schedules import make_schedule
from .history import History
from .training import fit as _fit_loop

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    def _validate_data(est, *args, **kwargs):
        return est._validate_data(*args, **kwargs)

__all__ = ["MLPClassifier", "MLPRegressor", "load_estimator"]

_HIDDEN = ("identity", "logistic", "tanh", "relu")
_SOLVERS = ("adam", "sgd", "adamw")
_SCHEDULES = ("constant", "invscaling", "adaptive")


class _BaseMLP(BaseEstimator):
    """Shared parameters, training and persistence; see the module docstring."""

    def __init__(
        self,
        hidden_layer_sizes: "tuple[int, ...] | int" = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: "int | str" = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        max_grad_norm: float | None = None,
        backend: Any = None,
        dtype: str | None = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_grad_norm = max_grad_norm
        self.backend = backend
        self.dtype = dtype

    # -- parameters -----------------------------------------------------------------------
    def _hidden_sizes(self) -> list[int]:
        h = self.hidden_layer_sizes
        sizes = [h] if isinstance(h, (int, np.integer)) else list(h)
        if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive ints, got {h!r}")
        return [int(s) for s in sizes]

    def _check_params(self) -> None:
        self._hidden_sizes()
        choices = (("activation", _HIDDEN), ("solver", _SOLVERS), ("learning_rate", _SCHEDULES))
        for name, valid in choices:
            if getattr(self, name) not in valid:
                extra = "; L-BFGS is not provided by xpmlp" if getattr(self, name) == "lbfgs" else ""
                raise ValueError(f"{name} must be one of {valid}, got {getattr(self, name)!r}{extra}")
        positive = ("learning_rate_init", "epsilon")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not self.alpha >= 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha!r}")
        if not (isinstance(self.max_iter, (int, np.integer)) and self.max_iter >= 1):
            raise ValueError(f"max_iter must be an int >= 1, got {self.max_iter!r}")
        if not (isinstance(self.n_iter_no_change, (int, np.integer)) and self.n_iter_no_change >= 1):
            raise ValueError(f"n_iter_no_change must be an int >= 1, got {self.n_iter_no_change!r}")
        if not 0 <= self.momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1], got {self.momentum!r}")
        for name in ("beta_1", "beta_2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}")
        if not (self.batch_size == "auto" or (isinstance(self.batch_size, (int, np.integer)) and self.batch_size >= 1)):
            raise ValueError(f"batch_size must be 'auto' or an int >= 1, got {self.batch_size!r}")
        if self.dtype not in (None, "float32", "float64"):
            raise ValueError(f"dtype must be None, 'float32' or 'float64', got {self.dtype!r}")

    def _make_optimizer(self) -> Optimizer:
        if self.solver == "sgd":
            return SGD(momentum=min(self.momentum, 0.999999), nesterov=self.nesterovs_momentum and self.momentum > 0)
        wd = self.alpha if self.solver == "adamw" else 0.0
        return Adam(self.beta_1, self.beta_2, self.epsilon, weight_decay=wd)

    def _make_schedule(self):
        name = self.learning_rate if self.solver == "sgd" else "constant"  # as scikit-learn: Adam ignores it
        kw = {"power_t": self.power_t} if name == "invscaling" else {}
        return make_schedule(name, self.learning_rate_init, **kw)

    # -- training -------------------------------------------------------------------------
    def _validate_xy(self, X: Any, y: Any, reset: bool, y_numeric: bool) -> tuple[np.ndarray, np.ndarray]:
        X, y = _validate_data(self, X, y, multi_output=True, y_numeric=y_numeric, dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _fit(self, X: Any, y: Any, sample_weight: Any, incremental: bool, classes: Any = None) -> "_BaseMLP":
        self._check_params()
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        fitted = hasattr(self, "net_")
        first = not fitted if incremental else not (self.warm_start and fitted)
        X, y = self._validate_xy(X, y, reset=first, y_numeric=isinstance(self, RegressorMixin))
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        T, strata = self._encode(y, first, incremental, classes)
        if first:
            rs = check_random_state(self.random_state)
            init_seed, shuffle_seed = (int(s) for s in rs.randint(np.iinfo(np.int32).max, size=2))
            sizes = [X.shape[1], *self._hidden_sizes(), T.shape[1]]
            out_act, loss = self._output_layer(T.shape[1])
            self.net_ = MLP(sizes, self.activation, out_act, loss, backend=self.backend, dtype=self.dtype,
                            seed=init_seed, init="sklearn")
            self.optimizer_ = self._make_optimizer()
            self.schedule_ = self._make_schedule()
            self.history_ = History()
            self._rng = np.random.default_rng(shuffle_seed)
        elif not incremental:  # warm start: a new fit call with the trained weights
            self.history_.no_improvement, self.history_.best_score = 0, -math.inf
        n = X.shape[0]
        batch = min(200, n) if self.batch_size == "auto" else min(int(self.batch_size), n)
        try:
            hist = _fit_loop(
                self.net_, X, T,
                epochs=1 if incremental else int(self.max_iter),
                batch_size=batch,
                optimizer=self.optimizer_,
                schedule=self.schedule_,
                alpha=0.0 if self.solver == "adamw" else float(self.alpha),
                shuffle=bool(self.shuffle),
                seed=self._rng,
                sample_weight=sample_weight,
                validation_fraction=self.validation_fraction if self.early_stopping else None,
                stratify=strata,
                patience=None if incremental else int(self.n_iter_no_change),
                tol=float(self.tol),
                max_grad_norm=self.max_grad_norm,
                progress=bool(self.verbose),
                history=self.history_,
            )
        finally:
            self._sync()
        if not incremental and hist.stop_reason == "max_epochs":
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the optimization "
                "hasn't converged yet.", ConvergenceWarning, stacklevel=3)
        return self

    def _sync(self) -> None:
        """Refresh the host-side fitted attributes from the network and the history."""
        net, h = self.net_, self.history_
        self.coefs_, self.intercepts_ = net.get_weights()
        self.n_layers_ = len(net.sizes)
        self.n_outputs_ = net.sizes[-1]
        self.out_activation_ = net.output_activation.name
        self.loss_curve_ = list(h.loss)
        self.loss_ = h.loss[-1] if h.loss else None
        self.n_iter_ = h.epochs
        self.t_ = h.samples_seen
        if self.early_stopping:
            self.validation_scores_ = list(h.validation_score)
            self.best_validation_score_ = h.best_score if math.isfinite(h.best_score) else None
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = h.best_loss if math.isfinite(h.best_loss) else None

    def _output(self, X: Any) -> np.ndarray:
        """Network outputs for ``X`` as a float64 host array ``(n, n_outputs_)``."""
        check_is_fitted(self, "net_")
        X = _validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        return np.asarray(self.net_.backend.to_numpy(self.net_.predict(X)), dtype=np.float64)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "net_")

    # -- pickling and files ---------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        net = state.pop("net_", None)
        if net is not None:
            state["_net_state"] = _io.to_state(net, optimizer=state.pop("optimizer_", None))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        saved = state.pop("_net_state", None)
        super().__setstate__(state)
        if saved is not None:
            ck = _io.from_state(*saved, backend=self.backend, source=f"pickled {type(self).__name__}")
            self.net_, self.optimizer_ = ck.net, ck.optimizer

    def save(self, path: Any) -> Any:
        """Write the fitted estimator (hyperparameters, weights, optimizer state, history) to
        ``path`` as an xpmlp model file (``.npz`` + JSON, no pickle), atomically."""
        check_is_fitted(self, "net_")
        params = {k: _jsonable_param(v) for k, v in self.get_params(deep=False).items()}
        extra = {"n_features_in": int(self.n_features_in_), "rng": self._rng.bit_generator.state,
                 "feature_names_in": None if not hasattr(self, "feature_names_in_") else [str(f) for f in self.feature_names_in_],
                 **self._extra_state()}
        arrays = self._extra_arrays()
        return _io.save(path, self.net_, optimizer=self.optimizer_, schedule=self.schedule_, history=self.history_,
                        hyperparameters=params, extra=extra, extra_arrays=arrays, kind=type(self).__name__)

    @classmethod
    def load(cls, path: Any, *, backend: Any = None, dtype: str | None = None) -> "_BaseMLP":
        """Load an estimator saved by :meth:`save` onto ``backend`` (default: the saved
        ``backend`` parameter) and ``dtype`` (default: the saved one)."""
        meta, arrays = _io.read_state(path)
        kind = meta.get("kind") if isinstance(meta, dict) else None
        if kind != cls.__name__:
            raise _io.ModelFileError(f"{path}: holds a {kind!r}, not a {cls.__name__}")
        hyper = dict(meta.get("hyperparameters") or {})
        if isinstance(hyper.get("hidden_layer_sizes"), list):
            hyper["hidden_layer_sizes"] = tuple(hyper["hidden_layer_sizes"])
        if backend is not None:
            hyper["backend"] = backend
        if dtype is not None:
            hyper["dtype"] = dtype
        try:
            est = cls(**hyper)
            est._check_params()
            extra = meta.get("extra") or {}
            est._restore_extra(extra, {k[2:]: a for k, a in arrays.items() if k.startswith("x.")})
            n_in = int(extra["n_features_in"])
            rng = np.random.default_rng()
            rng.bit_generator.state = extra["rng"]
        except (TypeError, ValueError, KeyError) as exc:
            raise _io.ModelFileError(f"{path}: estimator record is not valid: {exc!r}") from exc
        ck = _io.from_state(meta, arrays, backend=est.backend, dtype=dtype, source=str(path))
        if ck.net.sizes[0] != n_in or ck.history is None or ck.optimizer is None or ck.schedule is None:
            raise _io.ModelFileError(f"{path}: estimator record does not match its network")
        est.net_, est.optimizer_, est.schedule_, est.history_, est._rng = ck.net, ck.optimizer, ck.schedule, ck.history, rng
        est.n_features_in_ = n_in
        if extra.get("feature_names_in") is not None:
            est.feature_names_in_ = np.asarray(extra["feature_names_in"], dtype=object)
        est._sync()
        return est

    # subclass hooks
    def _encode(self, y, first, incremental, classes):
        raise NotImplementedError

    def _output_layer(self, k: int) -> tuple[str, str]:
        raise NotImplementedError

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _restore_extra(self, extra: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        pass


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier trained by backprop on any Array API backend.

    Binary targets train one logistic output with binary cross-entropy,
    multiclass targets a softmax output with cross-entropy, multilabel targets
    (a 0/1 indicator matrix) one logistic output per label.  Labels may be
    strings or integers.  See the module docstring for the parameters.

    Attributes
    ----------
    classes_ : ndarray
        The class labels (``arange(n_labels)`` for multilabel targets).
    coefs_, intercepts_ : lists of ndarray
        ``coefs_[i]`` ``(sizes[i], sizes[i+1])``, ``intercepts_[i]`` ``(sizes[i+1],)``, the model's dtype.
    loss_curve_, validation_scores_ : list of float
    best_loss_, best_validation_score_, loss_ : float or None
    n_iter_, t_, n_features_in_, n_layers_, n_outputs_ : int
    out_activation_ : str
    """

    def _output_layer(self, k):
        return ("softmax", "cross_entropy") if self._kind == "multiclass" else ("logistic", "binary_cross_entropy")

    def _encode(self, y, first, incremental, classes):
        check_classification_targets(y)
        target = type_of_target(y, input_name="y")
        if target == "multiclass-multioutput":
            raise ValueError("multiclass-multioutput targets are not supported; use one classifier per output")
        if first:
            if target == "multilabel-indicator":
                self._kind, self.classes_ = "multilabel", np.arange(y.shape[1])
            else:
                self.classes_ = np.unique(y if classes is None else np.asarray(classes))
                if self.classes_.size < 2:
                    raise ValueError(f"the classifier needs samples of at least 2 classes; got 1 class: {self.classes_[0]!r}")
                self._kind = "binary" if self.classes_.size == 2 else "multiclass"
        elif (target == "multilabel-indicator") != (self._kind == "multilabel"):
            raise ValueError(f"y is {target} but the classifier was fitted on {self._kind} targets")
        if self._kind == "multilabel":
            if y.shape[1] != self.classes_.size:
                raise ValueError(f"y has {y.shape[1]} labels, the classifier was fitted on {self.classes_.size}")
            return np.asarray(y, dtype=np.float64), None
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            how = "warm_start" if self.warm_start and not incremental else "partial_fit"
            raise ValueError(f"y contains labels {unseen.tolist()} not in classes_ {self.classes_.tolist()} ({how} "
                             "needs the same classes; pass classes= to the first partial_fit)")
        idx = np.searchsorted(self.classes_, y)
        T = (idx == 1).astype(np.float64)[:, None] if self._kind == "binary" else np.eye(self.classes_.size)[idx]
        return T, y

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "MLPClassifier":
        """Train on ``X`` ``(n, n_features)`` and labels ``y`` ``(n,)`` or indicator ``(n, n_labels)``."""
        return self._fit(X, y, sample_weight, incremental=False)

    def partial_fit(self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None) -> "MLPClassifier":
        """One epoch over ``X, y``; the first call needs ``classes`` (all labels) unless y shows them all."""
        if not hasattr(self, "net_") and classes is None and type_of_target(y) != "multilabel-indicator":
            raise ValueError("classes must be passed on the first call to partial_fit")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, ``(n, n_classes)`` float64 (binary: ``[1 - p, p]``; multilabel: per label)."""
        p = self._output(X)
        return np.hstack([1.0 - p, p]) if self._kind == "binary" else p

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log(predict_proba(X))``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """Labels ``(n,)`` from ``classes_``; a 0/1 indicator matrix for multilabel."""
        p = self._output(X)
        if self._kind == "multilabel":
            return (p > 0.5).astype(int)
        if self._kind == "binary":
            return self.classes_[(p[:, 0] > 0.5).astype(int)]
        return self.classes_[np.argmax(p, axis=1)]

    def _extra_state(self):
        return {"target_kind": self._kind}

    def _extra_arrays(self):
        classes = np.asarray(self.classes_)
        if classes.dtype == object:
            classes = classes.astype(str)  # strings are saved as a fixed-width unicode array (no pickle)
        return {"classes": classes}

    def _restore_extra(self, extra, arrays):
        if extra.get("target_kind") not in ("binary", "multiclass", "multilabel") or "classes" not in arrays:
            raise ValueError("classifier record lacks its target kind or classes")
        self._kind, self.classes_ = extra["target_kind"], arrays["classes"]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor (identity output, squared error), single or multi-output.

    The loss is ``0.5 * sum_j (y_j - p_j)^2`` per sample, averaged over the
    samples, and its gradient is exact for any number of outputs.  ``predict``
    returns ``(n,)`` for one output, ``(n, n_outputs)`` otherwise.  Attributes as
    :class:`MLPClassifier` (without ``classes_``).
    """

    def _output_layer(self, k):
        return "identity", "squared_error"

    def _encode(self, y, first, incremental, classes):
        T = np.asarray(y, dtype=np.float64)
        T = T[:, None] if T.ndim == 1 else T
        if not first and T.shape[1] != self.net_.sizes[-1]:
            raise ValueError(f"y has {T.shape[1]} outputs, the regressor was fitted on {self.net_.sizes[-1]}")
        return T, None

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "MLPRegressor":
        """Train on ``X`` ``(n, n_features)`` and targets ``y`` ``(n,)`` or ``(n, n_outputs)``."""
        return self._fit(X, y, sample_weight, incremental=False)

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> "MLPRegressor":
        """One epoch over ``X, y``."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X: Any) -> np.ndarray:
        """Predictions, float64, ``(n,)`` for one output else ``(n, n_outputs)``."""
        p = self._output(X)
        return p[:, 0] if p.shape[1] == 1 else p

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


def load_estimator(path: Any, *, backend: Any = None, dtype: str | None = None) -> _BaseMLP:
    """Load an :class:`MLPClassifier` or :class:`MLPRegressor` saved with ``.save(path)``."""
    meta, _ = _io.read_state(path)
    kind = meta.get("kind") if isinstance(meta, dict) else None
    cls = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}.get(kind)
    if cls is None:
        raise _io.ModelFileError(f"{path}: holds a {kind!r}, not an xpmlp estimator")
    return cls.load(path, backend=backend, dtype=dtype)


def _jsonable_param(v: Any) -> Any:
    """A hyperparameter as JSON: tuples become lists; a Backend its name; a RandomState None."""
    if isinstance(v, tuple):
        return list(v)
    if isinstance(v, (np.integer, np.floating, np.bool_)):
        return v.item()
    if v is None or isinstance(v, (str, int, float, bool, list)):
        return v
    if hasattr(v, "name") and hasattr(v, "xp"):  # a Backend: its library (default device)
        return v.name
    return None  # e.g. a RandomState: not reproducible across processes anyway
