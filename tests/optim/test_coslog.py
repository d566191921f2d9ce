"""The coslog learning-rate schedule (RealMLP's "coslog4") against its formula, worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xpmlp.optim.schedules import CosLog, make_schedule


def test_each_epoch_takes_the_rate_at_its_midpoint():
    # epochs 4, cycles 2: t = 1/8, 3/8, 5/8, 7/8; eta = (1 - cos(2 pi log2(1 + 3 t))) / 2
    s = CosLog(2.0, epochs=4, cycles=2)
    rates = []
    for _ in range(5):  # a fifth epoch keeps the last rate
        rates.append(s.learning_rate)
        s.epoch_end(0)
    want = [2.0 * 0.5 * (1 - math.cos(2 * math.pi * math.log2(1 + 3 * t))) for t in (1 / 8, 3 / 8, 5 / 8, 7 / 8, 7 / 8)]
    assert rates == pytest.approx(want, rel=1e-12)
    # log2(1 + 3 t) = 0.49, 1.03, 1.49, 1.86: near a peak, a restart, a peak, the run's end
    assert rates[0] > 1.9 and rates[1] < 0.2 and rates[2] > 1.9 and rates[3] < 0.4


def test_four_cycles_reach_zero_four_times():
    s = CosLog(1.0, epochs=1000)
    rates = np.array([s.rate(e) for e in range(1000)])
    lows = np.flatnonzero((rates[1:-1] < rates[:-2]) & (rates[1:-1] < rates[2:])) + 1  # local minima
    assert len(lows) == 3 and rates[-1] < 1e-3 and rates.max() == pytest.approx(1.0, abs=1e-4)
    # the cycles end where log2(1 + 15 t) is a whole number: t = 1/15, 3/15, 7/15
    assert np.allclose((lows + 0.5) / 1000, [1 / 15, 3 / 15, 7 / 15], atol=1e-3)


def test_by_name_and_refusals():
    s = make_schedule("coslog", 0.01, epochs=10)
    assert isinstance(s, CosLog) and s.config() == {"learning_rate_init": 0.01, "epochs": 10, "cycles": 4, "epoch": 0}
    assert s.on_stall() is False  # a stall does not stop it
    with pytest.raises(ValueError, match="coslog needs epochs >= 1, cycles >= 1 and epoch >= 0, got 0, 4 and 0"):
        CosLog(0.1, epochs=0)


def test_fit_runs_coslog_over_its_epochs():
    import xpmlp

    X = np.random.default_rng(0).normal(size=(40, 3))
    net = xpmlp.MLP([3, 4, 1], "tanh", "identity", "squared_error", backend="numpy", dtype="float64")
    h = xpmlp.fit(net, X, X[:, :1], epochs=6, schedule="coslog", learning_rate=0.1, patience=None)
    want = [CosLog(0.1, epochs=6).rate(e) for e in range(6)]
    assert h.learning_rate == pytest.approx(want, rel=1e-12)


def test_a_saved_coslog_resumes_where_it_was(tmp_path):
    import xpmlp
    from xpmlp import io

    s = CosLog(0.1, epochs=20)
    for _ in range(7):
        s.epoch_end(0)
    net = xpmlp.MLP([2, 1], "identity", "identity", "squared_error", backend="numpy")
    io.save(tmp_path / "c.npz", net, schedule=s)
    back = io.load(tmp_path / "c.npz").schedule
    assert isinstance(back, CosLog) and back.epoch == 7 and back.learning_rate == s.learning_rate == s.rate(7)
    back.epoch_end(0)
    assert back.learning_rate == s.rate(8)
