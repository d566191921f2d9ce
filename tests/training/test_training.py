"""The training loop: batches, the L2 objective, sample weights, validation and early stopping,
schedules in the loop, divergence, Ctrl-C, clipping, the one-sync-per-epoch rule, progress."""

from __future__ import annotations

import collections
import logging

import numpy as np
import pytest
from conftest import RTOL, RTOL_TRAJECTORY, assert_close, assert_on_backend, central_differences, random_problem, to_np

import xpmlp
from xpmlp.backends import fastpaths
from xpmlp.backends.backend import Backend
from xpmlp.optim.optimizers import SGD, Adam
from xpmlp.optim.schedules import Adaptive
from xpmlp.training.data import split_validation
from xpmlp.nn.metrics import accuracy, default_score, r2_score, subset_accuracy
from xpmlp.nn.objective import Objective, batch_gradients, objective
from xpmlp.training import DivergenceError, fit


def blobs(n=40, d=3, k=3, seed=0):
    """Separable-ish classes: host X (n, d), labels (n,), one-hot T (n, k)."""
    X, T = random_problem("cross_entropy", n, d, k, seed, shift=2.0)
    return X, T.argmax(axis=1), T


def weights(be, net):
    return [to_np(be, p).copy() for p in net.params]


def test_train_returns_epoch_losses_and_learns(be):
    X, _, T = blobs()
    net = xpmlp.MLP([3, 8, 3], backend=be, seed=1)
    losses = xpmlp.train(net, X, T, epochs=15, batch_size=8, learning_rate=0.2, seed=0)
    assert len(losses) == 15 and all(isinstance(v, float) for v in losses)
    assert losses[-1] < 0.6 * losses[0]
    for p in net.params:
        assert_on_backend(be, p)


@pytest.mark.on_device
def test_online_batches_equal_per_sample_sgd(be):
    """batch_size=1, no shuffling: one SGD step per sample, in order (the seeds' online rule)."""
    X, _, T = blobs(n=6)
    net = xpmlp.MLP([3, 4, 3], "tanh", backend=be, seed=2)
    ref = xpmlp.MLP([3, 4, 3], "tanh", backend=be, seed=2)
    fit(net, X, T, epochs=1, batch_size=1, shuffle=False, optimizer=SGD(), learning_rate=0.3, patience=None)
    for i in range(6):
        g = ref.gradients(X[i : i + 1], T[i : i + 1])
        for W, b, gW, gb in zip(ref.Ws, ref.bs, g.grad_W, g.grad_b):
            W -= 0.3 * gW
            b -= 0.3 * gb
    for p, q in zip(weights(be, net), weights(be, ref)):  # the loop folds eta into delta^L: eta (x delta) there,
        assert_close(p, q, RTOL_TRAJECTORY[be.dtype_name], "online SGD")  # (eta x) delta here: rounding apart


def test_epoch_loss_is_the_objective_before_the_update(be):
    """Full batch: the recorded loss is the weighted mean loss + (alpha/2)||W||^2 at the starting weights."""
    X, _, T = blobs(n=12)
    w = np.linspace(0.5, 2.0, 12)
    net = xpmlp.MLP([3, 5, 3], backend=be, seed=3)
    before = objective(net, X, T, alpha=0.3, sample_weight=w)
    hist = fit(net, X, T, epochs=1, batch_size="full", alpha=0.3, sample_weight=w, patience=None)
    assert hist.loss[0] == pytest.approx(before, rel=10 * RTOL[be.dtype_name])
    assert objective(net, X, T, alpha=0.3, sample_weight=w) < before


@pytest.mark.on_device
def test_alpha_adds_alpha_W_whatever_the_batch_size(be):
    """One documented scaling: d/dW of (alpha/2)||W||^2 is alpha W for a batch of 1 and of n alike."""
    X, _, T = blobs(n=10)
    net = xpmlp.MLP([3, 4, 3], backend=be, seed=4)
    Xd, Td = net.as_input(X), net.as_target(T, 10)
    for rows in (slice(0, 1), slice(0, 10)):
        g0 = batch_gradients(net, Xd[rows, ...], Td[rows, ...], objective=Objective(alpha=0.0)).grads
        g1 = batch_gradients(net, Xd[rows, ...], Td[rows, ...], objective=Objective(alpha=0.25)).grads
        for k, (a, b) in enumerate(zip(g0, g1)):
            expected = 0.25 * to_np(be, net.params[k]) if k % 2 == 0 else np.zeros_like(to_np(be, a))  # biases: no penalty
            np.testing.assert_allclose(to_np(be, b) - to_np(be, a), expected, atol=1e-5 if be.dtype_name == "float32" else 1e-12)


