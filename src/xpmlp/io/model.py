"""A model as a file: what is saved (to_state), checked and rebuilt (from_state), without pickle.

A model file is one NumPy ``.npz`` archive (an uncompressed zip, readable with
``numpy.load(path, allow_pickle=False)``) holding

* ``__xpmlp__`` -- UTF-8 JSON metadata as a ``uint8`` array: format and version,
  architecture (layer sizes, activations, loss; an activation as its spec,
  :attr:`~xpmlp.nn.activations.Activation.spec`: ``"relu"``, or with its parameters
  ``"leaky_relu:slope=0.2"``), dtype, optimizer name,
  hyperparameters and step count, learning-rate schedule, training history,
  estimator hyperparameters, and for every array its shape, dtype and SHA-256;
* ``W.<l>``, ``b.<l>`` -- the parameters of layer ``l = 0..L-1``, host NumPy;
* ``front.<i>`` -- the parameters of the input layers of other kinds, listed by spec in the
  architecture's ``front`` (:mod:`xpmlp.io.front`; only a model that has some: such a file is
  version 2, which xpmlp before 0.5 refuses rather than load without them);
* ``opt.<slot>.<i>`` -- optimizer state, one array per parameter;
* ``x.<name>`` -- extra arrays (an estimator's ``classes_``).

Saving is atomic (:mod:`xpmlp.io.archive`: a temporary file, fsync, then
:func:`os.replace`), so a failure or an interruption leaves any earlier file
whole.  Loading reads and checks everything -- archive integrity, format,
version, architecture (activation parameters within
:data:`MAX_ACTIVATION_PARAMETER`), every array's shape, dtype, checksum and finiteness,
optimizer and history records -- before it builds anything, then runs a finite probe
forward pass, and reports a problem as :class:`ModelFileError`.  A file loads onto any backend and dtype.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .archive import ModelFileError, digest, read_state, write_state
from .front import front_arrays, read_front, read_front_arrays
from ..nn.activations import Activation, get_activation
from ..history import History
from ..nn.losses import get_loss
from ..nn.network import MLP, dropout_rates
from ..nn.parameters import update_order
from ..optim.optimizers import OPTIMIZERS, Optimizer, make_optimizer
from ..optim.schedules import SCHEDULES, Schedule, make_schedule

__all__ = ["save", "load", "Checkpoint", "ModelFileError", "to_state", "from_state", "FORMAT", "VERSION",
           "MAX_ACTIVATION_PARAMETER"]

FORMAT = "xpmlp-model"
#: The newest format version: 2 holds input layers of other kinds; a model without them is written as
#: version 1, as xpmlp 0.3 and 0.4 wrote it (and read it).
VERSION = 2
#: A loaded activation's parameters (``leaky_relu``'s slope, ``elu``'s alpha) lie within +-this.
MAX_ACTIVATION_PARAMETER = 1e3


@dataclass
class Checkpoint:
    """What :func:`load` returns: a model rebuilt on the requested backend, and its companions."""

    net: MLP
    optimizer: Optimizer | None = None
    schedule: Schedule | None = None
    history: History | None = None
    hyperparameters: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    kind: str = "MLP"


# -- state <-> (metadata, host arrays) ----------------------------------------------------


def to_state(
    net: MLP,
    *,
    optimizer: Optimizer | None = None,
    schedule: Schedule | None = None,
    history: History | None = None,
    hyperparameters: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    extra_arrays: dict[str, np.ndarray] | None = None,
    kind: str = "MLP",
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Everything about a model as JSON-ready metadata plus named host NumPy arrays."""
    for act in (net.hidden_activation, net.output_activation):  # a file load would refuse: refused now
        _check_parameters(act, ValueError)
    Ws, bs = net.get_weights()
    arrays: dict[str, np.ndarray] = {}
    for i, (W, b) in enumerate(zip(Ws, bs)):
        arrays[f"W.{i}"], arrays[f"b.{i}"] = W, b
    arrays.update(front_arrays(net.get_front()) if net.front else {})
    opt_meta = None
    if optimizer is not None:
        state = optimizer.state()
        for slot, arrs in state.items():
            for i, a in enumerate(arrs):
                arrays[f"opt.{slot}.{i}"] = np.array(net.backend.to_numpy(a))
        opt_meta = {"name": optimizer.name, "config": optimizer.config(), "t": optimizer.t, "slots": sorted(state)}
    for name, a in (extra_arrays or {}).items():
        a = np.asarray(a)
        if a.dtype.kind not in "biufU":
            raise TypeError(f"extra array {name!r} has dtype {a.dtype}; only numbers and strings can be saved without pickle")
        arrays[f"x.{name}"] = a
    meta = {
        "format": FORMAT,
        "version": VERSION if net.front else 1,
        "kind": kind,
        "architecture": {
            "sizes": list(net.sizes),
            "hidden_activation": net.hidden_activation.spec,  # "relu", "leaky_relu:slope=0.2": parameters kept
            "output_activation": net.output_activation.spec,
            "loss": net.loss.name,
            "dropout": list(net.dropout),  # the input's rate, then each hidden layer's (training only)
            **({"front": net.front.specs} if net.front else {}),  # the input layers, in order
        },
        "dtype": net.backend.dtype_name,
        "compute_dtype": net.compute_dtype,
        "saved_from": net.backend.describe(),
        "optimizer": opt_meta,
        "schedule": None if schedule is None else {
            "name": schedule.name, "config": schedule.config(), "learning_rate": schedule.learning_rate},
        "history": None if history is None else history.to_dict(),
        "hyperparameters": hyperparameters,
        "extra": extra or {},
        "arrays": {k: {"shape": list(a.shape), "dtype": a.dtype.str, "sha256": digest(a)} for k, a in arrays.items()},
    }
    json.dumps(meta, allow_nan=False)  # fail now, not at load time, on anything JSON cannot hold
    return meta, arrays


