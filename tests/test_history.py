"""What training records, shown in one line (``repr``) whatever it holds."""

from __future__ import annotations

from xpmlp.history import History


def test_repr_shows_only_what_was_recorded():
    assert repr(History()) == "History(no epochs)"
    assert repr(History(loss=[0.5, 0.25])) == "History(2 epochs, loss 0.5 -> 0.25)"  # no validation, no stop yet
    h = History(loss=[0.5, 0.25], validation_score=[0.7, 0.9], best_score=0.9, best_epoch=2, stop_reason="max_epochs")
    assert repr(h) == "History(2 epochs, loss 0.5 -> 0.25, best validation score 0.9 at epoch 2, stopped: max_epochs)"
