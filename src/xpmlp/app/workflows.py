"""What ``xpmlp train``, ``predict`` and ``evaluate`` do, as functions on tables.

:func:`train_table` splits a :class:`~xpmlp.app.tables.Table` into training and
test rows, fits a :class:`~xpmlp.app.preprocessing.Preprocessor` on the training
rows alone (the test rows' gaps and categories are as new to it as a user's),
builds and trains an :class:`~xpmlp.nn.network.MLP`, and scores the model that
training returned on both; the preprocessor travels inside the saved model file
(:func:`save_model`), so :func:`predict_table` on raw rows gives exactly what
training ended with.  Early stopping is judged on held-out training rows: by
accuracy or R^2 where they are at least :data:`MIN_VALIDATION`, by their loss on
smaller data (:func:`_validation` says why).
"""

from __future__ import annotations

import shlex
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .. import io
from ..io.archive import digest
from ..history import History
from ..nn.front import parse_spec
from ..nn.network import MLP
from ..nn.objective import objective
from ..backends.arrays import scalar_like
from ..optim.optimizers import Optimizer, make_optimizer
from .decisions import explain_task, row_numbers
from .features import UnseenCategoryWarning
from .limits import check_classes
from .preprocessing import MAX_TARGET, Preprocessor, check_cells
from .tables import DataError, Table, split_rows
from ..training.loop import fit

__all__ = ["TrainedModel", "load_dataset", "train_table", "score", "log_loss", "save_model", "load_model",
           "predict_table", "front_specs", "DATASETS", "MIN_VALIDATION", "NonFinitePredictions"]

#: scikit-learn's bundled datasets (no download): name -> task.
DATASETS = {"digits": "classification", "iris": "classification", "breast_cancer": "classification",
            "wine": "classification", "diabetes": "regression"}
#: A validation split smaller than this judges early stopping on noise (iris: 11 rows hit 1.0 at epoch 3).
MIN_VALIDATION = 50
#: On smaller data, at most this share of the training rows is held out, and judged by its loss.
SMALL_VALIDATION = 0.2
#: Fewer held-out rows than this judge nothing: training stops on the training loss.
MIN_SMALL_VALIDATION = 10


class NonFinitePredictions(DataError):
    """The model's predictions for some rows are NaN or infinite (rows far outside the training range)."""


@dataclass
class TrainedModel:
    """A network, its preprocessing, and what training and testing measured."""

    net: MLP
    preprocessor: Preprocessor
    optimizer: Optimizer
    history: History
    train_loss: float  # the objective on the training rows, for the returned weights
    scores: dict[str, float] = field(default_factory=dict)  # "train", "test": accuracy or R^2
    notes: list[str] = field(default_factory=list)
    validation_loss: str = ""  # on small data: the loss that judged early stopping (its score is minus it)


def load_dataset(name: str) -> Table:
    """One of :data:`DATASETS` (from scikit-learn, ``pip install 'xpmlp[demo]'``) as a :class:`Table`."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; bundled: {', '.join(DATASETS)}")
    try:
        from sklearn import datasets
    except ImportError as exc:
        raise ImportError("the bundled datasets come with scikit-learn: pip install 'xpmlp[demo]'") from exc
    bunch = getattr(datasets, f"load_{name}")()
    columns = [str(c) for c in getattr(bunch, "feature_names", range(bunch.data.shape[1]))]
    return Table(np.asarray(bunch.data, dtype=np.float64), columns, np.asarray(bunch.target), "target", source=name)


def _validation(fraction: float, n_train: int, task: str, notes: list[str], by_loss: bool = False) -> tuple[float | None, Any]:
    """``(fraction, score)`` for :func:`~xpmlp.training.fit`: the held-out share of the training
    rows that judges early stopping, and what judges it (``None``: accuracy or R^2).

    Where ``fraction`` would hold out fewer than :data:`MIN_VALIDATION` rows, accuracy on so few
    rows is too coarse to judge by (iris: 11 rows reached 1.0 at epoch 3; breast_cancer had no
    split and trained 100 epochs to probabilities of 1e-19): up to :data:`MIN_VALIDATION` rows
    (at most :data:`SMALL_VALIDATION` of them) are held out instead, judged by their mean loss
    (log loss, or squared error), which moves with every epoch that changes the model.  With
    ``by_loss`` the loss judges whatever the split's size."""
    held = int(round(fraction * n_train))
    loss_judge = _negative_log_loss if task == "classification" else _negative_squared_error
    if not fraction or held >= MIN_VALIDATION:
        return fraction or None, loss_judge if by_loss and fraction else None  # by_loss: the recipe's choice
    held = max(held, min(MIN_VALIDATION, int(round(SMALL_VALIDATION * n_train))))
    if held < MIN_SMALL_VALIDATION:
        notes.append(f"no validation split: {n_train} training rows are too few to hold out {MIN_SMALL_VALIDATION} "
                     "for early stopping; stopping on the training loss instead")
        return None, None
    loss = "log loss" if task == "classification" else "squared error"
    notes.append(f"small data: early stopping judges the {loss} on {held} held-out training rows, not the "
                 f"{'accuracy' if task == 'classification' else 'R^2'}, which on fewer than {MIN_VALIDATION} rows "
                 "moves too coarsely to judge by")
    return held / n_train, loss_judge