def from_state(
    meta: Any,
    arrays: dict[str, np.ndarray],
    *,
    backend: Any = None,
    dtype: str | None = None,
    device: Any = None,
    source: str = "model state",
) -> Checkpoint:
    """Validate ``(meta, arrays)`` completely, then build the model on ``backend``/``dtype``.

    ``dtype=None`` keeps the saved dtype.  Raises :class:`ModelFileError` naming the problem.
    """
    def bad(msg: str) -> ModelFileError:
        return ModelFileError(f"{source}: {msg}")

    sizes, hidden, output, loss, saved_dtype = _read_architecture(meta, bad)
    dropout = _read_dropout(meta["architecture"].get("dropout"), sizes, bad)
    _check_arrays(meta["arrays"], arrays, bad)
    front = read_front(meta["architecture"].get("front"), sizes[0], arrays, bad)  # specs only: nothing allocated
    Ws, bs = _read_layers(arrays, [front.width, *sizes[1:]], bad)
    theta = read_front_arrays(arrays, front, _check_float_finite, bad)
    if front and meta.get("compute_dtype") is not None:
        raise bad(f"input layers ({', '.join(front.specs)}) train in float32 or float64, not in compute_dtype "
                  f"{meta['compute_dtype']!r}")
    optimizer, opt_state, opt_t = _read_optimizer(meta.get("optimizer"), arrays, update_order(Ws, bs) + theta, bad)
    schedule = _read_schedule(meta.get("schedule"), bad)
    for record in ("extra", "hyperparameters"):
        if not isinstance(meta.get(record) or {}, dict):
            raise bad(f"the {record} record is not a mapping")
    history = None
    if meta.get("history") is not None:
        try:
            history = History.from_dict(meta["history"])
        except ValueError as exc:
            raise bad(str(exc)) from exc

    # Everything checked: build.
    net = MLP(sizes, hidden, output, loss, backend=backend, dtype=dtype or saved_dtype, device=device, seed=0,
              dropout=dropout[1:], input_dropout=dropout[0], front=front.layers)
    net.compute_dtype = _compute_dtype(meta.get("compute_dtype"), net, bad)
    net.set_weights(Ws, bs)
    if front:
        net.set_front(theta)
    _probe(net, bad)
    if optimizer is not None:
        with net.backend.activate():
            optimizer.load_state(opt_state, opt_t, net.backend, net.parameters)  # flat, as fit steps it
    extra_arrays = {k[2:]: a for k, a in arrays.items() if k.startswith("x.")}
    return Checkpoint(net, optimizer, schedule, history, meta.get("hyperparameters"), dict(meta.get("extra") or {}),
                      extra_arrays, str(meta.get("kind", "MLP")))


