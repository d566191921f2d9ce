"""Training curves as a picture: loss, validation score and learning rate per epoch (matplotlib).

Needs the optional extra ``pip install 'xpmlp[plot]'``; :func:`require_matplotlib`
lets a command check for it before a long run rather than after.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..history import History
from ..io.files import replace_atomically

__all__ = ["plot_history", "require_matplotlib"]


def require_matplotlib() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg canvas, or ImportError with the install hint."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib: pip install 'xpmlp[plot]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_history(history: History, path: "str | os.PathLike", title: str = "") -> None:
    """Write a PNG (or any format matplotlib infers from ``path``) of ``history``: training loss,
    validation score (with the best epoch marked) and learning rate, against the epoch."""
    plt = require_matplotlib()
    epochs = range(1, history.epochs + 1)
    panels = 3 if history.validation_score else 2
    fig, axes = plt.subplots(panels, 1, figsize=(6, 2.2 * panels), sharex=True, constrained_layout=True)
    axes[0].plot(epochs, history.loss, color="tab:blue")
    axes[0].set_ylabel("training loss")
    axes[0].set_yscale("log" if min(history.loss, default=1) > 0 else "linear")
    if history.validation_score:
        axes[1].plot(epochs, history.validation_score, color="tab:green")
        if history.best_epoch:
            axes[1].axvline(history.best_epoch, color="grey", linestyle=":", label=f"best, epoch {history.best_epoch}")
            axes[1].legend(loc="lower right", fontsize="small")
        axes[1].set_ylabel("validation score")
    axes[-1].plot(epochs, history.learning_rate, color="tab:orange")
    axes[-1].set_ylim(0, 1.1 * max(history.learning_rate, default=1.0))  # a constant rate reads as one
    axes[-1].set_ylabel("learning rate")
    axes[-1].set_xlabel("epoch")
    if title:
        axes[0].set_title(title)
    try:  # whole or not at all, as every output (the format from the name, as matplotlib infers it)
        replace_atomically(path, lambda f: fig.savefig(f, dpi=100, format=Path(path).suffix[1:] or None))
    finally:
        plt.close(fig)