def _negative_log_loss(xp: Any, out: Any, T: Any, w: Any = None) -> Any:
    """Minus the mean log loss of softmax outputs (higher is better), on the device."""
    per_row = -xp.sum(T * xp.log(xp.maximum(out, scalar_like(xp, 1e-12, out))), axis=1)
    return -(xp.mean(per_row) if w is None else xp.sum(per_row * w) / xp.sum(w))


def _negative_squared_error(xp: Any, out: Any, T: Any, w: Any = None) -> Any:
    """Minus the mean squared error of standardised targets (higher is better), on the device."""
    per_row = xp.sum((out - T) ** 2, axis=1)
    return -(xp.mean(per_row) if w is None else xp.sum(per_row * w) / xp.sum(w))


def train_table(table: Table, *, task: str | None = None, hidden: Sequence[int] = (100,), activation: str = "relu",
                test_size: float = 0.25, validation_fraction: float = 0.1, optimizer: str = "adam",
                momentum: float = 0.9, backend: Any = None, dtype: str = "float32", compute_dtype: str | None = None,
                dropout: float = 0.0, seed: int = 0, ids: Sequence[str] = (), drop: Sequence[str] = (),
                categories: Sequence[str] = (), keep: Sequence[str] = (), dates: bool = True,
                date_forms: "dict[str, bool | str] | None" = None, on_note: "Callable[[str], None] | None" = None,
                judge_by: str = "auto", scaling: str = "standard", front: Sequence[str] = (),
                **fit_kwargs: Any) -> TrainedModel:
    """Split, preprocess, build, train and score; ``ids``, ``drop``, ``categories``, ``dates`` and
    ``date_forms`` go to :meth:`Preprocessor.fit`, ``fit_kwargs`` to :func:`xpmlp.training.fit`.
    Columns that look like row numbers (:func:`~xpmlp.app.decisions.row_numbers`) are ID columns
    unless in ``keep``.  ``on_note`` gets each decision (task, columns, validation) before training.
    ``front``: input layers' specs (:mod:`xpmlp.nn.front`); a ``"periodic"`` one embeds the numbers
    alone (:func:`front_specs`)."""
    if table.y is None:
        raise DataError("training needs a target column (--target)")
    _check_finite_target(table)
    notes: list[str] = []
    task, why = (task, "given with --task") if task else explain_task(table.y)
    notes.append(f"task: {task} ({why})")
    if task == "classification":
        check_classes(table.y, table.target, table.source)  # before a one-hot target of rows x classes
    given = {*ids, *drop, *categories, *(date_forms or {})}
    for name in keep:
        table.column(name)  # a DataError naming the columns there are
    check_cells(table, given)  # the first bad cell of the file, not of the training rows
    numbered = row_numbers(table, {*given, *keep})
    notes += [f"column {name!r} looks like row numbers ({why}): not an input (it could leak the file's order), "
              f"written beside predictions like an ID; give --keep {shlex.quote(name)} to use it"
              for name, why in numbered]
    rows_tr, rows_te = _train_test(table, test_size, seed, task)
    train = table.take(rows_tr)
    pre = Preprocessor.fit(train, task, ids=[*ids, *(name for name, _ in numbered)], drop=drop, categories=categories,
                           dates=dates, date_forms=date_forms, scaling=scaling)
    X, T = pre.transform(train), pre.encode(train.y)
    out, loss = ("softmax", "cross_entropy") if task == "classification" else ("identity", "squared_error")
    notes += pre.notes
    comm, mine = _data_parallel(len(rows_tr), notes, X, T)  # under mpiexec: this process's shard (and its GPU)
    net = MLP([X.shape[1], *hidden, pre.n_outputs], activation, out, loss, backend=backend, dtype=dtype, seed=seed,
              compute_dtype=compute_dtype, dropout=dropout, front=front_specs(front, pre, notes, compute_dtype))
    fraction, judge = _validation(validation_fraction, len(rows_tr), task, notes,
                                   by_loss=judge_by == "loss")
    for note in notes if on_note else ():
        on_note(note)
    opt = make_optimizer(optimizer, **({"momentum": momentum} if optimizer == "sgd" else {}))
    history = fit(net, X[mine], T[mine], optimizer=opt, seed=seed, validation_fraction=fraction, comm=comm,
                  stratify=train.y[mine] if task == "classification" else None, score=judge, **fit_kwargs)
    model = TrainedModel(net, pre, opt, history, objective(net, X, T, alpha=fit_kwargs.get("alpha", 0.0)), notes=notes,
                         validation_loss={_negative_log_loss: "log loss", _negative_squared_error: "squared error",
                                          None: ""}[judge])
    with warnings.catch_warnings():  # training rows: only the categories past the cap, noted already
        warnings.simplefilter("ignore", UnseenCategoryWarning)
        model.scores["train"] = score(model, train)
    if rows_te.size:  # one prediction (and one warning of unseen categories) for both scores
        test = table.take(rows_te)
        try:
            predicted, outputs = predict_table(net, pre, test)
        except NonFinitePredictions as exc:  # a test row far outside the training rows' range: the model is kept
            model.scores["test"] = float("nan")
            notes.append(f"no test score: {exc}")
            return model
        model.scores["test"] = _score(pre, test.y, predicted, outputs)
        if task == "classification":
            model.scores["test_log_loss"] = _log_loss(pre, test.y, outputs)
    return model


