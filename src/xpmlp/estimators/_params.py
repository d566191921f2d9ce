"""The estimators' parameters: scikit-learn's constraints, the backend and dtype, the first weights, the
input layers and the presets (:mod:`xpmlp.training.presets` in scikit-learn's names).

Parameter values are checked by scikit-learn's own machinery (``_parameter_constraints``,
run by ``_fit_context`` at every ``fit``/``partial_fit``), so a bad value raises its
:class:`~sklearn.utils._param_validation.InvalidParameterError` (a ``ValueError``) with its
message.  The constraints are scikit-learn's MLP constraints plus xpmlp's own parameters;
``tests/test_estimators.py`` holds the two lists together.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import warnings
from numbers import Integral, Real
from typing import Any, Iterator

import numpy as np
from sklearn.utils._param_validation import Interval, Options, StrOptions

from ..backends.backend import BACKEND_NAMES, Backend, BackendError, resolve
from ..nn.activations import HIDDEN, TRAINABLE, get_activation
from ..training.presets import PRESETS

__all__ = ["PARAMETER_CONSTRAINTS", "CLASSIFIER_CONSTRAINTS", "BackendParameterError", "model_backend", "hidden_sizes", "initial_weights",
           "store_params", "front_specs", "preset_values", "applied_preset"]


class _BackendName(StrOptions):
    """A backend name, optionally with a device: ``"numpy"``, ``"torch:cuda:0"``, ...

    (A :class:`StrOptions` so that scikit-learn's constraint machinery takes it.)
    """

    def __init__(self) -> None:
        super().__init__(set(BACKEND_NAMES))

    def is_satisfied_by(self, val: Any) -> bool:
        return isinstance(val, str) and val.partition(":")[0].strip().lower() in BACKEND_NAMES

    def __str__(self) -> str:
        return f"a backend name among {sorted(BACKEND_NAMES)} (optionally 'name:device')"


class _ActivationName(StrOptions):
    """A hidden activation the estimators train, by its canonical name (scikit-learn's four and
    xpmlp's ``leaky_relu``, ``elu``, ``gelu``, ``silu``, ``softplus``), or a parameterised one by its
    spec, ``"leaky_relu:slope=0.2"`` (:func:`xpmlp.nn.activations.get_activation`).

    (A :class:`StrOptions` so that scikit-learn's constraint machinery takes it.)
    """

    def __init__(self) -> None:
        super().__init__({name for name in HIDDEN if name in TRAINABLE})

    def is_satisfied_by(self, val: Any) -> bool:
        if not isinstance(val, str) or val.partition(":")[0] not in self.options:
            return False
        try:
            get_activation(val)
        except ValueError:
            return False
        return True

    def __str__(self) -> str:
        return f"{super().__str__()}, or one with its parameters such as 'leaky_relu:slope=0.2' or 'elu:alpha=0.5'"


#: scikit-learn's MLP parameters (same names, ranges and defaults) and xpmlp's own.
PARAMETER_CONSTRAINTS: dict[str, list] = {
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "activation": [_ActivationName()],  # scikit-learn's four, and xpmlp's
    "solver": [StrOptions({"lbfgs", "sgd", "adam", "adamw"})],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
    "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
    "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
    "power_t": [Interval(Real, 0, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "shuffle": ["boolean"],
    "random_state": ["random_state"],
    "tol": [Interval(Real, 0, None, closed="left")],
    "verbose": ["verbose"],
    "warm_start": ["boolean"],
    "momentum": [Interval(Real, 0, 1, closed="both")],
    "nesterovs_momentum": ["boolean"],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "beta_1": [Interval(Real, 0, 1, closed="left")],
    "beta_2": [Interval(Real, 0, 1, closed="left")],
    "epsilon": [Interval(Real, 0, None, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
    "max_fun": [Interval(Integral, 1, None, closed="left")],
    # xpmlp's own
    "max_grad_norm": [None, Interval(Real, 0, None, closed="neither")],
    "backend": [None, _BackendName(), Backend],
    "dtype": [None, StrOptions({"float32", "float64"})],
    "distributed": ["boolean"],
    "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
    "compute_dtype": [None, StrOptions({"bfloat16", "float16"})],
    "front": [None, str, list, tuple],
    "preset": [None, StrOptions(set(PRESETS))],
}

#: MLPClassifier's alone: scikit-learn's classifiers' class weights (its MLP has none).
CLASSIFIER_CONSTRAINTS: dict[str, list] = {"class_weight": [None, StrOptions({"balanced"}), dict]}


class BackendParameterError(BackendError, ValueError):
    """The ``backend`` parameter names a backend or device that cannot run here."""


def store_params(est: Any, params: dict[str, Any]) -> None:
    """Set every constructor argument in ``params`` (a constructor's ``locals()``) on ``est``, as given."""
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(est, name, value)


def front_specs(front: Any) -> list[str]:
    """The ``front`` parameter as input layers' specs (None: none; one spec or a sequence of them)."""
    specs = [] if front is None else [front] if isinstance(front, str) else list(front)
    if not all(isinstance(s, str) for s in specs):
        raise ValueError(f"front takes input layers by spec, such as 'scale' or 'periodic:frequencies=16' (text, so "
                         f"that the estimator can be cloned and saved), got {front!r}")
    return specs


#: A preset's ``train_table`` keywords (:mod:`xpmlp.training.presets`) as the estimators' parameters.
_PRESET_NAMES = {"hidden": "hidden_layer_sizes", "optimizer": "solver", "learning_rate": "learning_rate_init",
                 "epochs": "max_iter", "batch_size": "batch_size", "alpha": "alpha", "patience": "n_iter_no_change",
                 "validation_fraction": "validation_fraction", "front": "front"}


def preset_values(name: str, incremental: bool = False) -> dict[str, Any]:
    """The estimator parameters preset ``name`` sets: its recipe's, named as scikit-learn names them, with
    ``early_stopping`` on where the recipe holds rows out (not for ``partial_fit``, which takes none)."""
    recipe = PRESETS[name]
    values = {_PRESET_NAMES[k]: v for k, v in recipe.items() if k in _PRESET_NAMES}
    values["early_stopping"] = bool(recipe.get("validation_fraction"))
    return {k: v for k, v in values.items() if k not in ("early_stopping", "validation_fraction")} if incremental \
        else values


@contextlib.contextmanager
def applied_preset(est: Any, incremental: bool) -> Iterator[None]:
    """For one ``fit``: every parameter the preset sets that is at scikit-learn's default (as given or left)
    takes the preset's value; the parameters are put back as given afterwards."""
    if est.preset is None:
        yield
        return
    defaults = {k: p.default for k, p in inspect.signature(type(est)).parameters.items()}
    values = preset_values(est.preset, incremental)
    given = {k: getattr(est, k) for k in values
             if type(getattr(est, k)) is type(defaults[k]) and getattr(est, k) == defaults[k]}
    try:
        for k in given:
            setattr(est, k, values[k])
        yield
    finally:
        for k, v in given.items():
            setattr(est, k, v)


def hidden_sizes(hidden_layer_sizes: Any) -> list[int]:
    """``hidden_layer_sizes`` as a list of ints (an int is one layer); every size must be > 0."""
    sizes = list(hidden_layer_sizes) if hasattr(hidden_layer_sizes, "__iter__") else [hidden_layer_sizes]
    if np.any(np.asarray(sizes) <= 0):
        raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
    return [int(s) for s in sizes]


def model_backend(backend: Any, dtype: str | None, input_dtype: Any) -> Backend:
    """The backend a new model trains on, and its float dtype.

    ``dtype=None`` follows the input as scikit-learn does: float32 data make a float32 model,
    anything else float64.  A device without float64 (array-api-strict's ``no_float64``)
    trains in float32 with a warning when the dtype was inferred, and refuses an explicit
    ``dtype="float64"``.  A backend that cannot run here raises :class:`BackendParameterError`.
    """
    want = dtype or ("float32" if np.dtype(input_dtype) == np.float32 else "float64")
    try:
        be = resolve(backend, dtype="float32")  # library and device; every one has float32
    except BackendError as exc:
        raise BackendParameterError(f"backend={backend!r} cannot be used: {exc}") from exc
    if want == "float32":
        return be
    try:
        return be.with_dtype("float64")
    except BackendError as exc:
        if dtype is not None:
            raise BackendParameterError(f"dtype='float64' is not available: {exc}") from exc
        warnings.warn(f"{be.describe().split()[0]} has no float64, so this float64 data trains a float32 model "
                      "(pass dtype='float32' to silence this)", UserWarning, stacklevel=4)
        return be


def initial_weights(rs: np.random.RandomState, sizes: list[int], activation: str) -> tuple[list, list]:
    """scikit-learn's first weights, drawn from ``rs`` in its order (layer by layer, weights then biases):
    ``U(-r, r)`` with ``r = sqrt(f / (fan_in + fan_out))``, ``f = 2`` for a logistic network, else 6.

    The same ``random_state`` therefore starts xpmlp and scikit-learn from the same weights.
    """
    factor = 2.0 if activation == "logistic" else 6.0
    Ws, bs = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = math.sqrt(factor / (fan_in + fan_out))
        Ws.append(rs.uniform(-bound, bound, (fan_in, fan_out)))
        bs.append(rs.uniform(-bound, bound, fan_out))
    return Ws, bs
