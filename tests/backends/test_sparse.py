"""Sparse inputs (xpmlp.backends.sparse): the input layer's products on a sparse X equal the dense ones.

Forward outputs, every gradient, and the weights after a few epochs of shuffled mini-batch
training, on every backend, against the same computation on the densified X; and X stays
sparse on the device where the library has a sparse format.
"""

from __future__ import annotations

import numpy as np
import pytest

import xpmlp
from xpmlp.training.data import prepare
from xpmlp.training import fit

from conftest import RTOL, RTOL_TRAJECTORY, assert_close, to_np

sp = pytest.importorskip("scipy.sparse")

SPARSE_ON_DEVICE = {"numpy", "torch", "cupy"}  # array-api-strict has no sparse arrays


def problem(fmt: str = "csr", seed: int = 0):
    rng = np.random.default_rng(seed)
    X = sp.random(40, 9, density=0.25, format=fmt, random_state=seed)
    T = np.eye(3)[rng.integers(0, 3, 40)]
    return X, T


def make_net(be, seed=0):
    return xpmlp.MLP([9, 6, 3], "tanh", "softmax", "cross_entropy", backend=be, seed=seed)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_forward_and_gradients_equal_dense(be, fmt):
    X, T = problem(fmt)
    net = make_net(be)
    tol = RTOL[be.dtype_name]
    assert_close(to_np(be, net.predict(X)), to_np(be, net.predict(X.toarray())), tol, "output")
    gs, gd = net.gradients(X, T), net.gradients(X.toarray(), T)
    for name in ("delta", "grad_W", "grad_b"):
        for k, (a, b) in enumerate(zip(getattr(gs, name), getattr(gd, name))):
            assert_close(to_np(be, a), to_np(be, b), tol, f"{name}[{k}]")


def test_training_steps_equal_dense(be):
    X, T = problem()
    sparse_net, dense_net = make_net(be), make_net(be)
    kw = dict(epochs=5, batch_size=7, optimizer="sgd", learning_rate=0.3, alpha=1e-3, seed=3, patience=None)
    h_sparse = fit(sparse_net, X, T, **kw)
    h_dense = fit(dense_net, X.toarray(), T, **kw)
    tol = RTOL_TRAJECTORY[be.dtype_name]
    assert_close(h_sparse.loss, h_dense.loss, tol, "loss curve")
    for a, b in zip(sparse_net.params, dense_net.params):
        assert_close(to_np(be, a), to_np(be, b), tol, "weights")
    assert h_sparse.loss[-1] < h_sparse.loss[0]


def test_validation_split_of_sparse_data(be):
    X, T = problem()
    h = fit(make_net(be), X, T, epochs=3, batch_size=8, validation_fraction=0.25, patience=None, seed=0)
    assert len(h.validation_score) == 3 and all(0.0 <= s <= 1.0 for s in h.validation_score)


@pytest.mark.on_device
def test_sparse_X_stays_sparse_on_the_device(be):
    X, T = problem()
    net = make_net(be)
    data = prepare(net, X, T, batch_size=8, shuffle=True, rng=np.random.default_rng(0))
    if be.name in SPARSE_ON_DEVICE:
        assert xpmlp.backends.sparse.is_sparse(data.X), f"{be.name} densified X"
        Xb = next(iter(data.minibatches(np.random.default_rng(1))))[0]
        assert xpmlp.backends.sparse.is_sparse(Xb) and tuple(Xb.shape) == (8, 9)
    else:
        assert not xpmlp.backends.sparse.is_sparse(data.X)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_torch_sparse_input_on_torch():
    torch = pytest.importorskip("torch")
    X, T = problem()
    net = make_net(xpmlp.resolve("torch", dtype="float64"))
    Xt = torch.sparse_csr_tensor(torch.as_tensor(X.indptr), torch.as_tensor(X.indices), torch.as_tensor(X.data),
                                 size=X.shape, check_invariants=True)
    np.testing.assert_allclose(to_np(net.backend, net.predict(Xt)), to_np(net.backend, net.predict(X.toarray())),
                               rtol=1e-12)