def front_specs(front: Sequence[str], pre: Preprocessor, notes: list[str], compute_dtype: str | None = None) -> list[str]:
    """``front``'s specs for ``pre``'s inputs: a periodic embedding without ``columns=`` embeds the
    numbers alone (the first :attr:`~Preprocessor.n_numbers` inputs, as RealMLP embeds the
    continuous columns, not one-hot or gap flags), and is left out, with a note, where there are none.
    Input layers train in float32 or float64: with a ``compute_dtype`` they are left out, with a note."""
    if front and compute_dtype is not None:
        notes.append(f"input layers ({', '.join(front)}) left out: they train in float32 or float64, not in "
                     f"--compute-dtype {compute_dtype}")
        return []
    specs = []
    for spec in front:
        name, settings = parse_spec(spec)
        if name == "periodic" and "columns" not in settings:
            if not pre.n_numbers:
                notes.append(f"input layer {spec!r} left out: no column is a number")
                continue
            spec = f"{spec}{',' if ':' in spec else ':'}columns={pre.n_numbers}"
        specs.append(spec)
    return specs


def _train_test(table: Table, test_size: float, seed: int, task: str) -> tuple[np.ndarray, np.ndarray]:
    """The training and test rows (by class in proportion for classification); ``test_size`` 0:
    every row trains and none is tested."""
    if not 0.0 <= test_size < 1.0:
        raise DataError(f"the test fraction must be in [0, 1) (0: train on every row), got {test_size}")
    if test_size == 0:
        return np.arange(len(table.y)), np.arange(0)
    return split_rows(len(table.y), test_size, seed, table.y if task == "classification" else None)


def _check_finite_target(table: Table) -> None:
    """Refuse a target of numbers with one that is not finite or beyond +-:data:`MAX_TARGET` (text
    ``inf`` would become a class, 1e308 overflow the scaling); labels that are not numbers pass."""
    try:
        values = np.asarray(table.y).astype(np.float64)
    except (TypeError, ValueError):
        return
    bad = np.flatnonzero(~(np.abs(values) <= MAX_TARGET))
    if bad.size:
        shown = str(table.y[bad[0]])[:24]
        raise DataError(f"{table.source}: target {table.target!r}, {table.where(bad[0])} is {shown}: "
                        f"targets must be finite numbers within +-{MAX_TARGET:g} (rescale them, or fix the row)")


def _data_parallel(n: int, notes: list[str], X: np.ndarray, T: np.ndarray) -> tuple[Any, slice]:
    """``(communicator, rows)``: under ``mpiexec -n P`` every process trains on its shard of the
    ``n`` training rows ``X``, ``T`` (every rank's the same, or :class:`DistributedError` on every
    rank); otherwise one process takes them all."""
    from ..distributed.mpi import DistributedError, shard, world

    comm = world()
    if comm is None:
        return None, slice(None)
    everyone = comm.exchange(digest(X) + digest(T))
    odd = [r for r, theirs in enumerate(everyone) if theirs != everyone[0]]
    if odd:
        raise DistributedError(f"rank{'s' if len(odd) > 1 else ''} {', '.join(map(str, odd))} read a different "
                               "table from rank 0's (every rank must read the same rows and columns)")
    notes.append(f"data-parallel over {comm.size} processes (this is rank {comm.rank})")
    return comm, shard(n, comm.rank, comm.size)


def predict_table(net: MLP, pre: Preprocessor, table: Table) -> tuple[np.ndarray, np.ndarray]:
    """``(predictions (n,), outputs (n, k))``: labels or values, and the network's outputs."""
    outputs = np.asarray(net.backend.to_numpy(net.predict(pre.transform(table))), dtype=np.float64)
    predicted = pre.decode(outputs)
    broken = ~np.isfinite(outputs).all(axis=1) if pre.task == "classification" else ~np.isfinite(predicted)
    if broken.any():
        raise NonFinitePredictions(f"{table.source}: the model's predictions for {int(broken.sum())} row(s) are not finite "
                        f"(first: {table.where(int(np.flatnonzero(broken)[0]))})")
    return predicted, outputs


