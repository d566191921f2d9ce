"""Property tests (hypothesis): any architecture, batch and activation gives the same deltas and
gradients on array-api-strict's non-default device as on NumPy, and gradients that sum correctly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpmlp
from xpmlp.nn.activations import ACTIVATIONS, TRAINABLE
from xpmlp.nn.losses import LOSSES, valid_pair

from conftest import RTOL, make_problem, rel_err

pytest.importorskip("array_api_strict")

PAIRS = [(out, loss) for out in TRAINABLE for loss in LOSSES if valid_pair(loss, out)]


@st.composite
def problems(draw):
    widths = draw(st.lists(st.integers(1, 7), min_size=0, max_size=3))
    sizes = [draw(st.integers(1, 6))] + widths + [draw(st.integers(1, 5))]
    out, loss = draw(st.sampled_from(PAIRS))
    if loss == "cross_entropy" and sizes[-1] == 1:
        sizes[-1] = 2
    hidden = draw(st.sampled_from([a for a in TRAINABLE if not ACTIVATIONS[a].output_only]))
    n = draw(st.integers(1, 9))
    seed = draw(st.integers(0, 2**16))
    return sizes, hidden, out, loss, n, seed


def build(problem, backend):
    """The drawn network on ``backend`` (float64) and its data."""
    sizes, hidden, out, loss, n, seed = problem
    return make_problem(backend, sizes, hidden, out, loss, n=n, seed=seed, dtype="float64")


@settings(max_examples=40, deadline=None)
@given(problems())
def test_strict_device_equals_numpy_for_any_network(problem):
    ref, X, T = build(problem, "numpy")
    strict = xpmlp.resolve("array_api_strict", device="device1", dtype="float64")
    net, _, _ = build(problem, strict)
    g_ref, g = ref.gradients(X, T), net.gradients(X, T)
    for name in ("delta", "grad_W", "grad_b"):
        for a, b in zip(getattr(g_ref, name), getattr(g, name)):
            assert rel_err(strict.to_numpy(b), a) <= RTOL["float64"], name


@settings(max_examples=40, deadline=None)
@given(problems())
def test_mean_gradient_is_the_average_of_per_sample_gradients(problem):
    net, X, T = build(problem, "numpy")
    n = X.shape[0]
    batch = net.gradients(X, T, reduction="mean")
    singles = [net.gradients(X[i:i + 1], T[i:i + 1], reduction="sum") for i in range(n)]
    for k, g in enumerate(batch.grad_W):
        expected = sum(s.grad_W[k] for s in singles) / n
        np.testing.assert_allclose(g, expected, rtol=1e-10, atol=1e-14)
