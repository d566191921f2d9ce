"""``training/spill.py``: a streamed fit's validation rows in a temporary file, scored a block at a time,
score as when they are held on the device (the same rows; only the order of the sums differs)."""

from __future__ import annotations

import numpy as np
import pytest

import xpmlp
from xpmlp.training import spill
from xpmlp.training.sources import ArraySource, BatchSource

rng = np.random.default_rng(0)
X = rng.normal(size=(600, 5))
y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
t = X @ np.array([1.0, -1.0, 0.5, 0.0, 2.0])


def fit(source, dtype="float64"):
    net = xpmlp.MLP([5, 8, 2], "relu", seed=0, backend=xpmlp.resolve("numpy", dtype=dtype))
    return xpmlp.fit(net, source, None, epochs=3, batch_size=50, validation_fraction=0.2, patience=None, seed=1)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_spilled_validation_rows_score_as_held_ones(monkeypatch, dtype):
    monkeypatch.setattr(spill, "BLOCK_BYTES", 7 * 5 * 8)  # 7-row blocks (float64): many blocks, a short last one
    held, spilled = ArraySource(X, y, chunk_rows=100), ArraySource(X, y, chunk_rows=100)
    spilled.keep_validation = False
    a, b = fit(held, dtype), fit(spilled, dtype)
    assert a.loss == b.loss  # training is the same
    np.testing.assert_allclose(b.validation_score, a.validation_score, rtol=1e-12 if dtype == "float64" else 1e-6)


def test_validation_inputs_past_the_limit_are_spilled(monkeypatch):
    monkeypatch.setattr(spill, "HOLD_BYTES", 100)
    seen = []
    original = spill.SpilledRows.outputs
    monkeypatch.setattr(spill.SpilledRows, "outputs", lambda self, net: seen.append(self.shape) or original(self, net))
    weighted = ArraySource(X, np.stack([t, -t], axis=1), sample_weight=rng.random(600) + 0.5, chunk_rows=100)
    net = xpmlp.MLP([5, 8, 2], "relu", "identity", "squared_error", seed=0)
    history = xpmlp.fit(net, weighted, None, epochs=2, batch_size=50, validation_fraction=0.2, patience=None)
    assert seen == [(120, 5), (120, 5)] and len(history.validation_score) == 2


def test_the_file_holds_rows_in_order_and_an_empty_split_is_refused():
    rows = spill.SpilledRows(3, np.float32)
    rows.append(np.arange(6.0).reshape(2, 3))
    rows.append(np.arange(6.0, 12.0).reshape(2, 3))
    assert rows.shape == (4, 3)
    np.testing.assert_array_equal(np.concatenate([b.copy() for b in rows.blocks()]), np.arange(12.0).reshape(4, 3))
    rows.close()
    with pytest.raises(ValueError, match="the validation split holds no rows"):
        spill.spill(iter([]), 3, np.float64)


def test_a_source_without_rows_is_refused():
    net = xpmlp.MLP([5, 4, 2], "relu", seed=0)
    with pytest.raises(ValueError, match="holds no rows"):
        xpmlp.fit(net, ArraySource(X[:0], y[:0]), None, epochs=1)
    with pytest.raises(ValueError, match="holds no rows"):
        xpmlp.fit(net, BatchSource(lambda: iter([])), None, epochs=1)