@pytest.mark.on_device
def test_alpha_per_batch_is_sklearns_penalty_of_each_batch(be64):
    """Objective(alpha_per_batch=True): a batch of |B| rows descends mean_B C + (alpha / (2|B|))||W||^2, the short last
    batch too; the recorded loss sums each batch's |B| (mean_B C) + (alpha / 2)||W||^2 over n."""
    X, _, T = blobs(n=10)
    net = xpmlp.MLP([3, 4, 3], "tanh", backend=be64, seed=4)
    ref = xpmlp.MLP([3, 4, 3], "tanh", backend=be64, seed=4)
    hist = fit(net, X, T, epochs=1, batch_size=4, shuffle=False, optimizer=SGD(), learning_rate=0.1,
               objective=Objective(alpha=0.6, alpha_per_batch=True), patience=None)
    recorded = 0.0
    for rows in (slice(0, 4), slice(4, 8), slice(8, 10)):  # batches of 4, 4 and 2
        B = rows.stop - rows.start
        recorded += B * objective(ref, X[rows], T[rows], alpha=0.6 / B)
        grads = batch_gradients(ref, ref.as_input(X[rows]), ref.as_target(T[rows], B),
                                objective=Objective(alpha=0.6 / B)).grads
        for p, g in zip(ref.params, grads):
            p -= 0.1 * g
    assert hist.loss[0] == pytest.approx(recorded / 10, rel=1e-12)
    for p, q in zip(weights(be64, net), weights(be64, ref)):
        assert_close(p, q, RTOL_TRAJECTORY["float64"], "alpha per batch")


def test_record_scale_scales_the_recorded_data_term_only(be64):
    X, _, T = blobs(n=12)
    runs = []
    for scale in (1.0, 0.25):
        net = xpmlp.MLP([3, 4, 3], "tanh", "identity", "squared_error", backend=be64, seed=5)
        penalty = 0.5 * 0.2 * sum(float(np.sum(to_np(be64, W) ** 2)) for W in net.Ws)
        data = objective(net, X, T)
        hist = fit(net, X, T, epochs=1, batch_size="full", optimizer=SGD(), learning_rate=0.1,
                   objective=Objective(alpha=0.2, record_scale=scale), patience=None)
        runs.append((hist.loss[0], data, penalty, weights(be64, net)))
    (l1, d, p, w1), (l2, _, _, w2) = runs
    assert l1 == pytest.approx(d + p, rel=1e-12) and l2 == pytest.approx(0.25 * d + p, rel=1e-12)
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)  # the same steps: only the record differs


