"""The activations beyond the seeds' units (leaky_relu, elu, gelu, silu, softplus): their specs,
their derivatives on every backend, and float32 inputs up to float32's largest."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import xpmlp
from xpmlp.nn.activations import ACTIVATIONS, ELU, LeakyReLU, get_activation
from xpmlp.nn.init import init_layer

from conftest import RTOL, assert_close, assert_on_backend, random_problem, to_np
from sync_probes import KINDS, Probe, counting, only_row_orders

NEW = ("leaky_relu", "elu", "gelu", "silu", "softplus")


@pytest.mark.parametrize("name", NEW)
def test_rectifiers_start_from_he_uniform(name):
    W, _ = init_layer(np.random.default_rng(0), 3, 400, name)
    assert math.sqrt(6 / 3) * 0.95 < np.abs(W).max() <= math.sqrt(6 / 3)  # Glorot's would be sqrt(6 / 403)


#: specs under test: the defaults and a non-default parameter each
SPECS = NEW + ("leaky_relu:slope=0.2", "elu:alpha=0.5")


def exact(spec: str, z: float) -> tuple[float, float]:
    """``(f(z), f'(z))`` in 60-digit arithmetic (mpmath: no overflow, no underflow), rounded to float64."""
    mp = pytest.importorskip("mpmath").mp
    with mp.workdps(60):
        act, z = get_activation(spec), mp.mpf(z)
        if act.name == "leaky_relu":
            f, d = (z, 1) if z > 0 else (act.slope * z, act.slope)
        elif act.name == "elu":
            f, d = (z, 1) if z > 0 else (act.alpha * mp.expm1(z), act.alpha * mp.exp(z))
        elif act.name == "softplus":
            f, d = mp.log1p(mp.exp(z)), 1 / (1 + mp.exp(-z))
        else:  # silu: s = logistic(z); gelu: s = logistic(2u) = 0.5 (1 + tanh u)
            c, k = mp.sqrt(2 / mp.pi), mp.mpf("0.044715")
            w, dw = (z, 1) if act.name == "silu" else (2 * c * (z + k * z**3), 2 * c * (1 + 3 * k * z**2))
            s, s_neg = 1 / (1 + mp.exp(-w)), mp.exp(-w) / (1 + mp.exp(-w))
            f, d = z * s, s + z * s * s_neg * dw
        return float(f), float(d)


Z_EXTREME = [-3e38, -1e13, -1e4, -80.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 80.0, 1e4, 1e13, 3e38]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.on_device
def test_values_and_derivatives_at_float32_extremes(be, spec):
    """±80, ±1e4, ±1e13 (z^3 overflows float32) and ±3e38: finite, correct, without a warning."""
    z_host = np.array([Z_EXTREME], dtype=np.float32).astype(np.float64)  # float32-representable on every backend
    ref = np.array([exact(spec, z) for z in z_host[0]]).T.astype(be.dtype_name)
    act, xp, z = get_activation(spec), be.xp, be.asarray(z_host)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's overflow or invalid-value RuntimeWarning fails the test
        a = act.f(xp, z)
        d = act.fprime(xp, z, a)
    for got, want, what in ((a, ref[0], "f"), (d, ref[1], "f'")):
        got = np.asarray(be.to_numpy(got), dtype=np.float64)[0]
        assert np.all(np.isfinite(got)), f"{spec} {what}: {got}"
        # each entry within 4 units of roundoff of the exact value (measured: under 2 on every backend)
        info = np.finfo(be.dtype_name)
        bad = np.abs(got - want) > 4 * info.eps * np.abs(want) + info.tiny
        assert not bad.any(), f"{spec} {what} at z = {z_host[0][bad]}: {got[bad]}, exactly {want[bad]}"


@settings(max_examples=50, deadline=None)
@given(arrays(np.float32, (4, 5), elements=st.floats(width=32, allow_nan=False, allow_infinity=False)),
       st.sampled_from(SPECS))
def test_any_float32_gives_finite_values_and_derivatives(z, spec):
    act, xp = get_activation(spec), xpmlp.resolve("numpy", dtype="float32").xp
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = act.f(xp, z)
        d = act.fprime(xp, z, a)
    assert a.dtype == d.dtype == np.float32 and np.all(np.isfinite(a)) and np.all(np.isfinite(d))
    assert np.all(np.abs(a) <= np.abs(z) + 1)  # |f(z)| <= |z| + max(log 2, alpha) for each of these


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.on_device
def test_derivative_and_pullback_equal_the_exact_derivative_on_every_backend(be, spec):
    z_host = np.random.default_rng(4).normal(scale=3, size=(6, 5))
    g_host = np.random.default_rng(5).normal(size=(6, 5))
    want = np.array([[exact(spec, z)[1] for z in row] for row in z_host])
    act, xp, z = get_activation(spec), be.xp, be.asarray(z_host)
    a = act.f(xp, z)
    d = act.fprime(xp, z, a)
    pulled = act.delta(xp, be.asarray(g_host), z, a)
    for x in (a, d, pulled):
        assert_on_backend(be, x)
    assert_close(to_np(be, d), want, RTOL[be.dtype_name], f"{spec} f'")
    assert_close(to_np(be, pulled), g_host * want, RTOL[be.dtype_name], f"{spec} g * f'")


def test_specs_name_parameterised_activations():
    assert get_activation("leaky_relu") is ACTIVATIONS["leaky_relu"] and ACTIVATIONS["leaky_relu"].slope == 0.01
    assert ACTIVATIONS["elu"].alpha == 1.0 and get_activation("swish") is ACTIVATIONS["silu"]
    leaky = get_activation("leaky_relu:slope=0.2")
    assert leaky == LeakyReLU(slope=0.2) == get_activation(" Leaky_ReLU:0.2") and leaky.spec == "leaky_relu:slope=0.2"
    assert get_activation("elu:alpha=0.5") == ELU(0.5) != ELU() and hash(ELU(0.5)) == hash(get_activation("elu:0.5"))
    assert repr(leaky) == "<activation leaky_relu:slope=0.2>" and ACTIVATIONS["gelu"].spec == "gelu"
    for act in [*ACTIVATIONS.values(), LeakyReLU(-0.3), ELU(1e-7), LeakyReLU(1 / 3)]:
        assert get_activation(act.spec) == act  # the spec reads back as the same activation, to the last bit


@pytest.mark.parametrize("spec, match", [
    ("relu:0.1", "activation 'relu' takes no parameters"),
    ("leaky_relu:alpha=0.1", "takes slope; cannot read 'alpha=0.1'"),
    ("leaky_relu:0.1,0.2", "cannot read '0.2'"),
    ("leaky_relu:slope=0.1,slope=0.2", "cannot read 'slope=0.2'"),
    ("elu:alpha=big", "alpha must be a number, got 'big'"),
    ("elu:alpha=nan", "alpha must be a finite number"),
    ("leaky_relu:slope=-inf", "slope must be a finite number"),
    ("mish:1", "unknown activation 'mish'"),
])
def test_bad_specs_say_what_is_wrong(spec, match):
    with pytest.raises(ValueError, match=match):
        get_activation(spec)
    with pytest.raises(ValueError, match="slope must be a finite number"):
        LeakyReLU(slope=float("nan"))


@pytest.mark.parametrize("hidden", [LeakyReLU(slope=0.2), "leaky_relu:slope=0.2"])
def test_a_network_takes_a_parameterised_activation_as_object_or_spec(hidden):
    net = xpmlp.MLP([1, 1, 1], hidden, "identity", "squared_error", backend="numpy", dtype="float64")
    net.set_weights([np.ones((1, 1)), np.ones((1, 1))], [np.zeros(1), np.zeros(1)])
    assert net.hidden_activation == LeakyReLU(0.2)
    np.testing.assert_array_equal(net.predict(np.array([[-2.0], [3.0]])), [[-0.4], [3.0]])
    grads = net.gradients(np.array([[-2.0]]), np.array([[0.0]]))  # d/dW1 of 0.5 (0.2 W1 x)^2 = 0.2 x * 0.2 W1 x
    np.testing.assert_allclose(grads.grad_W[0], [[(0.2 * -2.0) * (-0.4)]], rtol=1e-15)


@pytest.mark.parametrize("kind", KINDS)
def test_training_through_the_new_activations_never_syncs(monkeypatch, kind):
    """Every new activation, hidden and output, through the step loop of a fit: no conversion, no
    boolean mask, no data-dependent shape, no host-to-device copy but each epoch's row order
    (tests/sync_probes.py; on the CuPy and torch-CUDA stand-ins too)."""
    X, T = random_problem("mse", 64, 3, 2)
    with counting(kind, monkeypatch) as (backend, syncs, uploads):
        probe = Probe(syncs, uploads)
        for hidden, out in (("leaky_relu:slope=0.2", "gelu"), ("elu:alpha=0.5", "silu"), ("gelu", "softplus"),
                            ("silu", "leaky_relu"), ("softplus", "elu")):
            net = xpmlp.MLP([3, 5, 4, 2], hidden, out, "mse", backend=backend, seed=0)
            xpmlp.fit(net, X, T, epochs=2, batch_size=8, patience=None, callbacks=[probe])
    assert not probe.seen, f"operations that synchronise inside the step loop ({kind}): {dict(probe.seen)}"
    assert only_row_orders(probe.uploaded, 64, 5 * 2), dict(probe.uploaded)


def test_defaults_and_the_step_at_zero():
    """The defaults users get (PyTorch's slope, alpha 1) and the seeds' step: f(0) = 1."""
    assert LeakyReLU() == LeakyReLU(0.01) and LeakyReLU().slope == 0.01 and ELU() == ELU(1.0) and ELU().alpha == 1.0
    z = np.array([[-1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(ACTIVATIONS["threshold"].f(np, z), [[0.0, 1.0, 1.0]])
    np.testing.assert_array_equal(LeakyReLU().f(np, z), [[-0.01, 0.0, 2.0]])
    np.testing.assert_array_equal(ELU().f(np, z), [[np.expm1(-1.0), 0.0, 2.0]])


@pytest.mark.parametrize("value", [True, "0.1", None, float("inf")])
def test_parameters_must_be_finite_numbers(value):
    with pytest.raises(ValueError, match="slope must be a finite number"):
        LeakyReLU(slope=value)
    with pytest.raises(ValueError, match="alpha must be a finite number"):
        ELU(alpha=value)