def test_bad_sparse_input_is_refused():
    X, T = problem()
    net = make_net(xpmlp.resolve("numpy", dtype="float64"))
    bad = X.copy()
    bad.data[3] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        net.predict(bad)
    with pytest.raises(ValueError, match="columns"):
        net.predict(sp.random(4, 5, density=0.5, format="csr"))
    with pytest.raises(TypeError, match="T must be a dense array"):
        net.gradients(X, sp.csr_matrix(T))


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_torch_minibatches_are_csr_rows_and_the_coo_path_they_replace_coalesces():
    """A torch batch is the CSR tensor of X's rows (any order, repeats, a slice), its transpose the CSR
    tensor of the transposed rows; PyTorch's own behaviour behind the choice: a COO ``index_select`` and a COO transpose give
    uncoalesced tensors (their products ``coalesce()``: a sync on CUDA), and CSR has no ``.T``."""
    torch = pytest.importorskip("torch")
    from xpmlp.backends.sparse import row_taker, to_backend, transpose

    X, _ = problem()
    be = xpmlp.resolve("torch", dtype="float64")
    take = row_taker(to_backend(be, X))
    rows = np.array([5, 0, 7, 7, 3, 39])
    for got, want in ((take(torch.as_tensor(rows), rows), X[rows]), (take(slice(4, 11), np.arange(4, 11)), X[4:11])):
        assert got.layout == torch.sparse_csr and tuple(got.shape) == want.shape
        np.testing.assert_array_equal(got.crow_indices().numpy(), want.indptr)
        np.testing.assert_array_equal(got.to_dense().numpy(), want.toarray())
        t, want_t = transpose(got), want.T.tocsr()  # canonical: sorted columns (here: rows of X), repeats summed
        want_t.sum_duplicates()
        assert t.layout == torch.sparse_csr and tuple(t.shape) == want_t.shape
        np.testing.assert_array_equal(t.crow_indices().numpy(), want_t.indptr)
        np.testing.assert_array_equal(t.to_dense().numpy(), want_t.toarray())
        assert transpose(t.t()).layout == torch.sparse_csr  # a CSC tensor's transpose: its CSR view
    coo = to_backend(be, X).to_sparse_coo().coalesce()
    assert not torch.index_select(coo, 0, torch.as_tensor(rows)).is_coalesced()
    assert not coo.t().is_coalesced()
    with pytest.raises((RuntimeError, NotImplementedError)):
        to_backend(be, X).T


@pytest.mark.parametrize("release,reads,has_from_parts", [((13, 6), 0, False), ((14, 1), 0, True), ((14, 2), 1, True)])
def test_the_cupyx_standin_follows_each_release_constructor(release, reads, has_from_parts):
    """cupyx's ``csr_matrix((data, indices, indptr))`` reads ``indptr``'s ends back from 14.2 on
    (``cupyx/scipy/sparse/_compressed.py``), ``_from_parts`` exists from 14.1 on and refuses index
    arrays of two dtypes; int64 indices are checked by their contents from 14.1 on (a read-back)."""
    from standins import cupy_standin

    with cupy_standin() as cupy:
        import cupyx.scipy.sparse as csp

        csp.follow(release)
        try:
            data, indices, indptr = cupy.asarray([1.0, 2.0]), cupy.asarray([1, 0], dtype=cupy.int32), \
                cupy.asarray([0, 1, 2], dtype=cupy.int32)
            csp.csr_matrix((data, indices, indptr), shape=(2, 2))
            assert sum(cupy._standin.SYNCS.values()) == reads
            assert hasattr(csp.csr_matrix, "_from_parts") == has_from_parts
            if has_from_parts:
                cupy._standin.SYNCS.clear()
                csp.csr_matrix((data, indices.astype(cupy.int64), indptr.astype(cupy.int64)), shape=(2, 2))
                assert sum(cupy._standin.SYNCS.values()) == reads + 1
                with pytest.raises(ValueError, match="same dtype"):
                    csp.csr_matrix._from_parts(data, indices, indptr.astype(cupy.int64), (2, 2))
        finally:
            csp.follow((14, 2))
