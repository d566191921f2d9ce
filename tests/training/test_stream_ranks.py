"""A streamed fit over several processes, in one interpreter: a thread per process and a communicator
that swaps through shared memory (the real thing runs under mpiexec: tests/distributed/test_streamed_ranks.py).
Every process reads its own chunks, steps together with the others, and ends on the same model."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import xpmlp
from xpmlp.training import fit
from xpmlp.training.comm import Communicator
from xpmlp.training.sources import ArraySource
from xpmlp.training.stream_ranks import prepare_stream_share

D = 4


class Group:
    def __init__(self, size: int, timeout: float = 20.0) -> None:
        self.size, self.barrier, self.slots = size, threading.Barrier(size, timeout=timeout), [None] * size


class ThreadComm(Communicator):
    def __init__(self, group: Group, rank: int) -> None:
        self.group, self.rank, self.size = group, rank, group.size

    def exchange(self, payload):
        g = self.group
        g.barrier.wait()
        g.slots[self.rank] = payload
        g.barrier.wait()
        return list(g.slots)

    def allreduce_(self, arrays):
        parts = self.exchange([np.array(a, copy=True) for a in arrays])
        for i, a in enumerate(arrays):
            a[...] = sum(p[i] for p in parts)

    def consensus(self, values):
        return dict(self.exchange(values)[0])  # a copy: the loop pops from it

    def agree(self, what):
        everyone = self.exchange(what)
        odd = sorted(k for k in what if any(theirs.get(k) != everyone[0].get(k) for theirs in everyone))
        if odd:
            raise ValueError(f"the ranks disagree in {', '.join(odd)}")

    def prepare(self, net, X, T, **kwargs):
        return prepare_stream_share(self, net, X, **kwargs)


class Noting(ArraySource):
    """Notes the chunks it reads; ``unweighted``: chunks whose weights it leaves out."""

    def __init__(self, *args, unweighted=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.read, self.unweighted = set(), set(unweighted)

    def _read(self, i):
        self.read.add(i)
        X, T, w = super()._read(i)
        return X, T, None if i in self.unweighted else w


def on_ranks(size, make_source, timeout=20.0, front=lambda r: (), **kwargs):
    """Each rank's (model, history or exception, chunks read); ``timeout``: how long a rank waits for the others;
    ``front(r)``: rank r's input layers."""
    group, results = Group(size, timeout), [None] * size

    def rank(r):
        net = xpmlp.MLP([D, 5, 2], "relu", backend=xpmlp.resolve("numpy", dtype="float64"), seed=0, front=front(r))
        source = make_source(r)
        try:
            results[r] = (net, fit(net, source, None, comm=ThreadComm(group, r), **kwargs), source.read)
        except Exception as exc:  # noqa: BLE001 (the test looks at it)
            results[r] = (net, exc, source.read)

    threads = [threading.Thread(target=rank, args=(r,)) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def data(n=103, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    return X, (X[:, 0] > 0).astype(np.int64), rng.uniform(0.5, 2.0, n)


def test_ranks_read_their_own_chunks_and_end_on_one_model():
    X, y, w = data()
    found = on_ranks(3, lambda r: Noting(X, y, w, chunk_rows=10), epochs=3, batch_size=16, window=2, patience=None,
                     validation_fraction=0.2)
    for r, (net, hist, read) in enumerate(found):
        assert not isinstance(hist, Exception), hist
        assert read == set(range(r, 11, 3))
        assert len(hist.loss) == 3 and np.all(np.isfinite(hist.loss))
        for a, b in zip(net.get_weights()[0], found[0][0].get_weights()[0]):
            assert np.array_equal(a, b)
    assert found[0][1].loss == found[2][1].loss


def test_full_batch_on_ranks_is_one_process_with_given_validation_rows():
    X, y, w = data()
    halves = [slice(0, 40), slice(40, 103)]
    found = on_ranks(2, lambda r: Noting(X, y, w, chunk_rows=10), epochs=3, batch_size="full", shuffle=False,
                     patience=None, optimizer="sgd", learning_rate=0.5,
                     validation_data=(X[halves[0]], y[halves[0]]))  # each rank's share: both give the first 40
    net = xpmlp.MLP([D, 5, 2], "relu", backend=xpmlp.resolve("numpy", dtype="float64"), seed=0)
    hist = fit(net, X, y, sample_weight=w, epochs=3, batch_size="full", shuffle=False, patience=None, optimizer="sgd",
               learning_rate=0.5, validation_data=(np.concatenate([X[:40]] * 2), np.concatenate([y[:40]] * 2)))
    assert not any(isinstance(f[1], Exception) for f in found), found
    for mine, theirs in zip(found[1][0].get_weights()[0], net.get_weights()[0]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)
    np.testing.assert_allclose(found[0][1].loss, hist.loss, rtol=1e-12)
    np.testing.assert_allclose(found[0][1].validation_score, hist.validation_score, rtol=1e-12)


@pytest.mark.parametrize("case, message", [
    ("across", "some processes' chunks have sample weights and others not"),
    ("zero", "sums to 0 over every process"),
    ("empty", "holds no rows"),
    ("both", "not both"),
    ("stratify", "stratify needs every label"),
])
def test_what_every_rank_refuses(case, message):
    X, y, w = data(40)
    sources = {
        "across": lambda r: Noting(X, y, w, chunk_rows=10, unweighted={1, 3}),
        "zero": lambda r: Noting(X, y, 0 * w, chunk_rows=10),
        "empty": lambda r: Noting(X[:0], y[:0], chunk_rows=10),
    }
    kwargs = {"both": {"validation_data": (X, y), "validation_fraction": 0.2}, "stratify": {"stratify": y}}
    found = on_ranks(2, sources.get(case, lambda r: Noting(X, y, chunk_rows=10)), epochs=1, **kwargs.get(case, {}))
    for _, exc, _ in found:
        assert isinstance(exc, ValueError) and message in str(exc), exc


def test_ranks_with_other_input_layers_are_refused_on_every_rank():
    X, y, _ = data(40)
    found = on_ranks(2, lambda r: Noting(X, y, chunk_rows=10), front=lambda r: ["scale"] if r else [], epochs=1)
    for _, exc, _ in found:
        assert isinstance(exc, ValueError) and str(exc) == "the ranks disagree in front", exc


def test_chunks_of_one_rank_weighted_and_not():
    X, y, w = data(40)
    found = on_ranks(2, lambda r: Noting(X, y, w, chunk_rows=10, unweighted={2}), timeout=2.0, epochs=1)
    assert isinstance(found[0][1], ValueError) and "some chunks have sample weights and others not" in str(found[0][1])
    assert isinstance(found[1][1], threading.BrokenBarrierError)  # its partner left: the real communicator ends it


def test_a_rank_without_chunks_steps_with_the_others():
    """Two chunks on three ranks: the third reads nothing and steps with batches of none of its rows."""
    X, y, _ = data()
    found = on_ranks(3, lambda r: Noting(X, y, chunk_rows=60), epochs=2, batch_size=16, patience=None)
    assert [read for *_, read in found] == [{0}, {1}, set()]
    for net, hist, _ in found:
        assert not isinstance(hist, Exception), hist
        assert hist.loss == found[0][1].loss and len(hist.loss) == 2
        assert np.array_equal(net.get_weights()[0][0], found[0][0].get_weights()[0][0])