def score(model: "TrainedModel | tuple[MLP, Preprocessor]", table: Table) -> float:
    """Accuracy (classification) or R^2 (regression) of the model on a table with targets."""
    net, pre = (model.net, model.preprocessor) if isinstance(model, TrainedModel) else model
    if pre.task == "regression":
        _check_finite_target(table)  # 1e308 would overflow the sums of squares: R^2 nan
    return _score(pre, table.y, *predict_table(net, pre, table))


def _score(pre: Preprocessor, y: np.ndarray, predicted: np.ndarray, outputs: np.ndarray) -> float:
    if pre.task == "classification":  # encode refuses labels the model has never seen, naming them
        return float(np.mean(np.argmax(pre.encode(y), axis=1) == np.argmax(outputs, axis=1)))
    y = np.asarray(y, dtype=np.float64)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    ss_res = float(np.sum((y - predicted) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float(ss_res == 0)


def log_loss(model: "TrainedModel | tuple[MLP, Preprocessor]", table: Table) -> float:
    """The mean log loss of the predicted class probabilities on a table with targets: how well
    calibrated they are (a sure and wrong probability of 1e-19 costs 44)."""
    net, pre = (model.net, model.preprocessor) if isinstance(model, TrainedModel) else model
    return _log_loss(pre, table.y, predict_table(net, pre, table)[1])


def _log_loss(pre: Preprocessor, y: np.ndarray, outputs: np.ndarray) -> float:
    p = np.sum(pre.encode(y) * outputs, axis=1)
    return float(-np.mean(np.log(np.maximum(p, 1e-300))))


def confusion(pre: Preprocessor, labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """``C[i, j]``: rows of true class ``classes[i]`` predicted as ``classes[j]``."""
    true = np.argmax(pre.encode(labels), axis=1)
    guess = np.argmax(pre.encode(predicted), axis=1)
    C = np.zeros((len(pre.classes),) * 2, dtype=np.int64)
    np.add.at(C, (true, guess), 1)
    return C


def save_model(path: Any, model: TrainedModel) -> Any:
    """Save the network with its optimizer, history and preprocessing (atomically, no pickle)."""
    return io.save(path, model.net, optimizer=model.optimizer, history=model.history,
                   extra={"preprocessing": model.preprocessor.to_dict()})


def load_model(path: Any, backend: Any = None) -> tuple[MLP, Preprocessor]:
    """The network and its preprocessing from a file :func:`save_model` (or ``xpmlp train --save``) wrote."""
    ck = io.load(path, backend=backend)
    record = ck.extra.get("preprocessing")
    if record is None:
        raise io.ModelFileError(f"{path}: the model carries no preprocessing record; it was not saved by "
                                "`xpmlp train --save` or xpmlp.app.workflows.save_model")
    try:
        pre = Preprocessor.from_dict(record)
    except ValueError as exc:
        raise io.ModelFileError(f"{path}: {exc}") from exc
    if (len(pre.encoded), pre.n_outputs) != (ck.net.sizes[0], ck.net.sizes[-1]):
        raise io.ModelFileError(f"{path}: the preprocessing record gives {len(pre.encoded)} inputs and {pre.n_outputs} "
                                f"outputs ({pre.task}), the network has {ck.net.sizes[0]} and {ck.net.sizes[-1]}")
    return ck.net, pre


def prediction_rows(pre: Preprocessor, table: Table, predicted: np.ndarray, outputs: np.ndarray,
                    ids: Sequence[str] = (), proba: bool = False) -> tuple[list[str], list[list[Any]]]:
    """``(header, rows)`` of a predictions file: the ``ids`` columns as read (or ``row``, the data
    row's number from 1), then ``predicted_<target>``, then with ``proba`` one ``proba_<class>``
    column per class."""
    firsts = [table.texts(c) for c in ids] if ids else [np.arange(1, len(predicted) + 1)]
    header = list(ids) if ids else ["row"]
    header.append(f"predicted_{pre.target}" if pre.target else "predicted")
    values = [_format(v) for v in predicted.tolist()]
    rows = [["" if v is None else v for v in first] for first in zip(*firsts)]
    rows = [r + [v] for r, v in zip(rows, values)]
    if proba and pre.task == "classification":
        header += [f"proba_{c}" for c in pre.classes]
        rows = [r + [f"{p:.6g}" for p in o] for r, o in zip(rows, outputs.tolist())]
    return header, rows


def _format(value: Any) -> Any:
    return f"{value:.10g}" if isinstance(value, float) else value
