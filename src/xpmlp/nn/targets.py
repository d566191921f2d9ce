"""Targets from labels: one-hot rows for class labels, and the checks each loss asks of its targets.

The math trains on target matrices ``T`` ``(n, k)``.  Users often hold class
labels instead; :func:`one_hot` turns any labels into one-hot rows (and gives
back the classes in column order), and :func:`as_target_matrix` accepts, where
it is unambiguous, a 1-D array in place of ``T``: integer class labels
``0..k-1`` for a softmax output, or the single column of a one-output network.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["one_hot", "as_target_matrix", "check_targets"]


def one_hot(labels: Any, classes: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """One-hot rows for ``labels``.

    Parameters
    ----------
    labels : array_like, shape ``(n,)``
        Any hashable labels (ints, strings).
    classes : array_like, optional
        The classes in column order; default: the sorted distinct labels.

    Returns
    -------
    T : float64 ``(n, k)``, ``T[i, j] = 1`` where ``labels[i] == classes[j]``
    classes : ``(k,)`` the classes in column order

    >>> T, classes = one_hot(["b", "a", "b"])
    >>> T.tolist(), classes.tolist()
    ([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]], ['a', 'b'])
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D (one label per sample), got shape {labels.shape}")
    if classes is None:
        classes, idx = np.unique(labels, return_inverse=True)
    else:
        classes = np.asarray(classes)
        column = {c: j for j, c in enumerate(classes.tolist())}
        unknown = sorted({str(v) for v in labels.tolist() if v not in column})
        if unknown:
            raise ValueError(f"labels {unknown[:5]} are not among the classes {classes.tolist()[:10]}")
        idx = np.array([column[v] for v in labels.tolist()], dtype=np.int64)
    return np.eye(classes.size)[idx], classes


def as_target_matrix(T: Any, k: int, output_activation: str) -> Any:
    """``T`` as ``(n, k)`` host data where a 1-D host array stands for it unambiguously.

    A 1-D array of integer class labels ``0..k-1`` becomes one-hot rows for a softmax output;
    a 1-D array is the single column of a one-output network.  Anything else is returned as it
    is (the boundary checks report a wrong shape).
    """
    if not isinstance(T, (np.ndarray, list, tuple)) or np.ndim(T) != 1:
        return T
    T = np.asarray(T)
    if k == 1:
        return T.reshape(-1, 1)
    if output_activation == "softmax":
        if T.dtype.kind not in "iub" or (T.size and (T.min() < 0 or T.max() >= k)):
            raise ValueError(
                f"T is 1-D, so it is read as class labels, which must be integers 0..{k - 1} for a "
                f"{k}-output softmax network; got {T.dtype} values {np.unique(T)[:5].tolist()}: "
                "use xpmlp.one_hot(labels) for other labels"
            )
        return np.eye(k)[T]
    raise ValueError(f"T is 1-D but the network has {k} {output_activation} outputs: give T as (n, {k})")


def check_targets(be: Any, loss: Any, T: Any) -> None:
    """Raise ``ValueError`` naming the loss, its rule and the first offending row if ``T``
    (backend arrays, ``(n, k)``) breaks the loss's :attr:`~xpmlp.nn.losses.Loss.target_rule`.

    One reduction and one device-to-host read, at the boundary.
    """
    bad = loss.invalid_targets(be.xp, T)
    if bad is None or not bool(be.to_numpy(be.xp.any(bad))):
        return
    row = int(np.argmax(be.to_numpy(bad)))
    values = np.round(be.to_numpy(T[row, ...]), 6).tolist()
    raise ValueError(f"{loss.name} needs targets with {loss.target_rule}; row {row} is {values}")
