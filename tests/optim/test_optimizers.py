"""Update rules and learning-rate schedules against values computed by hand, on every backend.

The parameter is ``W = [[1, 2]]`` (a matrix, so decoupled weight decay applies)
with the bias ``b = [0.5]`` beside it; the gradients of the three steps are
``g1 = [[0.5, -1]]``, ``g2 = [[0.25, 0.5]]``, ``g3 = [[-1, 0]]`` and ``0.2`` for the bias;
the learning rate is 0.1.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, assert_on_backend, to_np

# Hand-computed expectations are written with about 12 significant digits and ignore
# epsilon's ~1e-12 relative effect, so they hold to 1e-10 in float64 (float32: its own 1e-5).
HAND = {"float64": 1e-10, "float32": 1e-5}

import xpmlp
import xpmlp.training
from xpmlp.optim.optimizers import SGD, Adam, AdamW, clip_grad_norm, make_optimizer
from xpmlp.optim.schedules import Adaptive, Constant, InvScaling, make_schedule

G = [[[0.5, -1.0]], [[0.25, 0.5]], [[-1.0, 0.0]]]
LR = 0.1


def run(be, opt, grads=G, bias_grad=0.2, steps=3):
    """Apply ``steps`` updates; return the host W after each step and the final bias."""
    W = be.asarray(np.array([[1.0, 2.0]]))
    b = be.asarray(np.array([0.5]))
    seen = []
    for g in grads[:steps]:
        opt.step([W, b], [be.asarray(np.array(g)), be.asarray(np.array([bias_grad]))], LR)
        assert_on_backend(be, W)
        assert_on_backend(be, b)
        seen.append(np.array(to_np(be, W)[0]))  # a copy: NumPy arrays are updated in place
    return seen, to_np(be, b)


def check(be, seen, expected):
    for k, (got, want) in enumerate(zip(seen, expected), 1):
        assert_close(got, np.array(want), HAND[be.dtype_name], f"step {k}")


@pytest.mark.on_device
def test_sgd_plain(be):
    # p <- p - 0.1 g:  [1, 2] -> [0.95, 2.1] -> [0.925, 2.05] -> [1.025, 2.05]
    seen, b = run(be, SGD())
    check(be, seen, [[0.95, 2.1], [0.925, 2.05], [1.025, 2.05]])
    assert_close(b, np.array([0.5 - 3 * 0.02]), HAND[be.dtype_name], "bias")


@pytest.mark.on_device
def test_sgd_momentum(be):
    # v1 = -0.1 g1 = [-0.05, 0.1]               p1 = [0.95, 2.1]
    # v2 = 0.9 v1 - 0.1 g2 = [-0.07, 0.04]      p2 = [0.88, 2.14]
    # v3 = 0.9 v2 - 0.1 g3 = [0.037, 0.036]     p3 = [0.917, 2.176]
    opt = SGD(momentum=0.9)
    seen, _ = run(be, opt)
    check(be, seen, [[0.95, 2.1], [0.88, 2.14], [0.917, 2.176]])
    vel = opt.state()["velocity"]
    assert_on_backend(be, vel[0])
    assert_close(to_np(be, vel[0])[0], np.array([0.037, 0.036]), HAND[be.dtype_name], "velocity")


@pytest.mark.on_device
def test_sgd_nesterov(be):
    # p <- p + 0.9 v - 0.1 g with the same velocities as above:
    # p1 = [1 - 0.045 - 0.05, 2 + 0.09 + 0.1]          = [0.905, 2.19]
    # p2 = [0.905 - 0.063 - 0.025, 2.19 + 0.036 - 0.05] = [0.817, 2.176]
    # p3 = [0.817 + 0.0333 + 0.1, 2.176 + 0.0324]      = [0.9503, 2.2084]
    seen, _ = run(be, SGD(momentum=0.9, nesterov=True))
    check(be, seen, [[0.905, 2.19], [0.817, 2.176], [0.9503, 2.2084]])


@pytest.mark.on_device
def test_adam_constant_gradient_moves_lr_per_step(be):
    # With a constant gradient g, m_hat = g and v_hat = g^2 at every step, so each step moves
    # p by lr * g / (|g| + eps) = 0.1 * sign(g) (eps = 1e-12 shifts the 12th digit).
    g = [[[0.5, -1.0]]] * 3
    seen, b = run(be, Adam(epsilon=1e-12), grads=g)
    check(be, seen, [[0.9, 2.1], [0.8, 2.2], [0.7, 2.3]])
    assert_close(b, np.array([0.2]), HAND[be.dtype_name], "bias")


@pytest.mark.on_device
def test_adam_three_steps(be):
    # step 1: m = [0.05, -0.1], v = [2.5e-4, 1e-3], m_hat = g1, v_hat = g1^2 -> p1 = [0.9, 2.1]
    # step 2, first entry: m = 0.9*0.05 + 0.1*0.25 = 0.07,  m_hat = 0.07 / 0.19 = 0.3684211
    #         v = 0.999*2.5e-4 + 0.001*0.0625 = 3.1225e-4,  v_hat = 3.1225e-4 / 0.001999 = 0.1562031
    #         p2 = 0.9 - 0.1 * 0.3684211 / sqrt(0.1562031) = 0.9 - 0.0932180 = 0.8067820
    # (second entry and step 3 the same way)
    opt = Adam(beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    seen, _ = run(be, opt)
    check(be, seen, [[0.900000002, 2.099999999], [0.806782040477, 2.126633702629], [0.827417742885, 2.147221632669]])
    assert opt.t == 3
    m, v = opt.state()["m"][0], opt.state()["v"][0]
    assert_on_backend(be, m)
    assert_close(to_np(be, m)[0], np.array([-0.037, -0.036]), HAND[be.dtype_name], "m")
    assert_close(to_np(be, v)[0], np.array([0.00131193775, 0.001247751]), HAND[be.dtype_name], "v")


@pytest.mark.on_device
def test_adamw_decays_weights_not_biases(be):
    # constant gradient: p <- p (1 - 0.1 * 0.5) - 0.1 sign(g)
    # W: [1, 2] -> [0.85, 2.0] -> [0.7075, 2.0];  b (not decayed): 0.5 -> 0.4 -> 0.3
    g = [[[0.5, -1.0]]] * 2
    seen, b = run(be, AdamW(epsilon=1e-12, weight_decay=0.5), grads=g, steps=2)
    check(be, seen, [[0.85, 2.0], [0.7075, 2.0]])
    assert_close(b, np.array([0.3]), HAND[be.dtype_name], "bias")


@pytest.mark.on_device
def test_clip_grad_norm(be):
    xp = be.xp
    grads = [be.asarray(np.array([[3.0, 0.0]])), be.asarray(np.array([4.0]))]  # global norm 5
    norm = clip_grad_norm(grads, 1.0, xp)
    assert_on_backend(be, norm)
    assert_close(to_np(be, norm), np.array(5.0), HAND[be.dtype_name], "norm")
    assert_close(to_np(be, grads[0]), np.array([[0.6, 0.0]]), 1e-5, "clipped W")  # eps=1e-6 in the divisor
    assert_close(to_np(be, grads[1]), np.array([0.8]), 1e-5, "clipped b")
    grads = [be.asarray(np.array([[3.0, 0.0]])), be.asarray(np.array([4.0]))]
    clip_grad_norm(grads, 10.0, xp)  # below the limit: unchanged, factor exactly 1
    assert_close(to_np(be, grads[0]), np.array([[3.0, 0.0]]), 0.0, "unclipped")
    assert grads[0].dtype == be.dtype


@pytest.mark.on_device
def test_snapshot_restore(be):
    opt = SGD(momentum=0.9)
    W = be.asarray(np.array([[1.0, 2.0]]))
    opt.step([W], [be.asarray(np.array(G[0]))], LR)
    snap = opt.snapshot()
    opt.step([W], [be.asarray(np.array(G[1]))], LR)
    opt.restore(snap)
    assert opt.t == 1
    assert_close(to_np(be, opt.state()["velocity"][0])[0], np.array([-0.05, 0.1]), HAND[be.dtype_name], "velocity")


def test_load_state_checks_shapes(be):
    W = be.asarray(np.zeros((1, 2)))
    opt = Adam()
    with pytest.raises(ValueError, match="shape"):
        opt.load_state({"m": [np.zeros((2, 2))], "v": [np.zeros((2, 2))]}, 1, be, [W])
    with pytest.raises(ValueError, match="slots"):
        opt.load_state({"velocity": [np.zeros((1, 2))]}, 1, be, [W])
    opt.load_state({"m": [np.ones((1, 2))], "v": [np.ones((1, 2))]}, 4, be, [W])
    assert opt.t == 4
    assert_on_backend(be, opt.state()["m"][0])


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="momentum"):
        SGD(momentum=1.5)
    with pytest.raises(ValueError, match="nesterov"):
        SGD(nesterov=True)
    with pytest.raises(ValueError, match="beta_2"):
        Adam(beta_2=1.0)
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("rmsprop")
    with pytest.raises(ValueError, match="weight_decay"):
        Adam(weight_decay=-1)
    assert isinstance(make_optimizer("adam", beta_1=0.8), Adam)
    assert make_optimizer("sgd", momentum=0.5).config() == {"momentum": 0.5, "nesterov": False, "weight_decay": 0.0}


# -- schedules -----------------------------------------------------------------------------


def test_constant_schedule():
    s = Constant(0.01)
    s.epoch_end(1000)
    assert s.learning_rate == 0.01
    assert s.on_stall() is False


def test_invscaling_schedule():
    # eta = eta_0 / (t + 1)^power_t, t = samples seen: 0.5 / (99 + 1)^0.5 = 0.05
    s = InvScaling(0.5, power_t=0.5)
    s.epoch_end(99)
    assert s.learning_rate == pytest.approx(0.05)
    s.epoch_end(9999)  # 0.5 / 100 = 0.005
    assert s.learning_rate == pytest.approx(0.005)


def test_adaptive_schedule_divides_by_five_then_stops():
    s = Adaptive(1e-3, min_learning_rate=1e-5)
    rates = []
    while s.on_stall():
        rates.append(s.learning_rate)
    # 1e-3 -> 2e-4 -> 4e-5 -> 8e-6; a stall at 8e-6 <= 1e-5 stops
    assert rates == pytest.approx([2e-4, 4e-5, 8e-6])


def test_make_schedule():
    assert isinstance(make_schedule("invscaling", 0.1, power_t=0.25), InvScaling)
    with pytest.raises(ValueError, match="unknown learning-rate schedule"):
        make_schedule("cosine")
    with pytest.raises(ValueError, match="learning_rate_init"):
        Constant(0.0)


def test_optimizer_with_state_pickles_and_resumes_identically():
    import pickle

    X = np.random.default_rng(0).normal(size=(16, 4))
    T = np.eye(3)[np.arange(16) % 3]
    a = xpmlp.MLP([4, 5, 3], backend="numpy", dtype="float64", seed=0)
    b = xpmlp.MLP([4, 5, 3], backend="numpy", dtype="float64", seed=0)
    oa, ob = xpmlp.optim.optimizers.Adam(), xpmlp.optim.optimizers.Adam()
    for net, opt in ((a, oa), (b, ob)):
        xpmlp.training.fit(net, X, T, epochs=2, optimizer=opt, patience=None, seed=1)
    ob = pickle.loads(pickle.dumps(ob))
    for net, opt in ((a, oa), (b, ob)):
        xpmlp.training.fit(net, X, T, epochs=2, optimizer=opt, patience=None, seed=2)
    for p, q in zip(a.get_weights()[0], b.get_weights()[0]):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("make,factor", [(lambda: SGD(weight_decay=0.1), 1 - LR * 0.1),
                                         (AdamW, 1 - LR * 0.01)])  # AdamW's default weight decay: 0.01
def test_decay_of_a_flat_buffer_shrinks_its_weights_and_leaves_its_biases(be, make, factor):
    """With a zero gradient only the decoupled decay acts (Adam's step is 0 / (0 + eps) = 0)."""
    net = xpmlp.MLP([3, 4, 2], backend=be, seed=1)
    W0, b0 = np.array(to_np(be, net.parameters.weights)), np.array(to_np(be, net.flat)[net.layout.n_weights:])
    opt = make()
    with be.activate():
        opt.step(net.parameters, net.parameters.like(), LR)
    flat = to_np(be, net.flat)
    np.testing.assert_array_equal(flat[net.layout.n_weights:], b0)  # the biases: untouched, bit for bit
    assert_close(flat[:net.layout.n_weights], W0 * factor, HAND[be.dtype_name], "weights")


def test_the_adamw_solver_and_command_line_option_decay_by_default(tmp_path):
    pytest.importorskip("sklearn")
    from xpmlp.app.cli import main
    from xpmlp.estimators import MLPClassifier

    X = np.random.default_rng(0).normal(size=(40, 3))
    y = np.arange(40) % 2
    clf = MLPClassifier(hidden_layer_sizes=(4,), solver="adamw", max_iter=3, random_state=0).fit(X, y)
    adam = MLPClassifier(hidden_layer_sizes=(4,), solver="adam", max_iter=3, random_state=0).fit(X, y)
    assert not np.array_equal(clf.coefs_[0], adam.coefs_[0])  # the decay moved the weights
    path = tmp_path / "d.csv"
    path.write_text("a,b,c,y\n" + "\n".join(f"{r[0]},{r[1]},{r[2]},{t}" for r, t in zip(X, y)))
    model = tmp_path / "m.npz"
    assert main(["train", str(path), "--target", "y", "--optimizer", "adamw", "--epochs", "2", "--no-progress",
                 "--save", str(model)]) == 0
    assert xpmlp.io.load(model).optimizer.weight_decay == 0.01


@pytest.mark.parametrize("eta", [1.0, 2.0, 0.5])
def test_sgd_update_takes_exactly_eta_g(eta):
    """p <- p - eta g for any rate (1: the rate already folded into g), the gradient consumed."""
    from xpmlp.optim.updates import sgd_update
    p, g = np.array([1.0, -2.0, 0.25]), np.array([0.5, 0.125, -1.0])
    want = p - eta * g
    sgd_update([p], [g.copy()], eta)
    np.testing.assert_array_equal(p, want)


def test_defaults_users_get():
    """scikit-learn's and PyTorch's defaults, where a user reads them."""
    from xpmlp.optim.schedules import make_schedule
    assert SGD().weight_decay == 0.0 and Adam().weight_decay == 0.0 and SGD().momentum == 0.0
    adamw = AdamW()
    assert (adamw.beta_1, adamw.beta_2, adamw.epsilon, adamw.weight_decay) == (0.9, 0.999, 1e-8, 0.01)
    assert Constant().learning_rate == 0.001 and make_schedule("constant").learning_rate == 0.001
    inv, adaptive = InvScaling(), Adaptive()
    assert (inv.learning_rate_init, inv.power_t) == (0.001, 0.5) and adaptive.learning_rate == 0.001
    assert (adaptive.factor, adaptive.min_learning_rate) == (0.2, 1e-6)
    flat = InvScaling(0.1, power_t=0.0)
    flat.epoch_end(50)
    assert flat.learning_rate == 0.1  # power 0: a constant rate, allowed


def test_the_edges_of_each_setting():
    SGD(momentum=0.999)
    Adam(beta_1=0.0)  # no first-moment averaging: RMSprop-like, allowed
    with pytest.raises(ValueError, match="momentum"):
        SGD(momentum=1.0)
    with pytest.raises(ValueError, match="^nesterov=True needs momentum > 0$"):
        SGD(nesterov=True)
    for name in ("beta_1", "beta_2"):
        with pytest.raises(ValueError, match=f"^{name} must be in"):
            Adam(**{name: 1.0})
    assert SGD().slots == () and SGD(momentum=0.5).slots == ("velocity",)
    sched = Adaptive(0.01, min_learning_rate=0.01)
    assert sched.on_stall() is False and sched.learning_rate == 0.01  # at the floor: no cut, stop


def test_state_loading_checks_copies_and_converts():
    be = xpmlp.resolve("numpy", dtype="float32")
    params = [be.asarray(np.zeros((2, 3))), be.asarray(np.zeros(3))]
    opt = SGD(momentum=0.5)
    opt.load_state({}, 0, be, params)
    assert opt.t == 0 and opt.state() == {}
    with pytest.raises(ValueError, match="sgd state is empty but its step count is 1"):
        opt.load_state({}, 1, be, params)
    with pytest.raises(ValueError, match=r"slot 'velocity'\[1\] has shape \(4,\), parameter has \(3,\)"):
        opt.load_state({"velocity": [np.ones((2, 3)), np.ones(4)]}, 2, be, params)
    for host_dtype in (np.float64, np.float32):  # converted to the model's dtype, or copied as it is
        source = [np.ones((2, 3), host_dtype), np.full(3, 2.0, host_dtype)]
        opt.load_state({"velocity": source}, 2, be, params)
        source[0][...] = 7.0  # the caller's arrays stay the caller's
        got = opt.state()["velocity"]
        assert [a.dtype for a in got] == [np.float32, np.float32] and opt.t == 2
        np.testing.assert_array_equal(got[0], np.ones((2, 3), np.float32))


def test_restoring_a_snapshot_from_before_the_first_step_empties_the_state():
    net = xpmlp.MLP([2, 3, 1], backend="numpy", seed=0)
    opt = Adam()
    before = opt.snapshot()
    grads = net.parameters.like()
    grads.flat[...] = 0.1
    opt.step(net.parameters, grads, 0.01)
    assert opt.t == 1 and opt.state()
    opt.restore(before)
    assert opt.t == 0 and opt.state() == {} and opt.buffers() == []
    grads.flat[...] = 0.1
    opt.step(net.parameters, grads, 0.01)  # steps again from nothing
    assert opt.t == 1


def test_a_pickled_optimizer_keeps_its_state_and_drops_its_compiled_paths():
    import pickle
    net = xpmlp.MLP([2, 3, 1], backend="numpy", seed=0)
    opt = Adam().bind(net.backend)
    grads = net.parameters.like()
    grads.flat[...] = 0.1
    opt.step(net.parameters, grads, 0.01)
    copy = pickle.loads(pickle.dumps(opt))
    assert copy.t == 1 and copy._kernels == {} and sorted(copy.state()) == ["m", "v"]
    for slot in ("m", "v"):  # one array per parameter, to be packed again by the next fit
        for a, b in zip(copy.state()[slot], opt.state()[slot], strict=True):
            np.testing.assert_array_equal(a, b)


def test_step_refuses_mismatched_parameters_and_gradients():
    net, other = xpmlp.MLP([2, 3, 1], backend="numpy"), xpmlp.MLP([2, 4, 1], backend="numpy")
    with pytest.raises(TypeError, match="^give two flat buffers or two lists of arrays$"):
        SGD().step(net.parameters, list(net.params), 0.1)
    with pytest.raises(ValueError, match="^the parameters and the gradients have different layouts$"):
        SGD().step(net.parameters, other.parameters.like(), 0.1)


def test_rebinding_to_another_library_drops_its_fast_paths():
    pytest.importorskip("torch")
    from xpmlp.optim.updates import sgd_update
    opt = SGD().bind(xpmlp.resolve("torch", dtype="float32"))
    assert opt._kernel("sgd.update", sgd_update) is not sgd_update  # PyTorch's in-place path
    opt.bind(xpmlp.resolve("numpy", dtype="float32"))
    assert opt._kernel("sgd.update", sgd_update) is sgd_update
