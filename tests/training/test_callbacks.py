"""The pieces around the training loop, each on its own: callbacks, early stopping, rollback,
checkpoints, the registry, the history record; and the loop's contract with them (hook order,
host numbers, one read per epoch)."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from conftest import RTOL, assert_on_backend, random_problem, to_np

import xpmlp
from xpmlp.training.callbacks import (
    Callback,
    ModelCheckpoint,
    DivergenceError,
    EpochLog,
    GradientClipping,
    LearningRateSchedule,
    RecordHistory,
    Rollback,
)
from xpmlp.history import History
from xpmlp.io import load
from xpmlp.optim.optimizers import SGD, OPTIMIZERS
from xpmlp.registry import Registry
from xpmlp.optim.schedules import Adaptive, InvScaling
from xpmlp.training.stopping import EarlyStopping
from xpmlp.training import fit


def data(n=40, seed=0):
    X, T = random_problem("cross_entropy", n, 3, 3, seed, shift=2.0)
    return X, T


class FakeRun:
    """The attributes of training.Run a callback reads, for testing one callback alone."""

    def __init__(self, net, optimizer=None, history=None):
        self.net, self.optimizer = net, optimizer or SGD()
        self.history = history or History()
        self.epoch_open, self.stopping, self.learning_rate = True, False, 0.0

    def stop(self, reason):
        self.stopping, self.history.stop_reason = True, reason


def log(epoch, loss, score=None, **values):
    return EpochLog(epoch, loss, 0.1, 10, score, values)


class Recorder(Callback):
    """Writes down every hook call, and what each receives."""

    def __init__(self):
        self.calls, self.logs, self.grad_calls = [], [], 0

    def on_fit_begin(self, run):
        self.calls.append("fit_begin")

    def on_epoch_begin(self, run):
        self.calls.append("epoch_begin")

    def on_gradients(self, run, grads):
        self.grad_calls += 1
        assert len(grads) == 2 * run.net.n_layers

    def epoch_values(self, run):
        return {"first_weight": run.net.xp.sum(run.net.Ws[0][:1, :1])}

    def on_epoch_end(self, run, log):
        self.calls.append("epoch_end")
        self.logs.append(log)

    def on_fit_end(self, run):
        self.calls.append("fit_end")


def test_hooks_run_in_order_with_host_numbers(be):
    X, T = data()
    net = xpmlp.MLP([3, 4, 3], backend=be, seed=0)
    rec = Recorder()
    hist = fit(net, X, T, epochs=3, batch_size=10, callbacks=[rec], patience=None, validation_data=(X, T))
    assert rec.calls == ["fit_begin"] + ["epoch_begin", "epoch_end"] * 3 + ["fit_end"]
    assert rec.grad_calls == 3 * 4  # one per step: 40 samples, batch 10
    for k, entry in enumerate(rec.logs):
        assert entry.epoch == k + 1 and isinstance(entry.loss, float) and isinstance(entry.validation_score, float)
        assert isinstance(entry.values["first_weight"], float)  # a device value, read with the epoch
        assert entry.loss == hist.loss[k] and entry.validation_score == hist.validation_score[k]
    assert rec.logs[-1].values["first_weight"] == float(to_np(be, net.Ws[0])[0, 0])  # the same number, read once


def test_a_callback_can_stop_training():
    class StopAtTwo(Callback):
        def on_epoch_end(self, run, log):
            if log.epoch == 2:
                run.stop("callback")

    X, T = data()
    hist = fit(xpmlp.MLP([3, 4, 3], backend="numpy"), X, T, epochs=10, callbacks=[StopAtTwo()], patience=None)
    assert hist.epochs == 2 and hist.stop_reason == "callback"


def test_early_stopping_counts_patience_and_restores_best_weights():
    net = xpmlp.MLP([2, 2], "relu", "identity", "squared_error", backend="numpy", dtype="float64")
    run = FakeRun(net)
    stop = EarlyStopping(patience=1, tol=0.1)
    stop.on_fit_begin(run)
    best = [np.array(to_np(net.backend, p)) for p in net.params]
    stop.on_epoch_end(run, log(1, 1.0, score=0.5))  # first epoch improves on -inf: best weights kept
    for p in net.params:
        p += 1.0  # later epochs move the weights
    stop.on_epoch_end(run, log(2, 0.9, score=0.55))  # +0.05 < tol: no improvement (1)
    assert not run.stopping and run.history.no_improvement == 1 and run.history.best_score == 0.55
    for p in net.params:
        p += 1.0  # epoch 3 moves them again: what the fit ends on must be epoch 2's, not these
    stop.on_epoch_end(run, log(3, 0.8, score=0.5))  # no improvement (2) > patience 1: stop
    assert run.stopping and run.history.stop_reason == "early_stopping"
    stop.on_fit_end(run)  # restores epoch 2's weights (the best score), not epoch 1's
    assert run.history.best_epoch == 2
    for p, b in zip(net.params, best):
        np.testing.assert_array_equal(to_np(net.backend, p), b + 1.0)


def test_early_stopping_lets_an_adaptive_schedule_cut_the_rate_first():
    run = FakeRun(xpmlp.MLP([2, 2], backend="numpy"))
    sched = Adaptive(0.01, min_learning_rate=1e-3)
    stop = EarlyStopping(patience=0, tol=1.0, schedule=sched)
    stop.on_epoch_end(run, log(1, 1.0))
    stop.on_epoch_end(run, log(2, 1.0))  # stall: 0.01 -> 0.002, go on
    assert not run.stopping and sched.learning_rate == pytest.approx(0.002)
    stop.on_epoch_end(run, log(3, 1.0))  # stall: 0.002 -> 0.0004
    stop.on_epoch_end(run, log(4, 1.0))  # stall at 0.0004 <= 1e-3: stop
    assert run.stopping and run.history.stop_reason == "lr_exhausted"


def test_learning_rate_schedule_sets_each_epochs_rate():
    run = FakeRun(xpmlp.MLP([2, 2], backend="numpy"))
    cb = LearningRateSchedule(InvScaling(0.5))
    cb.on_epoch_begin(run)
    assert run.learning_rate == 0.5
    run.history.samples_seen = 24
    cb.on_epoch_end(run, log(1, 1.0))
    cb.on_epoch_begin(run)
    assert run.learning_rate == pytest.approx(0.5 / 25**0.5)


def test_record_history_appends_and_closes_the_epoch():
    run = FakeRun(xpmlp.MLP([2, 2], backend="numpy"))
    RecordHistory().on_epoch_end(run, log(1, 0.7, score=0.9))
    h = run.history
    assert (h.loss, h.validation_score, h.learning_rate, h.samples_seen) == ([0.7], [0.9], [0.1], 10)
    assert not run.epoch_open


@pytest.mark.on_device
def test_gradient_clipping_alone(be):
    run = FakeRun(xpmlp.MLP([2, 2], backend=be))
    grads = [be.asarray(np.array([[3.0, 0.0], [0.0, 0.0]])), be.asarray(np.array([4.0, 0.0]))]
    GradientClipping(1.0).on_gradients(run, grads)
    norm = math.sqrt(sum(float(np.sum(to_np(be, g) ** 2)) for g in grads))
    assert norm == pytest.approx(5.0 / (5.0 + 1e-6), rel=RTOL[be.dtype_name])  # max_norm / (||g|| + eps) times ||g||
    assert_on_backend(be, grads[0])
    with pytest.raises(ValueError, match="max_grad_norm"):
        GradientClipping(0.0)


def test_large_finite_float32_weights_are_not_divergence(be):
    """Weights of 1e37 on an input that is always 0 never reach the output, so training is fine;
    their sum (4e38) overflows float32, as the old check (a sum of the weights) did, but max |w| does not."""
    if be.dtype_name != "float32":
        pytest.skip("the overflow is a float32 matter")
    X, T = data()
    X[:, 0] = 0.0
    net = xpmlp.MLP([3, 40, 3], backend=be, seed=0)
    Ws, bs = net.get_weights()
    Ws[0][0, :] = 1e37
    net.set_weights(Ws, bs)
    with np.errstate(over="ignore"):
        assert np.isinf(np.sum(Ws[0].astype(np.float32), dtype=np.float32))  # what the old check computed
    hist = fit(net, X, T, epochs=2, optimizer="sgd", learning_rate=0.1, patience=None)
    assert hist.epochs == 2 and all(math.isfinite(v) for v in hist.loss)
    np.testing.assert_array_equal(net.get_weights()[0][0][0, :], np.float32(1e37))


def test_rollback_restores_the_epoch_start_when_weights_turn_nan():
    net = xpmlp.MLP([2, 3, 2], "identity", "identity", "squared_error", backend="numpy")
    run = FakeRun(net)
    cb = Rollback()
    cb.on_epoch_begin(run)
    before = net.get_weights()[0][0].copy()
    net.Ws[0][0, 0] = np.nan
    (value,) = cb.epoch_values(run).values()
    with pytest.raises(DivergenceError, match="weights restored"):
        cb.on_epoch_end(run, log(1, 1.0, weights_max_abs=float(value)))
    np.testing.assert_array_equal(net.get_weights()[0][0], before)
    assert run.history.stop_reason == "diverged"


def test_interrupt_after_the_epoch_is_recorded_keeps_it(be):
    """Ctrl-C between the history record and the next epoch keeps the finished epoch whole."""

    class CtrlCAfterRecord(Callback):
        def on_epoch_end(self, run, log):
            if log.epoch == 2:
                raise KeyboardInterrupt

    X, T = data()
    net = xpmlp.MLP([3, 4, 3], backend=be, seed=1)
    ref = xpmlp.MLP([3, 4, 3], backend=be, seed=1)
    kw = dict(batch_size=10, optimizer="sgd", learning_rate=0.1, seed=0, patience=None)
    fit(ref, X, T, epochs=2, **kw)
    hist = fit(net, X, T, epochs=5, callbacks=[CtrlCAfterRecord()], **kw)
    assert hist.stop_reason == "interrupted" and hist.epochs == 2
    for p, q in zip(net.params, ref.params):
        np.testing.assert_array_equal(to_np(be, p), to_np(be, q))


def test_checkpoint_writes_every_epoch_and_the_returned_model(tmp_path, caplog):
    X, T = data()
    Xv, Tv = data(seed=1)
    path = tmp_path / "ckpt.npz"
    epochs_seen = []

    class Spy(Callback):  # after Checkpoint: the file holds the epoch just finished
        def on_epoch_end(self, run, log):
            epochs_seen.append(load(path).history.epochs)

    net = xpmlp.MLP([3, 4, 3], backend="numpy", seed=0)
    hist = fit(net, X, T, epochs=4, validation_data=(Xv, Tv), checkpoint=path, callbacks=[Spy()], patience=None)
    assert epochs_seen == [1, 2, 3, 4]
    ck = load(path)
    assert ck.history.loss == hist.loss and ck.optimizer.t == 4 * 2
    for a, b in zip(ck.net.get_weights()[0], net.get_weights()[0]):
        np.testing.assert_array_equal(a, b)  # the final file is the model fit returned (best weights)
    with pytest.raises(ValueError, match="checkpoint interval"):
        ModelCheckpoint(path, every=0)


def test_progress_bar_closes_when_training_diverges(capsys):
    pytest.importorskip("tqdm")
    X, T = data()
    net = xpmlp.MLP([3, 4, 3], "identity", "identity", "squared_error", backend="numpy", seed=0)
    with pytest.raises(DivergenceError):
        fit(net, X, T, epochs=3, optimizer="sgd", learning_rate=1e30, progress=True, patience=None)
    err = capsys.readouterr().err
    assert "RuntimeWarning" not in err  # the error says it; NumPy's overflow warnings are silenced
    assert err.endswith("\n")  # the bar was closed, not left mid-line


def test_epoch_progress_is_a_context_manager_that_closes_its_bar(capsys):
    pytest.importorskip("tqdm")
    from xpmlp.training.progress import EpochProgress

    with EpochProgress(2, enabled=True, desc="fitting") as bar:
        bar.update(1, 0.25, score=0.5, learning_rate=0.01)
    assert bar._bar is None  # closed on leaving the block
    err = capsys.readouterr().err
    assert "fitting:" in err and "1/2" in err and "loss=0.25" in err and "val=0.5" in err and "lr=0.01" in err
    assert err.endswith("\n")
    with EpochProgress(2, enabled=False) as off:  # another process's (rank > 0): no bar, updates are no-ops
        off.update(1, 0.25)
    assert capsys.readouterr().err == ""


@pytest.mark.on_device
def test_sgd_weight_decay_without_momentum(be):
    """p <- p - eta wd p, then p <- p - eta g (decoupled), for matrices only; once failed with KeyError."""
    W, b = be.asarray(np.array([[1.0, 2.0]])), be.asarray(np.array([0.5]))
    SGD(weight_decay=0.5).step([W, b], [be.asarray(np.array([[0.5, -1.0]])), be.asarray(np.array([0.2]))], 0.1)
    np.testing.assert_allclose(to_np(be, W), [[0.95 * 1.0 - 0.05, 0.95 * 2.0 + 0.1]], rtol=RTOL[be.dtype_name])
    np.testing.assert_allclose(to_np(be, b), [0.5 - 0.02], rtol=RTOL[be.dtype_name])  # biases are not decayed


def test_registry_lookup_aliases_and_errors():
    reg = Registry("colour", {"red": 1, "green": 2}, aliases={"scarlet": "red"})
    assert reg.lookup("Scarlet") == 1 and reg.lookup("green") == 2 and list(reg) == ["red", "green"]
    with pytest.raises(ValueError, match=r"unknown colour 'blue'; valid: red, green \(aliases: scarlet\)"):
        reg.lookup("blue")
    with pytest.raises(ValueError, match="aliases point at unknown names"):
        Registry("colour", {"red": 1}, aliases={"x": "blue"})
    opt = SGD()
    assert OPTIMIZERS.make(opt) is opt and isinstance(OPTIMIZERS.make("adam"), xpmlp.Adam)
    assert xpmlp.get_activation("sigmoid").name == "logistic" and xpmlp.get_loss("log_loss").name == "cross_entropy"


def test_history_repr_is_short():
    X, T = data()
    hist = fit(xpmlp.MLP([3, 4, 3], backend="numpy"), X, T, epochs=300, validation_fraction=0.25, patience=None)
    text = repr(hist)
    assert len(text) < 200 and "300 epochs" in text and "max_epochs" in text
    assert repr(History()) == "History(no epochs)"


def test_epoch_logger_writes_one_record_per_epoch(caplog):
    X, T = data()
    with caplog.at_level(logging.DEBUG, logger="xpmlp.training"):
        fit(xpmlp.MLP([3, 4, 3], backend="numpy"), X, T, epochs=3, patience=None)
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["epoch 1", "epoch 2", "epoch 3"]


def test_early_stopping_defaults_are_scikit_learns():
    stop = EarlyStopping()
    assert (stop.patience, stop.tol, stop.restore_best, stop.schedule) == (10, 1e-4, True, None)


def test_an_improvement_of_exactly_tol_counts_and_an_equal_loss_is_not_a_new_best():
    """Improved means by tol or more (scores 0.5 -> 0.75 with tol 0.25; losses 1.0 -> 0.75); the best
    epoch is the first to reach the best value."""
    run = FakeRun(xpmlp.MLP([2, 2], backend="numpy"))
    stop = EarlyStopping(patience=0, tol=0.25, restore_best=False)
    stop.on_epoch_end(run, log(1, 1.0, score=0.5))
    stop.on_epoch_end(run, log(2, 1.0, score=0.75))
    assert not run.stopping and run.history.no_improvement == 0 and run.history.best_epoch == 2
    run = FakeRun(xpmlp.MLP([2, 2], backend="numpy"))
    stop.on_epoch_end(run, log(1, 1.0))
    stop.on_epoch_end(run, log(2, 0.75))
    assert not run.stopping and run.history.no_improvement == 0 and run.history.best_epoch == 2
    stop.on_epoch_end(run, log(3, 0.75))  # the same loss: epoch 2 stays the best, and the stall stops the fit
    assert run.history.best_epoch == 2 and run.stopping and run.history.stop_reason == "converged"


@pytest.mark.parametrize("score, what", [(0.5, "validation score"), (None, "training loss")])
def test_early_stopping_says_what_stalled_and_what_it_did(caplog, score, what):
    sched = Adaptive(0.01, min_learning_rate=1e-3)
    run = FakeRun(xpmlp.MLP([2, 2], backend="numpy"))
    stop = EarlyStopping(patience=1, tol=0.01, schedule=sched)
    with caplog.at_level(logging.INFO, logger="xpmlp.training"):
        for epoch in range(1, 8):
            stop.on_epoch_end(run, log(epoch, 1.0, score=score))
            if run.stopping:
                break
    assert [r.getMessage() for r in caplog.records] == [
        f"{what} did not improve by more than tol=0.01 in 2 epochs (more than patience 1); learning rate now 0.002",
        f"{what} did not improve by more than tol=0.01 in 2 epochs (more than patience 1); learning rate now 0.0004",
        f"{what} did not improve by more than tol=0.01 in 2 epochs (more than patience 1); stopping after epoch 7",
    ]
    assert run.history.stop_reason == "lr_exhausted"


def test_a_diverged_fit_ends_on_its_rollback_not_on_the_best_weights():
    net = xpmlp.MLP([2, 2], "relu", "identity", "squared_error", backend="numpy", dtype="float64")
    run = FakeRun(net)
    stop = EarlyStopping(patience=5)
    stop.on_epoch_end(run, log(1, 1.0, score=0.5))  # best weights kept
    net.flat[...] = 7.0  # what the rollback left
    run.history.stop_reason = "diverged"
    stop.on_fit_end(run)
    np.testing.assert_array_equal(net.flat, np.full_like(net.flat, 7.0))
