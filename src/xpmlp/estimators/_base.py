"""The estimators' shared training: scikit-learn's MLP semantics on xpmlp's loop and L-BFGS.

One ``fit``/``partial_fit`` call:

1. validate ``X`` (dense or sparse CSR/CSC; float32 stays float32, the rest becomes float64),
   ``y`` and ``sample_weight`` with scikit-learn's helpers;
2. first pass (no ``coefs_`` yet, or a cold ``fit``): build the network on the backend, with
   scikit-learn's first weights drawn from ``random_state``; otherwise continue from
   ``coefs_`` and ``intercepts_`` as they are now (they may have been assigned);
3. train: ``adam``/``sgd``/``adamw`` through :func:`xpmlp.training.fit` (one epoch for
   ``partial_fit``, at most ``max_iter`` for ``fit``), ``lbfgs`` through
   :func:`xpmlp.training.lbfgs.fit_lbfgs`;
4. refresh the fitted attributes (host NumPy; under scikit-learn's Array API dispatch, arrays of
   ``X``'s library and device: :mod:`._dispatch`), warn as scikit-learn does.

The objective is scikit-learn's: for SGD/Adam a batch of ``|B|`` rows descends
``mean_B C + (alpha / (2|B|)) ||W||^2`` (``Objective(alpha, alpha_per_batch=True)``); L-BFGS the whole set with
``alpha / (2n)``; with sample weights ``alpha`` is divided by their mean, so a full batch
matches scikit-learn's ``alpha / (2 sum w)``.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, is_classifier
from sklearn.externals.array_api_compat import array_namespace
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._array_api import check_same_namespace
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from . import _dispatch
from ._compat import SklearnPrivates
from ._dispatch import Home
from ._params import (
    PARAMETER_CONSTRAINTS,
    applied_preset,
    front_specs,
    hidden_sizes,
    initial_weights,
    model_backend,
)
from ._persist import PersistMixin
from ._report import SklearnVerbose, warn_stop
from ._streamed import check_validation_size, fit_source
from ..training.callbacks import DivergenceError
from ..history import History
from ..training.lbfgs import fit_lbfgs
from ..nn.network import MLP
from ..nn.objective import Objective
from ..optim.optimizers import SGD, Adam, Optimizer
from ..optim.schedules import Schedule, make_schedule
from ..training.loop import fit as _fit_loop
from ..training.presets import PRESETS, validation_loss
from ..training.sources import is_source_like

__all__ = ["BaseMLP"]

_NON_FINITE = ("Solver produced non-finite parameter weights. The input data may contain large values and need "
               "to be preprocessed.")
_STOCHASTIC_ATTRS = ("loss_curve_", "best_loss_", "validation_scores_", "best_validation_score_", "optimizer_",
                     "schedule_")


class BaseMLP(SklearnPrivates, PersistMixin, BaseEstimator):
    """Training shared by :class:`~xpmlp.estimators.MLPClassifier` and :class:`~xpmlp.estimators.MLPRegressor`."""

    _parameter_constraints: dict = dict(PARAMETER_CONSTRAINTS)

    # -- subclass hooks -------------------------------------------------------------------
    def _validate_input(self, X: Any, y: Any, incremental: bool, reset: bool) -> tuple[Any, np.ndarray]:
        """``(X, Y)``: validated inputs and the 2-D training targets ``(n, n_outputs)``."""
        raise NotImplementedError

    def _output_layer(self) -> tuple[str, str]:
        """``(output activation, loss)`` of a new network."""
        raise NotImplementedError

    def _record_scale(self) -> float:
        """Factor on the recorded data loss (:class:`~xpmlp.nn.objective.Objective`)."""
        return 1.0

    # -- fit ------------------------------------------------------------------------------
    def _fit(self, X: Any, y: Any, sample_weight: Any, incremental: bool) -> "BaseMLP":
        if is_source_like(X):  # a path, a Dask collection, batches: read as it trains (module _streamed)
            with applied_preset(self, incremental):
                fit_source(self, X, y, sample_weight, incremental)
            return self
        home = _dispatch.input_home(X)  # where X lives: the host, or its device under Array API dispatch
        if self.distributed and not home.host:
            raise ValueError(f"distributed=True takes host data, not {home.library} arrays under scikit-learn's "
                             "array_api_dispatch: give each process NumPy arrays (backend= picks its device)")
        comm = self._communicator()
        # a preset's values for this fit; under MPI, a failing rank ends every rank's fit
        with applied_preset(self, incremental), contextlib.nullcontext() if comm is None else comm.guard():
            hidden = hidden_sizes(self.hidden_layer_sizes)
            first = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
            y, sample_weight = _dispatch.follow(home, y), _dispatch.follow(home, sample_weight)  # follow X
            self._labels_of_all_ranks = None if comm is None else self._every_ranks_labels(comm, y)
            X, Y = self._validate_input(X, y, incremental, reset=first)
            if sample_weight is not None:
                sample_weight = _check_sample_weight(sample_weight, X, ensure_non_negative=True)  # not alpha < 0
            rs = check_random_state(self.random_state)
            if first:
                self._initialize(X, Y, hidden, rs, home)
            else:
                self._resume(X.shape[1], Y, home)
            X, Y, sample_weight = (_dispatch.for_network(self.net_.backend, a) for a in (X, Y, sample_weight))
            sample_weight = self._class_weighted(Y, sample_weight, comm)
            if self.solver == "lbfgs":
                self._fit_lbfgs(X, Y, sample_weight, home)
            else:
                self._fit_stochastic(X, Y, sample_weight, incremental, rs, comm, home)
        return self

    def _class_weighted(self, Y: Any, w: Any, comm: Any) -> Any:
        """The sample weights with the classes' weights folded in (a classifier's ``class_weight``)."""
        return w

    def _communicator(self) -> Any:
        """With ``distributed=True`` (under ``mpiexec -n P``), the ranks' communicator (each rank's ``fit``
        gets its own rows); else None."""
        if not self.distributed:
            return None
        if self.solver == "lbfgs":
            raise ValueError("distributed=True trains with the stochastic solvers ('sgd', 'adam', 'adamw'); "
                             "solver='lbfgs' runs in one process")
        from ..distributed.mpi import world

        comm = world()
        if comm is None:
            raise ValueError("distributed=True needs the script to be started by mpiexec with more than one process")
        return comm

    def _every_ranks_labels(self, comm: Any, y: Any) -> Any:
        """A classifier's classes are those of every rank's labels (a rank may miss some)."""
        labels = np.asarray(y)
        if not is_classifier(self) or labels.ndim != 1:
            return None
        return np.unique(np.concatenate(comm.exchange(np.unique(labels))))

    def _initialize(self, X: Any, Y: Any, hidden: list[int], rs: np.random.RandomState, home: Home) -> None:
        """A new network with scikit-learn's first weights (on ``backend``, by default in ``home``), and
        fresh fitted attributes."""
        for name in _STOCHASTIC_ATTRS + ("_rng",):
            self.__dict__.pop(name, None)
        be = self._model_backend(home, X.dtype)
        sizes = [X.shape[1], *hidden, Y.shape[1]]
        out, loss = self._output_layer()
        self.net_ = self._network(sizes, out, loss, be)
        self.net_.set_weights(*initial_weights(rs, self.net_.widths, self.activation))  # W^1: the input layers' width
        if self.net_.front:  # their parameters drawn from random_state too
            self.net_.set_front(self.net_.front.init(np.random.default_rng(rs.randint(np.iinfo(np.int32).max))))
        self.history_ = History()
        self.n_iter_, self.t_ = 0, 0
        self.n_outputs_, self.n_layers_, self.out_activation_ = Y.shape[1], len(sizes), out
        self._pull(home)

    def _network(self, sizes: list[int], out: str, loss: str, be: Any) -> MLP:
        """The network: layer ``sizes``, ``activation`` hidden, ``out``/``loss``, on ``be``, with
        ``dropout``, ``compute_dtype`` and the ``front`` input layers."""
        return MLP(sizes, self.activation, out, loss, backend=be, seed=0, compute_dtype=self.compute_dtype,
                   dropout=self.dropout if np.ndim(self.dropout) else float(self.dropout), front=front_specs(self.front))

    def _model_backend(self, home: Home, input_dtype: Any) -> Any:
        """The backend of a new network: ``backend``, by default ``home``'s library and device (the host:
        resolved as usual); its dtype follows ``dtype``, else the input's (float32 stays float32)."""
        backend = home.backend_spec if self.backend is None else self.backend
        dtype = "float32" if self.compute_dtype is not None and self.dtype is None else self.dtype  # master weights
        return model_backend(backend, dtype, np.float32 if _dispatch.is_float32(input_dtype) else np.float64)

    def _resume(self, n_in: int, Y: Any, home: Home) -> None:
        """Continue from ``coefs_``/``intercepts_`` (and ``front_params_``) as they are now (possibly assigned
        by the user); ``n_in``: the input's columns."""
        if not hasattr(self, "net_"):  # weights assigned to an estimator that was never fitted
            sizes = [n_in if self.front else np.shape(self.coefs_[0])[0]] + [np.shape(c)[1] for c in self.coefs_]
            out, loss = self._output_layer()
            be = self._model_backend(home, getattr(self.coefs_[0], "dtype", np.float64))
            self.net_ = self._network(sizes, out, loss, be)
            self.history_ = History(samples_seen=int(getattr(self, "t_", 0)))
            self.n_outputs_, self.n_layers_, self.out_activation_ = sizes[-1], len(sizes), out
        if Y.shape[1] != self.net_.sizes[-1]:
            raise ValueError(f"y has {Y.shape[1]} outputs but the network was fitted with {self.net_.sizes[-1]}")
        self._load_attributes()  # to the network's device, once per call
        self._pull(home)

    def _load_attributes(self) -> None:
        """``coefs_``/``intercepts_`` (and ``front_params_``) into the network (copies on its device)."""
        be = self.net_.backend
        self.net_.set_weights(*([_dispatch.for_network(be, a) for a in arrays]
                                for arrays in (self.coefs_, self.intercepts_)))
        if self.net_.front and hasattr(self, "front_params_"):
            self.net_.set_front([_dispatch.for_network(be, a) for a in self.front_params_])

    def _fit_stochastic(self, X: Any, Y: Any, w: Any, incremental: bool, rs: np.random.RandomState,
                        comm: Any, home: Home) -> None:
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        X, Y, w, validation, positions = self._split(X, Y, w, rs, comm)
        n, mean_w = _rows_and_mean_weight(X, w, comm)  # over every rank's training rows
        self._descend(X, Y, n, mean_w, incremental, rs, comm, home, sample_weight=w, validation_data=validation,
                      positions=positions)

    def _descend(self, X: Any, Y: Any, n: int, mean_w: float, incremental: bool, rs: np.random.RandomState,
                 comm: Any, home: Home, **data: Any) -> None:
        """``adam``/``sgd``/``adamw`` on ``X, Y`` (arrays; or a source, ``Y`` None: :mod:`._streamed`) of ``n``
        training rows (every rank's) of mean sample weight ``mean_w``; ``data``: ``fit``'s arguments for
        the rows (sample weights, validation)."""
        if not incremental or not hasattr(self, "optimizer_"):
            self.optimizer_, self.schedule_ = self._make_optimizer(), self._make_schedule()
        if not hasattr(self, "_rng"):
            self._rng = np.random.default_rng(rs.randint(np.iinfo(np.int32).max))  # the shuffling stream
        alpha = 0.0 if self.solver == "adamw" else self.alpha / mean_w
        rank0, before = comm is None or comm.rank == 0, self.history_.epochs
        callbacks = [SklearnVerbose(self.tol, self.n_iter_no_change)] if self.verbose and rank0 else []
        try:
            _fit_loop(
                self.net_, X, Y, epochs=1 if incremental else self.max_iter, batch_size=self._batch_size(n),
                optimizer=self.optimizer_, schedule=self.schedule_, shuffle=self.shuffle, seed=self._rng,
                patience=self.n_iter_no_change, tol=self.tol, max_grad_norm=self.max_grad_norm,
                history=self.history_, callbacks=callbacks, comm=comm, **data,
                objective=Objective(alpha, alpha_per_batch=True, record_scale=self._record_scale()),
                score=validation_loss(self.out_activation_) if self._judged_by_loss() else None,
                on_divergence="continue" if self.early_stopping else "raise",  # scikit-learn's issue 29504
            )
        except DivergenceError as exc:
            raise ValueError(f"{_NON_FINITE} ({exc})") from exc
        finally:
            self._pull(home)
        self.n_iter_ = self.history_.epochs - before
        self._set_curves()
        warn_stop(self.history_, self.max_iter, incremental)

    def _judged_by_loss(self) -> bool:
        """Whether the best epoch is the one of the least validation loss (the preset's choice)."""
        return self.preset is not None and PRESETS[self.preset].get("judge_by") == "loss"

    def _lbfgs_alpha(self, X: Any, w: Any) -> float:
        """scikit-learn's L-BFGS penalty, ``alpha / (2 sum w)`` on the sum of the losses, as ``Objective``'s
        ``alpha`` on their (weighted) mean."""
        mean_w = 1.0 if w is None else float(array_namespace(w).mean(w))
        return self.alpha / (X.shape[0] * mean_w)

    def _fit_lbfgs(self, X: Any, Y: Any, w: Any, home: Home) -> None:
        alpha = self._lbfgs_alpha(X, w)
        try:
            result = fit_lbfgs(self.net_, X, Y, sample_weight=w, alpha=alpha, max_iter=self.max_iter,
                               max_fun=self.max_fun, tol=self.tol)
        finally:
            self._pull(home)
        self.n_iter_ = _check_optimize_result("lbfgs", result, self.max_iter)
        Ws, _ = self.net_.get_weights()  # host copies; L-BFGS reads every weight at each evaluation anyway
        penalty = 0.5 * alpha * sum(float(np.sum(np.square(W, dtype=np.float64))) for W in Ws)
        self.loss_ = np.float64(self._record_scale() * (result.fun - penalty) + penalty)

    def _split(self, X: Any, Y: np.ndarray, w: Any, rs: np.random.RandomState, comm: Any) -> tuple:
        """``(X, Y, w, validation, positions)``: the validation split of ``early_stopping``, scikit-learn's
        (``train_test_split`` drawn from ``random_state``, stratified for a single output), of the row
        numbers on the host; the rows are then taken where the data are.  Under ``distributed=True``
        the split is of every rank's rows, the one a single process would draw; ``positions`` place
        this rank's training rows among every rank's (None: in rank order)."""
        if not self.early_stopping:
            return X, Y, w, None, None
        stratify = _dispatch.to_host(Y) if is_classifier(self) and Y.shape[1] == 1 else None
        if comm is None:
            tr, va = train_test_split(np.arange(X.shape[0]), random_state=rs, test_size=self.validation_fraction,
                                      stratify=stratify)
            check_validation_size(va.size)
            take = _dispatch.take_rows
            return take(X, tr), take(Y, tr), take(w, tr), (take(X, va), take(Y, va), take(w, va)), None
        everyone = comm.exchange((X.shape[0], None if stratify is None else stratify[:, 0]))
        counts = [c for c, _ in everyone]
        offset, n = sum(counts[:comm.rank]), sum(counts)
        strata = None if stratify is None else np.concatenate([s for _, s in everyone])
        tr, va = train_test_split(np.arange(n), random_state=rs, test_size=self.validation_fraction, stratify=strata)
        check_validation_size(va.size)
        positions = np.flatnonzero((tr >= offset) & (tr < offset + X.shape[0]))
        rows, held = tr[positions] - offset, np.sort(va[(va >= offset) & (va < offset + X.shape[0])]) - offset
        validation = (X[held], Y[held], None if w is None else w[held])
        return X[rows], Y[rows], None if w is None else w[rows], validation, positions

    def _batch_size(self, n: int) -> int:
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                          stacklevel=5)
        return int(np.clip(self.batch_size, 1, n))

    def _make_optimizer(self) -> Optimizer:
        if self.solver == "sgd":
            momentum = min(float(self.momentum), 1.0 - 1e-12)  # scikit-learn allows 1 (no decay)
            return SGD(momentum=momentum, nesterov=bool(self.nesterovs_momentum) and momentum > 0)
        decay = float(self.alpha) if self.solver == "adamw" else 0.0
        return Adam(self.beta_1, self.beta_2, self.epsilon, weight_decay=decay)

    def _make_schedule(self) -> Schedule:
        name = self.learning_rate if self.solver == "sgd" else "constant"  # Adam ignores learning_rate
        kw = {"power_t": self.power_t} if name == "invscaling" else {}
        return make_schedule(name, self.learning_rate_init, **kw)

    # -- fitted attributes ----------------------------------------------------------------
    def _pull(self, home: Home) -> None:
        """``coefs_``/``intercepts_`` (and ``front_params_``) from the network, in the model's dtype, in ``home``:
        host copies; the network's own arrays when it trains there; else copies moved there.  Refuses
        non-finite weights."""
        net = self.net_
        if home.host:
            self.coefs_, self.intercepts_ = net.get_weights()
            self.front_params_ = net.get_front() if net.front else []
        else:
            self.coefs_, self.intercepts_, self.front_params_ = (
                [_dispatch.from_network(net.backend, a, home) for a in arrays]
                for arrays in (net.Ws, net.bs, net.parameters.front))
        self._remember()
        if not _dispatch.all_finite(self.coefs_ + self.intercepts_ + list(self.front_params_)):
            raise ValueError(_NON_FINITE)

    def _remember(self) -> None:
        """Note ``coefs_``/``intercepts_`` as the network has them, to see later whether the user changed them:
        the arrays, and copies of their values unless they are the network's own (whose changes are its own)."""
        handed = list(self.coefs_) + list(self.intercepts_) + list(self.front_params_)
        own = all(a is p for a, p in zip(handed, self.net_.Ws + self.net_.bs + self.net_.parameters.front))
        self._pulled = (handed, None if own else [_dispatch.copy(a) for a in handed])

    def _changed(self) -> bool:
        """Whether ``coefs_``/``intercepts_`` differ from what the network holds (the user replaced or changed them)."""
        handed, copies = self._pulled
        current = list(self.coefs_) + list(self.intercepts_) + list(self.front_params_)
        if len(current) != len(handed) or any(a is not b for a, b in zip(current, handed)):
            return True
        return copies is not None and not all(_dispatch.same_values(a, b) for a, b in zip(current, copies))

    def _set_curves(self) -> None:
        """The per-epoch attributes of the stochastic solvers, from the history."""
        h = self.history_
        self.loss_curve_ = [np.float64(v) for v in h.loss]
        self.loss_ = self.loss_curve_[-1] if h.loss else None
        self.t_ = h.samples_seen
        self._no_improvement_count = h.no_improvement  # scikit-learn's private counter, for reading
        if self.early_stopping:
            self.validation_scores_ = [float(v) for v in h.validation_score]
            self.best_validation_score_ = float(h.best_score) if h.validation_score else None
            self.best_loss_ = None
        else:
            self.validation_scores_ = self.best_validation_score_ = None
            self.best_loss_ = np.float64(h.best_loss) if math.isfinite(h.best_loss) else None

    # -- prediction -----------------------------------------------------------------------
    def _forward(self, X: Any, method: str) -> tuple[Any, Home]:
        """``(out, home)``: the network's output ``(n, n_outputs_)`` for ``X`` in ``X``'s home (host NumPy
        without Array API dispatch), the wider of ``X``'s and the model's dtype.  ``method`` names the
        caller in scikit-learn's error for an ``X`` of another namespace or device than the fitted arrays."""
        check_is_fitted(self)
        check_same_namespace(X, self, attribute="_first_coefs", method=method)
        home = _dispatch.input_home(X)
        xp = home.xp
        X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False, dtype=(xp.float64, xp.float32))
        if self._changed():
            self._load_attributes()
            self._pull(home)
        net = self.net_
        out = _dispatch.from_network(net.backend, net.predict(_dispatch.for_network(net.backend, X)), home)
        dtype = xp.result_type(X.dtype, out.dtype)
        return (out if out.dtype == dtype else xp.astype(out, dtype)), home

    @property
    def _first_coefs(self) -> Any:
        """``coefs_[0]``: the fitted array scikit-learn's ``check_same_namespace`` compares inputs with."""
        return self.coefs_[0]

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "net_") and hasattr(self, "coefs_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.array_api_support = True  # scikit-learn's Array API dispatch (module _dispatch)
        return tags


def _rows_and_mean_weight(X: Any, w: Any, comm: Any) -> tuple[int, float]:
    """The training rows of every rank, and their mean sample weight (1 without weights)."""
    mine = (X.shape[0], 0.0 if w is None else float(array_namespace(w).sum(w)))
    rows = [mine] if comm is None else comm.exchange(mine)
    n = sum(r for r, _ in rows)
    return n, 1.0 if w is None else sum(t for _, t in rows) / n
