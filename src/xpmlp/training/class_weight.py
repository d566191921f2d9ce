"""Class weights: each training row weighted by its class's weight, for imbalanced classes.

As scikit-learn's classifiers (and Keras's ``fit(class_weight=...)``) take them:
``class_weight="balanced"`` gives class ``c`` the weight ``n / (k n_c)`` (``n`` rows, ``k``
classes, ``n_c`` rows of class ``c``), a dict gives ``{class index: weight}`` (classes it leaves
out weigh 1).  A row's weight is its class's; with probability targets, the targets' mix of the
class weights (``sum_c t_c w_c``).  It multiplies ``sample_weight`` where both are given.  The
classes are the columns of a softmax output, or 0 and 1 of a single logistic output.  In a
data-parallel fit the class counts are every process's together.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn.targets import as_target_matrix

__all__ = ["class_row_weights"]


def class_row_weights(net: Any, T: Any, class_weight: "str | dict | None", comm: Any,
                      sample_weight: Any = None) -> Any:
    """``(n,)`` host weights of the rows of targets ``T`` (``(n, sizes[-1])``, host or device) under
    ``class_weight``, times ``sample_weight`` if given; ``sample_weight`` itself without class
    weights.  ``comm`` sums the class counts over processes (one exchange in every process of a
    data-parallel fit, class weights or not, so that they all agree)."""
    P = None if class_weight is None else _membership(net, T)
    if comm.size == 1 and P is None:
        return sample_weight
    facts = comm.exchange((repr(class_weight), None if P is None else P.sum(axis=0)))
    if len({spec for spec, _ in facts}) > 1:
        raise ValueError(f"class_weight differs between processes: {sorted({spec for spec, _ in facts})}")
    if P is None:
        return sample_weight
    rows = P @ _per_class(class_weight, P.shape[1], sum(counts for _, counts in facts))
    if sample_weight is not None:
        rows = rows * np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    return rows


def _membership(net: Any, T: Any) -> np.ndarray:
    """``(n, classes)``: each row's class membership (one-hot rows, or probabilities), on the host."""
    out, k = net.output_activation.name, net.sizes[-1]
    if net.backend.is_device_array(T):
        T = net.backend.to_numpy(T)  # the boundary: read once, before training
    T = np.asarray(as_target_matrix(T, k, out), dtype=np.float64)  # labels 0..k-1 -> one-hot rows
    if T.ndim != 2 or T.shape[1] != k:
        raise ValueError(f"T must be (n, {k}) for class weights, got shape {T.shape}")
    if out == "softmax":
        return T
    if out == "logistic" and k == 1:
        return np.concatenate([1.0 - T, T], axis=1)  # classes 0 and 1
    raise ValueError(f"class_weight needs a softmax output or a single logistic output; this model has "
                     f"{k} {out} output{'s' if k > 1 else ''}")


def _per_class(class_weight: "str | dict", k: int, counts: np.ndarray) -> np.ndarray:
    """The ``k`` class weights: balanced from the (global) ``counts``, or from a dict."""
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight must be 'balanced' or a dict {{class: weight}}, got {class_weight!r}")
        present = counts > 0
        weights = np.ones(k)
        weights[present] = counts.sum() / (k * counts[present])  # n / (k n_c); an absent class has no rows
        return weights
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be 'balanced' or a dict {{class: weight}}, got {type(class_weight).__name__}")
    weights = np.ones(k)
    for c, w in class_weight.items():
        if not (isinstance(c, (int, np.integer)) and 0 <= c < k):
            raise ValueError(f"class_weight names class {c!r}; the classes are 0..{k - 1}")
        if not (np.isfinite(w) and w >= 0):
            raise ValueError(f"class_weight for class {c} must be a finite weight >= 0, got {w!r}")
        weights[int(c)] = float(w)
    return weights
