"""No host sync inside the step loop, on any backend: every operation known to make the host wait
for the GPU is counted while the loop steps (``tests/sync_probes.py``), and there must be none;
the one host-to-device copy is each epoch's row order.

Four runs of each case: array-api-strict's ``device1`` and PyTorch on the CPU, instrumented here
(array-api-compat's torch wrappers and xpmlp's torch fast paths included); and the CuPy and
torch-CUDA stand-ins, which run array-api-compat's real CuPy and torch namespaces (their generic
functions included: CuPy's ``clip`` and ``sign`` assign through boolean masks) and xpmlp's CuPy
and CUDA branches, counting for themselves.  Adam, Nesterov momentum and plain SGD,
``max_grad_norm``, ``alpha``, sample weights and validation data, a relu/softmax and a
tanh/logistic/binary cross-entropy network, dense and (on CuPy 13.6, 14.1, 14.2 and torch CUDA) sparse
inputs; and that the counters see each kind of sync, printing a device array among them.
"""

from __future__ import annotations

import numpy as np
import pytest

import xpmlp
from xpmlp.optim.optimizers import SGD, Adam
from xpmlp.training import fit

from conftest import random_problem
from sync_probes import KINDS, Probe, counting, cupyx_release, only_row_orders

N_ROWS, EPOCHS = 64, 2
NETS = {"relu-softmax": ("relu", "softmax", "cross_entropy"),
        "tanh-bce": ("tanh", "logistic", "binary_cross_entropy")}
