"""scikit-learn's ``MLPClassifier`` and ``MLPRegressor``, trained by xpmlp on any backend.

Needs the optional extra: ``pip install 'xpmlp[sklearn]'``.

A drop-in for ``sklearn.neural_network``: every constructor parameter of scikit-learn 1.9's
MLPs with the same name, default and meaning (``solver="lbfgs"`` with ``max_fun``,
``loss="poisson"``, ``n_iter_no_change=np.inf``, ...), every fitted attribute it documents
(``coefs_``, ``intercepts_``, ``loss_``, ``best_loss_``, ``loss_curve_``, ``validation_scores_``,
``best_validation_score_``, ``t_``, ``n_iter_``, ``n_layers_``, ``n_outputs_``,
``out_activation_``, ``classes_``, ``n_features_in_``, ``feature_names_in_``) with the same
shapes and dtypes, its warnings, errors and ``verbose`` lines, and sparse input.  The model's
dtype follows the input as in scikit-learn (float32 data: float32; otherwise float64).

xpmlp adds ``backend=`` (``"numpy"``, ``"torch"``, ``"torch:cuda"``, ``"cupy"``,
``"array_api_strict"``, a :class:`~xpmlp.backends.backend.Backend`; default: CuPy when a CUDA device is
usable, else NumPy), ``dtype=`` (``"float32"``/``"float64"``, overriding the input's),
``max_grad_norm=`` (clip each step's gradient norm), ``solver="adamw"`` (decoupled weight
decay ``alpha``), ``distributed=True`` (under ``mpiexec -n P``: each process's ``fit`` gets
its own rows and they train one model data-parallel, :mod:`xpmlp.distributed`), ``front=`` (input
layers of other kinds in front of the first weights, by spec: ``("scale", "periodic")``,
:mod:`xpmlp.nn.front`; dense input only), ``preset=`` (below), and :meth:`~xpmlp._sklearn_persist.PersistMixin.save` /
:func:`load_estimator` (model files without pickle).  Training runs on the backend through
:func:`xpmlp.training.fit` or :func:`xpmlp.training.lbfgs.fit_lbfgs`; every fitted attribute is
host NumPy data, except under scikit-learn's Array API dispatch
(``sklearn.set_config(array_api_dispatch=True)``): there an ``X`` of PyTorch, CuPy or
array-api-strict trains the network on its library and device (without ``backend=``), and the
fitted arrays and the predictions are arrays of that library on that device (:mod:`._dispatch`).
Where the results differ from scikit-learn's, and why: README.md, "scikit-learn estimators".

With input layers, ``coefs_`` and ``intercepts_`` stay the dense layers' (``coefs_[0]`` has the input
layers' output width of rows, ``net_.widths[0]``, not ``n_features_in_``), and the input layers'
parameters are the new attribute ``front_params_`` (a list of arrays, in the order of
``net_.front.shapes``; empty without input layers); all three may be assigned before a ``warm_start``
fit or ``partial_fit``.

``preset="tabular"`` trains as ``xpmlp train`` does (:data:`xpmlp.training.presets.TABULAR`, issue 27):
input layers ``front=("scale", "periodic")``, Adam at ``learning_rate_init=1e-3``, ``batch_size=32``,
``alpha=1e-4``, ``hidden_layer_sizes=(100,)``, ``max_iter=100``, and early stopping on a tenth of the
rows (``early_stopping=True``, ``validation_fraction=0.1``, ``n_iter_no_change=20``; not for
``partial_fit``) that keeps the epoch of the least validation loss (log loss for a classifier, so
``validation_scores_`` and ``best_validation_score_`` hold minus that loss).  Each of these parameters
takes the preset's value where it is at scikit-learn's default (given or left so); one given
otherwise is kept (``front=()``: no input layers).  ``get_params`` shows the parameters as given.  The
recipe's robust scaling of the inputs is not in the estimator: put a scaler before it in a
``Pipeline`` (``RobustScaler``, or ``QuantileTransformer`` for heavy tails).  ``preset=None`` (the
default) and ``front=None`` leave scikit-learn's behaviour unchanged.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.externals.array_api_compat import array_namespace
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._array_api import get_namespace
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import column_or_1d, validate_data

from .. import io as _io
from . import _dispatch
from ._base import BaseMLP
from ._params import CLASSIFIER_CONSTRAINTS, store_params
from ..training.class_weight import class_row_weights
from ..training.comm import SingleProcess
from ..training.sources import is_source_like
from ._persist import PersistMixin

__all__ = ["MLPClassifier", "MLPRegressor", "load_estimator"]


def _stochastic(est: BaseMLP) -> bool:
    """``partial_fit`` exists for the stochastic solvers only, as in scikit-learn."""
    if est.solver == "lbfgs":
        raise AttributeError(f"partial_fit is only available for stochastic optimizers. {est.solver} is not "
                             "stochastic.")
    return True


def _validate_xy(est: BaseMLP, X: Any, y: Any, reset: bool, y_numeric: bool) -> tuple[Any, Any]:
    xp, _ = get_namespace(X)  # NumPy, or X's namespace under Array API dispatch
    X, y = validate_data(est, X, y, accept_sparse=["csr", "csc"], multi_output=True, y_numeric=y_numeric,
                         dtype=(xp.float64, xp.float32), reset=reset)
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    return X, y


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's, trained by xpmlp on any backend.

    Binary targets train one logistic output with binary cross-entropy, multiclass targets a
    softmax output with cross-entropy, multilabel targets (an indicator matrix) one logistic
    output per label; labels may be any values ``LabelBinarizer`` takes.  Parameters and
    attributes: scikit-learn's ``MLPClassifier`` plus ``max_grad_norm``, ``backend``, ``dtype``, ``distributed``,
    ``dropout``, ``compute_dtype``, ``class_weight``, ``front`` and ``preset`` (module docstring: ``preset="tabular"``
    is the tabular recipe of ``xpmlp train``), and ``front_params_``.  ``coefs_[i]`` is ``(widths[i], widths[i+1])``
    (``net_.widths``: the layer sizes, ``coefs_[0]``'s rows the input layers' output) and ``intercepts_[i]``
    ``(widths[i+1],)``, the model's dtype; ``predict_proba`` returns ``(n, n_classes)``.
    """

    _parameter_constraints: dict = {**BaseMLP._parameter_constraints, **CLASSIFIER_CONSTRAINTS}

    def __init__(
        self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001, batch_size="auto",
        learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
        random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9, nesterovs_momentum=True,
        early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
        n_iter_no_change=10, max_fun=15000, max_grad_norm=None, backend=None, dtype=None, distributed=False,
        dropout=0.0, compute_dtype=None, class_weight=None, front=None, preset=None,
    ) -> None:
        store_params(self, locals())

    def _class_weighted(self, Y: Any, w: Any, comm: Any) -> Any:
        """``class_weight`` as row weights (times ``w``), its dict's labels taken through ``classes_``."""
        if self.class_weight is None:
            return w
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            raise ValueError("class_weight is not supported for multilabel targets")
        cw = self.class_weight
        if isinstance(cw, dict):
            index = {label: k for k, label in enumerate(_dispatch.to_host(self.classes_).tolist())}
            unknown = [label for label in cw if label not in index]
            if unknown:
                raise ValueError(f"class_weight names {unknown!r}, which are not among the classes {list(index)}")
            cw = {index[label]: weight for label, weight in cw.items()}
        return class_row_weights(self.net_, Y, cw, comm or SingleProcess(), w)

    def _output_layer(self) -> tuple[str, str]:
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax", "cross_entropy"
        return "logistic", "binary_cross_entropy"

    def _validate_input(self, X, y, incremental, reset):
        X, y = _validate_xy(self, X, y, reset, y_numeric=False)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            every_label = getattr(self, "_labels_of_all_ranks", None)  # distributed: every rank's classes
            self._label_binarizer = LabelBinarizer().fit(y if every_label is None else every_label)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes, known = _dispatch.to_host(unique_labels(y)), _dispatch.to_host(self.classes_)  # a few labels
            if self.warm_start and set(classes) != set(known):
                raise ValueError("warm_start can only be used where `y` has the same classes as in the previous "
                                 f"call to fit. Previously got {known}, `y` has {classes}")
            if not self.warm_start and len(np.setdiff1d(classes, known, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {known}. "
                                 f"'y' has {classes}.")
        Y = self._label_binarizer.transform(y)  # in y's namespace and device
        return X, array_namespace(Y).astype(Y, array_namespace(Y).bool)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> "MLPClassifier":
        """Train on ``X`` ``(n, n_features)`` (dense or CSR/CSC) and labels ``y`` ``(n,)`` or an
        indicator matrix ``(n, n_labels)``; ``sample_weight`` ``(n,)``.  Or on data read as it trains
        (a ``.npy`` or Parquet path, a Dask collection, batches ``(X, y[, w])``: :mod:`._streamed`)."""
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(_stochastic)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None) -> "MLPClassifier":
        """One epoch over ``X, y``; the first call needs ``classes`` (every label of all calls)."""
        if is_source_like(X):
            return self._fit(X, y, sample_weight, incremental=True)  # refused: a source trains through fit
        # scikit-learn's check of classes against classes_ compares them with NumPy: it gets host copies
        probe = types.SimpleNamespace(classes_=_dispatch.move(getattr(self, "classes_", None), _dispatch.HOST))
        if _check_partial_fit_first_call(probe, _dispatch.move(classes, _dispatch.HOST)):
            home = _dispatch.input_home(X)  # numeric classes go where y goes: X's home
            self.classes_ = _dispatch.follow(home, probe.classes_)
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y if type_of_target(y).startswith("multilabel") else self.classes_)
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X: Any) -> Any:
        """Labels ``(n,)`` from ``classes_`` (an indicator matrix ``(n, n_labels)`` for multilabel)."""
        out, home = self._forward(X, "predict")
        out = home.xp.reshape(out, (-1,)) if self.n_outputs_ == 1 else out
        # decoded where classes_ live (X's home, or the host for string labels), as scikit-learn's classifiers
        # do; labels that are numbers then go to X's home
        where = _dispatch.home_of(self.classes_)
        with _dispatch.computing_in(where):
            labels = self._label_binarizer.inverse_transform(_dispatch.move(out, where))
        return _dispatch.follow(home, labels)

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities ``(n, n_classes)`` (binary: ``[1 - p, p]``; multilabel: per label)."""
        return self._proba(X, "predict_proba")[0]

    def predict_log_proba(self, X: Any) -> Any:
        """``log(predict_proba(X))``."""
        proba, home = self._proba(X, "predict_log_proba")
        return home.xp.log(proba)

    def _proba(self, X: Any, method: str) -> tuple[Any, Any]:
        out, home = self._forward(X, method)
        if self.n_outputs_ == 1:
            p = home.xp.reshape(out, (-1,))
            return home.xp.stack([1 - p, p], axis=1), home
        return out, home

    def _extra_state(self) -> dict[str, Any]:
        return {"y_type": self._label_binarizer.y_type_}

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        classes = _dispatch.to_host(self.classes_)
        return {"classes": classes.astype(str) if classes.dtype == object else classes}  # no pickle

    def _outputs_for_labels(self) -> int:
        return 1 if self._label_binarizer.y_type_ == "binary" else len(self.classes_)

    def _restore_extra(self, extra: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        y_type, classes = extra.get("y_type"), arrays.get("classes")
        if y_type not in ("binary", "multiclass", "multilabel-indicator") or classes is None:
            raise ValueError("classifier record lacks its target type or classes")
        lb = LabelBinarizer()
        lb.fit(np.eye(classes.size, dtype=int) if y_type == "multilabel-indicator" else classes)
        self._label_binarizer, self.classes_ = lb, lb.classes_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's, trained by xpmlp on any backend.

    ``loss="squared_error"``: identity output, half squared error; ``loss="poisson"``: exp
    output (log link), half Poisson deviance, targets ``>= 0``.  Single or multiple outputs;
    ``predict`` returns ``(n,)`` for one output, ``(n, n_outputs)`` otherwise.  Parameters and
    attributes: scikit-learn's ``MLPRegressor`` plus ``max_grad_norm``, ``backend``, ``dtype``, ``distributed``,
    ``dropout``, ``compute_dtype``, ``front`` and ``preset`` (module docstring: ``preset="tabular"`` is the tabular
    recipe of ``xpmlp train``, the validation loss its squared error), and ``front_params_``.
    """

    _parameter_constraints: dict = {
        **BaseMLP._parameter_constraints, "loss": [StrOptions({"squared_error", "poisson"})]}

    def __init__(
        self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
        batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
        shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
        nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
        epsilon=1e-8, n_iter_no_change=10, max_fun=15000, max_grad_norm=None, backend=None, dtype=None, distributed=False,
        dropout=0.0, compute_dtype=None, front=None, preset=None,
    ) -> None:
        store_params(self, locals())

    def _output_layer(self) -> tuple[str, str]:
        return ("exp", "poisson") if self.loss == "poisson" else ("identity", "squared_error")

    def _record_scale(self) -> float:
        # scikit-learn reports the squared error averaged over the outputs (and descends their sum)
        return 1.0 / self.n_outputs_ if self.loss == "squared_error" else 1.0

    def _validate_input(self, X, y, incremental, reset):
        X, y = _validate_xy(self, X, y, reset, y_numeric=True)
        xp = array_namespace(y)
        if self.loss == "poisson" and bool(xp.any(y < 0)):
            raise ValueError("Some value(s) of y are negative which is not allowed for loss='poisson'.")
        return X, xp.reshape(y, (-1, 1)) if y.ndim == 1 else y

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> "MLPRegressor":
        """Train on ``X`` ``(n, n_features)`` (dense or CSR/CSC) and targets ``y`` ``(n,)`` or
        ``(n, n_outputs)``; ``sample_weight`` ``(n,)``.  Or on data read as it trains (a ``.npy`` or
        Parquet path, a Dask collection, batches ``(X, y[, w])``: :mod:`._streamed`)."""
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(_stochastic)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> "MLPRegressor":
        """One epoch over ``X, y``."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X: Any) -> Any:
        """Predictions ``(n,)`` for one output, else ``(n, n_outputs)``."""
        out, home = self._forward(X, "predict")
        return home.xp.reshape(out, (-1,)) if out.shape[1] == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


def load_estimator(path: Any, *, backend: Any = None, dtype: str | None = None) -> PersistMixin:
    """Load an :class:`MLPClassifier` or :class:`MLPRegressor` saved with ``.save(path)``."""
    meta, _ = _io.read_state(path)
    kind = meta.get("kind") if isinstance(meta, dict) else None
    cls = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}.get(kind)
    if cls is None:
        raise _io.ModelFileError(f"{path}: holds a {kind!r}, not an xpmlp estimator")
    return cls.load(path, backend=backend, dtype=dtype)
