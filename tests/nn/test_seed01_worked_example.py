"""Seed 01 (AAC, "Understanding Training Formulas and Backpropagation"), by hand.

One hidden layer, logistic activation everywhere, summed squared error, online
updates.  The reference below is plain Python scalar loops over the article's
terms: S_preA, S_postA, FE = S_postA,O - T, S_ERROR = FE * f'(S_preA,O),
gradient_HtoO = S_ERROR * S_postA,H,
gradient_ItoH = S_ERROR * weight_HtoO * f'(S_preA,H) * input, weight -= LR * gradient.
The article has no biases; xpmlp has them everywhere, so they start at zero here
and the loop updates them like weights from a constant input of 1 (seed 02's
treatment): gradient_bias = S_ERROR (output), S_ERROR * weight_HtoO * f'(S_preA,H) (hidden).
"""

from __future__ import annotations

import math

import numpy as np

import xpmlp

from conftest import to_np


def logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def logistic_deriv(x: float) -> float:
    return logistic(x) * (1.0 - logistic(x))


def aac_online_epoch(samples, targets, ItoH, HtoO, bias_H, bias_O, LR):
    """The article's online training, one sample at a time, scalars only (lists are mutated)."""
    n_in, n_hidden = len(ItoH), len(HtoO)
    for x, T in zip(samples, targets):
        S_preA_H = [sum(x[i] * ItoH[i][h] for i in range(n_in)) + bias_H[h] for h in range(n_hidden)]
        S_postA_H = [logistic(s) for s in S_preA_H]
        S_preA_O = sum(S_postA_H[h] * HtoO[h] for h in range(n_hidden)) + bias_O[0]
        S_postA_O = logistic(S_preA_O)
        FE = S_postA_O - T  # final error
        S_ERROR = FE * logistic_deriv(S_preA_O)  # error signal
        for h in range(n_hidden):
            gradient_HtoO = S_ERROR * S_postA_H[h]
            for i in range(n_in):
                gradient_ItoH = S_ERROR * HtoO[h] * logistic_deriv(S_preA_H[h]) * x[i]  # uses HtoO before its update
                ItoH[i][h] -= LR * gradient_ItoH
            bias_H[h] -= LR * S_ERROR * HtoO[h] * logistic_deriv(S_preA_H[h])
            HtoO[h] -= LR * gradient_HtoO
        bias_O[0] -= LR * S_ERROR


def test_seed01_online_updates_match_scalar_loops(be64):
    rng = np.random.default_rng(1)
    n_in, n_hidden, LR = 3, 4, 0.5
    samples = rng.uniform(-1, 1, size=(6, n_in))
    targets = rng.integers(0, 2, size=6).astype(float)
    net = xpmlp.MLP([n_in, n_hidden, 1], "logistic", "logistic", "squared_error", backend=be64, seed=3)
    Ws, _ = net.get_weights()
    net.set_weights(Ws, [np.zeros(n_hidden), np.zeros(1)])

    ItoH = [list(row) for row in Ws[0]]
    HtoO = [float(w) for w in Ws[1][:, 0]]
    bias_H, bias_O = [0.0] * n_hidden, [0.0]

    # one online update (the first sample), then a whole online epoch
    aac_online_epoch(samples[:1], targets[:1], ItoH, HtoO, bias_H, bias_O, LR)
    xpmlp.train(net, samples[:1], targets[:1, None], epochs=1, batch_size=1, learning_rate=LR, shuffle=False)
    np.testing.assert_allclose(to_np(be64, net.Ws[0]), np.array(ItoH), rtol=0, atol=1e-12)
    np.testing.assert_allclose(to_np(be64, net.Ws[1])[:, 0], np.array(HtoO), rtol=0, atol=1e-12)

    aac_online_epoch(samples, targets, ItoH, HtoO, bias_H, bias_O, LR)
    xpmlp.train(net, samples, targets[:, None], epochs=1, batch_size=1, learning_rate=LR, shuffle=False)
    np.testing.assert_allclose(to_np(be64, net.Ws[0]), np.array(ItoH), rtol=0, atol=1e-12)
    np.testing.assert_allclose(to_np(be64, net.Ws[1])[:, 0], np.array(HtoO), rtol=0, atol=1e-12)
    np.testing.assert_allclose(to_np(be64, net.bs[0]), np.array(bias_H), rtol=0, atol=1e-12)
    np.testing.assert_allclose(to_np(be64, net.bs[1]), np.array(bias_O), rtol=0, atol=1e-12)
    assert not np.allclose(np.array(HtoO), Ws[1][:, 0]), "the weights must actually have moved"


def test_seed01_terms_from_inspect(be64):
    """``MLP.inspect`` gives the article's named quantities for one sample."""
    net = xpmlp.MLP([2, 3, 1], "logistic", "logistic", "squared_error", backend=be64, seed=0)
    x, T = np.array([[0.3, -0.7]]), np.array([[1.0]])
    hidden, out = net.inspect(x, T)
    Ws, bs = net.get_weights()
    S_preA_H = x @ Ws[0] + bs[0]
    S_postA_H = 1 / (1 + np.exp(-S_preA_H))
    S_preA_O = S_postA_H @ Ws[1] + bs[1]
    S_postA_O = 1 / (1 + np.exp(-S_preA_O))
    FE = S_postA_O - T
    S_ERROR = FE * S_postA_O * (1 - S_postA_O)
    np.testing.assert_allclose(out["z"], S_preA_O, atol=1e-14)
    np.testing.assert_allclose(out["FE"], FE, atol=1e-14)
    np.testing.assert_allclose(out["delta"], S_ERROR, atol=1e-14)
    np.testing.assert_allclose(out["grad_W"], S_postA_H.T @ S_ERROR, atol=1e-14)  # gradient_HtoO
    np.testing.assert_allclose(hidden["a"], S_postA_H, atol=1e-14)
    grad_ItoH = x.T @ (S_ERROR @ Ws[1].T * S_postA_H * (1 - S_postA_H))
    np.testing.assert_allclose(hidden["grad_W"], grad_ItoH, atol=1e-14)