OPTIMIZERS = {"adam": Adam, "nesterov": lambda: SGD(momentum=0.9, nesterov=True), "sgd": SGD}


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("net", NETS)
@pytest.mark.parametrize("kind", KINDS)
def test_step_loop_has_no_sync(monkeypatch, kind, net, optimizer):
    hidden, out, loss = NETS[net]
    X, T = random_problem(loss, N_ROWS, 3, 3, shift=2.0)
    with counting(kind, monkeypatch) as (backend, syncs, uploads):
        model = xpmlp.MLP([3, 5, 3], hidden, out, loss, backend=backend, seed=0)
        probe = Probe(syncs, uploads)
        fit(model, X, T, epochs=EPOCHS, batch_size=8, optimizer=OPTIMIZERS[optimizer](), alpha=1e-3,
            max_grad_norm=1.0, sample_weight=np.linspace(0.5, 1.5, N_ROWS), validation_data=(X[:16], T[:16]),
            patience=None, callbacks=[probe])
    assert not probe.seen, f"operations that synchronise on {kind}, inside the step loop: {dict(probe.seen)}"
    assert only_row_orders(probe.uploaded, N_ROWS, EPOCHS), f"host data copied to the device: {dict(probe.uploaded)}"


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_masks_are_drawn_on_the_device(monkeypatch, kind):
    """Each library's own generator draws the masks on the model's device: no sync, no copy in.
    array-api-strict has no generator: its masks are drawn on the host, and the loop says so."""
    X, T = random_problem("cross_entropy", N_ROWS, 3, 3, shift=2.0)
    with counting(kind, monkeypatch) as (backend, syncs, uploads):
        model = xpmlp.MLP([3, 5, 4, 3], "relu", backend=backend, seed=0, dropout=[0.5, 0.2], input_dropout=0.1)
        probe = Probe(syncs, uploads)
        fit(model, X, T, epochs=EPOCHS, batch_size=8, optimizer=Adam(), patience=None, callbacks=[probe])
    assert not probe.seen, f"operations that synchronise on {kind}, inside the step loop: {dict(probe.seen)}"
    if kind == "strict":  # per step, one upload for each of the three masks
        assert sum(probe.uploaded.values()) == EPOCHS * (1 + 3 * N_ROWS // 8), dict(probe.uploaded)
    else:
        assert only_row_orders(probe.uploaded, N_ROWS, EPOCHS), f"host data copied in: {dict(probe.uploaded)}"


SPARSE = {"cupy-13.6": (13, 6), "cupy-14.1": (14, 1), "cupy-14.2": (14, 2), "torch-cuda": None}


@pytest.mark.parametrize("where", SPARSE)
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_sparse_inputs_have_no_sync(monkeypatch, optimizer, where):
    """cupyx's own row selection reads the batch's size back (``int(Bp[-1])``), its products check
    ``has_canonical_format`` with a ``bool``, and from 14.2 on its ``(data, indices, indptr)``
    constructor reads ``indptr``'s ends back: xpmlp gathers rows from the host's ``indptr`` and makes
    each batch by ``_from_parts`` where cupyx has it (14.1 on).  On torch CUDA a COO ``index_select``
    syncs and its uncoalesced result makes each product ``coalesce()``: xpmlp gathers CSR batches."""
    from scipy import sparse

    X, T = random_problem("cross_entropy", N_ROWS, 3, 3, shift=2.0)
    X = sparse.csr_matrix(np.where(X > 0, X, 0.0))
    kind = "cupy-standin" if where.startswith("cupy") else "torch-cuda-standin"
    with counting(kind, monkeypatch) as (backend, syncs, uploads), cupyx_release(SPARSE[where]):
        model = xpmlp.MLP([3, 5, 3], "relu", backend=backend, seed=0)
        probe = Probe(syncs, uploads)
        for shuffle in (True, False):
            fit(model, X, T, epochs=EPOCHS, batch_size=8, optimizer=OPTIMIZERS[optimizer](), shuffle=shuffle,
                validation_data=(X[:16], T[:16]), patience=None, callbacks=[probe])
    assert not probe.seen, f"operations that synchronise on {where}, inside the step loop: {dict(probe.seen)}"
    assert only_row_orders(probe.uploaded, N_ROWS, EPOCHS), dict(probe.uploaded)


def _cases(kind: str, backend) -> list:
    """``(what, operation, the counter's expected key)`` for each kind of synchronisation."""
    xp = backend.xp
    x = backend.asarray(np.array([[1.0, -2.0], [3.0, np.nan]]))
    cases = [("float", lambda: float(x[0, 0]), "__float__"),
             ("mask", lambda: x[x > 0], "boolean-mask"),
             ("nonzero", lambda: xp.nonzero(x > 0), "nonzero"),
             ("host scalar", lambda: xp.asarray(0.5, device=backend.device), "()")]
    cases += [("repr", lambda: repr(x), "repr"), ("str", lambda: str(x), "str" if kind != "torch-cuda-standin" else "repr"),
              ("format", lambda: f"{x[0, 0]:.3f}", "format")]  # printed from a host copy
    if kind == "cupy-standin":  # array-api-compat's generic functions on CuPy; cupyx 14.2's CSR constructor
        import cupyx.scipy.sparse as csp

        parts = (x[0], backend.asarray(np.array([0, 1], np.int32)), backend.asarray(np.array([0, 1, 2], np.int32)))
        cases += [("generic clip", lambda: xp.clip(x, -1.0, 1.0), "boolean-mask"),
                  ("generic sign", lambda: xp.sign(x), "boolean-mask"),
                  ("CSR constructor", lambda: csp.csr_matrix(parts, shape=(2, 2)), "indptr[-1]")]
    if kind.startswith("torch"):
        cases += [("item", lambda: x[0, 0].item(), "item"), ("bool", lambda: bool(x[0, 0] > 0), "__bool__")]
    if kind == "torch-cuda-standin":  # a COO row selection, and a product with its uncoalesced result
        import torch

        coo = torch.sparse_coo_tensor(backend.asarray(np.array([[1, 0], [0, 1]]), dtype=torch.int64), x[0], (2, 2))
        rows = backend.asarray(np.array([1, 0]), dtype=torch.int64)
        cases += [("sparse index_select", lambda: torch.index_select(coo.coalesce(), 0, rows), "index_select"),
                  ("uncoalesced product", lambda: coo @ x, "coalesce")]
    return cases


@pytest.mark.parametrize("kind", KINDS)
def test_the_counters_see_what_they_look_for(monkeypatch, kind):
    """Each counted operation is seen (so the zero above means something)."""
    with counting(kind, monkeypatch) as (backend, syncs, uploads):
        with backend.activate():
            for what, op, expected in _cases(kind, backend):
                syncs.clear()
                uploads.clear()
                try:
                    op()
                except (TypeError, RuntimeError):  # e.g. strict's host scalar: still counted before it failed
                    pass
                found = [k for k in list(syncs) + list(uploads) if expected in k]
                assert found, f"{kind} {what}: expected {expected!r}, saw {dict(syncs)} {dict(uploads)}"