def _read_architecture(meta: Any, bad: Callable) -> tuple[list[int], Activation, Activation, str, str]:
    """Format, version, layer sizes, activations (from their specs: a plain name, or a name with
    parameters), loss and dtype from the metadata."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise bad(f"not an xpmlp model (format tag {meta.get('format') if isinstance(meta, dict) else None!r})")
    if meta.get("version") not in range(1, VERSION + 1):
        raise bad(f"format version {meta.get('version')!r} is not supported (this xpmlp reads versions 1 to {VERSION})")
    try:
        arch = meta["architecture"]
        sizes = [int(s) for s in arch["sizes"]]
        hidden, output, loss = (get_activation(str(arch["hidden_activation"])),
                                get_activation(str(arch["output_activation"])), get_loss(arch["loss"]).name)
        if not isinstance(meta["arrays"], dict):
            raise TypeError("the array list is not a mapping")
        saved_dtype = str(meta["dtype"])
    except (KeyError, TypeError, ValueError) as exc:
        raise bad(f"malformed architecture record: {exc!r}") from exc
    if len(sizes) < 2 or min(sizes) < 1 or any(s != t for s, t in zip(sizes, arch["sizes"])):
        raise bad(f"layer sizes {arch['sizes']!r} are not valid")
    if saved_dtype not in ("float32", "float64"):
        raise bad(f"dtype {saved_dtype!r} is not float32 or float64")
    for act in (hidden, output):
        _check_parameters(act, bad)
    return sizes, hidden, output, loss, saved_dtype


def _read_dropout(saved: Any, sizes: list[int], bad: Callable) -> list[float]:
    """The ``L`` dropout rates (the input's first); files before 0.3 have none: zeros."""
    if saved is None:
        return [0.0] * (len(sizes) - 1)
    try:
        return dropout_rates(sizes, saved[1:], saved[0])
    except (TypeError, ValueError, IndexError) as exc:
        raise bad(f"dropout record {saved!r} does not fit layers {sizes}: {exc}") from exc


def _compute_dtype(saved: Any, net: MLP, bad: Callable) -> str | None:
    """The saved mixed-precision compute dtype where the model's library offers it; else None (a
    model trained in bfloat16 on torch predicts, and trains on, in float32 on NumPy)."""
    if saved is None:
        return None
    if saved not in ("bfloat16", "float16"):
        raise bad(f"compute_dtype {saved!r} is not bfloat16 or float16")
    try:
        net.backend.compute_dtype(saved)
    except ValueError:
        return None
    return saved


def _check_arrays(listed: dict[str, Any], arrays: dict[str, np.ndarray], bad: Callable) -> None:
    """Every array is listed in the metadata with its shape, dtype and checksum, and vice versa."""
    if set(listed) != set(arrays):
        missing, unexpected = sorted(set(listed) - set(arrays)), sorted(set(arrays) - set(listed))
        raise bad(f"arrays do not match the metadata (missing {missing}, unexpected {unexpected})")
    for name, a in arrays.items():
        info = listed[name]
        if list(a.shape) != list(info.get("shape", [])) or a.dtype.str != info.get("dtype"):
            raise bad(f"array {name!r} is {a.dtype.str}{list(a.shape)}, metadata says {info.get('dtype')}{info.get('shape')}")
        if digest(a) != info.get("sha256"):
            raise bad(f"array {name!r} fails its checksum (the file is corrupt)")


def _read_layers(arrays: dict[str, np.ndarray], sizes: list[int], bad: Callable) -> tuple[list, list]:
    """The weights and biases, shaped for ``sizes`` and finite."""
    L = len(sizes) - 1
    Ws, bs = [], []
    for i in range(L):
        W, b = arrays.get(f"W.{i}"), arrays.get(f"b.{i}")
        want_W, want_b = (sizes[i], sizes[i + 1]), (sizes[i + 1],)
        if W is None or b is None:
            raise bad(f"layer {i + 1} parameters are missing")
        if W.shape != want_W or b.shape != want_b:
            raise bad(f"layer {i + 1}: W is {W.shape} and b {b.shape}, architecture needs {want_W} and {want_b}")
        _check_float_finite(W, f"W.{i}", bad)
        _check_float_finite(b, f"b.{i}", bad)
        Ws.append(W)
        bs.append(b)
    stray = {k for k in arrays if k.startswith(("W.", "b."))} - {f"{c}.{i}" for c in "Wb" for i in range(L)}
    if stray:
        raise bad(f"the file holds parameters {sorted(stray)} that a {L}-layer network does not have")
    return Ws, bs


def _read_optimizer(om: Any, arrays: dict[str, np.ndarray], params: list,
                    bad: Callable) -> tuple[Optimizer | None, dict[str, list], int]:
    """The optimizer (configured, not yet holding its state), its state arrays (one per parameter of
    ``params``, in update order) and step count."""
    if om is None:
        return None, {}, 0
    try:
        if om["name"] not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {om['name']!r}")
        optimizer = make_optimizer(om["name"], **om["config"])
        opt_t = int(om["t"])
        slots = list(om["slots"])
    except (KeyError, TypeError, ValueError) as exc:
        raise bad(f"malformed optimizer record: {exc}") from exc
    if slots and sorted(slots) != sorted(optimizer.slots):
        raise bad(f"optimizer {om['name']} needs state {sorted(optimizer.slots)}, file has {slots}")
    opt_state = {}
    for slot in slots:
        arrs = []
        for i, p in enumerate(params):
            a = arrays.get(f"opt.{slot}.{i}")
            if a is None or a.shape != p.shape:
                raise bad(f"optimizer state {slot}[{i}] is missing or has the wrong shape")
            _check_float_finite(a, f"opt.{slot}.{i}", bad)
            arrs.append(a)
        opt_state[slot] = arrs
    if opt_t < 0 or (not slots and optimizer.slots and opt_t != 0):
        raise bad(f"optimizer step count {opt_t} does not match its state")
    return optimizer, opt_state, opt_t


def _read_schedule(sm: Any, bad: Callable) -> Schedule | None:
    """The learning-rate schedule with its current rate."""
    if sm is None:
        return None
    try:
        if sm["name"] not in SCHEDULES:
            raise ValueError(f"unknown schedule {sm['name']!r}")
        schedule = make_schedule(sm["name"], **sm["config"])
        schedule.learning_rate = float(sm["learning_rate"])
        if not (math.isfinite(schedule.learning_rate) and schedule.learning_rate > 0):
            raise ValueError(f"learning rate {schedule.learning_rate}")
    except (KeyError, TypeError, ValueError) as exc:
        raise bad(f"malformed schedule record: {exc}") from exc
    return schedule


def _check_parameters(act: Activation, bad: Callable) -> None:
    if any(abs(v) > MAX_ACTIVATION_PARAMETER for v in act.config().values()):
        raise bad(f"activation {act.spec}: parameters must lie within +-{MAX_ACTIVATION_PARAMETER:g}")


def _probe(net: MLP, bad: Callable) -> None:
    """A forward pass on a few fixed rows of standardised-looking inputs must be finite: a model
    whose outputs overflow (crafted weights or parameters) is refused, not run."""
    rows = np.linspace(-3.0, 3.0, 7)[:, None] * np.cos(np.arange(net.sizes[0]))[None, :]
    with np.errstate(all="ignore"):  # an overflow is the finding, reported below: no warning
        out = np.asarray(net.backend.to_numpy(net.predict(np.vstack([rows, np.zeros((1, net.sizes[0]))]))))
    if not np.isfinite(out).all():
        raise bad("the model's outputs are not finite even on ordinary inputs (a corrupt or crafted file?)")


def _check_float_finite(a: np.ndarray, name: str, bad) -> None:
    if a.dtype.kind != "f":
        raise bad(f"array {name!r} has dtype {a.dtype}, expected floating point")
    if not np.isfinite(a).all():
        raise bad(f"array {name!r} contains NaN or inf")


# -- files ---------------------------------------------------------------------------------


def save(path: "str | os.PathLike", net: MLP, **state: Any) -> Path:
    """Write ``net`` (and ``optimizer=``, ``schedule=``, ``history=``, ... as in :func:`to_state`)
    to ``path`` atomically.  Returns the path.  The name is used as given (``.npz`` recommended).

    A fitted scikit-learn estimator (:class:`xpmlp.MLPClassifier`, ...) may be given instead of
    ``net``: it is saved with everything it needs (``estimator.save``), and
    :func:`xpmlp.load_estimator` reads it back.
    """
    if not isinstance(net, MLP):
        if hasattr(net, "save") and hasattr(net, "get_params"):
            if state:
                raise TypeError(f"an estimator saves its own optimizer and history; got extra {sorted(state)}")
            return net.save(path)
        hint = ("; a scikit-learn pipeline or other estimator holding xpmlp estimators is saved without pickle by "
                "xpmlp.save_pipeline(path, estimator) and read by xpmlp.load_pipeline(path) (skops)"
                if hasattr(net, "get_params") else "")
        raise TypeError(f"save needs an xpmlp MLP (or a fitted xpmlp estimator), got {type(net).__name__}{hint}")
    meta, arrays = to_state(net, **state)
    return write_state(path, meta, arrays)


def load(path: "str | os.PathLike", *, backend: Any = None, dtype: str | None = None, device: Any = None) -> Checkpoint:
    """Load a model file onto ``backend`` (default: the current default backend) and ``dtype``
    (default: the saved one).  Raises :class:`ModelFileError`; nothing half-loaded is returned."""
    meta, arrays = read_state(path)
    return from_state(meta, arrays, backend=backend, dtype=dtype, device=device, source=str(path))