@pytest.mark.parametrize(
    "layers, out, loss, k",
    [((4, 5, 2), "identity", "squared_error", 2), ((4, 5, 3), "logistic", "binary_cross_entropy", 3)],
    ids=["regression-2-outputs", "multilabel"],
)
@pytest.mark.on_device
def test_objective_gradient_matches_finite_differences(be64, layers, out, loss, k):
    """The gradient the loop descends is the gradient of the objective it reports, for several
    outputs too (scikit-learn's multi-output squared loss is off by n_outputs: its issue #8349)."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(7, 4))
    T = rng.normal(size=(7, k)) if out == "identity" else (rng.random((7, k)) > 0.5).astype(float)
    w = rng.uniform(0.2, 3.0, size=7)
    net = xpmlp.MLP(list(layers), "tanh", out, loss, backend=be64, seed=6)
    wn = w / w.mean()
    grads = batch_gradients(net, net.as_input(X), net.as_target(T, 7), be64.asarray(wn), Objective(alpha=0.1)).grads
    Ws, bs = net.get_weights()

    def cost():
        net.set_weights(Ws, bs)
        return objective(net, X, T, alpha=0.1, sample_weight=w)

    numeric = central_differences(cost, [p for pair in zip(Ws, bs) for p in pair])
    for k_param, (g, d) in enumerate(zip(grads, numeric)):
        assert_close(to_np(be64, g), d, 1e-6, f"parameter {k_param}")


def test_sample_weight_two_equals_a_duplicated_row(be64):
    X, _, T = blobs(n=9)
    w = np.ones(9)
    w[0] = 2.0
    Xd, Td = np.vstack([X, X[:1]]), np.vstack([T, T[:1]])
    a = xpmlp.MLP([3, 4, 3], backend=be64, seed=7)
    b = xpmlp.MLP([3, 4, 3], backend=be64, seed=7)
    kw = dict(epochs=3, batch_size="full", optimizer="sgd", learning_rate=0.5, patience=None, alpha=0.01)
    la = fit(a, X, T, sample_weight=w, **kw).loss
    lb = fit(b, Xd, Td, **kw).loss
    np.testing.assert_allclose(la, lb, rtol=1e-12)
    for p, q in zip(weights(be64, a), weights(be64, b)):
        assert_close(p, q, 1e-12, "weighted vs duplicated")


def test_split_validation_is_stratified():
    rng = np.random.default_rng(0)
    labels = np.array([0] * 80 + [1] * 20)
    tr, va = split_validation(100, 0.2, rng, strata=labels)
    assert len(va) == 20 and len(tr) == 80 and not set(tr) & set(va)
    assert np.bincount(labels[va]).tolist() == [16, 4]  # the 80/20 class balance is kept
    tr, va = split_validation(100, 0.25, rng)
    assert len(va) == 25 and sorted(np.concatenate([tr, va]).tolist()) == list(range(100))
    with pytest.raises(ValueError, match="validation"):
        split_validation(4, 0.1, rng)


@pytest.mark.on_device
def test_early_stopping_restores_the_best_weights(be):
    X, y, T = blobs(n=60, seed=1)
    Xv, _, Tv = blobs(n=30, seed=2)
    Tv = Tv[np.random.default_rng(3).permutation(30)]  # noisy validation labels: the score wanders
    net = xpmlp.MLP([3, 8, 3], backend=be, seed=8)

    class Snapshots(xpmlp.Callback):
        def __init__(self):
            self.flat = []

        def on_epoch_end(self, run, log):
            self.flat.append(np.array(to_np(be, run.net.flat)))  # a copy: NumPy float64 gives a view

    seen = Snapshots()
    hist = fit(net, X, T, epochs=40, batch_size=10, learning_rate=0.05, validation_data=(Xv, Tv), patience=3, tol=1e-6,
               callbacks=[seen])
    assert hist.stop_reason == "early_stopping"
    np.testing.assert_array_equal(to_np(be, net.flat), seen.flat[hist.best_epoch - 1])  # the best epoch's, exactly
    assert not np.array_equal(seen.flat[-1], seen.flat[hist.best_epoch - 1])  # and the weights had moved on
    assert len(hist.validation_score) == hist.epochs < 40
    assert hist.best_score == max(hist.validation_score)
    assert hist.best_epoch == 1 + int(np.argmax(hist.validation_score))
    xp = be.xp
    out = net.forward(Xv).a[-1]
    final = float(to_np(be, default_score(net.output_activation.name)(xp, out, net.as_target(Tv, 30), None)))
    assert final == pytest.approx(hist.best_score, abs=1e-6)


def test_validation_fraction_splits_and_records_scores(be):
    X, y, T = blobs(n=50)
    net = xpmlp.MLP([3, 6, 3], backend=be, seed=9)
    hist = fit(net, X, T, epochs=4, batch_size=8, learning_rate=0.05, validation_fraction=0.2, stratify=y, patience=None)
    assert len(hist.validation_score) == 4 and all(0.0 <= s <= 1.0 for s in hist.validation_score)
    assert hist.samples_seen == 4 * 40  # 10 of the 50 samples are held out


def test_training_loss_convergence_stops_after_patience():
    X, _, T = blobs()
    net = xpmlp.MLP([3, 4, 3], backend="numpy", seed=0)
    hist = fit(net, X, T, epochs=50, tol=1e9, patience=3)  # nothing after epoch 1 improves by 1e9
    assert hist.epochs == 1 + 4 and hist.stop_reason == "converged"


def test_adaptive_schedule_cuts_the_rate_when_progress_stalls():
    X, _, T = blobs()
    net = xpmlp.MLP([3, 4, 3], backend="numpy", seed=0)
    sched = Adaptive(0.01, min_learning_rate=1e-3)
    hist = fit(net, X, T, epochs=50, optimizer="sgd", schedule=sched, tol=1e9, patience=1)
    # stall after 2 flat epochs: 0.01 -> 0.002 -> 0.0004, and a stall at 0.0004 <= 1e-3 stops
    assert hist.learning_rate == pytest.approx([0.01] * 3 + [0.002] * 2 + [0.0004] * 2)
    assert hist.stop_reason == "lr_exhausted"


def test_invscaling_in_the_loop():
    X, _, T = blobs(n=24)
    net = xpmlp.MLP([3, 4, 3], backend="numpy", seed=0)
    hist = fit(net, X, T, epochs=3, optimizer="sgd", learning_rate=0.5, schedule="invscaling", patience=None)
    assert hist.learning_rate == pytest.approx([0.5, 0.5 / 25**0.5, 0.5 / 49**0.5])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow is the point
def test_divergence_restores_last_good_weights_and_optimizer_state(be):
    X, _, T = blobs()
    net = xpmlp.MLP([3, 4, 3], "identity", "identity", "squared_error", backend=be, seed=10)
    opt = SGD(momentum=0.5)
    fit(net, X, T, epochs=1, optimizer=opt, learning_rate=0.01, patience=None)
    good, velocity = weights(be, net), [to_np(be, v).copy() for v in opt.state()["velocity"]]
    huge = 1e300 if be.dtype_name == "float64" else 1e30
    with pytest.raises(DivergenceError, match="weights restored"):
        fit(net, X, T, epochs=3, optimizer=opt, learning_rate=huge, patience=None)
    for p, q in zip(weights(be, net), good):
        assert np.isfinite(p).all()
        np.testing.assert_array_equal(p, q)
    for v, q in zip(opt.state()["velocity"], velocity):
        np.testing.assert_array_equal(to_np(be, v), q)
    assert opt.t == 2  # 2 batches of 32 in the first fit: the failed epoch's steps are undone


class InterruptAt(SGD):
    """SGD that raises KeyboardInterrupt at a given step, as Ctrl-C would."""

    def __init__(self, at: int):
        super().__init__()
        self.at, self.calls = at, 0

    def step(self, params, grads, learning_rate):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        super().step(params, grads, learning_rate)


def test_ctrl_c_stops_cleanly_with_a_usable_model(be, caplog):
    X, _, T = blobs()  # 40 samples, batch 10: 4 steps per epoch
    net = xpmlp.MLP([3, 4, 3], backend=be, seed=11)
    ref = xpmlp.MLP([3, 4, 3], backend=be, seed=11)
    kw = dict(batch_size=10, learning_rate=0.1, seed=0, patience=None)
    fit(ref, X, T, epochs=1, optimizer=SGD(), **kw)
    with caplog.at_level(logging.WARNING, logger="xpmlp.training"):
        hist = fit(net, X, T, epochs=5, optimizer=InterruptAt(6), **kw)  # Ctrl-C in the middle of epoch 2
    assert hist.stop_reason == "interrupted" and hist.epochs == 1
    assert "interrupted" in caplog.text
    for p, q in zip(weights(be, net), weights(be, ref)):
        np.testing.assert_array_equal(p, q)  # epoch 2's partial updates are rolled back
    assert np.isfinite(to_np(be, net.predict(X))).all()


def test_gradient_clipping_bounds_every_step(be):
    X, _, T = blobs()
    net = xpmlp.MLP([3, 4, 3], backend=be, seed=12)
    before = weights(be, net)
    fit(net, X, T, epochs=1, batch_size="full", optimizer=SGD(), learning_rate=1.0, max_grad_norm=1e-3, patience=None)
    step = np.sqrt(sum(np.sum((p - q) ** 2) for p, q in zip(weights(be, net), before)))
    assert 0.9e-3 < step <= 1e-3 * (1 + 1e-4)  # the unclipped gradient norm is far above 1e-3


def test_no_host_sync_inside_the_step_loop(monkeypatch):
    """Reads from the device per epoch do not grow with the number of steps per epoch."""
    pytest.importorskip("array_api_strict")
    be = xpmlp.resolve("array_api_strict", device="device1", dtype="float32")
    X, y, T = blobs(n=64)
    counts: collections.Counter = collections.Counter()
    Array = type(be.asarray(np.zeros(1)))

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    for name in ("__bool__", "__float__", "__int__", "__index__", "__array__", "__dlpack__"):
        if hasattr(Array, name):
            monkeypatch.setattr(Array, name, counting(name, getattr(Array, name)))
    monkeypatch.setattr(Backend, "to_numpy", counting("to_numpy", Backend.to_numpy))

    def reads(batch_size, epochs=3):
        net = xpmlp.MLP([3, 4, 3], backend=be, seed=0)
        Xd, Td = net.as_input(X), net.as_target(T, 64)
        counts.clear()
        fit(net, Xd, Td, epochs=epochs, batch_size=batch_size, optimizer=Adam(), alpha=1e-3, max_grad_norm=1.0,
            validation_data=(Xd[:16, ...], Td[:16, ...]), patience=None)
        return sum(counts.values())

    many, one = reads(4), reads(64)  # 16 steps per epoch vs 1
    assert many == one, f"{many} reads with 16 steps/epoch vs {one} with 1: something syncs per step"
    in_three_epochs = counts["to_numpy"]
    reads(4, epochs=0)  # the boundary checks of the inputs alone
    assert in_three_epochs - counts["to_numpy"] == 3  # one read per epoch


def test_progress_bar_and_epoch_logging(capsys, caplog):
    pytest.importorskip("tqdm")
    X, _, T = blobs()
    net = xpmlp.MLP([3, 4, 3], backend="numpy", seed=0)
    with caplog.at_level(logging.DEBUG, logger="xpmlp.training"):
        fit(net, X, T, epochs=2, validation_fraction=0.25, progress=True, patience=None)
    err = capsys.readouterr().err
    assert "loss=" in err and "val=" in err and "2/2" in err
    assert "epoch 2: loss" in caplog.text
    fit(net, X, T, epochs=1)  # off by default
    assert capsys.readouterr().err == ""


def test_fit_continues_a_history():
    X, _, T = blobs()
    net = xpmlp.MLP([3, 4, 3], backend="numpy", seed=0)
    hist = fit(net, X, T, epochs=2, patience=None)
    fit(net, X, T, epochs=3, patience=None, history=hist)
    assert hist.epochs == 5 and hist.samples_seen == 5 * 40
    assert xpmlp.History.from_dict(hist.to_dict()) == hist


def test_fit_rejects_bad_arguments():
    X, _, T = blobs()
    net = xpmlp.MLP([3, 4, 3], backend="numpy", seed=0)
    with pytest.raises(ValueError, match="not both"):
        fit(net, X, T, validation_data=(X, T), validation_fraction=0.2)
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        fit(net, X, T, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="finite and >= 0"):
        fit(net, X, T, sample_weight=-np.ones(40))
    with pytest.raises(ValueError, match="patience"):
        fit(net, X, T, patience=-1)
    with pytest.raises(ValueError, match="max_grad_norm"):
        fit(net, X, T, max_grad_norm=0.0)
    with pytest.raises(ValueError, match="unknown optimizer"):
        fit(net, X, T, optimizer="lbfgs")
    with pytest.raises(ValueError, match=r"validation_fraction must be in \(0, 1\), got 1.5"):
        fit(net, X, T, validation_fraction=1.5)
    with pytest.raises(ValueError, match="stratify has 3 labels for 40 samples"):
        fit(net, X, T, validation_fraction=0.2, stratify=np.zeros(3))
    with pytest.raises(ValueError, match=r"validation_data must be \(X_val, T_val\) or \(X_val, T_val, sample_weight_val\)"):
        fit(net, X, T, validation_data=(X,))
    with pytest.raises(ValueError, match="positions place a process's rows among several processes' "):
        fit(net, X, T, positions=np.arange(40))
    with pytest.raises(ValueError, match="epochs must be >= 0, got -1"):
        fit(net, X, T, epochs=-1)
    with pytest.raises(ValueError, match="give objective= or alpha=/reduction=, not both"):
        fit(net, X, T, objective=Objective(), alpha=0.1)
    with pytest.raises(ValueError, match="on_divergence must be 'raise' or 'continue', got 'ignore'"):
        fit(net, X, T, on_divergence="ignore")


@pytest.mark.on_device
def test_scores_match_scikit_learn(be):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    P, Y, w = rng.random((20, 3)), rng.random((20, 3)), rng.uniform(0.5, 2, 20)
    onehot = np.eye(3)[rng.integers(0, 3, 20)]
    ml = (rng.random((20, 3)) > 0.5).astype(float)
    xp, dev = be.xp, lambda a: be.asarray(a)
    tol = 1e-5 if be.dtype_name == "float32" else 1e-12
    got = float(to_np(be, r2_score(xp, dev(P), dev(Y), dev(w))))
    assert got == pytest.approx(metrics.r2_score(Y, P, sample_weight=w), abs=tol)
    got = float(to_np(be, accuracy(xp, dev(P), dev(onehot))))
    assert got == pytest.approx(metrics.accuracy_score(onehot.argmax(1), P.argmax(1)), abs=tol)
    got = float(to_np(be, subset_accuracy(xp, dev(P), dev(ml))))
    assert got == pytest.approx(metrics.accuracy_score(ml, P > 0.5), abs=tol)
